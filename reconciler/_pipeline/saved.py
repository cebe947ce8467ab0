"""A saved plan: what `reconcile --dry-run --plan-out FILE` writes and `reconcile apply FILE`
applies. Pure.

The models below are the plan file's one declaration: `_output/planfile.py` writes them as
JSON, reads them back and publishes their JSON Schema, so the document and its schema cannot
drift. Besides the plan itself (each alias's action, changes, the exact index bytes, the
manifests to copy, prune's deletes) a saved plan holds everything it was made from: the
config file's hash, and every tag and digest read with what it held then. `recheck.py` reads
those again before anything is written; `restore` turns a saved alias back into the
`AliasPlan` that `apply` writes, with the stored index bytes, never a re-planned index.

It holds no secret: names, tags, digests and the config file's path, nothing read from
credential stores or sent as a header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._config.models import AliasTarget
from .._config.selection import Pattern, Shard
from .._errors import ProtocolError
from .._model.names import parse_repository
from .._model.oci import (
    DIGEST_PATTERN,
    Descriptor,
    Manifest,
    digest_of,
    index_annotations,
    parse_index,
)
from .desired import DesiredEntry, DesiredIndex
from .observed import Copy, LiveTag, ObservedAlias, Referrer, ReferrerFound, ResolvedSource
from .plan import Action, AliasPlan, Change

__all__ = [
    "PLAN_SCHEMA_VERSION",
    "SavedAlias",
    "SavedPlan",
    "SavedSource",
    "StoredIndex",
    "restore",
    "save",
    "sha256_hex",
]

PLAN_SCHEMA_VERSION = 1

Digest = Annotated[str, Field(pattern=DIGEST_PATTERN)]
_HEX64 = r"^[a-f0-9]{64}$"


class _Saved(BaseModel):
    # A plan is an instruction to write: a field this tool does not know could change what it
    # means, so a plan with one is refused rather than half understood (a new field is a new
    # `schema_version`).
    # Built on first use (issue 16): a run that saves no plan pays for declaring them only.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SavedConfig(_Saved):
    """The config file the plan was made from."""

    path: str = Field(description="its absolute path when the plan was made")
    sha256: str = Field(pattern=_HEX64, description="SHA-256 of its bytes, in hex")


class SavedSelection(_Saved):
    """The aliases the planning run selected (`--only`, `--shard`); the plan lists them."""

    only: tuple[str, ...] = Field(description="the --only patterns, none for all")
    shard: str | None = Field(description="the --shard I/N, or null")


class SavedLive(_Saved):
    """What the alias tag held when the plan was made."""

    kind: Literal["absent", "index", "image", "other"]
    digest: Digest | None = Field(description="null when the tag was absent")
    media_type: str | None


class SavedSource(_Saved):
    """A manifest the plan read for an alias: a source, or a floating alias's pick."""

    source: str = Field(
        description="the source as the plan names it (its tag, short digest or ref)"
    )
    repository: str = Field(description="where it was read: registry/repository")
    ref: str = Field(description="the tag or digest read")
    digest: Digest = Field(description="what the tag or digest held")
    media_type: str
    platforms: tuple[str, ...] = Field(
        description="the platforms it gives the alias (for a floating alias, those it was"
        " picked for)"
    )


class SavedTrack(_Saved):
    """A floating alias's choice."""

    pattern: str
    candidates: tuple[str, ...] = Field(
        description="the matching tags considered, newest first; a newer matching tag not"
        " among them means the choice may have changed"
    )


class SavedEntry(_Saved):
    """Where one entry of the index came from, in the index's order."""

    digest: Digest
    source: str
    note: str = Field(description="why a floating alias took it; empty otherwise")
    held: bool = Field(description="a monotonic alias kept the live image for its platform")


class SavedIndex(_Saved):
    """The index to write, byte for byte."""

    media_type: str
    digest: Digest
    manifest: str = Field(description="the exact bytes to PUT (UTF-8 JSON text)")
    entries: tuple[SavedEntry, ...]

    @model_validator(mode="after")
    def _bytes_match_digest(self) -> SavedIndex:
        if digest_of(self.manifest.encode()) != self.digest:
            raise ValueError(f"the index bytes do not have the digest {self.digest}")
        return self


class SavedChange(_Saved):
    """One difference between the live alias and the planned one (as in the JSON report)."""

    kind: str
    field: str
    subject: str
    old: str | None
    new: str | None
    source: str | None


class SavedBlob(_Saved):
    digest: Digest
    size: int = Field(ge=0)


class SavedReferrer(_Saved):
    """A signature, SBOM or attestation copied with a manifest, by digest."""

    digest: Digest
    media_type: str
    artifact_type: str
    size: int = Field(ge=0)
    blobs: tuple[SavedBlob, ...]
    found: ReferrerFound = Field(description="where the source registry showed it")
    tag: str = Field(description="a legacy cosign tag (sha256-<hex>.sig), written as it is")


