"""Copying a source's manifests into the alias's repository, the part of `apply` that runs
before the index is written: an index may only point at manifests in its own repository.

Order is what makes a crash harmless: blobs first, then each child manifest by digest, and
the alias's index last (in `apply`). A run killed at any point leaves, at worst, unreferenced
blobs or manifests; the alias tag is never moved to an index whose children are missing.
"""

from __future__ import annotations

import logging
import threading

from .errors import RegistryError, TransportError
from .names import RepositoryName
from .observe import ClientFor, Copy
from .registry import RegistryClient

__all__ = ["CopyOnce", "copy_manifest"]

log = logging.getLogger("reconciler.copy")

_BLOB_ATTEMPTS = 3  # each attempt opens a new upload session: a stream cannot be replayed


class CopyOnce:
    """Copies each manifest into a repository once per run; aliases that share a source wait
    for the first copy instead of copying again. Copying the same child concurrently made the
    reference registry rewrite its link files while other aliases' index PUTs read them (and
    answer 400 DIGEST_INVALID). A failed copy is retried by the next alias that needs it."""

    def __init__(self, client_for: ClientFor) -> None:
        self._client_for = client_for
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._done: set[tuple[str, str]] = set()
        self._guard = threading.Lock()

    def __call__(self, home: RepositoryName, copy: Copy) -> None:
        key = (str(home), copy.digest)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._done:
                copy_manifest(self._client_for, home, copy)
                self._done.add(key)


def copy_manifest(client_for: ClientFor, home: RepositoryName, copy: Copy) -> None:
    """Copy one manifest and its blobs from `copy.origin` into `home`; skips what is there."""
    target = client_for(home.registry)
    origin = client_for(copy.origin.registry)
    manifest = origin.get_manifest(copy.origin.name, copy.digest)
    for digest, size in copy.blobs:
        if not target.head_blob(home.name, digest):
            _copy_blob(target, home, origin, copy.origin, digest, size)
    target.put_manifest(home.name, copy.digest, manifest)
    log.info("copied %s from %s into %s", copy.digest[:19], copy.origin, home)


def _copy_blob(
    target: RegistryClient,
    home: RepositoryName,
    origin: RegistryClient,
    source: RepositoryName,
    digest: str,
    size: int,
) -> None:
    """Mount when both repositories are on one registry; otherwise, or when the registry
    refuses the mount (it then opens an upload session), stream the blob across."""
    for attempt in range(1, _BLOB_ATTEMPTS + 1):
        try:
            if source.registry == home.registry:
                location = target.mount_blob(home.name, digest, source.name)
                if location is None:
                    return
                log.info("mount of %s refused by %s; streaming it", digest[:19], target.host)
            else:
                location = target.start_upload(home.name)
            with origin.open_blob(source.name, digest) as (length, chunks):
                target.finish_upload(home.name, location, digest, chunks, length or size)
            return
        except (TransportError, RegistryError) as exc:
            if attempt == _BLOB_ATTEMPTS or not _transient(exc):
                raise
            log.info("retrying copy of %s after %s (attempt %d)", digest[:19], exc, attempt + 1)


def _transient(exc: RegistryError) -> bool:
    if isinstance(exc, TransportError):
        return exc.transient  # a rejected TLS certificate is not, as in the retry layer
    return (exc.status or 0) >= 500 or exc.status == 429
