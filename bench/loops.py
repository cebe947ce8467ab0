"""One command-line tool over every alias, one alias at a time, as a shell loop would run it.

`run_loop` takes a per-alias command builder: for each alias, the commands (argv lists) that
keep it in place, run in order. The docker loop (`bench.dockerloop`) and the peers
(`bench.peers`) are builders over this one runner.

Every process is measured on its own (`bench.measure`); wall and CPU seconds are summed (the
measuring wrapper's own start is not counted) and the peak RSS is the largest of any one
process. A command that exits non-zero counts as one failure and ends its alias (the alias's
later commands are not run); the loop stops after MAX_FAILURES, since a broken setup would
otherwise fail every alias slowly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .measure import run_measured
from .seed import Alias

__all__ = ["COMMAND_TIMEOUT_S", "MAX_FAILURES", "CommandBuilder", "CommandLoop", "run_loop"]

MAX_FAILURES = 5
COMMAND_TIMEOUT_S = 120.0

# The commands that keep one alias in place, in order; each is a full argv (program first,
# found on the PATH of the loop's environment).
CommandBuilder = Callable[[Alias], Sequence[Sequence[str]]]


@dataclass(frozen=True)
class CommandLoop:
    aliases: int  # aliases attempted
    failures: int
    wall_s: float
    cpu_s: float
    max_rss_kb: int
    processes: int
    first_error: str = ""


def run_loop(
    aliases: Sequence[Alias],
    build: CommandBuilder,
    *,
    env: Mapping[str, str],
    workdir: Path,
    name: str,
) -> CommandLoop:
    """Run `build(alias)` for every alias in turn, each command measured; stops after
    MAX_FAILURES. The last command's output is in `workdir/NAME.out` and `NAME.err`."""
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    wall, cpu, rss, processes, failures, attempted = 0.0, 0.0, 0, 0, 0, 0
    first_error = ""
    for alias in aliases:
        attempted += 1
        for argv in build(alias):
            usage = run_measured(argv, env=env, stdout=out, stderr=err, timeout=COMMAND_TIMEOUT_S)
            processes += 1
            wall += usage.wall_s
            cpu += usage.cpu_s
            rss = max(rss, usage.max_rss_kb)
            if usage.returncode != 0:
                failures += 1
                first_error = first_error or f"{' '.join(argv)}: {err.read_text()[-500:]}"
                break
        if failures >= MAX_FAILURES:
            break
    return CommandLoop(attempted, failures, wall, cpu, rss, processes, first_error)
