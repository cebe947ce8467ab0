"""Finding what is attached to a child that apply will copy: its signatures, SBOMs and
attestations. Reads only; part of observing (so that `--dry-run` lists them), called by
`observe.find_copies` for each copy of an alias whose `referrers` setting is `copy`.

Where the source registry has the referrers API (200), it lists them; where it has not (404),
the referrers tag schema's index `sha256-<hex>` does, when a writer kept one. cosign's legacy
tags `sha256-<hex>.sig`, `.att` and `.sbom` are looked for either way. Each one found is read
by digest (its manifest, and the descriptors of its blobs) so that apply copies it as it is:
same bytes, same digest, so that a signature over it stays valid.
"""

from __future__ import annotations

import logging

from .._model.oci import OCI_INDEX, Descriptor, Manifest, parse_blobs, parse_index
from .._model.referrers import (
    artifact_type,
    is_copyable,
    legacy_tags,
    subject_of,
    tag_schema_tag,
)
from .._registry.interface import RegistryReader
from .observed import Referrer, ReferrerFound

__all__ = ["find_referrers"]

log = logging.getLogger("reconciler.observe")


def find_referrers(origin: RegistryReader, repository: str, subject: str) -> tuple[Referrer, ...]:
    """Everything attached to `subject` in `repository` on `origin`, OCI 1.1 referrers first
    (in the order listed), then the legacy tags that exist."""
    listed, found = _listed(origin, repository, subject)
    referrers = [
        referrer
        for descriptor in listed
        if (referrer := _referrer(origin, repository, subject, descriptor, found)) is not None
    ]
    for tag in legacy_tags(subject):
        manifest = origin.manifest_at(repository, tag)
        if manifest is None:
            continue
        if not is_copyable(manifest):
            _skipped(origin, repository, tag, f"a {manifest.media_type}, not an image manifest")
            continue
        referrers.append(_of(origin, manifest, "legacy-tag", tag))
    return tuple(referrers)


def _listed(
    origin: RegistryReader, repository: str, subject: str
) -> tuple[tuple[Descriptor, ...], ReferrerFound]:
    """The referrers the API lists, or else the tag schema's index; and which it was."""
    listed = origin.referrers(repository, subject)
    if listed is not None:
        return listed, "referrers-api"
    tag = tag_schema_tag(subject)
    index = origin.manifest_at(repository, tag)
    if index is None:
        return (), "tag-schema"
    if index.media_type != OCI_INDEX:
        _skipped(origin, repository, tag, f"a {index.media_type}, not the tag schema's index")
        return (), "tag-schema"
    return parse_index(index, origin.host), "tag-schema"


def _referrer(
    origin: RegistryReader,
    repository: str,
    subject: str,
    listed: Descriptor,
    found: ReferrerFound,
) -> Referrer | None:
    """A listed referrer, read by digest; None (logged) for one that cannot be copied as it
    is: an index or an unknown type, or a tag schema entry whose manifest names another
    subject (a stale or foreign entry)."""
    manifest = origin.get_manifest(repository, listed.digest)
    if not is_copyable(manifest):
        _skipped(
            origin, repository, listed.digest, f"a {manifest.media_type}, not an image manifest"
        )
        return None
    named = subject_of(manifest)
    if named != subject:
        _skipped(origin, repository, listed.digest, f"its subject is {named}, not {subject}")
        return None
    return _of(origin, manifest, found)


def _of(
    origin: RegistryReader, manifest: Manifest, found: ReferrerFound, tag: str = ""
) -> Referrer:
    blobs = tuple((blob.digest, blob.size) for blob in parse_blobs(manifest, origin.host))
    kind = artifact_type(manifest)
    return Referrer(
        manifest.digest, manifest.media_type, kind, len(manifest.raw), blobs, found, tag
    )


def _skipped(origin: RegistryReader, repository: str, ref: str, why: str) -> None:
    log.warning("%s/%s: referrer %s not copied: %s", origin.host, repository, ref[:19], why)
