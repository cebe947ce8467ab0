"""`reconcile resolve REF --platform OS/ARCH[/VARIANT]`: which child a machine of that platform
pulls, by containerd's rules, so that "pull `:10` and get the right architecture" can be checked.

Exit 0 when the machine gets an image, 1 when nothing matches (its pull would fail).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TextIO

from ..._model import platforms
from ..._model.names import ImageReference, reference_text
from ..._model.oci import Descriptor, Platform
from ..._output.render import index_label, short
from ..lookup import Resolution, entries_of, image_platform, is_index, resolve
from . import EXIT_FAILED, EXIT_OK
from .remote import open_reference

__all__ = ["render_resolution", "render_resolution_json", "resolve_command"]


def resolve_command(
    reference_text: str,
    machine: Platform,
    *,
    file: Path | None,
    insecure: bool,
    output: Literal["text", "json"],
    stdout: TextIO,
) -> int:
    with open_reference(reference_text, file, insecure=insecure) as (reference, client, manifest):
        if is_index(manifest):
            resolution = resolve(machine, entries_of(manifest, client.host))
        else:
            platform = image_platform(client, reference.repository.name, manifest)
            image = Descriptor(manifest.media_type, manifest.digest, len(manifest.raw), platform)
            resolution = resolve(machine, [image], index=False)
    head = Descriptor(manifest.media_type, manifest.digest, len(manifest.raw))
    render = render_resolution_json if output == "json" else render_resolution
    stdout.write(render(reference, head, resolution))
    return EXIT_OK if resolution.chosen is not None else EXIT_FAILED


def render_resolution(reference: ImageReference, head: Descriptor, resolution: Resolution) -> str:
    """The answer first (what the machine pulls), then the entries and the preference order."""
    machine, chosen = str(resolution.machine), resolution.chosen
    if chosen is not None:
        how = "" if _same(chosen.platform, resolution.machine) else ", by fallback"
        lines = [f"{machine} pulls {_pull(reference, chosen)} ({_platform(chosen)}{how})"]
    elif resolution.index:
        lines = [f"{machine} matches no entry: pulling {reference} on such a machine fails"]
    else:
        lines = [
            f"{machine} does not match the image's platform ({_platform(resolution.entries[0])})"
        ]
    if resolution.index:
        kind = index_label(head.media_type)
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        lines.append(f"{reference} is {article} {kind} ({short(head.digest)}):")
        width = max(len(_platform(e)) for e in resolution.entries) if resolution.entries else 0
        for entry in resolution.entries:
            mark = ">" if entry is chosen else " "
            note = _note(entry)
            lines.append(f"  {mark} {_platform(entry):<{width}}  {short(entry.digest)}{note}")
    else:
        lines.append(f"{reference} is a single image ({short(head.digest)}), not an index")
    accepts = ", ".join(str(p) for p in resolution.accepts)
    lines.append(f"a {machine} machine accepts, best first: {accepts}")
    return "\n".join(lines) + "\n"


def render_resolution_json(
    reference: ImageReference, head: Descriptor, resolution: Resolution
) -> str:
    chosen = resolution.chosen
    doc = {
        "reference": str(reference),
        "platform": str(resolution.machine),
        "accepts": [str(p) for p in resolution.accepts],
        "manifest": {
            "kind": "index" if resolution.index else "image",
            "digest": head.digest,
            "media_type": head.media_type,
        },
        "entries": [_entry_json(e) for e in resolution.entries],
        "selected": _entry_json(chosen) if chosen is not None else None,
        "pull": _pull(reference, chosen) if chosen is not None else None,
    }
    return json.dumps(doc, indent=2) + "\n"


def _entry_json(entry: Descriptor) -> dict[str, Any]:
    return {
        "platform": str(entry.platform) if entry.platform else None,
        "digest": entry.digest,
        "media_type": entry.media_type,
        "size": entry.size,
        "attestation_for": entry.attestation_of,
    }


def _pull(reference: ImageReference, entry: Descriptor) -> str:
    return reference_text(reference.repository, entry.digest)


def _platform(entry: Descriptor) -> str:
    return str(entry.platform) if entry.platform else "(no platform)"


def _same(platform: Platform | None, machine: Platform) -> bool:
    if platform is None:
        return False
    a, b = platforms.normalize(platform), platforms.normalize(machine)
    return (a.os, a.architecture, a.variant) == (b.os, b.architecture, b.variant)


def _note(entry: Descriptor) -> str:
    if entry.attestation_of is not None:
        return f"  attestation of {short(entry.attestation_of)}"
    if entry.is_index:
        return "  (a nested index)"
    return ""
