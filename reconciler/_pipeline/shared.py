"""Reads that several aliases of one observation make (a source of both `latest` and `10`;
the tag list and candidate tags of a repository with several floating aliases) are made once
and their answer shared. Only the reads declared ahead are remembered, so memory does not
grow with the number of aliases, and nothing outlives the observation: applying reads the
registry afresh.

`ReadOnce` is the mechanism: the first caller of a key does the work, callers arriving
meanwhile wait for its outcome, later callers get it at once. Failures are shared like results
(the reading thread already retried); an interrupt is not (the next caller reads for itself).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import Generic, TypeVar

from .._model.oci import Descriptor, Manifest, Platform, is_digest
from .._model.repository import RepositoryState
from .._registry.interface import ReaderFor, RegistryReader

__all__ = ["ReadOnce", "SharedReads"]

T = TypeVar("T")


class _Failed:
    """A read that raised: every caller of the key gets the same error."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class ReadOnce(Generic[T]):
    """Thread-safe. Holds one outcome per key; only keys read more than once should come
    here, so that memory does not grow with everything a run reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[Hashable, T | _Failed] = {}
        self._reading: dict[Hashable, threading.Event] = {}

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._done:
                    return _unwrap(self._done[key])
                reading = self._reading.get(key)
                if reading is None:
                    self._reading[key] = threading.Event()
                    break
            reading.wait()  # another thread reads it; then take its outcome (or read)
        return self._read(key, read)

    def _read(self, key: Hashable, read: Callable[[], T]) -> T:
        outcome: T | _Failed
        try:
            outcome = read()
        except Exception as exc:
            outcome = _Failed(exc)
        except BaseException:
            self._finish(key)  # interrupted: nothing to share, the next caller reads
            raise
        self._finish(key, outcome)
        return _unwrap(outcome)

    def _finish(self, key: Hashable, *outcome: T | _Failed) -> None:
        with self._lock:
            if outcome:
                self._done[key] = outcome[0]
            self._reading.pop(key).set()


def _unwrap(outcome: T | _Failed) -> T:
    if isinstance(outcome, _Failed):
        raise outcome.error
    return outcome


class SharedReads:
    """A `ReaderFor` for one observation: hands out each host's reader, wrapped so that the
    declared tags and tag lists are read once. Thread-safe."""

    def __init__(
        self,
        reader_for: ReaderFor,
        tags: Collection[tuple[str, str, str]] = (),
        repositories: Collection[tuple[str, str]] = (),
    ) -> None:
        """`tags`: (host, repository, tag) that several aliases read; `repositories`: (host,
        repository) whose tag list and every tag are read by several aliases."""
        self._reader_for = reader_for
        self._tags = frozenset(tags)
        self._repositories = frozenset(repositories)
        self._hosts = {host for host, _, _ in self._tags} | {h for h, _ in self._repositories}
        self._manifests: ReadOnce[Manifest | None] = ReadOnce()
        self._lists: ReadOnce[tuple[str, ...]] = ReadOnce()

    def __call__(self, host: str) -> RegistryReader:
        reader = self._reader_for(host)
        return _SharingReader(reader, self) if host in self._hosts else reader

    def manifest_at(self, reader: RegistryReader, repository: str, ref: str) -> Manifest | None:
        key = (reader.host, repository, ref)
        if is_digest(ref) or not (key in self._tags or key[:2] in self._repositories):
            return reader.manifest_at(repository, ref)
        return self._manifests.get(key, functools.partial(reader.manifest_at, repository, ref))

    def list_tags(self, reader: RegistryReader, repository: str) -> list[str]:
        key = (reader.host, repository)
        if key not in self._repositories:
            return reader.list_tags(repository)
        listed = self._lists.get(key, lambda: tuple(reader.list_tags(repository)))
        return list(listed)  # each caller gets its own list


class _SharingReader:
    """One host's reader, with the reads `SharedReads` declares made once."""

    def __init__(self, reader: RegistryReader, shared: SharedReads) -> None:
        self._reader = reader
        self._shared = shared

    @property
    def host(self) -> str:
        return self._reader.host

    @property
    def deletes_tags_alone(self) -> bool:
        return self._reader.deletes_tags_alone

    def read_in_bulk(self, repository: str, refs: Sequence[str]) -> None:
        self._reader.read_in_bulk(repository, refs)

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        return self._shared.manifest_at(self._reader, repository, ref)

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None:
        return self._reader.head_manifest(repository, ref)

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        return self._reader.get_manifest(repository, ref)

    def list_tags(self, repository: str) -> list[str]:
        return self._shared.list_tags(self._reader, repository)

    def referrers(self, repository: str, digest: str) -> tuple[Descriptor, ...] | None:
        return self._reader.referrers(repository, digest)

    def get_blob(self, repository: str, digest: str) -> bytes:
        return self._reader.get_blob(repository, digest)

    def image_platform(
        self, repository: str, manifest: Manifest, read: Callable[[], Platform]
    ) -> Platform:
        return self._reader.image_platform(repository, manifest, read)

    def repository_facts(self, repository: str, tag: str) -> RepositoryState:
        return self._reader.repository_facts(repository, tag)
