"""The on-disk cache: content verified on every read, written atomically, bounded in size."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.registry.cache import Cache
from reconciler.types import digest_of

DATA = b'{"schemaVersion":2}'
DIGEST = digest_of(DATA)


def test_content_round_trips_through_disk(tmp_path: Path) -> None:
    Cache(tmp_path).put(DIGEST, DATA)
    assert Cache(tmp_path).get(DIGEST) == DATA  # a new run, nothing in memory


def test_bytes_are_never_stored_under_a_name_they_do_not_hash_to(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put(digest_of(b"other"), DATA)
    assert cache.get(digest_of(b"other")) is None
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_corrupt_file_is_ignored_and_removed(tmp_path: Path) -> None:
    Cache(tmp_path).put(DIGEST, DATA)
    [path] = [p for p in tmp_path.rglob("*") if p.is_file()]
    path.write_bytes(DATA[:5])
    assert Cache(tmp_path).get(DIGEST) is None
    assert not path.exists()


def test_tag_hints_are_digests_or_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.hint("r", "repo", "1") is None
    cache.set_hint("r", "repo", "1", DIGEST)
    assert Cache(tmp_path).hint("r", "repo", "1") == DIGEST
    [path] = [p for p in (tmp_path / "tags").rglob("*") if p.is_file()]
    path.write_text("not a digest")
    assert cache.hint("r", "repo", "1") is None


def test_memory_only_cache_writes_nothing(tmp_path: Path) -> None:
    cache = Cache(None)
    cache.put(DIGEST, DATA)
    cache.set_hint("r", "repo", "1", DIGEST)
    assert cache.get(DIGEST) == DATA and cache.hint("r", "repo", "1") is None


def test_prune_keeps_the_cache_under_its_bound_newest_first(tmp_path: Path) -> None:
    cache = Cache(tmp_path, max_bytes=1000)
    blobs = [bytes([n]) * 300 for n in range(6)]
    for age, blob in enumerate(blobs):
        cache.put(digest_of(blob), blob)
        path = next(p for p in tmp_path.rglob(digest_of(blob)[7:]))
        os.utime(path, (1000 + age, 1000 + age))
    cache.prune()
    left = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
    assert left <= 800
    assert Cache(tmp_path).get(digest_of(blobs[-1])) == blobs[-1]  # the newest survive
    assert Cache(tmp_path).get(digest_of(blobs[0])) is None


def test_an_unwritable_cache_is_only_slower(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = Cache(blocker / "cache")  # a path under a file: every write fails
    cache.put(DIGEST, DATA)
    assert cache.get(DIGEST) == DATA
