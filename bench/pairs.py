"""Paired steady-state runs of two source trees of reconcile, for decisions such as "is this
change more than N % slower": one registry seeded once, one warm cache, and the two trees'
warm `--dry-run` runs alternating in ABBA order, so that whatever else the machine does
weighs on both alike.

    python bench/pairs.py TREE_A TREE_B [--pairs 10] [--scale 10000] [--concurrency 64]
                          [--latency 0.020] [--floor CLIENT,...] [--json FILE]

A tree is a directory holding a `reconciler/` package (a `git archive` or `git worktree` of
another commit, say); each run imports it first through PYTHONPATH. Prints one line per run
and a summary: the median of the per-pair wall time ratios B/A and of the client CPU per
request. With `--floor`, each pair ends with those bare clients (bench/floor.py) sending as
many manifest HEADs as the pair's runs did, and the summary adds each tree's ratios to them,
pair by pair: client CPU per request and wall time against the floor measured beside them.
See BENCHMARKS.md, "Transport: urllib3 against the hand-written pool".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(ROOT))

from bench.floor import CLIENTS  # noqa: E402
from bench.run import (  # noqa: E402
    REGISTRY_GOGC,
    Harness,
    expect,
    floor_paths,
    go_gc,
    has_cache_dir_flag,
    log,
    measure_startup,
    registry_parent,
)
from bench.seed import Layout, Seeder  # noqa: E402
from tests.support.proxy import start_proxy  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/pairs.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trees", nargs=2, type=Path, metavar="TREE")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--scale", type=int, default=10000, help="aliases (default 10000)")
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--floor", default="", help="bare clients run after each pair")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every run as JSON")
    args = parser.parse_args(argv)
    args.floors = [client for client in args.floor.split(",") if client]
    unknown = set(args.floors) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown floor client(s): {', '.join(sorted(unknown))}")
    for tree in args.trees:
        if not (tree / "reconciler" / "__init__.py").is_file():
            parser.error(f"{tree}: no reconciler/ package there")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with ExitStack() as stack:
        harness = start(args, stack)
        runs = alternate(harness, [tree.resolve() for tree in args.trees], args.pairs)
    summary = summarize(runs) | against_floors(runs)
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    return 0


def start(args: argparse.Namespace, stack: ExitStack) -> Harness:
    """Registry, proxy and N aliases in sync, as `bench/run.py --scale N` sets them up."""
    work = Path(tempfile.mkdtemp(prefix="reconciler-pairs-"))
    storage = Path(tempfile.mkdtemp(prefix="reconciler-pairs-registry-", dir=registry_parent()))
    stack.callback(shutil.rmtree, work, ignore_errors=True)
    stack.callback(shutil.rmtree, storage, ignore_errors=True)
    with go_gc(REGISTRY_GOGC):
        registry = start_registry(storage)
    stack.callback(registry.stop)
    proxy = start_proxy(registry.url, latency=args.latency)
    stack.callback(proxy.stop)
    layout = Layout.for_total(args.scale, args.repos)
    log(f"seeding {layout.total} aliases x 2 sources (aliases in sync)")
    Seeder(registry.root).seed(layout, with_aliases=True)
    config = work / "manifests.yaml"
    config.write_text(json.dumps(layout.config(proxy.host), indent=1))  # JSON is YAML
    harness = Harness(args, work, registry, proxy, layout, config, has_cache_dir_flag())
    harness.startup_cpu_s = measure_startup(harness).cpu_s
    return harness


def alternate(h: Harness, trees: list[Path], pairs: int) -> list[dict[str, object]]:
    """One run to fill the cache, then pairs in ABBA order."""
    os.environ["PYTHONPATH"] = str(trees[0])
    h.reconcile("fill", "fill the cache (tree A)", cache="warm", dry_run=True)
    runs: list[dict[str, object]] = []
    for pair in range(pairs):
        order = (0, 1) if pair % 2 == 0 else (1, 0)
        for index in order:
            os.environ["PYTHONPATH"] = str(trees[index])
            load = os.getloadavg()[0]
            name = "AB"[index]
            run = h.reconcile(f"{name}{pair}", f"pair {pair}, tree {name}", cache="warm",
                              dry_run=True)  # fmt: skip
            expect(run, "noop", h.layout.total)
            runs.append({"pair": pair, "tree": name, "wall_s": run.usage.wall_s,
                         "requests": run.traffic.requests, "cpu_ms_per_request": run.cpu_per_1k,
                         "registry_cpu_s": run.traffic.registry_cpu_s,
                         "proxy_cpu_s": run.traffic.proxy_cpu_s, "load_before": load})  # fmt: skip
            print(json.dumps(runs[-1]), flush=True)
        requests = max(int(str(r["requests"])) for r in runs[-2:])
        for client in h.args.floors:
            runs.append(floor_run(h, client, pair, requests))
            print(json.dumps(runs[-1]), flush=True)
    return runs


def floor_run(h: Harness, client: str, pair: int, requests: int) -> dict[str, object]:
    """The bare client `client` sending `requests` manifest HEADs (bench/run.py's floor)."""
    load = os.getloadavg()[0]
    floor = h.floor(client, list(floor_paths(h.layout, requests)))
    return {"pair": pair, "tree": f"floor:{client}", "wall_s": floor.wall_s,
            "requests": floor.requests, "cpu_ms_per_request": floor.cpu_per_1k,
            "registry_cpu_s": floor.traffic.registry_cpu_s,
            "proxy_cpu_s": floor.traffic.proxy_cpu_s, "load_before": load}  # fmt: skip


def summarize(runs: list[dict[str, object]]) -> dict[str, float]:
    def of(tree: str, key: str) -> dict[object, float]:
        return {r["pair"]: float(str(r[key])) for r in runs if r["tree"] == tree}

    wall_a, wall_b = of("A", "wall_s"), of("B", "wall_s")
    cpu_a, cpu_b = of("A", "cpu_ms_per_request"), of("B", "cpu_ms_per_request")
    ratios = [wall_b[p] / wall_a[p] for p in wall_a if p in wall_b]
    return {
        "pairs": len(ratios),
        "wall_ratio_median": statistics.median(ratios),
        "wall_ratio_min": min(ratios),
        "wall_ratio_max": max(ratios),
        "wall_a_median_s": statistics.median(wall_a.values()),
        "wall_b_median_s": statistics.median(wall_b.values()),
        "cpu_ms_per_request_a_median": statistics.median(cpu_a.values()),
        "cpu_ms_per_request_b_median": statistics.median(cpu_b.values()),
    }


def against_floors(runs: list[dict[str, object]]) -> dict[str, float]:
    """Per tree and floor client, the medians over pairs of tree / floor, both measured in
    the same pair: client CPU per request, and wall time."""
    found: dict[str, float] = {}
    floors = sorted({str(r["tree"]) for r in runs if str(r["tree"]).startswith("floor:")})
    for floor in floors:
        client = floor.removeprefix("floor:")
        base = {r["pair"]: r for r in runs if r["tree"] == floor}
        for tree in ("A", "B"):
            for key, name in (("cpu_ms_per_request", "cpu"), ("wall_s", "wall")):
                ratios = [
                    float(str(r[key])) / float(str(base[r["pair"]][key]))
                    for r in runs
                    if r["tree"] == tree and r["pair"] in base
                ]
                if ratios:
                    found[f"{name}_ratio_{tree.lower()}_to_{client}_median"] = statistics.median(
                        ratios
                    )
    return found


if __name__ == "__main__":
    raise SystemExit(main())
