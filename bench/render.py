"""Rendering: the CPU the report costs at the end of a run, for N synthetic aliases.

    python bench/render.py [--aliases 10000,20000] [--runs 5] [--json FILE] [--markdown FILE]

For each N, a report of N aliases is made through the real pure stages (a config parsed from
YAML, observations, `make_plan`, `dry_run`): 100 aliases per repository, two single-platform
sources each; one alias in 20 is created (with a copy from another repository, which brings a
signature), one in 20 updated, one in 20 fails to resolve, the rest are unchanged, as on a
scheduled day. Every measured call gets a fresh report, so the index digests, which a run
computes when the report shows them (for the first time, where an index keeps its bytes),
are computed inside the measurement as they are at the end of a run. The figure is the
process's CPU time (`time.process_time`) of the one call, the median over `--runs` (the cases
take turns, so the machine's load falls on all alike), with the minimum beside it.

The cases are the JSON report (`--output json`), the JSON document as a value
(`jsonreport.document`: the dicts any encoder would be given, digests included), text and
Markdown with and without unchanged aliases (`--list-unchanged`), the index digests alone
(part of every form that shows them), the plan file's text (`--plan-out`, its model built
untimed), and two lines over the JSON document already built: the floor, `json.dumps` without
indentation (the standard library's C encoder), and `json.dumps(indent=2)` (its pure-Python
encoder, which wrote the report until issue 16).
"x floor" is a case's median over the floor's median at the same N; "growth" is its CPU per
alias at the largest N over that at the smallest (1.0 is linear). "peak MB" is the largest
allocation above the report while rendering it (`tracemalloc`, in a separate untimed call).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `reconciler` importable
    sys.path.insert(0, str(ROOT))

from bench.report import machine_info  # noqa: E402
from reconciler._config.models import AliasTarget, parse  # noqa: E402
from reconciler._errors import NotFoundError  # noqa: E402
from reconciler._model.names import RepositoryName  # noqa: E402
from reconciler._model.oci import (  # noqa: E402
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Descriptor,
    Platform,
    digest_of,
)
from reconciler._output.jsonreport import Run, document  # noqa: E402
from reconciler._output.markdown import render_markdown  # noqa: E402
from reconciler._output.planfile import render_plan  # noqa: E402
from reconciler._output.render import render_json, render_text  # noqa: E402
from reconciler._pipeline.observed import (  # noqa: E402
    Copy,
    LiveTag,
    ObservedAlias,
    Referrer,
    ResolvedSource,
)
from reconciler._pipeline.plan import make_plan  # noqa: E402
from reconciler._pipeline.report import Outcome, Report, dry_run  # noqa: E402
from reconciler._pipeline.saved import SavedPlan, save  # noqa: E402

__all__ = [
    "CASES",
    "RenderRun",
    "Synthetic",
    "measure",
    "synthetic",
    "synthetic_observations",
    "to_markdown",
]

HOST = "registry.bench.test"
PER_REPOSITORY = 100
AMD64, ARM64 = Platform("linux", "amd64"), Platform("linux", "arm64")
FLOOR = "floor: json.dumps, no indent"


def _digest(seed: str) -> str:
    return digest_of(seed.encode())


def _config_text(n: int) -> str:
    lines = ["version: 1", "registries:", f"  {HOST}: {{insecure: true}}", "repositories:"]
    for i in range(n):
        if i % PER_REPOSITORY == 0:
            lines += [f"  {HOST}/bench/repo-{i // PER_REPOSITORY:03d}:", "    aliases:"]
        lines.append(f'      "v{i:05d}": ["v{i:05d}-amd64", "v{i:05d}-arm64"]')
    return "\n".join(lines) + "\n"


def _image(seed: str, platform: Platform) -> Descriptor:
    return Descriptor(DOCKER_MANIFEST, _digest(seed), 529, platform)


def _live(*entries: Descriptor) -> LiveTag:
    head = Descriptor(DOCKER_LIST, _digest("live" + "".join(e.digest for e in entries)), 743)
    return LiveTag("index", head, entries)


def _copy(i: int, child: Descriptor) -> Copy:
    """The amd64 image, missing from the alias's repository, with a cosign signature."""
    signature = Referrer(
        _digest(f"sig{i}"),
        OCI_MANIFEST,
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        410,
        ((_digest(f"sigcfg{i}"), 233), (_digest(f"siglayer{i}"), 1_200)),
        "referrers-api",
    )
    return Copy(
        child.digest,
        child.media_type,
        RepositoryName(HOST, "bench/base"),
        f"v{i:05d}-amd64",
        ((_digest(f"cfg{i}"), 1_500), (_digest(f"layer{i}"), 28_000_000)),
        "linux/amd64",
        (signature,),
    )


