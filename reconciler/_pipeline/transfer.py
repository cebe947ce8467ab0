"""Copying a source's manifests into the alias's repository, the part of `apply` that runs
before the index is written: an index may only point at manifests in its own repository.

Order is what makes a crash harmless: blobs first, then what is attached to the child (its
referrers: signatures, SBOMs, attestations), then the child manifest by digest, and the
alias's index last (in `apply`). A run killed at any point leaves, at worst, unreferenced
blobs or manifests; the alias tag is never moved to an index whose children are missing, and
a child is never left in place without its referrers (the next run, finding the child
missing, copies both again; copying a referrer twice changes nothing).

Referrers are written the way the target supports: each manifest by digest (the same bytes,
so a signature over it stays valid); where the registry does not answer that PUT with
`OCI-Subject` (it has no referrers API), the tag schema's index `sha256-<hex>` is created or
updated, every entry already there kept; cosign's legacy tags are written under their name.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import Any

from .._errors import AuthError, RegistryError
from .._model.names import RepositoryName
from .._model.oci import OCI_INDEX, Manifest, digest_of
from .._model.referrers import merge_tag_schema, referrer_descriptor, tag_schema_tag
from .._registry.interface import ClientFor, Registry
from .observed import Copy, Referrer

__all__ = ["CopyOnce", "copy_manifest", "copy_referrers"]

log = logging.getLogger("reconciler.copy")

_BLOB_ATTEMPTS = 3  # each attempt opens a new upload session: a stream cannot be replayed


class CopyOnce:
    """Copies each manifest into a repository once per run; aliases that share a source wait
    for the first copy instead of copying again. Copying the same child concurrently made the
    reference registry rewrite its link files while other aliases' index PUTs read them (and
    answer 400 DIGEST_INVALID). A failed copy is retried by the next alias that needs it.
    An alias whose copy brings referrers that an earlier one did not (it said `referrers:
    skip`) still gets them copied: later runs would not, the child being there."""

    def __init__(self, client_for: ClientFor) -> None:
        self._client_for = client_for
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._done: dict[tuple[str, str], set[str]] = {}  # -> the referrers copied with it
        self._guard = threading.Lock()

    def __call__(self, home: RepositoryName, copy: Copy) -> None:
        key = (str(home), copy.digest)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._done:
                copy_manifest(self._client_for, home, copy)
                self._done[key] = {r.digest for r in copy.referrers}
                return
            missing = tuple(r for r in copy.referrers if r.digest not in self._done[key])
            if missing:
                target, origin = (
                    self._client_for(home.registry),
                    self._client_for(copy.origin.registry),
                )
                copy_referrers(target, home, origin, replace(copy, referrers=missing))
                self._done[key].update(r.digest for r in missing)


def copy_manifest(client_for: ClientFor, home: RepositoryName, copy: Copy) -> None:
    """Copy one manifest and its blobs from `copy.origin` into `home`, its referrers before
    it; skips what is there."""
    target = client_for(home.registry)
    origin = client_for(copy.origin.registry)
    manifest = origin.get_manifest(copy.origin.name, copy.digest)
    _copy_blobs(target, home, origin, copy.origin, copy.blobs)
    if copy.referrers:
        copy_referrers(target, home, origin, copy)
    target.put_manifest(home.name, copy.digest, manifest)
    log.info("copied %s from %s into %s", copy.digest[:19], copy.origin, home)


def copy_referrers(target: Registry, home: RepositoryName, origin: Registry, copy: Copy) -> None:
    """Copy what is attached to `copy` into `home`: each referrer's blobs, then its manifest
    by digest; then the tag schema's index for those the target did not list itself."""
    unlisted: list[dict[str, Any]] = []
    for referrer in copy.referrers:
        manifest = origin.get_manifest(copy.origin.name, referrer.digest)
        _copy_blobs(target, home, origin, copy.origin, referrer.blobs)
        if referrer.tag:
            _put_legacy_tag(target, home, referrer, manifest)
        elif not target.put_referrer(home.name, manifest):
            unlisted.append(referrer_descriptor(manifest))
    if unlisted:
        _add_to_tag_schema(target, home, copy.digest, unlisted)
    log.info("copied %d referrer(s) of %s into %s", len(copy.referrers), copy.digest[:19], home)


