"""Results of a benchmark run: the data, the targets, and their Markdown / JSON forms."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .loops import CommandLoop
from .measure import Usage

__all__ = [
    "Bench",
    "DockerRun",
    "FloorPair",
    "FloorRun",
    "PeerRun",
    "ReconcileRun",
    "ToolRow",
    "Traffic",
    "machine_info",
    "to_json",
    "to_markdown",
    "tool_rows",
]


@dataclass(frozen=True)
class Traffic:
    """What crossed the proxy during one measured step, and what the servers spent on it."""

    by_method: Mapping[str, int]
    by_kind: Mapping[str, int]  # "HEAD manifests" -> n
    writes: int
    registry_cpu_s: float
    proxy_cpu_s: float

    @property
    def requests(self) -> int:
        return sum(self.by_method.values())


@dataclass(frozen=True)
class ReconcileRun:
    key: str
    label: str
    aliases: int
    flags: str  # the reconcile flags that matter: --dry-run, cache
    usage: Usage
    traffic: Traffic
    summary: Mapping[str, int]
    startup_cpu_s: float

    @property
    def per_alias(self) -> float:
        return self.traffic.requests / self.aliases

    @property
    def net_cpu_s(self) -> float:
        """Client CPU without interpreter start and imports (a `reconcile --help` run)."""
        return max(0.0, self.usage.cpu_s - self.startup_cpu_s)

    @property
    def cpu_per_1k(self) -> float:
        return 1000 * self.net_cpu_s / max(1, self.traffic.requests)

    def plan(self) -> str:
        return ", ".join(f"{n} {action}" for action, n in self.summary.items() if n) or "-"


@dataclass(frozen=True)
class FloorRun:
    client: str
    concurrency: int
    requests: int
    errors: int
    wall_s: float
    loop_cpu_s: float  # measured inside the child around the request loop
    usage: Usage
    traffic: Traffic

    @property
    def cpu_per_1k(self) -> float:
        return 1000 * self.loop_cpu_s / max(1, self.requests)


@dataclass(frozen=True)
class FloorPair:
    """A warm steady-state run and the floors measured right beside it (before it when
    `floor_first`): issue 16's ratios are taken pair by pair, and their median reported."""

    run: ReconcileRun
    floors: list[FloorRun]
    floor_first: bool

    def floor(self, client: str) -> FloorRun | None:
        return next((f for f in self.floors if f.client == client), None)

    def cpu_ratio(self, floor: FloorRun) -> float:
        """Client CPU per request (start-up subtracted) over the floor's."""
        return self.run.cpu_per_1k / floor.cpu_per_1k if floor.cpu_per_1k > 0 else 0.0

    def wall_ratio(self, floor: FloorRun) -> float:
        return self.run.usage.wall_s / floor.wall_s if floor.wall_s > 0 else 0.0


@dataclass(frozen=True)
class DockerRun:
    loop: CommandLoop
    traffic: Traffic

    @property
    def per_alias(self) -> float:
        return self.traffic.requests / max(1, self.loop.aliases)


@dataclass(frozen=True)
class PeerRun:
    """One peer's loop over the aliases (`bench.peers`), measured in steady state: after a
    first pass (not measured, no injected latency) that left the tool's own bytes in place."""

    tool: str
    version: str
    command: str  # what runs per alias
    loop: CommandLoop  # the measured pass
    traffic: Traffic
    first_pass: CommandLoop
    first_pass_writes: int
    checked: list[str] = field(default_factory=list)  # aliases read back after the loop
    problems: list[str] = field(default_factory=list)  # what the read-back found wrong

    @property
    def per_alias(self) -> float:
        return self.traffic.requests / max(1, self.loop.aliases)


