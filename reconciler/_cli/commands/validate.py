"""`reconcile validate [-f FILE] [FILE ...]`: check config files offline, for pre-commit and CI.

It runs exactly the checks of a real run's first step (`config.load`: YAML, fields, names,
rules across fields) and never opens a connection: no registry, no credential helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..._config import models as config
from ..._errors import ReconcileError
from . import EXIT_FAILED, EXIT_OK

__all__ = ["validate"]


def validate(paths: Sequence[Path], *, stdout: TextIO, stderr: TextIO) -> int:
    """Check every file; report each; exit 1 when any is invalid."""
    failed = 0
    for path in paths:
        try:
            cfg = config.load(path)
        except ReconcileError as exc:
            print(f"reconcile: error: {exc}", file=stderr)
            failed += 1
            continue
        repositories, aliases = len(cfg.repositories), len(cfg.targets())
        print(
            f"{path}: valid ({repositories} repositor{'y' if repositories == 1 else 'ies'},"
            f" {aliases} alias{'' if aliases == 1 else 'es'})",
            file=stdout,
        )
    return EXIT_FAILED if failed else EXIT_OK