def _put_legacy_tag(
    target: Registry, home: RepositoryName, referrer: Referrer, manifest: Manifest
) -> None:
    """cosign's `sha256-<hex>.sig` (.att, .sbom) under the same name. A tag already holding
    something else is kept: replacing it would drop the signatures it holds."""
    live = target.head_manifest(home.name, referrer.tag)
    if live is None:
        target.put_manifest(home.name, referrer.tag, manifest)
    elif live.digest != manifest.digest:
        log.warning(
            "%s:%s already holds %s; kept, not replaced by %s",
            home, referrer.tag, live.digest[:19], manifest.digest[:19],
        )  # fmt: skip


def _add_to_tag_schema(
    target: Registry, home: RepositoryName, subject: str, entries: list[dict[str, Any]]
) -> None:
    """Create or update the referrers tag schema's index of `subject` in `home`: what it
    lists already stays, `entries` not listed yet are added; nothing is written when every
    one is there. Copies of one child are serialised by `CopyOnce`, so within a run no other
    alias updates this tag meanwhile."""
    tag = tag_schema_tag(subject)
    existing = target.manifest_at(home.name, tag)
    merged = merge_tag_schema(existing, entries, host=target.host, tag=tag)
    if merged is not None:
        target.put_manifest(home.name, tag, Manifest(merged, OCI_INDEX, digest_of(merged)))


def _copy_blobs(
    target: Registry,
    home: RepositoryName,
    origin: Registry,
    source: RepositoryName,
    blobs: tuple[tuple[str, int], ...],
) -> None:
    for digest, size in blobs:
        if not target.head_blob(home.name, digest):
            _BlobCopy(target, home, origin, source, digest, size).run()


@dataclass(frozen=True)
class _BlobCopy:
    """One blob to bring from `source` on `origin` into `home` on `target`."""

    target: Registry
    home: RepositoryName
    origin: Registry
    source: RepositoryName
    digest: str
    size: int

    def run(self) -> None:
        """Copy the blob, in a new upload session per attempt (a stream cannot be replayed):
        transient failures (`RegistryError.transient`, as in the retry layer) are retried, and
        a 401 once, the auth flow having fetched fresh credentials while answering it (an
        expired token); a second 401 fails the alias."""
        attempt, refused = 1, False
        while True:
            try:
                self._once()
                return
            except AuthError as exc:
                if refused or exc.status != 401:
                    raise
                refused = True
                log.info("copy of %s refused (%s); once more, with fresh credentials", self, exc)
            except RegistryError as exc:
                if attempt == _BLOB_ATTEMPTS or not exc.transient:
                    raise
                attempt += 1
                log.info("retrying copy of %s after %s (attempt %d)", self, exc, attempt)

    def _once(self) -> None:
        """Mount when both repositories are on one registry; otherwise, or when the registry
        refuses the mount (it then opens an upload session), stream the blob across: its
        bytes as stored, `size` of them (the descriptor's, not what the source's answer says)."""
        target, home, digest = self.target, self.home, self.digest
        if self.source.registry == home.registry:
            location = target.mount_blob(home.name, digest, self.source.name)
            if location is None:
                return
            log.info("mount of %s refused by %s; streaming it", self, target.host)
        else:
            location = target.start_upload(home.name)
        with self.origin.open_blob(self.source.name, digest, self.size) as chunks:
            target.finish_upload(home.name, location, digest, chunks, self.size)

    def __str__(self) -> str:
        return self.digest[:19]