@dataclass(frozen=True)
class ToolRow:
    """One row of the side-by-side table: reconcile's warm steady state, the docker loop or a
    peer, over the same aliases through the same proxy."""

    tool: str
    label: str
    aliases: int
    processes: int
    wall_s: float
    requests: int
    writes: int
    cpu_s: float
    max_rss_kb: int
    failures: int  # failed commands, plus problems found reading the aliases back
    reference_wall_s: float  # reconcile's steady state (warm cache)

    @property
    def per_alias(self) -> float:
        return self.requests / max(1, self.aliases)

    @property
    def writes_per_alias(self) -> float:
        return self.writes / max(1, self.aliases)

    @property
    def wall_ratio(self) -> float:
        """Wall time against reconcile's steady state: 20.0 is 20 times as long."""
        return self.wall_s / self.reference_wall_s if self.reference_wall_s > 0 else 0.0


@dataclass
class Bench:
    command: str
    mode: str  # "default" or "scale"
    latency_s: float
    concurrency: int
    repos: int
    per_repo: int
    aliases: int
    cache_support: str
    seed_s: float
    startup: Usage
    machine: dict[str, str]
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    runs: list[ReconcileRun] = field(default_factory=list)
    docker: DockerRun | None = None
    peers: list[PeerRun] = field(default_factory=list)
    peers_left_out: list[str] = field(default_factory=list)  # "NAME (why)"
    floors: list[FloorRun] = field(default_factory=list)
    floor_pairs: list[FloorPair] = field(default_factory=list)  # scale mode (first: `floors`)
    repushed_sources: int = 0
    drifted_aliases: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)  # run key: walls, run order
    load_start: float = 0.0  # 1-minute load average before the first run
    load_end: float = 0.0

    def run(self, key: str) -> ReconcileRun | None:
        return next((r for r in self.runs if r.key == key), None)


# -- machine -----------------------------------------------------------------------------


def machine_info(python: Path) -> dict[str, str]:
    """nproc, CPU model, memory, kernel, and the versions that matter, for BENCHMARKS.md."""
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpuinfo("model name") or platform.processor() or "?",
        "memory": _meminfo(),
        "kernel": platform.release(),
        "python": _output([str(python), "-c", "import sys; print(sys.version.split()[0])"]),
        "httpx": _output([str(python), "-c", "import httpx; print(httpx.__version__)"]),
        "docker-registry": _output(["docker-registry", "--version"]).split(" ")[-1],
        "docker": _output(["docker", "--version"]) if shutil.which("docker") else "not installed",
    }


def _cpuinfo(key: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return ""


def _meminfo() -> str:
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]  # MemTotal: N kB
        return f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        return "?"


def _output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return done.stdout.strip() or done.stderr.strip() or "?"


# -- targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None  # None: not measured in this mode


def targets(bench: Bench) -> list[Target]:
    found: list[Target] = []
    steady, cold = bench.run("steady"), bench.run("steady-cold")
    if bench.mode == "default" and steady is not None:
        docker = bench.docker
        if docker is not None and docker.loop.failures == 0:
            ratio = docker.loop.wall_s / steady.usage.wall_s
            found.append(
                Target(
                    "steady state >= 30x faster than the docker loop", f"{ratio:.1f}x", ratio >= 30
                )
            )
        found += _peer_targets(steady, bench.peers)
        found.append(
            Target(
                "steady state writes 0 (the docker loop writes one per alias)",
                str(steady.traffic.writes),
                steady.traffic.writes == 0,
            )
        )
    warm = bench.run("scale-warm") or steady
    cold = bench.run("scale-cold") or cold
    if warm is not None:
        found.append(
            Target(
                "requests per alias, steady state, warm cache <= 3",
                f"{warm.per_alias:.2f}",
                warm.per_alias <= 3,
            )
        )
    if cold is not None:
        found.append(
            Target(
                "requests per alias, steady state, cold cache <= 5",
                f"{cold.per_alias:.2f}",
                cold.per_alias <= 5,
            )
        )
    if bench.mode == "scale" and warm is not None:
        found.append(
            Target(
                f"{warm.aliases} aliases steady --dry-run: wall < 60 s",
                f"{warm.usage.wall_s:.1f} s",
                warm.usage.wall_s < 60,
            )
        )
        found.append(
            Target(
                f"{warm.aliases} aliases steady --dry-run: peak RSS < 300 MB",
                f"{warm.usage.max_rss_mb:.0f} MB",
                warm.usage.max_rss_mb < 300,
            )
        )
        found += _memory_targets(warm, bench.run("scale-up-warm"))
        found += _floor_targets(bench.floor_pairs or [FloorPair(warm, bench.floors, False)])
    return found + _cold_cache_targets(bench)


