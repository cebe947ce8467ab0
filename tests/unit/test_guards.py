"""Guards for scheduled runs: --max-changes, the run lock, and stopping between writes."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler._cli.lock import run_lock
from reconciler._errors import GuardError
from reconciler._pipeline.apply import apply, check_max_changes
from reconciler._pipeline.observed import Orphan
from reconciler._pipeline.plan import Action, make_plan
from reconciler._registry.http import RegistryClient

from .factories import ABSENT, image, live_index, observed, target

AMD, ARM = image("linux/amd64", "a"), image("linux/arm64", "b")


def creating(n: int) -> list[object]:
    return [observed(target(str(i)), ABSENT, (AMD,), (ARM,)) for i in range(n)]


def test_max_changes_refuses_a_larger_plan() -> None:
    plan = make_plan(creating(3))  # type: ignore[arg-type]
    check_max_changes(plan, 3)
    check_max_changes(plan, None)
    with pytest.raises(
        GuardError, match="creates, updates or deletes 3 aliases, more than --max-changes 2"
    ):
        check_max_changes(plan, 2)


def test_max_changes_counts_deletes() -> None:
    gone = Orphan(target("old"), live_index(AMD, ARM))
    plan = make_plan(creating(1), orphans=[gone])  # type: ignore[arg-type]
    assert [a.action for a in plan.aliases] == [Action.CREATE, Action.DELETE]
    check_max_changes(plan, 2)
    with pytest.raises(GuardError, match="creates, updates or deletes 2 aliases"):
        check_max_changes(plan, 1)


def test_a_stopped_run_starts_no_write_and_says_so() -> None:
    plan = make_plan(creating(2))  # type: ignore[arg-type]
    stop = threading.Event()
    stop.set()

    def no_client(host: str) -> RegistryClient:
        raise AssertionError("no write may start once stopped")

    report = apply(plan, no_client, stop=stop)
    assert [o.action for o in report.outcomes] == [Action.ERROR, Action.ERROR]
    assert all("stopped before writing" in o.message for o in report.outcomes)
    assert not any(o.applied for o in report.outcomes)


def _hold(path: str, held: Any, release: Any) -> None:
    """Runs in another process: take the lock and keep it until told to release it."""
    with run_lock(Path(path)):
        held.set()
        release.wait(10)


def test_the_lock_excludes_a_second_run_and_is_freed_when_the_holder_exits(tmp_path: Path) -> None:
    lock = tmp_path / "reconcile.lock"
    held, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(lock), held, release))
    holder.start()
    try:
        assert held.wait(10)
        with pytest.raises(GuardError, match="another reconcile holds the lock"), run_lock(lock):
            pass
        with pytest.raises(GuardError, match=r"waited 0.3s"), run_lock(lock, wait_s=0.3):
            pass
    finally:
        release.set()
        holder.join(10)
    with run_lock(lock):  # free again once the holder is gone
        pass


def test_waiting_for_the_lock_succeeds_when_it_is_released(tmp_path: Path) -> None:
    lock = tmp_path / "reconcile.lock"
    held, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(lock), held, release))
    holder.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    with run_lock(lock, wait_s=10):
        pass
    holder.join(10)
