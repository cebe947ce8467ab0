"""After-write hooks: the command `hooks.after_write` names, run once an alias's index was
written (apply calls `after_write`; never on a dry run, a noop, a conflict, an error or a
delete), to sign the new index or tell someone about it.

- One hook at a time in the process, whatever the apply's concurrency, in the order the aliases
  finish writing: two signers never race, and the log reads one hook after another.
- The command gets exactly its configured argv (no shell, nothing added: no credential can
  reach a command line) and the tool's environment plus RECONCILE_ALIAS (the report's
  `target`), RECONCILE_DIGEST (the index written) and RECONCILE_ACTION (`create`/`update`).
  Its stdin is /dev/null; its stdout and stderr are logged at INFO (`-v`) once it ended.
- It runs in a session of its own, so that its whole process group can be ended: SIGTERM after
  `timeout` seconds or once the run stops (a signal, `--timeout`), SIGKILL KILL_GRACE seconds
  later; whatever it leaves running in its group is killed when it exits, so that no hook
  outlives its turn.
- Any failure (exit status, signal, timeout, a program that cannot start, a stop) raises
  HookError; the alias is then an `error` that was written.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

from .._config.models import Hooks
from .._errors import ReconcileError
from .plan import AliasPlan

__all__ = ["KILL_GRACE", "HookError", "after_write", "hook_environment"]

log = logging.getLogger("reconciler.hooks")

KILL_GRACE = 2.0
"""Seconds between the SIGTERM and the SIGKILL of a hook's process group."""

_POLL = 0.05  # seconds between looks at the hook, the clock and the stop flag
_LOGGED_OUTPUT = 64 * 1024  # bytes of a hook's output logged, its end kept
_ONE_AT_A_TIME = threading.Lock()


class HookError(ReconcileError):
    """An after_write hook failed or did not run; the alias's index was written before."""


def hook_environment(alias: AliasPlan) -> dict[str, str]:
    """What a hook learns of the alias written, beyond the tool's own environment: its name as
    the report's `target` says it, the digest of the index written, and create or update."""
    assert alias.desired is not None
    return {
        "RECONCILE_ALIAS": alias.target.name,
        "RECONCILE_DIGEST": alias.desired.manifest.digest,
        "RECONCILE_ACTION": alias.action.value,
    }


def after_write(alias: AliasPlan, stop: threading.Event) -> None:
    """Run the alias's after_write hook, if it has one, once its turn comes; raise HookError
    when it fails, or when the run stopped before or while it ran."""
    hooks = alias.target.hooks
    if hooks is None:
        return
    hook = _Hook(alias.target.name, hooks)
    with _ONE_AT_A_TIME:
        if stop.is_set():
            raise HookError(f"{hook.label} not run: the run was stopped")
        hook.run({**os.environ, **hook_environment(alias)}, stop)


class _Hook:
    """One run of a hook for one alias: `label` names it in messages and logs."""

    def __init__(self, alias: str, hooks: Hooks) -> None:
        self.alias, self.argv, self.timeout = alias, hooks.after_write, hooks.timeout
        self.label = f"hook after_write ({Path(self.argv[0]).name})"

    def run(self, env: Mapping[str, str], stop: threading.Event) -> None:
        log.info("%s: running %s", self.alias, self.label)
        started = time.monotonic()
        with tempfile.TemporaryFile() as output:
            try:
                process = _start(self.argv, env, output)
            except OSError as exc:  # no such program, not executable, ...
                raise HookError(f"{self.label} could not start: {exc.strerror}") from None
            except ValueError as exc:  # a NUL byte in an argument
                raise HookError(f"{self.label} could not start: {exc}") from None
            cause = _wait(process, started + self.timeout, stop)
            self._log_output(output)
        log.info(
            "%s: %s ended (status %s) in %.1fs",
            self.alias,
            self.label,
            process.returncode,
            time.monotonic() - started,
        )
        if cause == "timeout":
            raise HookError(f"{self.label} timed out after {self.timeout:g} s")
        if cause == "stop":
            raise HookError(f"{self.label} was ended: the run was stopped")
        if process.returncode > 0:
            raise HookError(f"{self.label} exited with {process.returncode}")
        if process.returncode < 0:
            raise HookError(f"{self.label} was killed by {_signal_name(-process.returncode)}")

    def _log_output(self, output: IO[bytes]) -> None:
        size = output.seek(0, os.SEEK_END)
        output.seek(max(0, size - _LOGGED_OUTPUT))
        text = output.read().decode("utf-8", "replace")
        if size > _LOGGED_OUTPUT:
            skipped = size - _LOGGED_OUTPUT
            log.info("%s: %s: (its first %d bytes not logged)", self.alias, self.label, skipped)
        for line in text.splitlines():
            log.info("%s: %s: %s", self.alias, self.label, line)


def _start(
    argv: Sequence[str], env: Mapping[str, str], output: IO[bytes]
) -> subprocess.Popen[bytes]:
    # A session of its own: its process group is ours to end, and it has no terminal to wait on.
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(
    process: subprocess.Popen[bytes], deadline: float, stop: threading.Event
) -> Literal["timeout", "stop"] | None:
    """Wait for the hook to exit; at `deadline` or once `stop` is set, end its process group
    (SIGTERM, then SIGKILL after KILL_GRACE) and say which cut it short. Whatever it leaves in
    its group is killed in every case. The hook is reaped only after that: until then its pid,
    which is its group's id, cannot be given to another process, so no kill reaches a stranger."""
    cause: Literal["timeout", "stop"] | None = None
    while not _exited(process):
        if stop.is_set():
            cause = "stop"
        elif time.monotonic() >= deadline:
            cause = "timeout"
        if cause is not None:
            _signal_group(process, signal.SIGTERM)
            _wait_until(process, time.monotonic() + KILL_GRACE)
            break
        stop.wait(max(0.0, min(_POLL, deadline - time.monotonic())))
    _signal_group(process, signal.SIGKILL)
    process.wait()
    return cause


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return f"signal {number}"


def _wait_until(process: subprocess.Popen[bytes], deadline: float) -> None:
    while not _exited(process) and time.monotonic() < deadline:
        time.sleep(_POLL)


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether the hook has exited, without reaping it (WNOWAIT)."""
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    return os.waitid(os.P_PID, process.pid, flags) is not None


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    # None left in the group, or none this user may signal (a setuid program it started).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
