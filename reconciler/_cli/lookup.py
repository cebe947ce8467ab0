"""Look at one reference: its manifest as `docker manifest inspect` lays it out, and which child a
machine of a given platform pulls (`reconcile inspect`, `reconcile resolve`).

Reading goes through a `RegistryReader` (GET only); everything else here is pure. Matching is
`platforms.select`, the same containerd rules the reconciler normalises with: an arm64 machine
takes arm64, then arm/v8, v7, v6, v5; an amd64/v3 machine takes v3, v2, v1, then 386.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import ProtocolError, ReconcileError
from .._model import platforms
from .._model.names import ImageReference
from .._model.oci import (
    INDEX_TYPES,
    Descriptor,
    Manifest,
    Platform,
    parse_config_platform,
    parse_image,
    parse_index,
)
from .._registry.interface import RegistryReader

__all__ = ["Resolution", "entries_of", "fetch", "image_platform", "layout", "resolve"]

# `docker manifest inspect` prints an index with these keys first, in this order, indented by
# three spaces; a single image as stored, indented by tabs.
_INDEX_KEYS = ("schemaVersion", "mediaType", "manifests")
_ENTRY_KEYS = ("mediaType", "size", "digest", "platform")
_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")


def fetch(client: RegistryReader, reference: ImageReference) -> Manifest:
    """The manifest at `reference` (by digest when it has one: then verified against it)."""
    return client.get_manifest(reference.repository.name, reference.ref)


def is_index(manifest: Manifest) -> bool:
    return manifest.media_type in INDEX_TYPES or _declared(manifest) in INDEX_TYPES


def layout(manifest: Manifest) -> str:
    """The manifest as `docker manifest inspect` shows it: an index with docker's key order and
    three-space indent, an image re-indented with tabs. Unlike docker, nothing is dropped: keys
    docker does not know (annotations, subject, ...) follow in stored order."""
    doc = _document(manifest)
    if not is_index(manifest):
        return json.dumps(doc, indent="\t", ensure_ascii=False) + "\n"
    doc = _ordered(doc, _INDEX_KEYS)
    entries = doc.get("manifests")
    if isinstance(entries, list):
        doc["manifests"] = [_entry_in_docker_order(e) for e in entries]
    return json.dumps(doc, indent=3, ensure_ascii=False) + "\n"


def _entry_in_docker_order(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    entry = _ordered(entry, _ENTRY_KEYS)
    if isinstance(entry.get("platform"), dict):
        entry["platform"] = _ordered(entry["platform"], _PLATFORM_KEYS)
    return entry


def _ordered(doc: dict[str, Any], first: Sequence[str]) -> dict[str, Any]:
    head = {key: doc[key] for key in first if key in doc}
    return {**head, **{k: v for k, v in doc.items() if k not in head}}


def entries_of(manifest: Manifest, host: str) -> tuple[Descriptor, ...]:
    """The entries of an index, as descriptors with their platforms as written; `host` names
    the registry in errors (`types.parse_index`)."""
    return parse_index(manifest, host)


def image_platform(client: RegistryReader, repository: str, manifest: Manifest) -> Platform | None:
    """A single image's platform, from its config blob; None when the config names none or
    cannot be read as one (an artifact's config, shown without a platform)."""
    config = parse_image(manifest, client.host).config_digest
    blob = client.get_blob(repository, config)
    try:
        platform = parse_config_platform(blob, config, client.host)
    except ProtocolError:
        return None
    return platform if platform.os and platform.architecture else None


@dataclass(frozen=True)
class Resolution:
    """What a machine of platform `machine` pulls from a reference."""

    machine: Platform  # as asked for (`--platform linux/arm64/v8` stays v8)
    accepts: tuple[Platform, ...]  # what that machine accepts, most preferred first
    index: bool  # the reference is an index; otherwise `entries` is the image itself
    entries: tuple[Descriptor, ...]
    chosen: Descriptor | None


def resolve(machine: Platform, entries: Sequence[Descriptor], *, index: bool = True) -> Resolution:
    """containerd's choice among `entries` for `machine` (see `platforms.select`, which compares
    normalised platforms); `machine` is kept as asked for, to be shown that way."""
    accepts = tuple(platforms.candidates(machine))
    return Resolution(machine, accepts, index, tuple(entries), platforms.select(machine, entries))


def _document(manifest: Manifest) -> dict[str, Any]:
    try:
        return manifest.json
    except ValueError:
        raise ReconcileError(f"manifest {manifest.digest} is not a JSON object") from None


def _declared(manifest: Manifest) -> str:
    try:
        value = manifest.json.get("mediaType", "")
    except ValueError:
        return ""
    return value if isinstance(value, str) else ""
