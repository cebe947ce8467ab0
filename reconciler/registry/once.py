"""Read once per run: the first caller of a key does the work, callers arriving meanwhile wait
for its outcome, later callers get it at once. Failures are shared like results (the reading
thread already retried); an interrupt is not (the next caller reads for itself)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ReadOnce"]

T = TypeVar("T")


class _Failed:
    """A read that raised: every caller of the key gets the same error."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class ReadOnce(Generic[T]):
    """Thread-safe. Holds one outcome per key until `forget`; only keys read more than once
    should come here, so that memory does not grow with everything a run reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[Hashable, T | _Failed] = {}
        self._reading: dict[Hashable, threading.Event] = {}

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._done:
                    return _unwrap(self._done[key])
                reading = self._reading.get(key)
                if reading is None:
                    self._reading[key] = threading.Event()
                    break
            reading.wait()  # another thread reads it; then take its outcome (or read)
        return self._read(key, read)

    def forget(self, key: Hashable) -> None:
        """The thing at `key` changed (this run wrote it): the next caller reads again."""
        with self._lock:
            self._done.pop(key, None)

    def _read(self, key: Hashable, read: Callable[[], T]) -> T:
        outcome: T | _Failed
        try:
            outcome = read()
        except Exception as exc:
            outcome = _Failed(exc)
        except BaseException:
            self._finish(key)  # interrupted: nothing to share, the next caller reads
            raise
        self._finish(key, outcome)
        return _unwrap(outcome)

    def _finish(self, key: Hashable, *outcome: T | _Failed) -> None:
        with self._lock:
            if outcome:
                self._done[key] = outcome[0]
            self._reading.pop(key).set()


def _unwrap(outcome: T | _Failed) -> T:
    if isinstance(outcome, _Failed):
        raise outcome.error
    return outcome
