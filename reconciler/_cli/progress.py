"""A one-line progress indicator on stderr for long runs, only when stderr is a terminal.

It appears after `delay` seconds (a quick run prints nothing) and shows the current stage,
how many of its units are done, the rate and the time spent in it
(`reconcile: reading aliases 120/400, 35/s, 3.4 s`); it erases itself when the stage ends, so
nothing of it stays in scrollback or in a redirected log. The stages that know their units
report each one with `Stage.advance()` (observe: an alias read; apply: an alias written),
from whichever worker thread finished it. This module writes only to the stream it is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from .terminal import is_terminal

__all__ = ["Progress", "Stage"]

_ERASE = "\r\x1b[2K"
Clock = Callable[[], float]


class Stage:
    """One stage's count of units done, out of `total` when known. Thread-safe."""

    def __init__(self, label: str, total: int | None, clock: Clock) -> None:
        self.label, self.total = label, total
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._lock = threading.Lock()

    def advance(self, units: int = 1) -> None:
        """`units` more are done; called from worker threads, hence the lock."""
        with self._lock:
            self._done += units

    @property
    def done(self) -> int:
        with self._lock:
            return self._done

    def line(self) -> str:
        """What the progress line says now: `reading aliases 120/400, 35/s, 3.4 s`."""
        elapsed = max(0.0, self._clock() - self._started)
        done = self.done
        if self.total is None and done == 0:
            return f"{self.label}, {elapsed:.1f} s"  # a stage without units: the time only
        count = f"{done}/{self.total}" if self.total is not None else str(done)
        return f"{self.label} {count}, {_rate(done, elapsed)}/s, {elapsed:.1f} s"


def _rate(done: int, elapsed: float) -> str:
    """Units per second: whole units from 10 up, one decimal below (a slow registry)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


class Progress:
    """`with progress.stage("reading aliases", total=12) as stage: ... stage.advance()`;
    draws nothing when not enabled (the units are still counted)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        delay: float = 1.0,
        interval: float = 0.25,
        clock: Clock = time.monotonic,
    ) -> None:
        self._stream = stream
        self.enabled = enabled
        self._delay, self._interval = delay, interval
        self._clock = clock

    @classmethod
    def for_terminal(cls, stream: TextIO, *, quiet: bool = False) -> Progress:
        """Enabled when `stream` is a terminal and logs (`quiet`) do not already use it."""
        return cls(stream, enabled=not quiet and is_terminal(stream))

    @contextmanager
    def stage(self, label: str, *, total: int | None = None) -> Iterator[Stage]:
        stage = Stage(label, total, self._clock)
        if not self.enabled:
            yield stage
            return
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stage, done), daemon=True)
        ticker.start()
        try:
            yield stage
        finally:
            done.set()
            ticker.join()

    def _tick(self, stage: Stage, done: threading.Event) -> None:
        # The delay and the redraw interval are real time, whatever clock `Stage` reads.
        if done.wait(self._delay):
            return
        while not done.is_set():
            self._write(f"{_ERASE}reconcile: {stage.line()}")
            done.wait(self._interval)
        self._write(_ERASE)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed terminal must not break the run
            pass
