"""Observe: read what the registry holds now, without writing anything.

For each alias: what its tag points at (absent, an index, or a single image), and what each
source resolves to (the image with its platform, or the entries of an index source). Failures
are captured per alias so that one broken alias never hides the others.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TypeVar, cast

from .._config.models import AliasTarget, Source
from .._errors import AliasError, Interrupted, NotFoundError, ProtocolError, ReconcileError
from .._model import track as tracking
from .._model.names import RepositoryName, check_tag
from .._model.oci import (
    IMAGE_TYPES,
    INDEX_TYPES,
    NO_ANNOTATIONS,
    Descriptor,
    Manifest,
    Platform,
    index_annotations,
    parse_blobs,
    parse_config_platform,
    parse_image,
    parse_index,
)
from .._model.repository import RepositoryState
from .._registry.interface import ReaderFor, RegistryReader
from .observed import Copy, LiveTag, ObservedAlias, ResolvedSource
from .plan import AliasPlan, plan_alias
from .referrers import find_referrers
from .shared import SharedReads

__all__ = [
    "each_in_order",
    "observe",
    "observe_alias",
    "observe_and_plan",
    "read_live",
    "resolve_sources",
    "resolve_track",
]

log = logging.getLogger("reconciler.observe")
_TRACK_READERS = 8  # tags of one floating alias read at once (the client bounds requests too)

T = TypeVar("T")
R = TypeVar("R")


def observe(
    targets: Sequence[AliasTarget],
    client_for: ReaderFor,
    *,
    concurrency: int = 16,
    stop: threading.Event | None = None,
    on_done: Callable[[], None] | None = None,
) -> list[ObservedAlias]:
    """Observe every alias, `concurrency` at a time; results keep the order of `targets`.
    Aliases not yet started when `stop` is set are reported as interrupted. `on_done` is
    called (from a worker thread) after each alias read, failed or not: the progress line."""
    return _observe_each(targets, client_for, _itself, concurrency, stop, on_done)


def observe_and_plan(
    targets: Sequence[AliasTarget],
    client_for: ReaderFor,
    *,
    force: bool = False,
    keep_observed: bool = False,
    concurrency: int = 16,
    stop: threading.Event | None = None,
    on_done: Callable[[], None] | None = None,
    emit: Callable[[AliasPlan], None] | None = None,
) -> tuple[list[AliasPlan], list[ObservedAlias]]:
    """`observe`, each alias planned (`plan_alias`) by the thread that read it, as soon as it
    is read: a run then holds one plan per alias, not every observation until the last alias
    is read (what was read of the sources is not needed once the alias is planned). The
    observations are returned too only with `keep_observed` (a saved plan records them).

    With `emit`, each plan is handed to it in the order of `targets` as soon as it and every
    plan before it are made (one call at a time), and none is returned: the caller keeps
    what it needs of them."""

    def plan(observed: ObservedAlias) -> tuple[AliasPlan, ObservedAlias | None]:
        return plan_alias(observed, force=force), observed if keep_observed else None

    kept: list[ObservedAlias] = []

    def hand_on(planned: tuple[AliasPlan, ObservedAlias | None]) -> None:
        assert emit is not None
        emit(planned[0])
        if planned[1] is not None:
            kept.append(planned[1])

    if emit is not None:
        _observe_each(targets, client_for, plan, concurrency, stop, on_done, hand_on)
        return [], kept
    planned = _observe_each(targets, client_for, plan, concurrency, stop, on_done)
    return [p for p, _ in planned], [o for _, o in planned if o is not None]


def _itself(observed: ObservedAlias) -> ObservedAlias:
    return observed


def _observe_each(
    targets: Sequence[AliasTarget],
    client_for: ReaderFor,
    then: Callable[[ObservedAlias], R],
    concurrency: int,
    stop: threading.Event | None,
    on_done: Callable[[], None] | None,
    emit: Callable[[R], None] | None = None,
) -> list[R]:
    """Every alias observed and handed to `then` in the thread that read it; the results
    returned, or handed to `emit` in order (`each_in_order`)."""
    halt = stop or threading.Event()
    client_for = prepare_reads(targets, client_for)

    def one(target: AliasTarget) -> R:
        if halt.is_set():
            return then(
                ObservedAlias(target, error=Interrupted(f"{target.name}: stopped before reading"))
            )
        observed = observe_alias(target, client_for)
        if on_done is not None:
            on_done()
        return then(observed)

    return each_in_order(one, targets, workers=max(1, concurrency), emit=emit)


def each_in_order(
    work: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int,
    emit: Callable[[R], None] | None = None,
) -> list[R]:
    """`list(pool.map(work, items))` on `workers` threads, without a future per item: each
    thread takes the next item when it is free. `pool.map` submits every item at once, and
    a future costs about 2 KB until its result is taken: 40 MB for 20,000 aliases, held from
    the start. The first exception stops the hand-out and is raised once every thread has
    finished the item it holds.

    With `emit`, nothing is returned: each result is handed to `emit` in the order of
    `items`, one call at a time, as soon as the results before it are in, so only the results
    that finished ahead of a slower one are held (about `workers` of them)."""
    results: list[R | None] = [None] * len(items) if emit is None else []
    lock = threading.Lock()
    indexes = iter(range(len(items)))
    halt = threading.Event()
    store = _in_order(emit) if emit is not None else results.__setitem__

    def drain() -> None:
        while not halt.is_set():
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            try:
                store(index, work(items[index]))
            except BaseException:
                halt.set()
                raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        threads = [pool.submit(drain) for _ in range(min(workers, len(items)))]
        try:
            for thread in threads:
                thread.result()
        except BaseException:
            halt.set()  # an interrupt: the threads finish their item and take no other
            raise
    return cast(list[R], results)


def _in_order(emit: Callable[[R], None]) -> Callable[[int, R], None]:
    """Takes results by index, from any thread, and hands them to `emit` in index order, one
    call at a time. `emit` runs outside the lock: a thread that finds another emitting leaves
    its result to that one and goes on, instead of waiting behind the report's writes. After
    an `emit` that raised, nothing more is emitted (the report has no gap)."""
    lock = threading.Lock()
    waiting: dict[int, R] = {}
    next_index = 0
    emitting = False

    def store(index: int, result: R) -> None:
        nonlocal next_index, emitting
        with lock:
            waiting[index] = result
            if emitting:
                return
            emitting = True
        while True:
            with lock:
                if next_index not in waiting:
                    emitting = False
                    return
                ready = waiting.pop(next_index)
                next_index += 1
            emit(ready)

    return store


@dataclass
class RepositoryReads:
    """What this run's aliases will read in one repository."""

    home: list[str] = field(default_factory=list)  # tags and digests of aliases living here
    counts: Counter[str] = field(default_factory=Counter)  # every ref read here -> by how many
    floating: int = 0  # floating aliases living here


