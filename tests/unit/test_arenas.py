"""A run limits glibc's malloc arenas before its threads start (`reconciler._cli.arenas`):
with an arena per worker, memory grew with the aliases read (BENCHMARKS.md, issue 16)."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

from reconciler._cli import arenas
from reconciler._cli.main import main


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """ctypes.CDLL(None) is a C library whose mallopt calls are recorded."""
    calls: list[tuple[int, int]] = []

    class Recorded:
        def __init__(self, name: object) -> None:
            pass

        def mallopt(self, option: int, value: int) -> int:
            calls.append((option, value))
            return 1

    monkeypatch.setattr(ctypes, "CDLL", Recorded)
    monkeypatch.setattr(sys, "platform", "linux")
    return calls


def test_the_arenas_are_limited_with_mallopt(recorded: list[tuple[int, int]]) -> None:
    assert arenas.limit_malloc_arenas({}) is True
    assert recorded == [(-8, arenas.ARENAS)]  # M_ARENA_MAX


def test_malloc_arena_max_in_the_environment_wins(recorded: list[tuple[int, int]]) -> None:
    assert arenas.limit_malloc_arenas({"MALLOC_ARENA_MAX": "8"}) is False
    assert recorded == []


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:
        def __init__(self, name: object) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", Other)
    monkeypatch.setattr(sys, "platform", "linux")
    assert arenas.limit_malloc_arenas({}) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_this_machine_s_c_library_takes_the_limit() -> None:
    assert arenas.limit_malloc_arenas({}) is True


def test_the_run_limits_them_and_other_commands_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(arenas, "limit_malloc_arenas", lambda: calls.append("limited"))
    missing = str(tmp_path / "missing.yaml")
    assert main(["validate", "-f", missing]) == 1
    assert calls == []
    assert main(["-f", missing, "--dry-run"]) == 1
    assert calls == ["limited"]
