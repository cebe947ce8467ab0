"""A one-line progress indicator on stderr for long runs, only when stderr is a terminal.

It appears after `delay` seconds (a quick run prints nothing), shows the current stage and the
time spent in it, and erases itself when the stage ends, so nothing of it stays in scrollback
or in a redirected log. Stages are coarse (observe, apply): the stages themselves report no
per-alias progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from .terminal import is_terminal

__all__ = ["Progress"]

_ERASE = "\r\x1b[2K"
_SPINNER = "|/-\\"


class Progress:
    """`with progress.stage("observing 12 aliases"): ...`; a no-op when not enabled."""

    def __init__(
        self, stream: TextIO, *, enabled: bool, delay: float = 1.0, interval: float = 0.25
    ) -> None:
        self._stream = stream
        self.enabled = enabled
        self._delay, self._interval = delay, interval

    @classmethod
    def for_terminal(cls, stream: TextIO, *, quiet: bool = False) -> Progress:
        """Enabled when `stream` is a terminal and logs (`quiet`) do not already use it."""
        return cls(stream, enabled=not quiet and is_terminal(stream))

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(label, done), daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()

    def _tick(self, label: str, done: threading.Event) -> None:
        started = time.monotonic()
        if done.wait(self._delay):
            return
        frame = 0
        while not done.is_set():
            elapsed = time.monotonic() - started
            self._write(f"{_ERASE}reconcile: {label} {_SPINNER[frame % 4]} {elapsed:.0f}s")
            frame += 1
            done.wait(self._interval)
        self._write(_ERASE)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed terminal must not break the run
            pass
