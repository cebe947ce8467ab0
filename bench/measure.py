"""Measuring one child process exactly: wall time, and its own CPU and peak RSS.

Two traps. `resource.getrusage(RUSAGE_CHILDREN)` is a maximum over every child ever waited
for, so it cannot give per-run numbers. And even `os.wait4(pid)` on a child of this process
is wrong for RSS: Linux starts a process's `ru_maxrss` at the RSS high-water mark of the
address space it exec'ed from, i.e. this process's (a `/bin/true` started from a 300 MB
parent reports 313 MB). So every measured command runs under a tiny wrapper (`python -S`,
about 10 MB): the wrapper forks, execs the command, `wait4`s it and writes that rusage to a
file. The command then inherits at most the wrapper's ~10 MB, well below anything measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessCPU", "Usage", "clean_env", "run_measured", "self_cpu"]

# argv: RESULT_FILE COMMAND... ; fork + exec + wait4, rusage of the command to RESULT_FILE.
_WRAPPER = """
import json, os, sys, time
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
result = {"wall_s": time.monotonic() - started, "user_s": usage.ru_utime,
          "sys_s": usage.ru_stime, "max_rss_kb": usage.ru_maxrss,
          "returncode": os.waitstatus_to_exitcode(status)}
with open(sys.argv[1], "w") as out:
    json.dump(result, out)
"""


@dataclass(frozen=True)
class Usage:
    """What one child process cost."""

    wall_s: float
    user_s: float
    sys_s: float
    max_rss_kb: int
    returncode: int
    timed_out: bool = False

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s

    @property
    def max_rss_mb(self) -> float:
        return self.max_rss_kb / 1024


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stdout: Path,
    stderr: Path,
    timeout: float,
    cwd: Path | None = None,
) -> Usage:
    """Run `argv` to completion under the wrapper (the whole process group is killed after
    `timeout` seconds), its output to files."""
    fd, name = tempfile.mkstemp(prefix="rusage-", suffix=".json")
    os.close(fd)
    result_file = Path(name)
    command = [sys.executable, "-S", "-c", _WRAPPER, str(result_file), *argv]
    try:
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,  # a process group: the command dies with the wrapper
            )
        timed_out = _wait(process, timeout)
        return _usage(result_file, process.returncode, timed_out)
    finally:
        result_file.unlink(missing_ok=True)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for the wrapper; on timeout or interruption kill its whole group."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return True
    except BaseException:
        _kill_group(process)
        raise
    return False


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _usage(result_file: Path, wrapper_code: int, timed_out: bool) -> Usage:
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):  # killed before it could write: nothing measured
        return Usage(0.0, 0.0, 0.0, 0, wrapper_code or -9, timed_out=True)
    return Usage(
        wall_s=float(result["wall_s"]),
        user_s=float(result["user_s"]),
        sys_s=float(result["sys_s"]),
        max_rss_kb=int(result["max_rss_kb"]),
        returncode=int(result["returncode"]),
        timed_out=timed_out,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without proxy settings (only loopback traffic), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(extra)
    return env


def self_cpu() -> float:
    """CPU seconds of this process so far (the in-process proxy's threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ProcessCPU:
    """CPU seconds used so far by another running process (the registry), from /proc."""

    def __init__(self, pid: int) -> None:
        self._stat = Path(f"/proc/{pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        try:
            # The command name (field 2) may contain spaces; fields after ")" are fixed.
            fields = self._stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime, stime
