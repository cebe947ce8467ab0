"""Adopt an index pushed by hand: which sources reproduce it. Pure (`reconcile import` reads
the registry and checks the result with the real pipeline).

Each runnable entry of the index becomes a source:

1. an entry whose image has BuildKit attestations in the index comes from a tagged index (a
   `docker buildx` push) holding that image and those attestations, since flattening an index
   source is the only way an alias gets attestation entries;
2. otherwise from a tag pointing at that very image (several: not `latest`, then the first
   in text order);
3. otherwise from a tagged index holding it, when everything that index would bring is in the
   adopted index too;
4. otherwise by digest.

Tags being adopted as aliases are never used as sources. An index source whose attestations
the adopted index lacks is only used when the adopted index has no attestations at all (the
alias then says `attestations: drop`). What cannot be reproduced (an attestation no tagged index
holds, an entry without a platform, a nested index) is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._model import platforms
from .._model.oci import IMAGE_TYPES, INDEX_TYPES, Descriptor

__all__ = ["Adoption", "Choice", "TagInfo", "choose_sources"]


@dataclass(frozen=True)
class TagInfo:
    """A tag of the repository: what it points at and, for an index, its entries."""

    tag: str
    descriptor: Descriptor
    entries: tuple[Descriptor, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.descriptor.media_type in INDEX_TYPES

    @property
    def images(self) -> set[str]:
        return {e.digest for e in self.entries if _runnable(e)}

    def attestations_of(self, digests: set[str]) -> set[str]:
        return {e.digest for e in self.entries if (e.attestation_of or "") in digests}


@dataclass(frozen=True)
class Choice:
    """One source: a tag or a digest, and the runnable entries of the index it covers."""

    tag: str = ""
    digest: str = ""
    covers: tuple[str, ...] = ()
    is_index: bool = False


@dataclass(frozen=True)
class Adoption:
    sources: tuple[Choice, ...]
    drop_attestations: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)


def choose_sources(entries: Sequence[Descriptor], tags: Sequence[TagInfo]) -> Adoption:
    """Sources reproducing an index with these entries, in the order of its entries, from the
    repository's `tags` (the adopted alias tags already left out)."""
    runnable = [e for e in entries if _runnable(e)]
    wanted = {e.digest for e in runnable}
    attested = {e.attestation_of for e in entries if e.attestation_of is not None}
    attestations = {e.digest for e in entries if e.attestation_of is not None}
    images = _images_by_digest(tags)
    indexes = [t for t in tags if t.is_index and t.images]
    covered: set[str] = set()
    chosen: list[Choice] = []
    # Images with attestations first: only an index source can bring those along.
    for entry in sorted(runnable, key=lambda e: e.digest not in attested):
        if entry.digest in covered:
            continue
        usable = [i for i in indexes if _fits(i, wanted, attestations, covered)]
        choice = _choose(entry.digest, entry.digest in attested, images, usable)
        chosen.append(choice)
        covered.update(choice.covers)
    position = {e.digest: i for i, e in enumerate(runnable)}
    chosen.sort(key=lambda c: min(position[d] for d in c.covers))
    from_indexes = {t.tag: t for t in indexes}
    brought = {
        digest
        for c in chosen
        if c.is_index
        for digest in from_indexes[c.tag].attestations_of(set(c.covers))
    }
    drop = not attestations and bool(brought)
    problems = [*_unusable(entries), *_lost(entries, brought)]
    return Adoption(tuple(chosen), drop, tuple(problems))


def _choose(
    digest: str, attested: bool, images: Mapping[str, list[str]], indexes: list[TagInfo]
) -> Choice:
    holding = sorted(
        (i for i in indexes if digest in i.images), key=lambda i: (-len(i.images), i.tag)
    )
    with_proof = [i for i in holding if i.attestations_of({digest})]
    if attested and with_proof:
        return _index_choice(with_proof[0])
    if digest in images:
        return Choice(tag=images[digest][0], covers=(digest,))
    if holding:
        return _index_choice(holding[0])
    return Choice(digest=digest, covers=(digest,))


def _index_choice(index: TagInfo) -> Choice:
    return Choice(tag=index.tag, covers=tuple(sorted(index.images)), is_index=True)


def _fits(index: TagInfo, wanted: set[str], attestations: set[str], covered: set[str]) -> bool:
    """Flattening `index` adds only what the adopted index holds and no image twice."""
    images = index.images
    if not images <= wanted or images & covered:
        return False
    if any(not _runnable(e) and e.attestation_of is None for e in index.entries):
        return False  # an entry without platform or a nested index: not a usable source
    extra = index.attestations_of(images) - attestations
    return not extra or not attestations


def _images_by_digest(tags: Sequence[TagInfo]) -> dict[str, list[str]]:
    """Single-image tags by digest, the preferred name first."""
    found: dict[str, list[str]] = {}
    for info in tags:
        if info.descriptor.media_type in IMAGE_TYPES:
            found.setdefault(info.descriptor.digest, []).append(info.tag)
    return {d: sorted(names, key=lambda t: (t == "latest", t)) for d, names in found.items()}


def _unusable(entries: Sequence[Descriptor]) -> list[str]:
    problems = []
    for entry in entries:
        if entry.attestation_of is not None or _runnable(entry):
            continue
        why = "is a nested index" if entry.is_index else "has no usable platform"
        problems.append(f"entry {entry.digest} {why}; it cannot be a source and is left out")
    return problems


def _lost(entries: Sequence[Descriptor], brought: set[str]) -> list[str]:
    return [
        f"attestation {e.digest} (of {e.attestation_of}) is in no tagged index; an alias only"
        " gets attestations from index sources, so reconcile would drop it"
        for e in entries
        if e.attestation_of is not None and e.digest not in brought
    ]


def _runnable(entry: Descriptor) -> bool:
    if entry.attestation_of is not None or entry.is_index or entry.platform is None:
        return False
    return not platforms.is_unknown(platforms.normalize(entry.platform))
