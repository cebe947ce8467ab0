"""`make bench` keeps working: the whole harness at a toy size, checked on request counts.

Timings are never asserted (they belong to BENCHMARKS.md); what is pinned is that every
scenario runs, plans what it should, and stays within the request budgets of the issue, and
that every peer's loop (crane, regctl, oras, manifest-tool: Go programs `make test` builds
into .tools/bin) keeps every alias. The smoke run needs the peers: without one it is
skipped, and under CI=true it fails (tests/support/tools.py).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.tools import requires_tool

ROOT = Path(__file__).resolve().parents[2]

PEERS = ("crane", "regctl", "oras", "manifest-tool")
# What each peer writes in its own steady state (its own bytes already under the alias tag):
# crane and manifest-tool compare the digest of what they would push with the tag's and skip
# the PUT; regctl and oras push every time.
STEADY_WRITES = {"crane": 0, "regctl": 6, "oras": 6, "manifest-tool": 0}


@requires_tool("crane")
@requires_tool("regctl")
@requires_tool("oras")
@requires_tool("manifest-tool")
def test_the_benchmark_runs_end_to_end_within_the_request_budgets(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "bench/run.py", "--repos", "2", "--aliases", "3", "--latency", "0",
            "--skip-docker", "--floor", "http.client,urllib3,httpx-lean", "--steady-runs", "3",
            "--json", str(out),
            "--markdown", str(tmp_path / "bench.md")]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = {run["key"]: run for run in result["runs"]}
    assert runs["first"]["summary"]["create"] == 6
    steady, cold = runs["steady"], runs["steady-cold"]
    assert steady["per_alias"] == 3.0 and steady["traffic"]["by_method"] == {"HEAD": 18}
    assert cold["per_alias"] <= 5.0 and cold["traffic"]["writes"] == 0
    # (b) and (b') ran three times each; the row is the run of median wall, not the fastest.
    assert {key: len(walls) for key, walls in result["samples"].items()} == {
        "steady": 3, "steady-cold": 3}  # fmt: skip
    for key in ("steady", "steady-cold"):
        assert runs[key]["usage"]["wall_s"] == sorted(result["samples"][key])[1]
    assert runs["drift"]["summary"]["update"] == result["drifted_aliases"] > 0
    assert [(f["client"], f["errors"]) for f in result["floors"]] == [
        ("http.client", 0),
        ("urllib3", 0),
        ("httpx-lean", 0),
    ]
    markdown = (tmp_path / "bench.md").read_text()
    assert "| (b) steady state, warm cache |" in markdown
    assert "(b) and (b') ran 3 times each, interleaved; each row is its run of median wall." in (
        markdown
    )

    peers = {peer["tool"]: peer for peer in result["peers"]}
    assert list(peers) == list(PEERS) and result["peers_left_out"] == []
    rows = {row["tool"]: row for row in result["tools"]}
    assert list(rows) == ["reconcile", *PEERS]  # the docker loop is skipped here
    assert rows["reconcile"]["wall_ratio"] == 1.0 and rows["reconcile"]["writes"] == 0
    for name, peer in peers.items():
        row = rows[name]
        assert (row["aliases"], row["processes"], row["failures"]) == (6, 6, 0), peer
        assert (peer["loop"]["failures"], peer["first_pass"]["failures"]) == (0, 0), peer
        assert peer["problems"] == [] and len(peer["checked"]) == 3, peer
        # The first pass found another tool's bytes under every tag and wrote all of them.
        assert peer["first_pass_writes"] == 6, peer
        assert row["writes"] == peer["traffic"]["writes"] == STEADY_WRITES[name], peer
        assert row["requests"] > 0 and row["wall_ratio"] > 0, peer
        assert f"| {row['label']} |" in markdown


def test_the_paired_comparison_of_two_trees_runs(tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    argv = [sys.executable, "bench/pairs.py", str(ROOT), str(ROOT), "--pairs", "2", "--scale",
            "6", "--repos", "2", "--latency", "0", "--floor", "urllib3",
            "--json", str(out)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    floor = "floor:urllib3"  # after each pair, as many HEADs as one run of the pair sent
    assert [(r["pair"], r["tree"]) for r in result["runs"]] == [
        (0, "A"), (0, "B"), (0, floor), (1, "B"), (1, "A"), (1, floor)]  # fmt: skip
    assert [r["requests"] for r in result["runs"] if r["tree"] == floor] == [18, 18]
    summary = result["summary"]
    assert summary["pairs"] == 2
    # Each tree's run is divided by the floor measured in its own pair. At six aliases a
    # run's CPU above start-up can round to zero, so the ratio is checked against the runs,
    # not against a sign.
    assert summary["cpu_ratio_a_to_urllib3_median"] == _median_ratio(
        result["runs"], "A", floor, "cpu_ms_per_request"
    )
    assert summary["wall_ratio_b_to_urllib3_median"] == _median_ratio(
        result["runs"], "B", floor, "wall_s"
    )
    assert summary["wall_ratio_b_to_urllib3_median"] > 0


def _median_ratio(runs: list[dict[str, Any]], tree: str, floor: str, key: str) -> float:
    base = {r["pair"]: r[key] for r in runs if r["tree"] == floor}
    return float(statistics.median(r[key] / base[r["pair"]] for r in runs if r["tree"] == tree))


def test_the_scale_benchmark_measures_a_larger_file_in_the_same_invocation(
    tmp_path: Path,
) -> None:
    out = tmp_path / "scale.json"
    argv = [sys.executable, "bench/run.py", "--scale", "6", "--scale-up", "10", "--repos", "2",
            "--latency", "0", "--floor", "urllib3", "--floor-pairs", "3", "--json", str(out),
            "--markdown", str(tmp_path / "scale.md")]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = [(r["key"], r["aliases"], r["summary"]["noop"], r["per_alias"]) for r in result["runs"]]
    assert runs == [
        ("scale-cold", 6, 6, 5.0),
        ("scale-warm", 6, 6, 3.0),
        ("scale-up-cold", 10, 10, 5.0),  # a cache of its own: cold again
        ("scale-up-warm", 10, 10, 3.0),
    ]
    targets = {t["name"]: t for t in result["targets"]}
    assert "6 aliases: peak RSS <= 150 MB" in targets
    assert "10 aliases: peak RSS <= 1.2x that at 6" in targets

    # The warm run and the floor, three pairs in alternating order; the first pair's run is
    # the "scale-warm" row, and its floors the floor table's.
    pairs = result["floor_pairs"]
    assert [(p["floor_first"], p["run"]["key"], p["run"]["summary"]["noop"]) for p in pairs] == [
        (False, "scale-warm", 6), (True, "scale-warm", 6), (False, "scale-warm", 6)]  # fmt: skip
    assert pairs[0]["run"] == result["runs"][1] and pairs[0]["floors"] == result["floors"]
    assert [[(f["client"], f["requests"], f["errors"]) for f in p["floors"]] for p in pairs] == [
        [("urllib3", 18, 0)]] * 3  # fmt: skip
    wall = [p["run"]["usage"]["wall_s"] / p["floors"][0]["wall_s"] for p in pairs]
    assert [p["ratios"]["urllib3"]["wall"] for p in pairs] == [round(w, 3) for w in wall]
    each = ", ".join(f"{w:.2f}x" for w in wall)
    assert targets["wall <= 1.25x a bare urllib3 loop"]["measured"].startswith(
        f"{statistics.median(wall):.2f}x, the median of {each} ("
    )
    assert targets["wall <= 1.25x a bare urllib3 loop"]["met"] == (statistics.median(wall) <= 1.25)
    assert "| 3 | run, floor | urllib3 |" in (tmp_path / "scale.md").read_text()


def test_the_startup_benchmark_runs_reconcile_as_installed_with_runtime_dependencies_alone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "startup.json"
    argv = [sys.executable, "bench/startup.py", "--runs", "1", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [(r["name"], r["target_s"], r["runs"]) for r in results] == [
        ("python -c pass", None, 1),
        ("python -c 'import pydantic'", None, 1),
        ("pydantic: a first validation", None, 1),
        ("reconcile --help", 0.15, 1),
        ("reconcile validate", 0.30, 1),
    ]


def _run_installed(probe: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """What `probe` prints, run by the interpreter of the start-up bench's throwaway install."""
    sys.path.insert(0, str(ROOT))
    try:
        from bench.startup import installed
    finally:
        sys.path.remove(str(ROOT))
    with installed() as (python, _):
        argv = [python, "-c", probe]
        return subprocess.run(
            argv, capture_output=True, text=True, check=True, cwd=cwd, env=env
        ).stdout


