"""A base for test fakes of `reconciler._registry.Registry`: a plain registry (the repository
exists, tags move, deleting a tag may remove its digest's other tags) on which every read and
write fails the test. A fake subclasses it and overrides what its test serves, so that mypy
checks the fake against the protocol (`_: Registry = Fake()` in the test module)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import NoReturn

from reconciler._model.oci import Descriptor, Manifest, Platform
from reconciler._model.repository import RepositoryState
from reconciler._registry.interface import Registry

__all__ = ["UnusedRegistry"]


def _unexpected(operation: str) -> NoReturn:
    raise AssertionError(f"the test's fake registry was asked to {operation}")


class UnusedRegistry:
    """A `Registry` that serves nothing: every operation a fake does not override fails."""

    host = "localhost:5000"
    deletes_tags_alone = False

    def read_in_bulk(self, repository: str, refs: Sequence[str]) -> None:
        pass  # nothing to read ahead: reads come one at a time

    def repository_facts(self, repository: str, tag: str) -> RepositoryState:
        return RepositoryState()

    def create_repository(self, repository: str) -> None:
        _unexpected(f"create {repository}")

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        _unexpected(f"read {repository}:{ref}")

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None:
        _unexpected(f"HEAD {repository}:{ref}")

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        _unexpected(f"GET {repository}:{ref}")

    def list_tags(self, repository: str) -> list[str]:
        _unexpected(f"list the tags of {repository}")

    def referrers(self, repository: str, digest: str) -> tuple[Descriptor, ...] | None:
        _unexpected(f"list the referrers of {repository}@{digest}")

    def get_blob(self, repository: str, digest: str) -> bytes:
        _unexpected(f"GET blob {digest}")

    def image_platform(
        self, repository: str, manifest: Manifest, read: Callable[[], Platform]
    ) -> Platform:
        return read()  # no cache: the config is read every time

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        _unexpected(f"PUT {repository}:{tag}")

    def put_referrer(self, repository: str, manifest: Manifest) -> bool:
        _unexpected(f"PUT referrer {repository}@{manifest.digest}")

    def head_blob(self, repository: str, digest: str) -> bool:
        _unexpected(f"HEAD blob {digest}")

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None:
        _unexpected(f"mount {digest}")

    def start_upload(self, repository: str) -> str:
        _unexpected(f"start an upload into {repository}")

    def finish_upload(
        self, repository: str, location: str, digest: str, chunks: Iterable[bytes], size: int
    ) -> None:
        _unexpected(f"upload {digest}")

    def open_blob(
        self, repository: str, digest: str, size: int
    ) -> AbstractContextManager[Iterator[bytes]]:
        _unexpected(f"stream blob {digest}")

    def delete_tag(self, repository: str, tag: str, digest: str) -> None:
        _unexpected(f"delete {repository}:{tag}")


_: Registry = UnusedRegistry()
