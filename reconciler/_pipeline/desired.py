"""Desired: the index each alias should hold, computed from observed sources. Pure.

Entries keep source order, each with the platform its source declares (an image's config, or
the entry of a source index), written as declared: `linux/arm64/v8` stays `v8`, as
`docker manifest create` writes it. Platforms are normalised only to compare them (two sources
for one platform are an error). BuildKit attestation entries follow all runnable entries, in
the order of the images they describe. The bytes are deterministic (fixed
key order, no whitespace variation), so the same config and sources always give one digest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config.models import AliasTarget
from .._errors import AliasError
from .._model import jsontext, platforms
from .._model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    NO_ANNOTATIONS,
    OCI_INDEX,
    Descriptor,
    Manifest,
    Platform,
    digest_of,
    no_annotations,
)
from .observed import ResolvedSource

__all__ = ["DesiredEntry", "DesiredIndex", "build_index"]


@dataclass(frozen=True, slots=True)
class DesiredEntry:
    descriptor: Descriptor  # exactly as written into the index
    source: str  # the source label it came from
    note: str = ""  # why a floating alias took that source
    held: bool = False  # a monotonic alias kept the live image (the note says why)

    @property
    def attestation_of(self) -> str | None:
        return self.descriptor.attestation_of


@dataclass(frozen=True, slots=True)
class DesiredIndex:
    media_type: str
    entries: tuple[DesiredEntry, ...]
    annotations: Mapping[str, str] = field(default_factory=no_annotations)

    @property
    def manifest(self) -> Manifest:
        """The index's bytes, built on each use and not kept: a run holds every alias's plan
        until its report is written, and the bytes of 10,000 indexes are megabytes. The report
        asks once per alias, applying a few times per alias written."""
        raw = serialize(self.media_type, [e.descriptor for e in self.entries], self.annotations)
        return Manifest(raw, self.media_type, digest_of(raw))


def build_index(target: AliasTarget, sources: tuple[ResolvedSource, ...]) -> DesiredIndex:
    """The index for `target`; raises AliasError when the sources cannot form one."""
    runnable, attestations = _flatten(sources)
    _check_unique_digests(runnable)
    _check_unique_platforms(runnable)
    if target.attestations == "drop":
        attestations = []
    entries = (*runnable, *_ordered_attestations(runnable, attestations))
    annotations = dict(target.annotations)
    media_type = _media_type(target, entries, annotations)
    return DesiredIndex(media_type, entries, annotations or NO_ANNOTATIONS)


def _flatten(sources: tuple[ResolvedSource, ...]) -> tuple[list[DesiredEntry], list[DesiredEntry]]:
    runnable: list[DesiredEntry] = []
    attestations: list[DesiredEntry] = []
    for resolved in sources:
        for descriptor in resolved.entries:
            _require_platform(descriptor)
            entry = DesiredEntry(descriptor, resolved.source.label, resolved.note, resolved.held)
            (attestations if entry.attestation_of is not None else runnable).append(entry)
    return runnable, attestations


def _require_platform(descriptor: Descriptor) -> None:
    assert descriptor.platform is not None, "observe guarantees a platform on every entry"


def _check_unique_platforms(runnable: list[DesiredEntry]) -> None:
    """One image per platform, by meaning: `linux/arm64` and `linux/arm64/v8` are one."""
    seen: dict[Platform, DesiredEntry] = {}
    for entry in runnable:
        assert entry.descriptor.platform is not None
        key = platforms.normalize(entry.descriptor.platform)
        first = seen.get(key)
        if first is not None:
            assert first.descriptor.platform is not None
            both = _both(first.descriptor.platform, entry.descriptor.platform)
            raise AliasError(
                f"sources {first.source!r} and {entry.source!r} both provide {both};"
                " an alias can hold one image per platform"
            )
        seen[key] = entry


def _both(first: Platform, second: Platform) -> str:
    """The platform two sources share, and how each declares it when they differ."""
    if first == second:
        return str(first)
    return f"{platforms.normalize(first)} (declared as {first} and {second})"


def _check_unique_digests(entries: list[DesiredEntry]) -> None:
    # Some registries (Harbor) reject an index that lists one child twice.
    seen: dict[str, str] = {}
    for entry in entries:
        digest = entry.descriptor.digest
        if digest in seen and seen[digest] == entry.source:
            raise AliasError(f"source {entry.source!r} lists the image {digest} twice")
        if digest in seen:
            raise AliasError(f"sources {seen[digest]!r} and {entry.source!r} are the same image")
        seen[digest] = entry.source


def _ordered_attestations(
    runnable: list[DesiredEntry], attestations: list[DesiredEntry]
) -> list[DesiredEntry]:
    """Attestations in the order of the images they describe; orphans (their image is not in
    the alias) are dropped, since they would describe nothing a client can pull."""
    position = {entry.descriptor.digest: i for i, entry in enumerate(runnable)}
    kept = [a for a in attestations if a.attestation_of in position]
    return sorted(kept, key=lambda a: position[a.attestation_of or ""])


def _media_type(
    target: AliasTarget, entries: tuple[DesiredEntry, ...], annotations: dict[str, str]
) -> str:
    if target.media_type == "oci":
        return OCI_INDEX
    has_annotations = bool(annotations) or any(e.descriptor.annotations for e in entries)
    if target.media_type == "docker":
        if has_annotations:
            raise AliasError(
                "a Docker manifest list cannot carry annotations or attestations;"
                " use media_type oci, or attestations: drop"
            )
        return DOCKER_LIST
    all_docker = all(e.descriptor.media_type == DOCKER_MANIFEST for e in entries)
    return DOCKER_LIST if all_docker and not has_annotations else OCI_INDEX


def serialize(media_type: str, entries: list[Descriptor], annotations: Mapping[str, str]) -> bytes:
    """Deterministic bytes for an index: fixed key order, entries in the given order."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [entry.to_json() for entry in entries],
    }
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    # json.dumps(doc, indent=2, ensure_ascii=False)'s bytes (the digest depends on them), at a
    # fraction of its CPU: the JSON report alone asks for every alias's index digest.
    return jsontext.dumps(doc, ensure_ascii=False).encode()