def reads_by_repository(targets: Sequence[AliasTarget]) -> dict[RepositoryName, RepositoryReads]:
    reads: dict[RepositoryName, RepositoryReads] = {}
    for target in targets:
        here = reads.setdefault(target.repository, RepositoryReads())
        if target.track is not None:
            here.floating += 1
        here.home.append(target.tag)
        here.counts[target.tag] += 1
        for source in target.sources:
            if not source.ref:
                here.home.append(source.tag or source.digest or "")
            try:
                where = source.locate(target.repository)
            except ValueError:
                continue  # reported by observe_alias
            reads.setdefault(where.repository, RepositoryReads()).counts[where.ref] += 1
    return reads


def prepare_reads(targets: Sequence[AliasTarget], client_for: ReaderFor) -> ReaderFor:
    """Before the aliases are observed, per repository: on ECR, read every tag its aliases
    mention in bulk (DescribeImages and BatchGetImage) instead of one registry request per
    tag (anything not found this way is read per tag). Returns the readers to observe with:
    tags that more than one alias reads (a source of both `latest` and `10`), and every tag
    and the tag list of a repository several floating aliases share, are read once."""
    tags: list[tuple[str, str, str]] = []
    repositories: list[tuple[str, str]] = []
    for repository, reads in reads_by_repository(targets).items():
        host, name = repository.registry, repository.name
        tags.extend((host, name, ref) for ref, count in reads.counts.items() if count > 1)
        if reads.floating > 1:
            repositories.append((host, name))
        if reads.home:
            try:
                client_for(host).read_in_bulk(name, reads.home)
            except ReconcileError:
                continue  # reported per alias by observe_alias
    return SharedReads(client_for, tags, repositories)


def observe_alias(target: AliasTarget, client_for: ReaderFor) -> ObservedAlias:
    """Observe one alias; any expected failure becomes the alias's `error`."""
    try:
        client = client_for(target.repository.registry)
        repository = repository_state(client, target)
        live = read_live(client, target.repository.name, target.tag)
        sources = (
            resolve_track(client, target, live)
            if target.track is not None
            else resolve_sources(client_for, target)
        )
        copies = find_copies(client, client_for, target, live, sources)
    except ReconcileError as exc:
        return ObservedAlias(target, error=exc)
    return ObservedAlias(target, live, sources, repository=repository, copies=copies)