def _observed(i: int, target: AliasTarget) -> ObservedAlias:
    amd, arm = _image(f"amd{i}", AMD64), _image(f"arm{i}", ARM64)
    kind = i % 20
    if kind == 2:
        missing = NotFoundError(HOST, f"source 'v{i:05d}-arm64' not found")
        return ObservedAlias(target, error=missing)
    sources = tuple(
        ResolvedSource(source, entry, (entry,))
        for source, entry in zip(target.sources, (amd, arm), strict=True)
    )
    if kind == 0:
        return ObservedAlias(target, LiveTag("absent"), sources, copies=(_copy(i, amd),))
    live = _live(amd, _image(f"old-arm{i}", ARM64)) if kind == 1 else _live(amd, arm)
    return ObservedAlias(target, live, sources)


def synthetic_observations(n: int) -> list[ObservedAlias]:
    """What observe would have seen for N aliases (see the module docstring for the mix)."""
    targets = parse(_config_text(n)).targets()
    return [_observed(i, target) for i, target in enumerate(targets)]


@dataclass(frozen=True)
class Synthetic:
    """N aliases as observed, and the report of their plan."""

    observations: list[ObservedAlias]
    report: Report


def synthetic(n: int) -> Synthetic:
    observations = synthetic_observations(n)
    return Synthetic(observations, dry_run(make_plan(observations)))


def _fresh(report: Report) -> Report:
    """The same report with new desired indexes, which have not computed their bytes yet (as
    at the end of a run, where an index keeps them once computed)."""
    return Report(tuple(_fresh_outcome(o) for o in report.outcomes), report.dry_run)


def _fresh_outcome(outcome: Outcome) -> Outcome:
    desired = outcome.plan.desired
    if desired is None:
        return outcome
    plan = dataclasses.replace(outcome.plan, desired=dataclasses.replace(desired))
    return dataclasses.replace(outcome, plan=plan)


def _document(report: Report) -> dict[str, Any]:
    return document(Run(report, None))


def _saved(report: Report, observations: Sequence[ObservedAlias]) -> SavedPlan:
    """The plan file's model of the report (what `--plan-out` writes)."""
    plans = [o.plan for o in report.outcomes]
    return save(plans, observations, tool_version="0", config_path="m.yaml", config_bytes=b"")


# name -> (what is measured; what it is given, prepared untimed from a fresh report and the
# observations)
Case = tuple[Callable[[Any], object], Callable[[Report, Sequence[ObservedAlias]], Any]]
CASES: dict[str, Case] = {
    "json": (render_json, lambda r, _: r),
    "document value alone": (_document, lambda r, _: r),
    "text": (render_text, lambda r, _: r),
    "text, unchanged listed": (lambda r: render_text(r, verbose=True), lambda r, _: r),
    "markdown": (render_markdown, lambda r, _: r),
    "markdown, unchanged listed": (
        lambda r: render_markdown(r, verbose=True),
        lambda r, _: r,
    ),
    "index digests alone": (
        lambda r: [o.plan.desired.manifest for o in r.outcomes if o.plan.desired is not None],
        lambda r, _: r,
    ),
    "plan file text (--plan-out), its model built before": (render_plan, _saved),
    FLOOR: (json.dumps, lambda r, _: _document(r)),
    "json.dumps(indent=2)": (lambda doc: json.dumps(doc, indent=2), lambda r, _: _document(r)),
}


