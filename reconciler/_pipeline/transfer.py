"""Copying a source's manifests into the alias's repository, the part of `apply` that runs
before the index is written: an index may only point at manifests in its own repository.

Order is what makes a crash harmless: blobs first, then each child manifest by digest, and
the alias's index last (in `apply`). A run killed at any point leaves, at worst, unreferenced
blobs or manifests; the alias tag is never moved to an index whose children are missing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .._errors import AuthError, RegistryError
from .._model.names import RepositoryName
from .._registry.interface import ClientFor, Registry
from .observed import Copy

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
            _BlobCopy(target, home, origin, copy.origin, digest, size).run()
    target.put_manifest(home.name, copy.digest, manifest)
    log.info("copied %s from %s into %s", copy.digest[:19], copy.origin, home)


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
