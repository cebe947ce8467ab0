"""`reconcile inspect REF [--raw]`: the manifest at any reference, as `docker manifest inspect`
shows it, or its exact bytes (`--raw`: what the digest is computed over)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ..lookup import layout
from . import EXIT_OK
from .remote import open_reference

__all__ = ["inspect"]


def inspect(
    reference_text: str,
    *,
    file: Path | None,
    insecure: bool,
    raw: bool,
    stdout: TextIO,
) -> int:
    with open_reference(reference_text, file, insecure=insecure) as (_, _, manifest):
        if raw:
            stdout.flush()
            stdout.buffer.write(manifest.raw)
            stdout.buffer.flush()
        else:
            stdout.write(layout(manifest))
    return EXIT_OK