class SavedCopy(_Saved):
    """A manifest to copy into the alias's repository before the index is written."""

    digest: Digest
    media_type: str
    origin: str = Field(description="the repository it is copied from: registry/repository")
    source: str
    blobs: tuple[SavedBlob, ...] = Field(description="its config and layers")
    platform: str = Field(description="the platform of the index entry it is")
    referrers: tuple[SavedReferrer, ...] = Field(description="copied with it")


class SavedDelete(_Saved):
    """Prune: the alias tag to delete and the digest it held."""

    tag: str
    digest: Digest


class SavedAlias(_Saved):
    """One alias of the plan and what it was made from."""

    target: str = Field(description="REPOSITORY:ALIAS, as the JSON report's `target`")
    repository: str = Field(description="the repository key as written in the config")
    alias: str
    action: Action
    message: str
    live: SavedLive | None = Field(description="null when the tag could not be read")
    sources: tuple[SavedSource, ...]
    track: SavedTrack | None = Field(description="floating aliases only")
    desired: SavedIndex | None = Field(description="null when no index could be built")
    changes: tuple[SavedChange, ...]
    copies: tuple[SavedCopy, ...]
    delete: SavedDelete | None = Field(description="prune's delete, for action `delete` only")

    @model_validator(mode="after")
    def _complete(self) -> SavedAlias:
        if self.target != f"{self.repository}:{self.alias}":
            raise ValueError(f"target {self.target!r} is not repository:alias")
        if self.action in (Action.CREATE, Action.UPDATE) and (
            self.desired is None or self.live is None
        ):
            raise ValueError(f"{self.target}: a {self.action.value} needs `live` and `desired`")
        if self.action is Action.DELETE and (self.delete is None or self.delete.tag != self.alias):
            raise ValueError(f"{self.target}: a delete needs `delete` naming its tag")
        return self

    @property
    def writes(self) -> bool:
        return self.action in (Action.CREATE, Action.UPDATE, Action.DELETE)


class SavedPlan(_Saved):
    """A plan saved by `reconcile --dry-run --plan-out FILE`, applied by `reconcile apply`."""

    schema_version: Literal[1]
    tool_version: str = Field(description="the reconcile version that made the plan")
    config: SavedConfig
    selection: SavedSelection
    aliases: tuple[SavedAlias, ...]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- from the pipeline's values -------------------------------------------------------------


def save(
    plan: Iterable[AliasPlan],
    observed: Sequence[ObservedAlias],
    *,
    tool_version: str,
    config_path: str,
    config_bytes: bytes,
    only: Sequence[Pattern] = (),
    shard: Shard | None = None,
) -> SavedPlan:
    """The plan with what it was made from: each alias's observation is found by its name
    (prune's deletes have none: their tag is all they read)."""
    seen = {o.target.name: o for o in observed}
    return SavedPlan(
        schema_version=PLAN_SCHEMA_VERSION,
        tool_version=tool_version,
        config=SavedConfig(path=config_path, sha256=sha256_hex(config_bytes)),
        selection=SavedSelection(
            only=tuple(p.text for p in only), shard=str(shard) if shard else None
        ),
        aliases=tuple(_save_alias(a, seen.get(a.target.name)) for a in plan),
    )


def _save_alias(plan: AliasPlan, observed: ObservedAlias | None) -> SavedAlias:
    target = plan.target
    resolved = observed.sources if observed is not None else ()
    return SavedAlias(
        target=target.name,
        repository=target.key,
        alias=target.tag,
        action=plan.action,
        message=plan.message,
        live=_save_live(plan.live or (observed.live if observed else None)),
        sources=tuple(_save_source(target, r) for r in resolved),
        track=_save_track(target, resolved),
        desired=_save_index(plan.desired) if plan.desired is not None else None,
        changes=tuple(_save_change(c) for c in plan.changes),
        copies=tuple(_save_copy(c) for c in plan.copies),
        delete=_save_delete(plan),
    )


def _save_live(live: LiveTag | None) -> SavedLive | None:
    if live is None:
        return None
    descriptor = live.descriptor
    return SavedLive(
        kind=live.kind,
        digest=descriptor.digest if descriptor else None,
        media_type=descriptor.media_type if descriptor else None,
    )


def _save_source(target: AliasTarget, resolved: ResolvedSource) -> SavedSource:
    where = resolved.source.locate(target.repository)
    return SavedSource(
        source=resolved.source.label,
        repository=str(where.repository),
        # A source with neither tag nor digest (a child kept as it is) is pinned by digest.
        ref=where.ref or resolved.descriptor.digest,
        digest=resolved.descriptor.digest,
        media_type=resolved.descriptor.media_type,
        platforms=tuple(
            str(e.platform) for e in resolved.entries if e.platform and e.attestation_of is None
        ),
    )


def _save_track(target: AliasTarget, resolved: Sequence[ResolvedSource]) -> SavedTrack | None:
    if target.track is None:
        return None
    candidates = next((r.candidates for r in resolved if r.candidates), ())
    return SavedTrack(pattern=target.track.pattern, candidates=candidates)


