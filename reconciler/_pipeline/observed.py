"""What observing saw, as values the pure stages read: the alias tag's live content, each
source resolved, manifests to copy from other repositories, the observed alias as a whole,
and prune's orphans. No I/O here: observe and prune build these, desired, plan and the
renderers read them. Slotted: a run holds one of each per alias until its report is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .._config.models import AliasTarget, Source
from .._errors import ReconcileError
from .._model.names import RepositoryName
from .._model.oci import Descriptor, no_annotations
from .._model.repository import RepositoryState

__all__ = [
    "Copy",
    "LiveTag",
    "ObservedAlias",
    "Orphan",
    "Referrer",
    "ReferrerFound",
    "ResolvedSource",
]


@dataclass(frozen=True, slots=True)
class LiveTag:
    """What the alias tag holds now."""

    kind: Literal["absent", "index", "image", "other"]
    descriptor: Descriptor | None = None
    entries: tuple[Descriptor, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=no_annotations)

    @property
    def media_type(self) -> str:
        return self.descriptor.media_type if self.descriptor else ""


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A source and the index entries it contributes (one for an image, several for an index).
    `origin` is the repository the source lives in when it is not the alias's own."""

    source: Source
    descriptor: Descriptor
    entries: tuple[Descriptor, ...]
    origin: RepositoryName | None = None
    note: str = ""  # why a floating alias took it: `newest of 10.* for linux/arm64`
    # A floating alias's pick: the matching tags it considered, newest first (what a saved
    # plan compares to tell whether a newer tag appeared since).
    candidates: tuple[str, ...] = ()
    # A monotonic floating alias kept the live image for this platform (no matching tag holds
    # it any more); `source` is then that image's digest and `note` says why.
    held: bool = False


ReferrerFound = Literal["referrers-api", "tag-schema", "legacy-tag"]


@dataclass(frozen=True, slots=True)
class Referrer:
    """A signature, SBOM or attestation attached to a child that is copied: copied with it,
    by digest, with its blobs. `found` says where: the source registry's referrers API, its
    referrers tag schema (`sha256-<hex>`), or one of cosign's legacy tags (`tag`)."""

    digest: str
    media_type: str
    artifact_type: str  # the manifest's artifactType, else its config's media type
    size: int  # of the manifest
    blobs: tuple[tuple[str, int], ...]  # (digest, size) of its config and layers
    found: ReferrerFound
    tag: str = ""  # the legacy tag (`sha256-<hex>.sig`), written under the same name

    @property
    def kind(self) -> str:
        """What the plan shows: the artifact type, or for a legacy tag its suffix."""
        if self.tag:
            return f"legacy {self.tag[self.tag.rfind('.') :]} tag"
        return self.artifact_type or self.media_type


@dataclass(frozen=True, slots=True)
class Copy:
    """A manifest missing from the alias's repository, to copy from `origin` before the index
    is written (an index may only point at manifests in its own repository)."""

    digest: str
    media_type: str
    origin: RepositoryName
    source: str  # the source label, for the plan
    blobs: tuple[tuple[str, int], ...]  # (digest, size) of its config and layers
    platform: str = ""  # of the index entry it is, for the plan's referrer lines
    referrers: tuple[Referrer, ...] = ()  # copied with it (`referrers: copy`)

    @property
    def size(self) -> int:
        """At most this many bytes move (blobs already there are skipped when applying)."""
        return sum(size for _, size in self.blobs)


@dataclass(frozen=True, slots=True)
class ObservedAlias:
    target: AliasTarget
    live: LiveTag | None = None
    sources: tuple[ResolvedSource, ...] = ()
    error: ReconcileError | None = None
    repository: RepositoryState | None = None
    copies: tuple[Copy, ...] = ()


@dataclass(frozen=True, slots=True)
class Orphan:
    """A tag holding an index this tool wrote for an alias the file no longer declares."""

    target: AliasTarget  # the repository and tag, with no sources
    live: LiveTag
    blocked_by: tuple[str, ...] = ()  # other tags a delete by digest would also remove
    error: ReconcileError | None = None  # the repository could not be examined
