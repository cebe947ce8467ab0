"""`make bench`: reconcile against a local registry behind a latency-injecting proxy, scenario by
scenario, side by side with the `docker manifest` loop, the peers (crane, regctl, oras,
manifest-tool) and bare HTTP clients.

    python bench/run.py [--repos 20] [--aliases 10] [--latency 0.020] [--concurrency 16]
                        [--steady-runs 5] [--scale N [--scale-up M]] [--skip-docker] [--skip-peers]
                        [--json FILE] [--markdown FILE]

Default mode, R x A aliases: (a) first run, cold cache, creates every alias; (b) steady
state, warm cache, and (b') steady state, cold cache, each run `--steady-runs` times,
interleaved, the run of median wall reported; (c) 10 % of sources re-pushed; each peer's
one-alias-at-a-time loop over the same aliases (crane index append, regctl index create,
oras manifest index create, manifest-tool push from-spec), measured in its own steady state;
the docker loop over the same aliases; (d) reconcile again after the docker loop rewrote every
tag. A peer
or docker missing from PATH is left out with a line on stderr; the peers are looked for in
.tools/bin first (`make go-tools` builds them there).
Scale mode (`--scale N`): N aliases seeded in sync, steady-state `--dry-run` cold then warm
(no docker loop, no peers). With `--scale-up M`, M aliases (M > N, the N among them) are
seeded instead and the same two runs follow at M, with a cache of their own: peak RSS at M
against N in one invocation (how memory grows with the file).
Both measure the floor right after the steady state it is compared with: bare clients
sending as many manifest HEADs as the steady state did. Scale mode repeats that pair
`--floor-pairs` times, in the order run-floor, floor-run, run-floor, ...; the ratios to the
floor are taken pair by pair and their median is the figure (the machine's speed drifts by
tens of percent between invocations, and a single pair moved a ratio by a fifth).
See BENCHMARKS.md for what every number means.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(ROOT))

from bench.dockerloop import run_docker_loop  # noqa: E402
from bench.floor import CLIENTS  # noqa: E402
from bench.loops import CommandLoop, run_loop  # noqa: E402
from bench.measure import ProcessCPU, Usage, clean_env, run_measured, self_cpu  # noqa: E402
from bench.peers import PEERS, Peer, PeerSetupError, check_indexes, tool_version  # noqa: E402
from bench.profile import profile_command, strip_messages, summarize  # noqa: E402
from bench.report import (  # noqa: E402
    Bench,
    DockerRun,
    FloorPair,
    FloorRun,
    PeerRun,
    ReconcileRun,
    Traffic,
    machine_info,
    to_json,
    to_markdown,
)
from bench.seed import Layout, Seeder, pick_repushes, repush  # noqa: E402
from bench.startup import installed  # noqa: E402
from tests.support.dockercli import docker_available  # noqa: E402
from tests.support.proxy import Proxy, start_proxy  # noqa: E402
from tests.support.registry import RegistryProcess, start_registry  # noqa: E402

BIN = Path(sys.executable).parent
TOOLS_BIN = ROOT / ".tools" / "bin"  # the Go-built peers (tools/gotools.py), first on PATH
RECONCILE = BIN / "reconcile"
RUN_TIMEOUT_S = 1800.0  # one reconcile or floor run; a hung run is killed, never waited on
# The registry spends ~30 % of its CPU in Go's GC at the default GOGC=100; on a 2-core machine
# that CPU is taken from the client under test.
REGISTRY_GOGC = "400"
BUSY_LOAD = 0.5  # 1-minute load average above which the machine is not idle
OUTPUT_FLAGS = frozenset({"--json", "--markdown", "--profile"})
SCALE_FLOORS = "http.client,urllib3"  # urllib3: what the client sends through (issue 16's ratios)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--repos", type=int, default=20, help="repositories (default 20)")
    add("--aliases", type=int, default=10, help="aliases per repository (default 10)")
    add("--latency", type=float, default=0.020, help="seconds added per request (default 0.020)")
    add("--concurrency", type=int, default=16, help="reconcile --concurrency (default 16)")
    add(
        "--steady-runs",
        type=int,
        default=5,
        metavar="N",
        help="(b) and (b') each run N times, interleaved; the run of median wall is reported "
        "(default 5)",
    )
    add("--scale", type=int, default=0, metavar="N", help="scale mode: N aliases, steady dry-run")
    add(
        "--scale-up",
        type=int,
        default=0,
        metavar="M",
        help="scale mode: the same runs at M > N aliases too, after those at N",
    )
    add("--skip-docker", action="store_true", help="leave out the docker manifest loop")
    add(
        "--skip-peers",
        action="store_true",
        help="leave out the peers' loops (crane, regctl, oras, manifest-tool)",
    )
    add(
        "--floor",
        help=f"floor clients (default {','.join(CLIENTS)}; with --scale {SCALE_FLOORS})",
    )
    add(
        "--floor-pairs",
        type=int,
        default=3,
        metavar="K",
        help="scale mode: the warm run and the floor measured K times, alternating; the ratios "
        "are the median of the pairs' (default 3)",
    )
    add("--json", type=Path, metavar="FILE", help="write all results as JSON")
    add("--markdown", type=Path, metavar="FILE", help="write the results block for BENCHMARKS.md")
    add("--profile", type=Path, metavar="DIR", help="py-spy an extra steady run into DIR")
    add("--keep", action="store_true", help="keep the work directory (registry, logs)")
    args = parser.parse_args(argv)
    if args.steady_runs < 1:
        parser.error("--steady-runs N needs N >= 1")
    if args.floor_pairs < 1:
        parser.error("--floor-pairs K needs K >= 1")
    if args.scale_up and not 0 < args.scale < args.scale_up:
        parser.error("--scale-up M needs --scale N with N < M")
    if args.floor is None:
        args.floor = SCALE_FLOORS if args.scale else ",".join(CLIENTS)
    unknown = set(args.floor.split(",")) - set(CLIENTS) - {""}
    if unknown:
        parser.error(f"unknown floor client(s): {', '.join(sorted(unknown))}")
    return args


@dataclass
class Harness:
    """The running pieces of one benchmark and the helpers that measure against them."""

    args: argparse.Namespace
    work: Path
    registry: RegistryProcess
    proxy: Proxy
    layout: Layout
    config: Path
    cache_dir_flag: bool  # whether this reconcile build has --cache-dir
    startup_cpu_s: float = 0.0
    # The console script measured: `bench.startup.installed()`'s (as a user installs it) in
    # run.py; the development venv's in pairs.py, which steers the tree by PYTHONPATH.
    program: Path = RECONCILE
    _runs: int = field(default=0)

    @property
    def registry_cpu(self) -> ProcessCPU:
        return ProcessCPU(self.registry.process.pid)

    def reconcile(
        self,
        key: str,
        label: str,
        *,
        cache: str,
        dry_run: bool = False,
        profile: Path | None = None,
        layout: Layout | None = None,
    ) -> ReconcileRun:
        """One measured reconcile run; `cache` is "warm" (the shared dir) or "cold" (fresh).
        `layout`: another set of the seeded aliases (`--scale-up`), with a file and a "warm"
        cache directory of its own."""
        self._runs += 1
        layout = layout or self.layout
        config, warm = self.config, "cache"
        if layout != self.layout:
            config, warm = self.config_of(layout), f"cache-{layout.total}"
        cache_dir = self.work / (warm if cache == "warm" else f"cache-cold-{self._runs}")
        flags = self._cache_args(cache_dir) + (["--dry-run"] if dry_run else [])
        argv = [
            str(self.program),
            "-f",
            str(config),
            "--output",
            "json",
            "--concurrency",
            str(self.args.concurrency),
            *flags,
        ]
        if profile is not None:
            argv = profile_command(argv, profile)
        out, err = self.work / f"run-{self._runs}-{key}.json", self.work / f"run-{self._runs}.err"
        log(f"{label}: reconcile {' '.join(flags)}")
        usage, traffic = self._measured(argv, out, err, cache_home=cache_dir)
        summary = self._summary(out, err, usage)
        run = ReconcileRun(
            key,
            label,
            layout.total,
            " ".join(flags) or "-",
            usage,
            traffic,
            summary,
            self.startup_cpu_s,
        )
        log(
            f"  {usage.wall_s:.2f} s, {traffic.requests} requests ({run.per_alias:.2f}/alias), "
            f"{traffic.writes} writes, {run.plan()}, {usage.max_rss_mb:.0f} MB"
        )
        return run

    def config_of(self, layout: Layout) -> Path:
        """manifests.yaml of `layout`'s aliases, written on first use."""
        path = self.work / f"manifests-{layout.total}.yaml"
        if not path.exists():
            path.write_text(json.dumps(layout.config(self.proxy.host), indent=1))  # JSON is YAML
        return path

    def floor(self, client: str, paths: Sequence[str]) -> FloorRun:
        path_file = self.work / "floor-paths.txt"
        path_file.write_text("\n".join(paths) + "\n")
        argv = [
            sys.executable,
            "-m",
            "bench.floor",
            "--url",
            self.proxy.url,
            "--paths",
            str(path_file),
            "--concurrency",
            str(self.args.concurrency),
            "--client",
            client,
        ]
        out, err = self.work / f"floor-{client}.json", self.work / f"floor-{client}.err"
        log(f"floor: {client}, {len(paths)} HEADs")
        usage, traffic = self._measured(argv, out, err, cache_home=self.work / "xdg", cwd=ROOT)
        if usage.returncode != 0:
            raise BenchError(f"floor client {client} failed:\n{err.read_text()[-3000:]}")
        result = json.loads(out.read_text())
        floor = FloorRun(
            client,
            self.args.concurrency,
            result["requests"],
            result["errors"],
            result["wall_s"],
            result["loop_cpu_s"],
            usage,
            traffic,
        )
        log(f"  {floor.wall_s:.2f} s, {floor.cpu_per_1k:.2f} CPU s per 1k requests")
        return floor

    def _measured(
        self,
        argv: Sequence[str],
        out: Path,
        err: Path,
        *,
        cache_home: Path,
        cwd: Path | None = None,
    ) -> tuple[Usage, Traffic]:
        # XDG_CACHE_HOME places reconcile's default cache too, so cold/warm holds either way.
        env = clean_env(
            DOCKER_CONFIG=str(self.work / "empty-docker-config"), XDG_CACHE_HOME=str(cache_home)
        )
        registry_cpu, proxy_cpu = self.registry_cpu, self_cpu()
        registry_before = registry_cpu()
        self.proxy.reset_counts()
        usage = run_measured(argv, env=env, stdout=out, stderr=err, timeout=RUN_TIMEOUT_S, cwd=cwd)
        return usage, self.traffic(registry_cpu() - registry_before, self_cpu() - proxy_cpu)

    def measured_loop(self, run: Callable[[], CommandLoop]) -> tuple[CommandLoop, Traffic]:
        """A loop of measured commands (`bench.loops`) and the traffic it sent."""
        registry_cpu, proxy_cpu = self.registry_cpu, self_cpu()
        registry_before = registry_cpu()
        self.proxy.reset_counts()
        loop = run()
        return loop, self.traffic(registry_cpu() - registry_before, self_cpu() - proxy_cpu)

    def traffic(self, registry_cpu_s: float, proxy_cpu_s: float) -> Traffic:
        counts = self.proxy.counts()
        by_kind = {f"{method} {kind}": n for (method, kind), n in counts.by_kind.items()}
        return Traffic(dict(counts.by_method), by_kind, counts.writes, registry_cpu_s, proxy_cpu_s)

    def _cache_args(self, cache_dir: Path) -> list[str]:
        return ["--cache-dir", str(cache_dir)] if self.cache_dir_flag else []

    def _summary(self, out: Path, err: Path, usage: Usage) -> dict[str, int]:
        if usage.timed_out:
            raise BenchError(f"reconcile did not finish within {RUN_TIMEOUT_S:.0f} s")
        try:
            summary = json.loads(strip_messages(out.read_text()))["summary"]
        except (ValueError, KeyError):
            raise BenchError(
                f"reconcile exited {usage.returncode} without a JSON report:\n"
                f"{err.read_text()[-3000:]}"
            ) from None
        if usage.returncode != 0:
            raise BenchError(
                f"reconcile exited {usage.returncode}: {summary}\n{err.read_text()[-3000:]}"
            )
        return {str(k): int(v) for k, v in summary.items()}


