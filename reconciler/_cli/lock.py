"""`--lock-file`: one run at a time. Overlapping runs are already safe (each write is one
idempotent PUT of a deterministic index), but a lock keeps two cron jobs from doing the same
work twice and makes their logs readable. The lock is an flock(2): released by the kernel
when the process exits, however it exits, so a killed run never leaves a stale lock."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import GuardError

__all__ = ["LockHeld", "run_lock"]

_POLL_S = 0.1


class LockHeld(GuardError):
    """Another run holds the lock: this one did nothing."""


@contextmanager
def run_lock(path: Path, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block; wait up to `wait_s` seconds for it,
    then raise LockHeld naming the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait_s)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _acquire(fd: int, path: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"another reconcile holds the lock {path}"
                    + (f" (waited {wait_s:g}s)" if wait_s else "")
                ) from None
            time.sleep(_POLL_S)
