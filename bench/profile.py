"""`--profile DIR`: sample an extra steady-state run with py-spy and summarise the collapsed
stacks by function, self and inclusive.

Only samples of the thread holding the GIL are kept (`--gil`): that is where Python CPU goes,
whatever the other threads wait for. cProfile would only see the main thread; the reconciler
works in pool threads.
Needs `py-spy` (``.venv/bin/pip install py-spy``); it must be allowed to ptrace the child.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["profile_command", "strip_messages", "summarize"]

_FRAME_LINE = re.compile(r":\d+\)$")  # "fn (path/file.py:123)" -> drop the line number
TOP = 25


def profile_command(argv: Sequence[str], output: Path) -> list[str]:
    """`argv` wrapped in `py-spy record`, writing collapsed stacks to `output`."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return [
        spy,
        "record",
        "--format",
        "raw",
        "--rate",
        "200",
        "--gil",
        "--nonblocking",
        "--output",
        str(output),
        "--",
        *argv,
    ]


def strip_messages(output: str) -> str:
    """The child's stdout without py-spy's own ``py-spy> ...`` lines mixed into it."""
    return "\n".join(line for line in output.splitlines() if not line.startswith("py-spy> "))


def summarize(collapsed: Path, top: int = TOP) -> str:
    """The functions that most samples were in (inclusive) and at the top of (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return "no samples\n"
    lines = [f"{total} samples of the thread holding the GIL", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {fn}" for fn, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {fn}" for fn, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


def _function(frame: str) -> str:
    frame = _FRAME_LINE.sub(")", frame.strip())
    return frame.replace(str(Path(sys.prefix)), "<venv>")
