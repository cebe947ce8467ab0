"""What the cache learned of single images, by digest: their size and platform.

Both are facts of the content, never of a tag: the digest names the manifest's bytes, whose
length is the size, and the bytes name the config by its digest, whose os and architecture are
the platform. A run that read and verified both keeps them here, and a later run whose registry
confirms by a HEAD that a tag still points at that digest needs neither file: observing
10,000 cached aliases opened 50,000 files, of which one per alias remains (the live index,
whose entries the plan compares).

One file per repository, read on first use and written back at the end of a run, merged with
what other runs wrote meanwhile. Its first line is the sha256 of the rest: a file that does not
match is ignored whole, so that a flipped bit on disk never becomes a platform.
"""

from __future__ import annotations

import bisect
import json
from array import array
from collections.abc import Mapping
from typing import NamedTuple

from .._model.oci import Platform, digest_of, is_digest

__all__ = ["ImageFacts", "KnownImages", "decode", "encode", "encode_merged"]

MAX_IMAGES = 100_000  # per repository file (9 MB); beyond it a file starts again from one run's


class ImageFacts(NamedTuple):
    size: int  # of the manifest's bytes
    platform: Platform  # as its config names it (normalised later, by the plan)


class KnownImages:
    """One repository's known images: those read from disk as flat arrays sorted by the hash
    of the digest's 32 bytes (56 bytes an image, where a dict of digests and tuples held about
    250; 20,000 at 10,000 aliases), and those this run learned, by digest."""

    __slots__ = ("_changed", "_digests", "_hashes", "_ids", "_sizes", "_table", "_unsaved")

    def __init__(self, read: Mapping[str, ImageFacts]) -> None:
        ids: dict[Platform, int] = {}
        rows = sorted(
            (hash(packed := bytes.fromhex(digest[7:])), packed, facts.size,
             ids.setdefault(facts.platform, len(ids)))
            for digest, facts in read.items()
        )  # fmt: skip
        self._hashes = array("q", [row[0] for row in rows])
        self._digests = b"".join(row[1] for row in rows)
        self._sizes = array("Q", [row[2] for row in rows])
        self._ids = array("I", [row[3] for row in rows])
        self._table = list(ids)
        self._changed: dict[str, ImageFacts] = {}
        self._unsaved = False

    def get(self, digest: str) -> ImageFacts | None:
        """What is known of `digest` (a sha256 digest, checked by the caller)."""
        learned = self._changed.get(digest)
        if learned is not None:
            return learned
        packed = bytes.fromhex(digest[7:])
        key = hash(packed)
        at = bisect.bisect_left(self._hashes, key)
        while at < len(self._hashes) and self._hashes[at] == key:  # the digest decides
            if self._digests[at * 32 : at * 32 + 32] == packed:
                return ImageFacts(self._sizes[at], self._table[self._ids[at]])
            at += 1
        return None

    def learn(self, digest: str, facts: ImageFacts) -> None:
        if self.get(digest) != facts:
            self._changed[digest] = facts  # two threads learning one image learn the same
            self._unsaved = True

    def unsaved(self) -> dict[str, ImageFacts]:
        """What this run learned, when it learned something since last asked."""
        if not self._unsaved:
            return {}
        self._unsaved = False
        return dict(self._changed)


def encode(images: Mapping[str, ImageFacts]) -> bytes:
    """The file: the sha256 of the JSON document on the first line, then the document (the
    platforms once each, every image as its size and the index of its platform)."""
    ids: dict[Platform, int] = {}
    listed = {
        digest: [facts.size, ids.setdefault(facts.platform, len(ids))]
        for digest, facts in sorted(images.items())
    }
    document = {"platforms": [p.to_json() for p in ids], "images": listed}
    body = json.dumps(document, separators=(",", ":")).encode()
    return digest_of(body).encode() + b"\n" + body


def encode_merged(merged: Mapping[str, ImageFacts], learned: Mapping[str, ImageFacts]) -> bytes:
    """The file of what is known after a run: all of it, or beyond `MAX_IMAGES` what the run
    learned."""
    return encode(merged if len(merged) <= MAX_IMAGES else learned)


def decode(data: bytes) -> dict[str, ImageFacts]:
    """What a file holds; nothing when its checksum does not match, and no image that is
    malformed (another version's writing)."""
    header, _, body = data.partition(b"\n")
    if header != digest_of(body).encode():
        return {}
    try:
        document = json.loads(body)
        platforms = [Platform.from_json(p) for p in document["platforms"]]
        listed = document["images"]
        if not isinstance(listed, dict):
            return {}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
    found: dict[str, ImageFacts] = {}
    for digest, row in listed.items():
        if is_digest(digest) and _is_row(row, len(platforms)):
            found[digest] = ImageFacts(row[0], platforms[row[1]])
    return found


def _is_row(row: object, platforms: int) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 2
        and all(type(n) is int and n >= 0 for n in row)
        and row[1] < platforms
    )
