"""Recheck: before a saved plan is applied, read again what it was made from. Reads only.

For each alias the plan writes (create, update, delete; a noop or a conflict writes nothing,
so what it read cannot change what applying does):

- the alias tag: a HEAD, which must give the digest it held (or still nothing);
- every source by tag: a HEAD, which must give the digest the plan resolved; a source or a
  copy pinned by digest must still exist;
- a floating alias: the tag listing again; a matching tag newer than the oldest tag it picked
  that was not among the tags it considered could be a newer pick;
- prune's delete: the tag must still hold the digest the plan deletes.

Everything that differs is returned, so that one refusal names all of it; a read that fails
is returned too, since nothing proves that its tag did not move.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from .._config.models import AliasTarget
from .._errors import ReconcileError
from .._model import track as tracking
from .._model.names import parse_repository, reference_text
from .._model.oci import is_digest
from .._registry.interface import ReaderFor
from .saved import SavedAlias, SavedSource

__all__ = ["Moved", "recheck"]


@dataclass(frozen=True)
class Moved:
    """Something a saved plan read that is not what it was: `then` and `now` are digests
    (None: absent); `error` says why it could not be read again instead."""

    alias: str  # the alias's target, as the report names it
    what: str  # `source 10.20 (localhost:5000/app:10.20)`, `alias tag`, ...
    then: str | None = None
    now: str | None = None
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return f"{self.alias}: {self.what}: {self.error}"
        return f"{self.alias}: {self.what}: {_shown(self.then)} -> {_shown(self.now)}"


def _shown(digest: str | None) -> str:
    return digest[:19] if digest else "absent"  # as the text plan shows digests


def recheck(
    aliases: Sequence[tuple[SavedAlias, AliasTarget]],
    client_for: ReaderFor,
    *,
    concurrency: int = 16,
    stop: threading.Event | None = None,
) -> list[Moved]:
    """What moved since the plan, for the aliases it writes, in plan order. Once `stop` is
    set no new alias is checked (and apply, which sees it set too, writes none)."""
    stop = stop or threading.Event()

    def one(pair: tuple[SavedAlias, AliasTarget]) -> list[Moved]:
        saved, target = pair
        if not saved.writes:
            return []
        if stop.is_set():  # nothing is written once it is set: apply starts no write
            return []
        return _alias(saved, target, client_for)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return [moved for found in pool.map(one, aliases) for moved in found]


def _alias(saved: SavedAlias, target: AliasTarget, client_for: ReaderFor) -> list[Moved]:
    checks: list[Callable[[], list[Moved]]] = [lambda: _alias_tag(saved, target, client_for)]
    for source in saved.sources:
        checks.append(partial(_source, saved.target, source, client_for))
    for copy in saved.copies:
        checks.append(partial(_pinned, saved.target, copy.origin, copy.digest, client_for))
    if saved.track is not None and target.track is not None:
        checks.append(lambda: _newer_tags(saved, target, client_for))
    moved: list[Moved] = []
    for check in checks:
        try:
            moved.extend(check())
        except ReconcileError as exc:  # unread is unproven: refuse rather than guess
            moved.append(Moved(saved.target, "could not be read again", error=str(exc)))
    return moved


def _alias_tag(saved: SavedAlias, target: AliasTarget, client_for: ReaderFor) -> list[Moved]:
    client = client_for(target.repository.registry)
    head = client.head_manifest(target.repository.name, target.tag)
    now = head.digest if head else None
    then = saved.delete.digest if saved.delete else saved.live.digest if saved.live else None
    return [] if now == then else [Moved(saved.target, "alias tag", then, now)]


def _source(alias: str, source: SavedSource, client_for: ReaderFor) -> list[Moved]:
    if is_digest(source.ref):
        return _pinned(alias, source.repository, source.ref, client_for)
    repository = parse_repository(source.repository)
    head = client_for(repository.registry).head_manifest(repository.name, source.ref)
    now = head.digest if head else None
    if now == source.digest:
        return []
    where = reference_text(source.repository, source.ref)
    return [Moved(alias, f"source {source.source} ({where})", source.digest, now)]


def _pinned(alias: str, where: str, digest: str, client_for: ReaderFor) -> list[Moved]:
    repository = parse_repository(where)
    if client_for(repository.registry).head_manifest(repository.name, digest) is not None:
        return []
    return [Moved(alias, f"{reference_text(where, digest)} (pinned)", digest, None)]


def _newer_tags(saved: SavedAlias, target: AliasTarget, client_for: ReaderFor) -> list[Moved]:
    """Tags matching the track now, newer than the oldest tag picked, that the plan never
    considered: one of them may hold a newer image for a platform (a new newest tag)."""
    assert saved.track is not None and target.track is not None
    considered = saved.track.candidates
    picked = [s.ref for s in saved.sources if s.ref in considered]
    if not picked:
        return []
    oldest = max(picked, key=considered.index)
    client = client_for(target.repository.registry)
    tags = client.list_tags(target.repository.name)
    # The oldest pick is ranked among the tags of now even when it has been deleted since.
    now = tracking.candidates(target.track, {*tags, oldest}, exclude=target.tag)
    position = now.index(oldest) if oldest in now else 0
    newer = [tag for tag in now[:position] if tag not in considered]
    moved = []
    for tag in newer:
        head = client.head_manifest(target.repository.name, tag)
        if head is not None:  # deleted again since the listing: nothing new after all
            what = f"new tag {tag} matching {target.track.pattern!r}, newer than {oldest}"
            moved.append(Moved(saved.target, what, None, head.digest))
    return moved