def _save_index(desired: DesiredIndex) -> SavedIndex:
    manifest = desired.manifest
    return SavedIndex(
        media_type=manifest.media_type,
        digest=manifest.digest,
        manifest=manifest.raw.decode(),
        entries=tuple(
            SavedEntry(digest=e.descriptor.digest, source=e.source, note=e.note, held=e.held)
            for e in desired.entries
        ),
    )


def _save_change(change: Change) -> SavedChange:
    return SavedChange(
        kind=change.kind,
        field=change.field,
        subject=change.subject,
        old=change.old,
        new=change.new,
        source=change.source,
    )


def _save_copy(copy: Copy) -> SavedCopy:
    return SavedCopy(
        digest=copy.digest,
        media_type=copy.media_type,
        origin=str(copy.origin),
        source=copy.source,
        blobs=_save_blobs(copy.blobs),
        platform=copy.platform,
        referrers=tuple(_save_referrer(r) for r in copy.referrers),
    )


def _save_blobs(blobs: Iterable[tuple[str, int]]) -> tuple[SavedBlob, ...]:
    return tuple(SavedBlob(digest=digest, size=size) for digest, size in blobs)


def _save_referrer(referrer: Referrer) -> SavedReferrer:
    return SavedReferrer(
        digest=referrer.digest,
        media_type=referrer.media_type,
        artifact_type=referrer.artifact_type,
        size=referrer.size,
        blobs=_save_blobs(referrer.blobs),
        found=referrer.found,
        tag=referrer.tag,
    )


def _save_delete(plan: AliasPlan) -> SavedDelete | None:
    if plan.action is not Action.DELETE or plan.live is None or plan.live.descriptor is None:
        return None
    return SavedDelete(tag=plan.target.tag, digest=plan.live.descriptor.digest)


# -- back to the pipeline's values ----------------------------------------------------------


@dataclass(frozen=True)
class StoredIndex(DesiredIndex):
    """An index as a saved plan holds it: the reviewed bytes, written as they are."""

    raw: bytes = b""

    @property
    def manifest(self) -> Manifest:  # the stored bytes, never rebuilt from the entries
        return Manifest(self.raw, self.media_type, digest_of(self.raw))


def restore(saved: SavedAlias, target: AliasTarget) -> AliasPlan:
    """The `AliasPlan` that applying `saved` writes, for `target`, the alias of the config the
    plan was made from (the same file, by its hash). ValueError when the saved index or a
    copy's origin cannot be read back (a hand-edited file)."""
    return AliasPlan(
        target=target,
        action=saved.action,
        desired=_restore_index(saved.desired, saved.target) if saved.desired else None,
        live=_restore_live(saved.live),
        changes=tuple(
            Change(c.kind, c.field, c.subject, c.old, c.new, c.source) for c in saved.changes
        ),
        message=saved.message,
        copies=tuple(_restore_copy(c) for c in saved.copies),
    )


def _restore_live(live: SavedLive | None) -> LiveTag | None:
    if live is None:
        return None
    if live.digest is None:
        return LiveTag(live.kind)
    # The size is not kept: nothing that applies a plan reads it.
    return LiveTag(live.kind, Descriptor(live.media_type or "", live.digest, 0))


def _restore_index(saved: SavedIndex, name: str) -> StoredIndex:
    raw = saved.manifest.encode()
    manifest = Manifest(raw, saved.media_type, saved.digest)
    try:
        descriptors = parse_index(manifest, "plan file")
    except ProtocolError:
        raise ValueError(f"{name}: the saved index is not an index") from None
    if [d.digest for d in descriptors] != [e.digest for e in saved.entries]:
        raise ValueError(f"{name}: the saved index's entries do not match its bytes")
    entries = tuple(
        DesiredEntry(d, e.source, e.note, e.held)
        for d, e in zip(descriptors, saved.entries, strict=True)
    )
    annotations = index_annotations(manifest, "plan file")
    return StoredIndex(saved.media_type, entries, annotations, raw=raw)


def _restore_copy(saved: SavedCopy) -> Copy:
    try:
        origin = parse_repository(saved.origin)
    except ValueError as exc:
        raise ValueError(f"copy {saved.digest}: {exc}") from None
    return Copy(
        digest=saved.digest,
        media_type=saved.media_type,
        origin=origin,
        source=saved.source,
        blobs=_blobs(saved.blobs),
        platform=saved.platform,
        referrers=tuple(
            Referrer(
                digest=r.digest,
                media_type=r.media_type,
                artifact_type=r.artifact_type,
                size=r.size,
                blobs=_blobs(r.blobs),
                found=r.found,
                tag=r.tag,
            )
            for r in saved.referrers
        ),
    )


def _blobs(saved: Iterable[SavedBlob]) -> tuple[tuple[str, int], ...]:
    return tuple((blob.digest, blob.size) for blob in saved)