def _peer_targets(steady: ReconcileRun, peers: Sequence[PeerRun]) -> list[Target]:
    """Issue 16: ahead of every peer's loop on the same aliases, with fewer requests and no
    writes."""
    found = []
    for peer in peers:
        ratio = peer.loop.wall_s / steady.usage.wall_s
        fewer = steady.traffic.requests < peer.traffic.requests
        found.append(
            Target(
                f"steady state faster than the {peer.tool} loop, fewer requests, no writes",
                f"{ratio:.1f}x, {steady.traffic.requests} against {peer.traffic.requests}",
                ratio > 1 and fewer and steady.traffic.writes == 0,
            )
        )
    return found


def _floor_targets(pairs: Sequence[FloorPair]) -> list[Target]:
    """Issue 16: client CPU per request at most 1.5x, and wall at most 1.25x, a bare loop over
    urllib3 (what the client sends through) sending as many HEADs in the same invocation; the
    median of the pairs' ratios, each pair's shown."""
    measured = [(pair, floor) for pair in pairs if (floor := pair.floor("urllib3")) is not None]
    if not measured:
        return []
    cpu = [pair.cpu_ratio(floor) for pair, floor in measured]
    wall = [pair.wall_ratio(floor) for pair, floor in measured]
    cpu_ms = ", ".join(f"{p.run.cpu_per_1k:.2f} against {f.cpu_per_1k:.2f}" for p, f in measured)
    walls = ", ".join(f"{p.run.usage.wall_s:.1f} against {f.wall_s:.1f}" for p, f in measured)
    return [
        Target(
            "client CPU per request <= 1.5x a bare urllib3 loop",
            f"{_median_of(cpu)} ({cpu_ms} ms)",
            statistics.median(cpu) <= 1.5,
        ),
        Target(
            "wall <= 1.25x a bare urllib3 loop",
            f"{_median_of(wall)} ({walls} s)",
            statistics.median(wall) <= 1.25,
        ),
    ]


def _median_of(ratios: Sequence[float]) -> str:
    """The ratio, or for several pairs: "1.31x, the median of 1.25x, 1.31x, 1.52x"."""
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}x"
    each = ", ".join(f"{r:.2f}x" for r in ratios)
    return f"{statistics.median(ratios):.2f}x, the median of {each}"


def _memory_targets(warm: ReconcileRun, up: ReconcileRun | None) -> list[Target]:
    """Issue 16: peak RSS at 10,000 aliases, and how it grows with the file (`--scale-up`)."""
    rss = warm.usage.max_rss_mb
    found = [Target(f"{warm.aliases} aliases: peak RSS <= 150 MB", f"{rss:.0f} MB", rss <= 150)]
    if up is not None:
        ratio = up.usage.max_rss_mb / rss
        found.append(
            Target(
                f"{up.aliases} aliases: peak RSS <= 1.2x that at {warm.aliases}",
                f"{up.usage.max_rss_mb:.0f} MB, {ratio:.2f}x",
                ratio <= 1.2,
            )
        )
    return found


def _cold_cache_targets(bench: Bench) -> list[Target]:
    """Issue 16: a cold cache (a new CI runner) costs at most twice the warm steady state's
    wall time, in at most 1 + 2k requests per alias (k: sources named by tag, 2 here)."""
    steady, cold = bench.run("steady"), bench.run("steady-cold")
    if bench.mode != "default" or steady is None or cold is None:
        return []
    ratio = cold.usage.wall_s / steady.usage.wall_s
    return [
        Target(
            "steady state, cold cache: wall <= 2x the warm cache's", f"{ratio:.2f}x", ratio <= 2
        ),
        Target(
            "steady state, cold cache: requests per alias <= 1 + 2k (k = 2)",
            f"{cold.per_alias:.2f}",
            cold.per_alias <= 5,
        ),
    ]


