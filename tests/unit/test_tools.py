"""`requires_tool`: a test needing a missing program is skipped locally and fails under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import in_ci, require_tool

ROOT = Path(__file__).resolve().parents[2]
MISSING = "reconciler-test-no-such-tool"


@pytest.fixture
def path_with_one_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """PATH holding one executable, `present`."""
    tool = tmp_path / "bin" / "present"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tool.parent))
    return tool.name


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_is_recognised_from_the_environment(
    value: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def outcome_of(name: str) -> BaseException | None:
    """What `require_tool` raised (a skip or a failure), caught here so that a skip cannot
    turn this very test into a skipped one."""
    try:
        require_tool(name)
    except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
        return outcome
    return None


def test_a_missing_tool_skips_outside_ci(
    path_with_one_tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    outcome = outcome_of(MISSING)
    assert isinstance(outcome, pytest.skip.Exception)
    assert f"'{MISSING}' is not on PATH" in str(outcome)


def test_a_missing_tool_fails_under_ci(
    path_with_one_tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    outcome = outcome_of(MISSING)
    assert isinstance(outcome, pytest.fail.Exception)
    assert "under CI=true a missing tool fails" in str(outcome)


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_present_tool_runs_the_test(
    ci: str, path_with_one_tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    assert outcome_of(path_with_one_tool) is None


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_the_marker_in_a_real_pytest_run(ci: str, outcome: str, tmp_path: Path) -> None:
    """End to end: the marker as the suite uses it, in a pytest run of its own."""
    (tmp_path / "test_needs_tool.py").write_text(
        "from tests.support.tools import requires_tool\n\n"
        f"@requires_tool({MISSING!r})\n"
        "def test_uses_the_tool():\n"
        "    pass\n"
    )
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.tools", "-p", "no:cacheprovider",
         "-rsf", "test_needs_tool.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout + done.stderr
    assert done.returncode == (1 if ci else 0)
    assert f"'{MISSING}' is not on PATH" in done.stdout