class BenchError(RuntimeError):
    """The benchmark cannot give meaningful numbers (a run failed or planned the wrong thing)."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def expect(run: ReconcileRun, action: str, count: int) -> None:
    """Numbers from a run that did something else than planned would be meaningless."""
    if run.summary.get(action, 0) != count:
        raise BenchError(f"{run.label}: expected {count} {action}, got {run.plan()}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        with ExitStack() as stack:
            bench = run_bench(args, argv, stack)
    except (BenchError, RuntimeError) as exc:
        log(f"error: {exc}")
        return 1
    markdown = to_markdown(bench)
    print(markdown)
    if args.markdown:
        args.markdown.write_text(markdown)
        log(f"Markdown written to {args.markdown}")
    if args.json:
        args.json.write_text(to_json(bench))
        log(f"JSON written to {args.json}")
    return 0


def run_bench(args: argparse.Namespace, argv: Sequence[str], stack: ExitStack) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    storage = Path(tempfile.mkdtemp(prefix="reconciler-bench-registry-", dir=registry_parent()))
    if args.keep:
        log(f"work directories kept: {work} {storage}")
    else:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        stack.callback(shutil.rmtree, storage, ignore_errors=True)
    warn_if_busy()
    with go_gc(REGISTRY_GOGC):
        registry = start_registry(storage)
    stack.callback(registry.stop)
    proxy = start_proxy(registry.url, latency=args.latency)
    stack.callback(proxy.stop)
    scale = args.scale > 0
    layout = Layout.for_total(args.scale, args.repos) if scale else Layout(args.repos, args.aliases)
    # --scale-up: the larger layout holds the smaller one (the same tags in the same repositories)
    seeded = Layout.for_total(args.scale_up, args.repos) if args.scale_up else layout

    log(f"seeding {seeded.total} aliases x 2 sources{' (aliases in sync)' if scale else ''}")
    started = time.monotonic()
    seeder = Seeder(registry.root)
    seeder.seed(seeded, with_aliases=scale)
    seed_s = time.monotonic() - started
    config = work / "manifests.yaml"
    config.write_text(json.dumps(layout.config(proxy.host), indent=1))  # JSON is YAML

    load_start = load_average()
    # reconcile as a user installs it: byte-compiled, no editable-install hook, the runtime
    # dependencies alone (bench/startup.py), whatever PYTHONDONTWRITEBYTECODE says here.
    program = Path(stack.enter_context(installed())[1])
    harness = Harness(
        args, work, registry, proxy, layout, config, has_cache_dir_flag(program), program=program
    )
    startup = measure_startup(harness)
    harness.startup_cpu_s = startup.cpu_s
    bench = Bench(
        command=command_line(argv),
        mode="scale" if scale else "default",
        latency_s=args.latency,
        concurrency=args.concurrency,
        repos=layout.repos,
        per_repo=layout.per_repo,
        aliases=layout.total,
        cache_support="--cache-dir" if harness.cache_dir_flag else "XDG_CACHE_HOME",
        seed_s=seed_s,
        startup=startup,
        machine=machine_info(Path(sys.executable)),
        load_start=load_start,
    )
    log(
        f"{bench.aliases} aliases through {proxy.host} ({args.latency * 1000:.0f} ms), "
        f"cache chosen with {bench.cache_support}"
    )
    if scale:
        scale_scenarios(harness, bench)
    else:
        default_scenarios(harness, bench, seeder)
    bench.load_end = load_average()
    if args.profile is not None:
        run_profile(harness, args.profile, dry_run=scale)
    return bench


def default_scenarios(h: Harness, bench: Bench, seeder: Seeder) -> None:
    total = h.layout.total
    first = h.reconcile("first", "(a) first run, cold cache", cache="warm")
    expect(first, "create", total)
    steady, cold = steady_states(h, bench, h.args.steady_runs)
    measure_floors(h, bench, steady)
    picks = pick_repushes(h.layout, 0.10)
    repush(h.registry.url, picks, seeder)
    bench.repushed_sources = len(picks)
    bench.drifted_aliases = len({(alias.repository, alias.tag) for alias, _ in picks})
    drift = h.reconcile("drift", "(c) 10 % of sources re-pushed", cache="warm")
    expect(drift, "update", bench.drifted_aliases)
    bench.runs = [first, steady, cold, drift]
    peer_loops(h, bench)
    if h.args.skip_docker or not docker_available():
        log("docker loop skipped" + ("" if h.args.skip_docker else ": no docker CLI"))
        return
    bench.docker = docker_loop(h)
    if bench.docker.loop.failures == 0:
        after = h.reconcile("after-docker", "(d) steady, tags rewritten by docker", cache="warm")
        expect(after, "noop", total)
        bench.runs.append(after)


def steady_states(h: Harness, bench: Bench, times: int) -> tuple[ReconcileRun, ReconcileRun]:
    """(b) and (b'), `times` runs each: one 2-second run moves by a third with the machine's
    load, so each is reported by its run of median wall (the upper middle one for an even
    count), warm and cold interleaved so that a busy moment falls on both; every wall is
    kept in `bench.samples`."""
    total = h.layout.total
    warm: list[ReconcileRun] = []
    cold: list[ReconcileRun] = []
    for _ in range(times):
        warm.append(h.reconcile("steady", "(b) steady state, warm cache", cache="warm"))
        expect(warm[-1], "noop", total)
        cold.append(h.reconcile("steady-cold", "(b') steady state, cold cache", cache="cold"))
        expect(cold[-1], "noop", total)
    bench.samples = {runs[0].key: [r.usage.wall_s for r in runs] for runs in (warm, cold)}
    return median_wall(warm), median_wall(cold)


def measure_floors(h: Harness, bench: Bench, steady: ReconcileRun) -> None:
    """The bare clients, sending as many HEADs as `steady` sent, right after it: the
    machine's speed drifts by tens of percent over minutes, and the ratios to the floor
    are only as good as the two runs are close in time."""
    bench.floors = floors_for(h, steady.traffic.requests)


def floors_for(h: Harness, requests: int) -> list[FloorRun]:
    paths = list(floor_paths(h.layout, requests))
    return [h.floor(client, paths) for client in h.args.floor.split(",") if client]


def floor_pairs(h: Harness, warm: ReconcileRun, count: int) -> list[FloorPair]:
    """`warm` and the floors after it, then `count - 1` more pairs, the floor first in every
    other one (run-floor, floor-run, run-floor, ...): a machine slowing down or speeding up
    over the minutes weighs on both sides alike."""
    pairs = [FloorPair(warm, floors_for(h, warm.traffic.requests), floor_first=False)]
    for n in range(1, count):
        floor_first = n % 2 == 1
        floors = floors_for(h, warm.traffic.requests) if floor_first else []
        label = f"steady --dry-run, warm cache, pair {n + 1}"
        run = h.reconcile("scale-warm", label, cache="warm", dry_run=True)
        expect(run, "noop", h.layout.total)
        pairs.append(FloorPair(run, floors or floors_for(h, run.traffic.requests), floor_first))
    return pairs


def median_wall(runs: Sequence[ReconcileRun]) -> ReconcileRun:
    """The run whose wall is the median (the upper middle one of an even count): a run that
    happened, so that its requests, CPU and memory are of the same run as its wall."""
    return sorted(runs, key=lambda run: run.usage.wall_s)[len(runs) // 2]


def scale_scenarios(h: Harness, bench: Bench) -> None:
    total = h.layout.total
    cold = h.reconcile("scale-cold", "steady --dry-run, cold cache", cache="warm", dry_run=True)
    expect(cold, "noop", total)
    warm = h.reconcile("scale-warm", "steady --dry-run, warm cache", cache="warm", dry_run=True)
    expect(warm, "noop", total)
    bench.floor_pairs = floor_pairs(h, warm, h.args.floor_pairs)
    bench.floors = bench.floor_pairs[0].floors
    bench.runs = [cold, warm]
    if h.args.scale_up:
        bench.runs += scale_up_runs(h, Layout.for_total(h.args.scale_up, h.args.repos))


def scale_up_runs(h: Harness, layout: Layout) -> list[ReconcileRun]:
    """The steady --dry-run at `layout`'s larger number of aliases, cold then warm."""
    runs = []
    for cache in ("cold", "warm"):
        key, label = f"scale-up-{cache}", f"steady --dry-run, {cache} cache, {layout.total} aliases"
        run = h.reconcile(key, label, cache="warm", dry_run=True, layout=layout)
        expect(run, "noop", layout.total)
        runs.append(run)
    return runs


def docker_loop(h: Harness) -> DockerRun:
    log(f"docker manifest loop over {h.layout.total} aliases (sequential, like a shell loop)")
    aliases = list(h.layout.aliases())
    loop, traffic = h.measured_loop(lambda: run_docker_loop(aliases, h.proxy.host, h.work))
    log(
        f"  {loop.wall_s:.1f} s, {traffic.requests} requests, {traffic.writes} writes"
        + (f", {loop.failures} failures: {loop.first_error}" if loop.failures else "")
    )
    return DockerRun(loop, traffic)


def peer_loops(h: Harness, bench: Bench) -> None:
    """Every peer on PATH, one after the other, unless --skip-peers."""
    for peer in PEERS:
        if h.args.skip_peers:
            bench.peers_left_out.append(f"{peer.name} (--skip-peers)")
        elif shutil.which(peer.name) is None:
            log(f"{peer.name} loop skipped: not on PATH (`make go-tools` builds it)")
            bench.peers_left_out.append(f"{peer.name} (not installed)")
        else:
            try:
                bench.peers.append(peer_loop(h, peer))
            except PeerSetupError as exc:
                log(f"{peer.name} loop skipped: setup failed: {exc}")
                bench.peers_left_out.append(f"{peer.name} (setup failed)")
    if h.args.skip_peers:
        log("peer loops skipped")


def peer_loop(h: Harness, peer: Peer) -> PeerRun:
    """One peer's loop over every alias, measured in the peer's own steady state: a first
    pass without latency (not measured) leaves its own bytes under every alias tag, so a
    peer that skips an unchanged push shows it. Then a sample of aliases is read back."""
    aliases = list(h.layout.aliases())
    home = h.work / f"peer-{peer.name}"
    env, build = peer.setup(h.proxy.host, aliases, home)  # PeerSetupError: left out

    def run() -> CommandLoop:
        return run_loop(aliases, build, env=env, workdir=home, name=peer.name)

    log(f"{peer.name} loop over {len(aliases)} aliases: first pass, no latency, not measured")
    latency, h.proxy.latency = h.proxy.latency, 0.0
    try:
        first, first_traffic = h.measured_loop(run)
    finally:
        h.proxy.latency = latency
    log(f"{peer.name} loop: steady state (sequential, like a shell loop)")
    loop, traffic = h.measured_loop(run)
    checked, problems = check_indexes(h.registry.url, aliases[: loop.aliases])
    failures = loop.failures + first.failures
    log(
        f"  {loop.wall_s:.1f} s, {traffic.requests} requests, {traffic.writes} writes "
        f"(first pass {first_traffic.writes})"
        + (f", {failures} failures: {first.first_error or loop.first_error}" if failures else "")
        + (f", read back: {'; '.join(problems)}" if problems else "")
    )
    return PeerRun(
        peer.name,
        tool_version(peer.name),
        peer.command,
        loop,
        traffic,
        first,
        first_traffic.writes,
        checked,
        problems,
    )


def measure_startup(h: Harness) -> Usage:
    """A run's fixed cost: the cheapest of three `--dry-run`s of a single alias (interpreter
    start, the imports a run needs, the config, a handful of requests). Subtracted from every
    run's CPU for CPU per request: `reconcile --help` imports too little to stand for it."""
    config = h.work / "manifests-one.yaml"
    config.write_text(json.dumps(Layout(1, 1).config(h.proxy.host), indent=1))  # JSON is YAML
    runs = []
    for n in range(3):
        argv = [str(h.program), "-f", str(config), "--dry-run", "--output", "json"]
        argv += h._cache_args(h.work / f"cache-startup-{n}")
        usage = run_measured(
            argv,
            env=clean_env(),
            stdout=h.work / "startup.json",
            stderr=h.work / "startup.err",
            timeout=120,
        )
        if usage.returncode != 0:
            raise RuntimeError(f"one-alias run failed: {(h.work / 'startup.err').read_text()}")
        runs.append(usage)
    return min(runs, key=lambda u: u.cpu_s)


def registry_parent() -> str | None:
    """tmpfs for the registry's storage when there is one: the registry is harness, not the
    subject, and this VM's disk needs ~0.2 ms per file operation (30,000 manifests)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextmanager
def go_gc(value: str) -> Iterator[None]:
    """GOGC for processes started inside (the registry inherits os.environ)."""
    previous = os.environ.get("GOGC")
    os.environ["GOGC"] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ["GOGC"]
        else:
            os.environ["GOGC"] = previous


def load_average() -> float:
    return os.getloadavg()[0]


def warn_if_busy() -> None:
    load = load_average()
    if load > BUSY_LOAD:
        log(
            f"warning: load average {load:.1f} on {os.cpu_count()} CPUs: other work is running,"
            " and timings will show it"
        )


def has_cache_dir_flag(program: Path = RECONCILE) -> bool:
    """Whether this build of reconcile has `--cache-dir` (it is being added); without it the
    cache directory is steered through XDG_CACHE_HOME."""
    done = subprocess.run(
        [str(program), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
    )
    return "--cache-dir" in done.stdout


def floor_paths(layout: Layout, count: int) -> Iterator[str]:
    """`count` manifest HEAD paths, alias then sources, alias after alias, cycling."""
    one_round = [
        f"/v2/{alias.repository}/manifests/{tag}"
        for alias in layout.aliases()
        for tag in (alias.tag, *alias.sources)
    ]
    for i in range(max(count, 1)):
        yield one_round[i % len(one_round)]


def run_profile(h: Harness, directory: Path, *, dry_run: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / "steady.collapsed.txt"
    h.reconcile("profile", "profiled steady run", cache="warm", dry_run=dry_run, profile=raw)
    summary = summarize(raw)
    (directory / "steady.summary.txt").write_text(summary)
    log(f"profile written to {directory}:\n{summary}")


def command_line(argv: Sequence[str]) -> str:
    """The command that reproduces the numbers: output-only flags are left out."""
    kept: list[str] = []
    skip_value = False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip_value:
            skip_value = False
        elif name in OUTPUT_FLAGS:
            skip_value = "=" not in arg
        elif name != "--keep":
            kept.append(shlex.quote(arg))
    return " ".join(["python bench/run.py", *kept])


if __name__ == "__main__":
    raise SystemExit(main())