# -- Markdown ------------------------------------------------------------------------------


def to_markdown(bench: Bench) -> str:
    """The results block for BENCHMARKS.md: paste it in as is."""
    parts = [
        f"### {bench.mode} run, {bench.date}",
        "",
        f"`{bench.command}`: {bench.aliases} aliases ({bench.repos} repositories x "
        f"{bench.per_repo} aliases x 2 sources), {bench.latency_s * 1000:.0f} ms injected "
        f"latency per request, `--concurrency {bench.concurrency}`; cold and warm cache "
        f"directories chosen with {bench.cache_support}. Seeding took {bench.seed_s:.1f} s. "
        f"Load average {bench.load_start:.1f} before, {bench.load_end:.1f} after.",
        "",
        _machine_line(bench.machine),
        "",
        _table(
            [
                "scenario",
                "plan",
                "wall s",
                "requests",
                "by method",
                "req/alias",
                "writes",
                "client CPU s",
                "CPU s/1k req",
                "peak RSS MB",
                "registry CPU s",
                "proxy CPU s",
            ],
            [
                [
                    r.label,
                    r.plan(),
                    f"{r.usage.wall_s:.2f}",
                    str(r.traffic.requests),
                    _methods(r.traffic.by_method),
                    f"{r.per_alias:.2f}",
                    str(r.traffic.writes),
                    f"{r.usage.cpu_s:.2f}",
                    f"{r.cpu_per_1k:.2f}",
                    f"{r.usage.max_rss_mb:.0f}",
                    f"{r.traffic.registry_cpu_s:.1f}",
                    f"{r.traffic.proxy_cpu_s:.1f}",
                ]
                for r in bench.runs
            ],
        ),
        "",
        f"Client CPU includes interpreter start and imports; a `--dry-run` of one alias "
        f"takes {bench.startup.cpu_s:.2f} s CPU and {bench.startup.max_rss_mb:.0f} MB, and is "
        f"subtracted for CPU s/1k req.",
    ]
    parts += _samples_lines(bench)
    if bench.repushed_sources:
        parts += [
            "",
            f"Drift scenario: {bench.repushed_sources} sources re-pushed (a new "
            f"image under the same tag), {bench.drifted_aliases} aliases affected.",
        ]
    parts += _tools_section(bench) + _floor_section(bench) + _targets_section(bench)
    parts += ["", "Requests by kind:", ""]
    parts += [f"- {r.label}: {_methods(r.traffic.by_kind)}" for r in bench.runs]
    if bench.docker is not None:
        parts.append(f"- docker loop: {_methods(bench.docker.traffic.by_kind)}")
    parts += [f"- {p.tool} loop: {_methods(p.traffic.by_kind)}" for p in bench.peers]
    return "\n".join(parts) + "\n"


def _samples_lines(bench: Bench) -> list[str]:
    """Every wall of the repeated scenarios, whose rows show their run of median wall."""
    if not any(len(walls) > 1 for walls in bench.samples.values()):
        return []
    labels = {run.key: run.label.split(" ", 1)[0] for run in bench.runs}  # "(b)", "(b')"
    named = {labels.get(key, key): walls for key, walls in bench.samples.items()}
    listed = "; ".join(
        f"{name} {', '.join(f'{w:.2f}' for w in walls)}" for name, walls in named.items()
    )
    return [
        "",
        f"{' and '.join(named)} ran {max(map(len, named.values()))} times each, interleaved; "
        f"each row is its run of median wall. Walls in run order, s: {listed}.",
    ]


