"""What the pipeline stages ask of a registry: the `Registry` protocol.

The stages (reconciler/_pipeline/) hold a `Registry` and never learn which kind it is. The
OCI distribution client (`http.RegistryClient`) implements it; on ECR the same client
composes the ECR API part (`ecr.EcrRepositories`) for what that API answers better: bulk
reads, repository facts and creation, and deleting a tag alone. Test fakes implement it too,
and are type-checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from .._model.oci import Descriptor, Manifest, Platform
from .._model.repository import RepositoryState

__all__ = ["ClientFor", "ReaderFor", "Registry", "RegistryReader", "RepositoryState"]


class RegistryReader(Protocol):
    """The reads the stages make, on one registry host: all that observing needs."""

    @property
    def host(self) -> str: ...

    def read_in_bulk(self, repository: str, refs: Sequence[str]) -> None:
        """Read these tags and digests ahead, in a few calls where the registry can."""

    def manifest_at(self, repository: str, ref: str) -> Manifest | None: ...

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None: ...

    def get_manifest(self, repository: str, ref: str) -> Manifest: ...

    def list_tags(self, repository: str) -> list[str]: ...

    def referrers(self, repository: str, digest: str) -> tuple[Descriptor, ...] | None:
        """The manifests whose `subject` is `digest`, as the referrers API lists them; None
        when the registry has no referrers API (then the tag schema holds them, if anyone
        wrote them)."""
        ...

    def get_blob(self, repository: str, digest: str) -> bytes: ...

    def image_platform(
        self, repository: str, manifest: Manifest, read: Callable[[], Platform]
    ) -> Platform:
        """The platform of the single image `manifest`: what `read()` finds in its config, or
        what a cache learned of the digest from an earlier `read()` (see
        `reconciler._registry.images`)."""
        ...

    def repository_facts(self, repository: str, tag: str) -> RepositoryState:
        """Existence and `tag`'s mutability; raises NotFoundError for a missing repository
        that applying would not create."""
        ...

    @property
    def deletes_tags_alone(self) -> bool:
        """Whether deleting a tag leaves the other tags of its manifest in place; where it
        does not, a delete removes every tag of the digest."""
        ...


class Registry(RegistryReader, Protocol):
    """The reads, and the writes and deletes only applying makes."""

    # -- writes --------------------------------------------------------------------------

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str: ...

    def put_referrer(self, repository: str, manifest: Manifest) -> bool:
        """PUT a manifest with a `subject` by its digest; True when the registry says it
        processed the subject into its referrers API (the `OCI-Subject` answer header),
        False when the writer must maintain the tag schema itself."""
        ...

    def create_repository(self, repository: str) -> None:
        """Create a repository the plan creates (`RepositoryState.exists` was False)."""

    def head_blob(self, repository: str, digest: str) -> bool: ...

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None: ...

    def start_upload(self, repository: str) -> str: ...

    def finish_upload(
        self, repository: str, location: str, digest: str, chunks: Iterable[bytes], size: int
    ) -> None: ...

    def open_blob(
        self, repository: str, digest: str, size: int
    ) -> AbstractContextManager[Iterator[bytes]]: ...

    # -- deletes -------------------------------------------------------------------------

    def delete_tag(self, repository: str, tag: str, digest: str) -> None:
        """Remove `tag`, which holds `digest` ("" when unknown); raises ReconcileError when
        this registry deletes neither way."""


ClientFor = Callable[[str], Registry]
"""The registry of a host."""

ReaderFor = Callable[[str], RegistryReader]
"""The registry of a host, for reading only (what observing is given)."""
