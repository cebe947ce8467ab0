"""`reconcile inspect REF [--raw]`: the manifest at any reference, as `docker manifest inspect`
shows it, or its exact bytes (`--raw`: what the digest is computed over)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from ..lookup import fetch, layout
from ..refs import parse_reference
from . import EXIT_OK
from .remote import open_client, registry_config

__all__ = ["inspect"]


def inspect(
    reference_text: str,
    *,
    file: Path | None,
    insecure: bool,
    raw: bool,
    stdout: TextIO,
) -> int:
    reference = parse_reference(reference_text)
    cfg = registry_config(file, reference.registry, insecure=insecure)
    with open_client(cfg, reference.registry) as client:
        manifest = fetch(client, reference)
    if raw:
        stdout.flush()
        stdout.buffer.write(manifest.raw)
        stdout.buffer.flush()
    else:
        stdout.write(layout(manifest))
    return EXIT_OK