def _tools_section(bench: Bench) -> list[str]:
    rows = tool_rows(bench)
    notes = [] if bench.docker is not None else ["Docker loop: skipped."]
    if bench.peers_left_out:
        notes.append(f"Peers left out: {', '.join(bench.peers_left_out)}.")
    if len(rows) < 2:  # nothing to set beside reconcile
        return [line for note in notes for line in ("", note)]
    table = _table(
        [
            "",
            "wall s",
            "requests",
            "req/alias",
            "writes",
            "writes/alias",
            "client CPU s",
            "peak RSS MB",
            "wall / reconcile",
        ],
        [
            [
                row.label,
                f"{row.wall_s:.2f}",
                str(row.requests),
                f"{row.per_alias:.2f}",
                str(row.writes),
                f"{row.writes_per_alias:.2f}",
                f"{row.cpu_s:.2f}",
                f"{row.max_rss_kb / 1024:.0f}",
                f"{row.wall_ratio:.1f}x",
            ]
            for row in rows
        ],
    )
    parts = [
        "",
        f"Steady state, {rows[0].aliases} aliases, side by side through the same proxy:",
        "",
        table,
    ]
    steady, docker = bench.run("steady"), bench.docker
    if docker is not None and steady is not None:
        loop = docker.loop
        ratio = loop.wall_s / steady.usage.wall_s
        failed = (
            f" {loop.failures} docker commands failed: {loop.first_error}" if loop.failures else ""
        )
        fewer = docker.traffic.requests / max(1, steady.traffic.requests)
        parts += [
            "",
            f"reconcile is **{ratio:.1f}x** faster than the docker loop in wall time, with "
            f"{fewer:.1f}x fewer requests.{failed}",
        ]
    if bench.peers:
        first = ", ".join(f"{p.tool} {p.first_pass_writes}" for p in bench.peers)
        parts += [
            "",
            "Each peer is measured on its second pass over the aliases: a first pass (not "
            "measured, no injected latency) left the tool's own bytes under every alias tag, as "
            f"its own loop would have on the days before; writes in that first pass: {first}.",
        ]
    for peer in bench.peers:
        if peer.loop.failures:
            parts += [
                "",
                f"{peer.tool}: {peer.loop.failures} commands failed: {peer.loop.first_error}",
            ]
        if peer.problems:
            parts += ["", f"{peer.tool}: read back wrong: {'; '.join(peer.problems)}"]
    return parts + [line for note in notes for line in ("", note)]


def tool_rows(bench: Bench) -> list[ToolRow]:
    """reconcile's warm steady state, then the docker loop and every peer that ran; empty
    without a steady-state run (scale mode)."""
    steady = bench.run("steady")
    if steady is None:
        return []
    reference = steady.usage.wall_s
    rows = [
        ToolRow(
            "reconcile",
            "reconcile (warm cache)",
            steady.aliases,
            1,
            steady.usage.wall_s,
            steady.traffic.requests,
            steady.traffic.writes,
            steady.usage.cpu_s,
            steady.usage.max_rss_kb,
            0,
            reference,
        )
    ]
    loops: list[tuple[str, str, CommandLoop, Traffic, int]] = []
    if bench.docker is not None:
        loops.append(("docker", "docker manifest loop", bench.docker.loop, bench.docker.traffic, 0))
    for peer in bench.peers:
        loops.append((peer.tool, f"{peer.tool} {peer.version}", peer.loop, peer.traffic,
                      len(peer.problems)))  # fmt: skip
    for tool, label, loop, traffic, problems in loops:
        rows.append(
            ToolRow(
                tool,
                f"{label} ({loop.processes} processes)",
                loop.aliases,
                loop.processes,
                loop.wall_s,
                traffic.requests,
                traffic.writes,
                loop.cpu_s,
                loop.max_rss_kb,
                loop.failures + problems,
                reference,
            )
        )
    return rows


