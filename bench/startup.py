"""Start-up: what every `reconcile` in a pre-commit hook or a CI step pays before any work.

    python bench/startup.py [--runs 15] [--json FILE]

Each command runs `--runs` times, interleaved (one of each in turn, so that the machine's load
falls on all of them alike); the median wall time is the figure, the minimum is shown beside
it. `reconcile` is measured as a user installs it: a regular (not editable) install of this
checkout into a throwaway environment that sees only the runtime dependencies (those
pyproject.toml names, and theirs), because the development venv's editable install adds its
own import hook to every start (about 0.07 s here) and pydantic scans the entry points of
every installed distribution (the development venv holds over 100; a user's about 20). The
floors measured in the same invocation are a bare interpreter, `import pydantic` alone, and
pydantic's first validation in a new process (BaseModel imported, one model built and used:
what `validate` cannot avoid while the config is validated by pydantic). Targets (issue 16):
`reconcile --help` at most 0.15 s, `reconcile validate` of the top-level manifests.yaml at most
0.30 s.
"""

from __future__ import annotations

import argparse
import compileall
import json
import py_compile
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench.measure import Usage, clean_env, run_measured  # noqa: E402

__all__ = ["COMMANDS", "StartupRun", "measure_startup_times", "to_markdown"]

PYTHON = sys.executable
MANIFESTS = str(ROOT / "manifests.yaml")
# What any pydantic-validated input pays in a new process: BaseModel's import (pydantic's own
# `import pydantic` defers it), one model's validator built (with pydantic's plugin lookup,
# which imports importlib.metadata and reads every installed distribution's entry points) and
# one validation.
_FIRST_VALIDATION = (
    "from pydantic import BaseModel\nclass M(BaseModel):\n    a: int\nM.model_validate({'a': 1})"
)
# (name, arguments after the interpreter, target in seconds or None for a floor); RECONCILE
# stands for the installed console script.
RECONCILE = "<reconcile>"
COMMANDS: tuple[tuple[str, tuple[str, ...], float | None], ...] = (
    ("python -c pass", ("-c", "pass"), None),
    ("python -c 'import pydantic'", ("-c", "import pydantic"), None),
    ("pydantic: a first validation", ("-c", _FIRST_VALIDATION), None),
    ("reconcile --help", (RECONCILE, "--help"), 0.15),
    ("reconcile validate", (RECONCILE, "validate", "-f", MANIFESTS), 0.30),
)


@contextmanager
def installed() -> Iterator[tuple[str, str]]:
    """(python, console script) of a regular install of this checkout in a throwaway venv:
    the package copied and byte-compiled as pip installs it, with its dist-info and the
    console script pip writes for the `reconcile` entry point, and beside it
    (by a path line, so that no .pth hook runs) links to this venv's copies of the runtime
    dependencies alone."""
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        env, target = Path(tmp) / "venv", Path(tmp) / "site"
        subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(env)], check=True)
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "reconciler", target / "reconciler", ignore=ignore)
        compileall.compile_dir(target, quiet=1)
        _write_dist_info(target)
        deps = Path(tmp) / "deps"
        link_runtime_dependencies(deps)
        site = Path(sysconfig.get_paths(vars={"base": str(env)})["purelib"])
        (site / "reconcile-bench.pth").write_text(f"{target}\n{deps}\n")
        script = env / "bin" / "reconcile"
        module, function = _project()["scripts"]["reconcile"].split(":")
        script.write_text(
            _CONSOLE_SCRIPT.format(python=env / "bin" / "python", module=module, function=function)
        )
        script.chmod(0o755)
        yield str(env / "bin" / "python"), str(script)


def _project() -> dict[str, Any]:
    """pyproject.toml's `[project]` table."""
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def runtime_dependencies() -> list[metadata.Distribution]:
    """This venv's distributions that an install of the project pulls in: the closure of
    pyproject.toml's `dependencies` (markers evaluated here, no extras)."""
    pending = [Requirement(r) for r in _project()["dependencies"]]
    found: dict[str, metadata.Distribution] = {}
    while pending:
        req = pending.pop()
        key = canonicalize_name(req.name)
        if key in found or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        found[key] = metadata.distribution(req.name)
        pending += [Requirement(r) for r in found[key].requires or ()]
    return sorted(found.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))


def link_runtime_dependencies(into: Path) -> None:
    """Links in `into` to the top-level files (packages, modules, dist-info) of every runtime
    dependency, as a site-packages holding those alone would have them."""
    into.mkdir()
    for dist in runtime_dependencies():
        tops = {Path(str(f)).parts[0] for f in dist.files or ()}
        for top in sorted(tops - {"..", "__pycache__"}):
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)
                if top.endswith(".py"):
                    # A module's bytecode is looked up beside the path it is imported by
                    # (here the link), not its target: without this it is compiled again at
                    # every start (typing_extensions alone: ~70 ms), which pip's install
                    # does not leave a user to pay.
                    py_compile.compile(str(into / top), doraise=True)


def _write_dist_info(site: Path) -> None:
    """The dist-info pip writes (its entry points are what pydantic's plugin scan reads)."""
    project = _project()
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    meta = f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    (info / "METADATA").write_text(meta)
    scripts = "".join(f"{k} = {v}\n" for k, v in project["scripts"].items())
    (info / "entry_points.txt").write_text(f"[console_scripts]\n{scripts}")


_CONSOLE_SCRIPT = """#!{python}
import sys
from {module} import {function}
if __name__ == "__main__":
    sys.exit({function}())
"""


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
    with installed() as (python, script), tempfile.TemporaryDirectory() as work:
        out, err = Path(work) / "out", Path(work) / "err"
        for _ in range(runs):
            for name, args, _ in COMMANDS:
                argv = [python, *(script if a == RECONCILE else a for a in args)]
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
