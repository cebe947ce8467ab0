"""Start-up: what every `reconcile` in a pre-commit hook or a CI step pays before any work.

    python bench/startup.py [--runs 15] [--json FILE]

Each command runs `--runs` times, interleaved (one of each in turn, so that the machine's load
falls on all of them alike); the median wall time is the figure, the minimum is shown beside
it. The floors measured in the same invocation are a bare interpreter and `import pydantic`
alone (the config's validation library, which `validate` cannot avoid). Targets (issue 16):
`reconcile --help` at most 0.15 s, `reconcile validate` of the top-level manifests.yaml at most
0.30 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.measure import Usage, clean_env, run_measured  # noqa: E402

__all__ = ["COMMANDS", "StartupRun", "measure_startup_times", "to_markdown"]

RECONCILE = Path(sys.executable).with_name("reconcile")
PYTHON = sys.executable
# (name, argv, target in seconds or None for a floor)
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("python -c pass", (PYTHON, "-c", "pass"), None),
    ("python -c 'import pydantic'", (PYTHON, "-c", "import pydantic"), None),
    ("reconcile --help", (str(RECONCILE), "--help"), 0.15),
    ("reconcile validate", (str(RECONCILE), "validate", "-f", str(ROOT / "manifests.yaml")), 0.30),
)


@dataclass(frozen=True)
class StartupRun:
    name: str
    median_s: float
    min_s: float
    cpu_median_s: float
    max_rss_mb: float
    target_s: float | None
    runs: int

    @property
    def verdict(self) -> str:
        if self.target_s is None:
            return "floor"
        return "met" if self.median_s <= self.target_s else "missed"


def measure_startup_times(runs: int = 15) -> list[StartupRun]:
    """Every command of COMMANDS `runs` times, interleaved; failing commands raise."""
    usages: dict[str, list[Usage]] = {name: [] for name, _, _ in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as work:
        out, err = Path(work) / "out", Path(work) / "err"
        for _ in range(runs):
            for name, argv, _ in COMMANDS:
                usage = run_measured(argv, env=clean_env(), stdout=out, stderr=err, timeout=60)
                if usage.returncode != 0:
                    raise RuntimeError(f"{name} failed: {err.read_text(errors='replace')}")
                usages[name].append(usage)
    return [_summary(name, usages[name], target) for name, _, target in COMMANDS]


def _summary(name: str, usages: Sequence[Usage], target: float | None) -> StartupRun:
    walls = [u.wall_s for u in usages]
    return StartupRun(
        name=name,
        median_s=statistics.median(walls),
        min_s=min(walls),
        cpu_median_s=statistics.median(u.cpu_s for u in usages),
        max_rss_mb=max(u.max_rss_kb for u in usages) / 1024,
        target_s=target,
        runs=len(usages),
    )


def to_markdown(results: Sequence[StartupRun]) -> str:
    rows = [
        "| command | median wall s | min wall s | median CPU s | peak RSS MB | target s | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        target = f"{r.target_s:.2f}" if r.target_s is not None else ""
        rows.append(
            f"| `{r.name}` | {r.median_s:.3f} | {r.min_s:.3f} | {r.cpu_median_s:.3f} "
            f"| {r.max_rss_mb:.0f} | {target} | {r.verdict} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = measure_startup_times(args.runs)
    print(to_markdown(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