def _floor_section(bench: Bench) -> list[str]:
    if not bench.floors:
        return []
    reference = bench.run("scale-warm") or bench.run("steady")
    rows = []
    if reference is not None:
        rows.append(
            [
                f"reconcile ({reference.label})",
                str(reference.traffic.requests),
                f"{reference.usage.wall_s:.2f}",
                f"{1000 * reference.usage.wall_s / max(1, reference.traffic.requests):.2f}",
                f"{reference.net_cpu_s:.2f}",
                f"{reference.cpu_per_1k:.2f}",
                f"{reference.usage.max_rss_mb:.0f}",
                f"{reference.traffic.registry_cpu_s:.1f}",
            ]
        )
    for f in bench.floors:
        errors = f" ({f.errors} errors)" if f.errors else ""
        rows.append(
            [
                f"{f.client}{errors}",
                str(f.requests),
                f"{f.wall_s:.2f}",
                f"{1000 * f.wall_s / max(1, f.requests):.2f}",
                f"{f.loop_cpu_s:.2f}",
                f"{f.cpu_per_1k:.2f}",
                f"{f.usage.max_rss_mb:.0f}",
                f"{f.traffic.registry_cpu_s:.1f}",
            ]
        )
    return [
        "",
        f"Floor: the same number of manifest HEADs with bare clients, {bench.concurrency} "
        f"threads or tasks, through the same proxy (CPU of the request loop only):",
        "",
        _table(
            [
                "client",
                "requests",
                "wall s",
                "wall ms/req",
                "CPU s",
                "CPU s/1k req",
                "peak RSS MB",
                "registry CPU s",
            ],
            rows,
        ),
        *_pairs_section(bench.floor_pairs),
    ]


def _pairs_section(pairs: Sequence[FloorPair]) -> list[str]:
    """Each pair of the scale mode: the warm run beside each floor measured next to it."""
    if len(pairs) < 2:
        return []
    rows = []
    for n, pair in enumerate(pairs, start=1):
        for floor in pair.floors:
            rows.append(
                [
                    str(n),
                    "floor, run" if pair.floor_first else "run, floor",
                    floor.client,
                    f"{pair.run.cpu_per_1k:.2f}",
                    f"{floor.cpu_per_1k:.2f}",
                    f"{pair.cpu_ratio(floor):.2f}x",
                    f"{pair.run.usage.wall_s:.2f}",
                    f"{floor.wall_s:.2f}",
                    f"{pair.wall_ratio(floor):.2f}x",
                ]
            )
    header = ["pair", "order", "floor", "reconcile CPU s/1k req", "floor CPU s/1k req",
              "CPU ratio", "reconcile wall s", "floor wall s", "wall ratio"]  # fmt: skip
    return [
        "",
        f"The warm run and the floors, {len(pairs)} pairs in turn (the table above: pair 1); "
        f"the targets take the median of the pairs' ratios:",
        "",
        _table(header, rows),
    ]


def _targets_section(bench: Bench) -> list[str]:
    found = targets(bench)
    if not found:
        return []
    rows = [[t.name, t.measured, "met" if t.met else "**missed**"] for t in found]
    return ["", "Targets:", "", _table(["target", "measured", ""], rows)]


def _machine_line(machine: Mapping[str, str]) -> str:
    return "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + "."


def _methods(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- JSON ----------------------------------------------------------------------------------


def to_json(bench: Bench) -> str:
    derived: dict[str, Callable[[ReconcileRun], object]] = {
        "requests": lambda r: r.traffic.requests,
        "per_alias": lambda r: round(r.per_alias, 3),
        "net_cpu_s": lambda r: round(r.net_cpu_s, 3),
        "cpu_per_1k": lambda r: round(r.cpu_per_1k, 3),
    }
    document = asdict(bench)
    for run, raw in zip(bench.runs, document["runs"], strict=True):
        raw.update({name: value(run) for name, value in derived.items()})
    document["tools"] = [
        {
            **asdict(row),
            "per_alias": round(row.per_alias, 3),
            "writes_per_alias": round(row.writes_per_alias, 3),
            "wall_ratio": round(row.wall_ratio, 3),
        }
        for row in tool_rows(bench)
    ]
    for pair, raw in zip(bench.floor_pairs, document["floor_pairs"], strict=True):
        raw["run"].update({name: value(pair.run) for name, value in derived.items()})
        raw["ratios"] = {
            f.client: {"cpu": round(pair.cpu_ratio(f), 3), "wall": round(pair.wall_ratio(f), 3)}
            for f in pair.floors
        }
    document["targets"] = [asdict(t) for t in targets(bench)]
    return json.dumps(document, indent=2, default=str) + "\n"


def print_markdown(bench: Bench) -> None:
    sys.stdout.write(to_markdown(bench))
