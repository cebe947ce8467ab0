"""ReadOnce: the first caller reads, concurrent and later callers share its outcome."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.registry.once import ReadOnce


def test_concurrent_callers_of_one_key_share_a_single_read() -> None:
    once: ReadOnce[str] = ReadOnce()
    calls: list[str] = []
    release = threading.Event()

    def read() -> str:
        calls.append("read")
        release.wait(5)
        return "value"

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(once.get, "k", read) for _ in range(8)]
        release.set()
        assert [f.result() for f in futures] == ["value"] * 8
    assert calls == ["read"]
    assert once.get("k", lambda: "other") == "value"
    assert once.get("other key", lambda: "other") == "other"


def test_none_is_an_answer_like_any_other() -> None:
    once: ReadOnce[str | None] = ReadOnce()
    assert once.get("k", lambda: None) is None
    assert once.get("k", lambda: "would be read again") is None


def test_a_failure_is_shared_not_read_again() -> None:
    once: ReadOnce[str] = ReadOnce()
    calls: list[int] = []

    def failing() -> str:
        calls.append(1)
        raise ValueError("gone")

    for _ in range(3):
        with pytest.raises(ValueError, match="gone"):
            once.get("k", failing)
    assert len(calls) == 1


def test_an_interrupted_read_is_not_shared() -> None:
    once: ReadOnce[str] = ReadOnce()

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        once.get("k", interrupted)
    assert once.get("k", lambda: "read again") == "read again"


def test_forget_makes_the_next_caller_read_again() -> None:
    once: ReadOnce[int] = ReadOnce()
    assert once.get("k", lambda: 1) == 1
    once.forget("k")
    assert once.get("k", lambda: 2) == 2