def repository_state(client: RegistryReader, target: AliasTarget) -> RepositoryState:
    """The registry's facts, read before anything is planned: whether the repository exists
    and whether the alias tag is immutable (what ECR says; defaults elsewhere)."""
    return client.repository_facts(target.repository.name, target.tag)


def read_live(client: RegistryReader, repository: str, tag: str) -> LiveTag:
    manifest = client.manifest_at(repository, tag)
    if manifest is None:
        return LiveTag("absent")
    descriptor = manifest.descriptor()
    if manifest.media_type in IMAGE_TYPES:
        return LiveTag("image", descriptor)
    if manifest.media_type not in INDEX_TYPES:
        return LiveTag("other", descriptor)
    entries = parse_index(manifest, client.host)
    annotations = index_annotations(manifest, client.host) or NO_ANNOTATIONS
    return LiveTag("index", descriptor, entries, annotations)


def resolve_source(client_for: ReaderFor, target: AliasTarget, source: Source) -> ResolvedSource:
    """What a source points at, wherever it lives; `origin` is set for other repositories.
    A digest is asked of its repository on every run, even when its body is cached: a
    manifest deleted there must make the alias an error, not an index pointing at nothing."""
    location = source.locate(target.repository)
    client = client_for(location.repository.registry)
    repository = location.repository.name
    manifest = client.manifest_at(repository, location.ref)
    if manifest is None:
        written = source.ref or source.digest or source.tag
        raise NotFoundError(
            client.host, f"source {written!r} not found in {client.host}/{repository}"
        )
    origin = None if location.repository == target.repository else location.repository
    resolved = _resolve_manifest(client, repository, source, manifest)
    return ResolvedSource(source, resolved.descriptor, resolved.entries, origin)


def resolve_sources(client_for: ReaderFor, target: AliasTarget) -> tuple[ResolvedSource, ...]:
    """Every listed source, in order. A missing source does not stop the others from being
    asked: all the missing ones make one error, so that a file is fixed in one go. Any other
    failure (authentication, transport, ...) stops at once: it would only repeat."""
    resolved: list[ResolvedSource] = []
    missing: list[NotFoundError] = []
    for source in target.sources:
        try:
            resolved.append(resolve_source(client_for, target, source))
        except NotFoundError as exc:
            missing.append(exc)
    if len(missing) == 1:
        raise missing[0]
    if missing:  # each message names its source and where it was looked for
        raise NotFoundError(missing[0].registry, "; ".join(exc.message for exc in missing))
    return tuple(resolved)


def resolve_track(
    client: RegistryReader, target: AliasTarget, live: LiveTag | None = None
) -> tuple[ResolvedSource, ...]:
    """A floating alias: for each platform, the newest tag matching `track` that provides it.

    One tag listing, then the newest `MAX_CANDIDATES` matching tags are read (a HEAD each when
    the cache knows them: their platforms come from cached manifests and configs). Tags that
    hold something else than images (an artifact, a config naming no platform) are skipped.
    A `monotonic` alias also weighs `live`, the index its tag holds (already read, so nothing
    more is): a platform whose live image no matching tag holds any more keeps it
    (`tracking.hold_back`), marked `held` and sorted in among the picks by platform.
    """
    track = target.track
    assert track is not None
    repository = target.repository.name
    tags = [tag for tag in client.list_tags(repository) if _is_tag(tag)]
    matching = tracking.candidates(track, tags, exclude=target.tag)
    considered = matching[: tracking.MAX_CANDIDATES]
    if len(matching) > len(considered):
        log.info(
            "%s: %d tags match %r; only the newest %d are considered",
            target.name, len(matching), track.pattern, len(considered),
        )  # fmt: skip
    with ThreadPoolExecutor(max_workers=_TRACK_READERS) as pool:
        read = list(pool.map(lambda tag: _read_candidate(client, repository, tag), considered))
    found = {tag: resolved for tag, resolved in zip(considered, read, strict=True) if resolved}
    newest_first = [(tag, found[tag].entries) for tag in considered if tag in found]
    held_live = live.entries if target.monotonic and live and live.kind == "index" else ()
    picks, holds = tracking.hold_back(newest_first, held_live)
    if not picks and not holds:
        raise AliasError(
            f"no tag of {client.host}/{repository} matching {track.pattern!r} ({track.scheme})"
            f" holds an image ({len(tags)} tags, {len(matching)} matching)"
        )
    chosen = [
        (
            p.platforms,
            replace(found[p.tag], entries=p.entries, note=tracking.describe(track, p.shown)),
        )
        for p in picks
    ]
    chosen += [((h.platform,), _held_source(track, h)) for h in holds]
    return tuple(
        replace(resolved, candidates=tuple(considered))
        for _, resolved in sorted(chosen, key=lambda c: c[0])
    )


