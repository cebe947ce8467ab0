"""OCI 1.1 referrers and cosign's legacy tags: the names, descriptors and index merges that
copying a child's signatures, SBOMs and attestations needs. Pure: no I/O.

A referrer is a manifest whose `subject` names the image it is about. A registry with the
referrers API (distribution-spec v1.1, `GET /v2/<name>/referrers/<digest>`) lists them itself;
on one without it, writers keep an image index of them under the tag schema's tag
`sha256-<hex of the subject digest>`. Older cosign attaches signatures, attestations and SBOMs
as tags `sha256-<hex>.sig`, `.att` and `.sbom` in the image's repository instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._errors import ProtocolError
from .oci import IMAGE_TYPES, OCI_INDEX, Manifest

__all__ = [
    "LEGACY_SUFFIXES",
    "artifact_type",
    "is_copyable",
    "legacy_tags",
    "merge_tag_schema",
    "referrer_descriptor",
    "subject_of",
    "tag_schema_tag",
]

LEGACY_SUFFIXES = (".sig", ".att", ".sbom")  # cosign's tags: signatures, attestations, SBOMs


def tag_schema_tag(subject: str) -> str:
    """The referrers tag schema's tag for `subject` (`sha256:ab..` -> `sha256-ab..`)."""
    algorithm, _, hexdigest = subject.partition(":")
    return f"{algorithm}-{hexdigest}"


def legacy_tags(subject: str) -> tuple[str, ...]:
    """cosign's tags for `subject`: `sha256-<hex>.sig`, `.att`, `.sbom`."""
    return tuple(tag_schema_tag(subject) + suffix for suffix in LEGACY_SUFFIXES)


def subject_of(manifest: Manifest) -> str | None:
    """The digest a manifest's `subject` names; None when it names none (or is unreadable)."""
    doc = _json(manifest)
    subject = doc.get("subject") if doc else None
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def artifact_type(manifest: Manifest) -> str:
    """What kind of artifact a referrer is, as the referrers API reports it: the manifest's
    `artifactType`, else its config's media type; "" when it has neither."""
    doc = _json(manifest) or {}
    declared = doc.get("artifactType")
    if isinstance(declared, str) and declared:
        return declared
    config = doc.get("config")
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    return media_type if isinstance(media_type, str) else ""


def referrer_descriptor(manifest: Manifest) -> dict[str, Any]:
    """The entry the tag schema's index lists for a referrer: as the referrers API would list
    it (media type, digest, size, artifact type, the manifest's annotations)."""
    entry: dict[str, Any] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.raw),
    }
    kind = artifact_type(manifest)
    if kind:
        entry["artifactType"] = kind
    annotations = (_json(manifest) or {}).get("annotations")
    if isinstance(annotations, dict) and annotations:
        entry["annotations"] = annotations
    return entry


def merge_tag_schema(
    existing: Manifest | None, additions: Sequence[dict[str, Any]], *, host: str, tag: str
) -> bytes | None:
    """The tag schema's index after adding `additions`: every entry already there kept as it
    is (other writers' referrers are never dropped), the new ones appended in order, none
    twice. None when every addition is listed already: nothing to write. A tag that holds
    something else than an image index is not ours to overwrite: ProtocolError."""
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if existing is not None:
        found = _json(existing) or {}
        entries = found.get("manifests")
        if existing.media_type != OCI_INDEX or not isinstance(entries, list):
            raise ProtocolError(
                host,
                f"tag {tag} holds {existing.media_type or 'a manifest'}, not the image index"
                " of the referrers tag schema; not overwritten",
            )
        doc = {**found, "manifests": list(entries)}
    listed = {entry.get("digest") for entry in doc["manifests"] if isinstance(entry, dict)}
    added = False
    for entry in additions:
        if entry["digest"] not in listed:
            doc["manifests"].append(entry)
            listed.add(entry["digest"])
            added = True
    return json.dumps(doc, separators=(",", ":")).encode() if added else None


def is_copyable(manifest: Manifest) -> bool:
    """Whether a referrer is a manifest of blobs (an image manifest, as signatures, SBOMs and
    attestations are), which copying by digest with its blobs keeps intact."""
    return manifest.media_type in IMAGE_TYPES


def _json(manifest: Manifest) -> dict[str, Any] | None:
    try:
        return manifest.json
    except ValueError:
        return None