@dataclass(frozen=True)
class RenderRun:
    case: str
    aliases: int
    cpu_median_s: float
    cpu_min_s: float
    output_mb: float
    peak_mb: float | None  # None: not measured for this case
    runs: int

    @property
    def us_per_alias(self) -> float:
        return self.cpu_median_s / self.aliases * 1e6


def _timed(call: Callable[[Any], object], value: Any) -> tuple[float, object]:
    gc.collect()  # the previous case's garbage is not this one's to collect
    started = time.process_time()
    out = call(value)
    return time.process_time() - started, out


def _output_mb(out: object) -> float:
    return len(out) / 1e6 if isinstance(out, str) else 0.0


def _peak_mb(base: Report) -> float:
    """The most `render_json` allocates above a fresh report at any moment."""
    report = _fresh(base)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        render_json(report)
        return (tracemalloc.get_traced_memory()[1] - before) / 1e6
    finally:
        tracemalloc.stop()


def measure(sizes: Sequence[int], runs: int) -> list[RenderRun]:
    results: list[RenderRun] = []
    names = list(CASES)
    for n in sizes:
        made = synthetic(n)
        cpu: dict[str, list[float]] = {name: [] for name in names}
        size: dict[str, float] = {}
        for r in range(runs):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                call, prepare = CASES[name]
                seconds, out = _timed(call, prepare(_fresh(made.report), made.observations))
                cpu[name].append(seconds)
                size[name] = _output_mb(out)
                del out
        peak = _peak_mb(made.report)
        for name in names:
            results.append(
                RenderRun(
                    name,
                    n,
                    statistics.median(cpu[name]),
                    min(cpu[name]),
                    size[name],
                    peak if name == "json" else None,
                    runs,
                )
            )
    return results


def to_markdown(results: Sequence[RenderRun]) -> str:
    floors = {r.aliases: r.cpu_median_s for r in results if r.case == FLOOR}
    smallest, largest = min(floors), max(floors)
    per_alias = {(r.case, r.aliases): r.us_per_alias for r in results}
    rows = [
        "| case | aliases | median CPU s | min CPU s | µs/alias | x floor | growth | output MB"
        " | peak MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        growth = ""
        if r.aliases == largest and largest != smallest:
            growth = f"{per_alias[(r.case, largest)] / per_alias[(r.case, smallest)]:.2f}"
        peak = f"{r.peak_mb:.1f}" if r.peak_mb is not None else ""
        rows.append(
            f"| {r.case} | {r.aliases:,} | {r.cpu_median_s:.3f} | {r.cpu_min_s:.3f}"
            f" | {r.us_per_alias:.1f} | {r.cpu_median_s / floors[r.aliases]:.2f}x | {growth}"
            f" | {r.output_mb:.1f} | {peak} |"
        )
    return "\n".join(rows)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--aliases", default="10000,20000", help="comma-separated sizes (default 10000,20000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="measured calls of each case")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--markdown", type=Path, help="also write the table and machine here")
    args = parser.parse_args(argv)
    sizes = sorted({int(n) for n in args.aliases.split(",")})
    load_before = _load()
    results = measure(sizes, args.runs)
    load_after = _load()
    machine = machine_info(Path(sys.executable))
    table = to_markdown(results)
    footer = (
        f"load average (1, 5, 15 min) before {load_before}, after {load_after};"
        f" {machine['nproc']} x {machine['cpu']}, {machine['memory']},"
        f" Python {machine['python']}, kernel {machine['kernel']}"
    )
    print(f"{table}\n\n{footer}")
    if args.markdown:
        args.markdown.write_text(f"{table}\n\n{footer}\n")
    if args.json:
        doc = {
            "machine": machine,
            "load_before": load_before,
            "load_after": load_after,
            "results": [{**dataclasses.asdict(r), "us_per_alias": r.us_per_alias} for r in results],
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