def _held_source(track: tracking.Track, hold: tracking.Hold) -> ResolvedSource:
    """The live image a monotonic alias keeps, as a source named by its digest."""
    image = hold.entries[0]
    note = tracking.describe_hold(track, hold)
    return ResolvedSource(Source(digest=image.digest), image, hold.entries, note=note, held=True)


def _read_candidate(client: RegistryReader, repository: str, tag: str) -> ResolvedSource | None:
    manifest = client.manifest_at(repository, tag)
    if manifest is None:
        return None  # deleted since it was listed
    try:
        return _resolve_manifest(client, repository, Source(tag=tag), manifest)
    except AliasError as exc:
        log.info("%s:%s is not an image for a floating alias, skipped: %s", repository, tag, exc)
        return None


def _is_tag(text: str) -> bool:
    try:
        check_tag(text)
    except ValueError:
        return False
    return True


def _resolve_manifest(
    client: RegistryReader, repository: str, source: Source, manifest: Manifest
) -> ResolvedSource:
    descriptor = manifest.descriptor()
    if manifest.media_type in INDEX_TYPES:
        return _resolve_index_source(client, source, manifest)
    if manifest.media_type not in IMAGE_TYPES:
        raise AliasError(
            f"source {source.label!r} has unsupported media type {manifest.media_type!r}"
        )
    platform = source.platform_override or _image_platform(client, repository, source, manifest)
    entry = Descriptor(descriptor.media_type, descriptor.digest, descriptor.size, platform)
    return ResolvedSource(source, descriptor, (entry,))


def _resolve_index_source(
    client: RegistryReader, source: Source, index: Manifest
) -> ResolvedSource:
    if source.platform:
        raise AliasError(
            f"source {source.label!r} is a multi-platform index; `platform:` only applies to"
            " single-platform images"
        )
    entries = parse_index(index, client.host)
    nested = [e.digest for e in entries if e.is_index]
    if nested:
        raise AliasError(f"source {source.label!r} is an index that nests another index")
    missing = [e.digest for e in entries if e.platform is None]
    if missing:
        raise AliasError(f"source {source.label!r} has an entry without a platform: {missing[0]}")
    return ResolvedSource(source, index.descriptor(), entries)


def find_copies(
    home: RegistryReader,
    client_for: ReaderFor,
    target: AliasTarget,
    live: LiveTag,
    sources: tuple[ResolvedSource, ...],
) -> tuple[Copy, ...]:
    """Manifests of other repositories' sources that the alias's repository lacks. Children of
    the live index are there already (registries enforce it), so only the others are asked.
    Each copy brings what is attached to it (signatures, SBOMs, attestations) unless the
    alias says `referrers: skip`; an alias without copies reads nothing more."""
    present = {entry.digest for entry in live.entries}
    copies: list[Copy] = []
    with_referrers = target.referrers == "copy"
    for resolved in sources:
        if resolved.origin is None:
            continue
        for entry in resolved.entries:
            if entry.digest in present or home.head_manifest(target.repository.name, entry.digest):
                continue
            present.add(entry.digest)
            origin = client_for(resolved.origin.registry)
            copies.append(_copy_of(origin, resolved, entry, with_referrers=with_referrers))
    return tuple(copies)


def _copy_of(
    origin: RegistryReader, resolved: ResolvedSource, entry: Descriptor, *, with_referrers: bool
) -> Copy:
    assert resolved.origin is not None
    repository = resolved.origin.name
    manifest = origin.get_manifest(repository, entry.digest)
    refs = tuple((blob.digest, blob.size) for blob in parse_blobs(manifest, origin.host))
    label = resolved.source.label
    platform = str(entry.platform) if entry.platform else ""
    attached = find_referrers(origin, repository, entry.digest) if with_referrers else ()
    return Copy(entry.digest, manifest.media_type, resolved.origin, label, refs, platform, attached)


def _image_platform(
    client: RegistryReader, repository: str, source: Source, manifest: Manifest
) -> Platform:
    """A single image's platform lives in its config blob; the client may know it already."""
    return client.image_platform(
        repository, manifest, lambda: _config_platform(client, repository, source, manifest)
    )


def _config_platform(
    client: RegistryReader, repository: str, source: Source, manifest: Manifest
) -> Platform:
    config = parse_image(manifest, client.host).config_digest
    blob = client.get_blob(repository, config)
    try:
        platform = parse_config_platform(blob, config, client.host)
    except ProtocolError:
        raise ProtocolError(
            client.host, f"source {source.label!r}: unreadable image config"
        ) from None
    if not platform.os or not platform.architecture:
        raise AliasError(
            f"source {source.label!r}: its image config names no os/architecture;"
            " set `platform:` for this source"
        )
    return platform
