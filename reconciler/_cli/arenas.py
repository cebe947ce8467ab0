"""The C allocator's arenas, limited before a run starts its threads.

glibc gives threads that allocate at once arenas of their own, up to eight per core, and a
block freed in one arena is reused by that arena alone. A run's workers (`--concurrency`,
64 in the scale benchmark) each grow the arena they were handed with the bodies they read and
the report objects they make, and the process's memory then grows with the number of aliases
read, not with what it holds: at 20,000 aliases its peak was 1.21x that at 10,000 where two
arenas give 1.14x (BENCHMARKS.md, issue 16). Two arenas serve the workers as well: they take
turns under the GIL, so they seldom wait for one.

`MALLOC_ARENA_MAX` in the environment is the user's choice and wins (glibc reads it at start).
Elsewhere than glibc (musl, macOS) there is nothing to tune.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["ARENAS", "limit_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt(3)


def limit_malloc_arenas(environ: Mapping[str, str] = os.environ) -> bool:
    """Limit glibc's arenas to ARENAS for threads that start from now; whether it did."""
    if "MALLOC_ARENA_MAX" in environ or not sys.platform.startswith("linux"):
        return False
    import ctypes  # 5 ms, on the run's path only

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, ARENAS))
