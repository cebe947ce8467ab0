"""`make bench` keeps working: the whole harness at a toy size, checked on request counts.

Timings are never asserted (they belong to BENCHMARKS.md); what is pinned is that every
scenario runs, plans what it should, and stays within the request budgets of the issue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_end_to_end_within_the_request_budgets(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "bench/run.py", "--repos", "2", "--aliases", "3", "--latency", "0",
            "--skip-docker", "--floor", "http.client,urllib3,httpx-lean", "--json", str(out),
            "--markdown", str(tmp_path / "bench.md")]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = {run["key"]: run for run in result["runs"]}
    assert runs["first"]["summary"]["create"] == 6
    steady, cold = runs["steady"], runs["steady-cold"]
    assert steady["per_alias"] == 3.0 and steady["traffic"]["by_method"] == {"HEAD": 18}
    assert cold["per_alias"] <= 5.0 and cold["traffic"]["writes"] == 0
    assert runs["drift"]["summary"]["update"] == result["drifted_aliases"] > 0
    assert [(f["client"], f["errors"]) for f in result["floors"]] == [
        ("http.client", 0),
        ("urllib3", 0),
        ("httpx-lean", 0),
    ]
    assert "| (b) steady state, warm cache |" in (tmp_path / "bench.md").read_text()


def test_the_paired_comparison_of_two_trees_runs(tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    argv = [sys.executable, "bench/pairs.py", str(ROOT), str(ROOT), "--pairs", "2", "--scale",
            "6", "--repos", "2", "--latency", "0", "--json", str(out)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [(r["pair"], r["tree"]) for r in result["runs"]] == [(0, "A"), (0, "B"), (1, "B"),
                                                                (1, "A")]  # fmt: skip
    assert result["summary"]["pairs"] == 2