def test_the_startup_benchmark_sees_the_runtime_dependencies_and_no_others(
    tmp_path: Path,
) -> None:
    probe = (
        "import importlib.metadata as m, importlib.util as u, json\n"
        "names = sorted({d.metadata['Name'].lower() for d in m.distributions()})\n"
        "origin = u.find_spec('reconciler').origin\n"
        "print(json.dumps([names, u.find_spec('pytest') is None, origin]))"
    )
    names, no_pytest, origin = json.loads(_run_installed(probe, tmp_path))
    assert {"pydantic", "pyyaml", "httpx", "urllib3", "boto3", "deepdiff"} <= set(names)
    assert "manifest-reconciler" in names  # its own dist-info, as pip writes it
    assert no_pytest  # test-only packages are not there
    assert not origin.startswith(str(ROOT))  # a copy, not the checkout


def test_the_startup_benchmark_starts_from_bytecode_as_a_pip_install_does(
    tmp_path: Path,
) -> None:
    """No module that `validate` imports is compiled at start (pip byte-compiles what it
    installs): the installed copy, and dependencies that are one file (typing_extensions),
    whose bytecode is looked up beside the link they are imported by."""
    probe = (
        "import json, os, sys\n"
        "import reconciler._config.models, typing_extensions\n"
        "specs = [getattr(m, '__spec__', None) for m in list(sys.modules.values())]\n"
        "print(json.dumps(sorted(s.name for s in specs if s is not None and s.cached\n"
        "    and s.origin and s.origin.endswith('.py') and not os.path.exists(s.cached))))"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # nothing compiled now is kept
    assert json.loads(_run_installed(probe, tmp_path, env)) == []
