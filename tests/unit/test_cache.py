"""The on-disk cache: content verified on every read, written atomically, bounded in size."""

from __future__ import annotations

import gc
import json
import os
import threading
import tracemalloc
from pathlib import Path

import pytest

from reconciler._model.oci import digest_of
from reconciler._registry.cache import Cache

DATA = b'{"schemaVersion":2}'
DIGEST = digest_of(DATA)


def test_content_round_trips_through_disk(tmp_path: Path) -> None:
    Cache(tmp_path).put(DIGEST, DATA)
    assert Cache(tmp_path).get(DIGEST) == DATA  # a new run, nothing in memory


@pytest.mark.parametrize(
    "size",
    [0, len(DATA), (16 << 10) - 1, 16 << 10, (16 << 10) + 1, 200 << 10],
    ids=["empty", "small", "one-short-of-a-read", "one-read", "one-over", "200KiB"],
)
def test_content_of_any_size_is_read_back_whole(tmp_path: Path, size: int) -> None:
    """Read into a buffer of 16 KiB, then in chunks until one comes short: exactly one
    buffer's worth needs a second (empty) read to know it is the end."""
    data = DATA[:size] if size <= len(DATA) else bytes(i % 251 for i in range(size))
    Cache(tmp_path).put(digest_of(data), data)
    assert Cache(tmp_path).get(digest_of(data)) == data


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


def test_tag_hints_are_saved_at_close_one_file_per_repository(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.hint("r", "repo", "1") is None
    cache.set_hint("r", "repo", "1", DIGEST)
    cache.set_hint("r", "repo", "2", DIGEST)
    assert Cache(tmp_path).hint("r", "repo", "1") is None  # not on disk before close()
    cache.close()
    assert Cache(tmp_path).hint("r", "repo", "1") == DIGEST
    assert len([p for p in (tmp_path / "tags").rglob("*") if p.is_file()]) == 1


def test_hints_are_kept_as_digests_and_written_as_the_file_had_them(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.set_hint("r", "repo", "1", DIGEST)
    cache.set_hint("r", "repo", "2", "latest")  # no digest: never a hint
    assert (cache.hint("r", "repo", "1"), cache.hint("r", "repo", "2")) == (DIGEST, None)
    cache.close()
    [path] = [p for p in (tmp_path / "tags").rglob("*") if p.is_file()]
    assert json.loads(path.read_text()) == {"1": DIGEST}
    written = path.stat().st_ino
    again = Cache(tmp_path)
    again.set_hint("r", "repo", "1", DIGEST)  # unchanged: nothing is written at close
    again.close()
    assert path.stat().st_ino == written


def test_hints_of_concurrent_runs_are_merged_not_lost(tmp_path: Path) -> None:
    first, second = Cache(tmp_path), Cache(tmp_path)
    first.set_hint("r", "repo", "1", DIGEST)
    second.set_hint("r", "repo", "2", digest_of(b"two"))
    first.close()
    second.close()
    third = Cache(tmp_path)
    assert third.hint("r", "repo", "1") == DIGEST
    assert third.hint("r", "repo", "2") == digest_of(b"two")


@pytest.mark.parametrize(
    "damage",
    [b"", b"{not json", b"[]", b'{"1": "not a digest"}', b'{"1": 5}', b"\xff\xfe"],
)
def test_unreadable_hints_are_no_hints(tmp_path: Path, damage: bytes) -> None:
    cache = Cache(tmp_path)
    cache.set_hint("r", "repo", "1", DIGEST)
    cache.close()
    [path] = [p for p in (tmp_path / "tags").rglob("*") if p.is_file()]
    path.write_bytes(damage)
    assert Cache(tmp_path).hint("r", "repo", "1") is None


def test_a_run_that_added_nothing_does_not_walk_the_cache_to_prune(tmp_path: Path) -> None:
    Cache(tmp_path).put(DIGEST, DATA)
    reader = Cache(tmp_path, max_bytes=1)  # far over its bound, but it wrote nothing
    assert reader.get(DIGEST) == DATA
    reader.close()
    assert Cache(tmp_path).get(DIGEST) == DATA
    writer = Cache(tmp_path, max_bytes=1)
    writer.put(digest_of(b"new"), b"new")
    writer.close()
    assert not any(p.is_file() for p in (tmp_path / "sha256").rglob("*"))


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


def _hints_file(tmp_path: Path, count: int) -> dict[str, str]:
    """A repository's hints on disk, written by an earlier run: `count` tags."""
    hints = {f"v{i}-amd64": digest_of(b"%d" % i) for i in range(count)}
    earlier = Cache(tmp_path)
    for tag, digest in hints.items():
        earlier.set_hint("r", "repo", tag, digest)
    earlier.close()
    return hints


def test_hints_read_from_disk_are_found_by_tag_and_only_by_their_tag(tmp_path: Path) -> None:
    hints = _hints_file(tmp_path, 500)
    cache = Cache(tmp_path)
    assert {tag: cache.hint("r", "repo", tag) for tag in hints} == hints
    assert [cache.hint("r", "repo", tag) for tag in ("v500-amd64", "v1-arm64", "")] == [None] * 3
    moved = digest_of(b"moved")
    cache.set_hint("r", "repo", "v7-amd64", moved)  # what this run read wins
    assert (cache.hint("r", "repo", "v7-amd64"), cache.hint("r", "repo", "v8-amd64")) == (
        moved,
        hints["v8-amd64"],
    )


def test_hints_read_from_disk_are_held_in_about_forty_bytes_a_tag(tmp_path: Path) -> None:
    """A run of 20,000 aliases reads 60,000 tags' hints and holds them to the end: a dict of
    tag strings and digest bytes was about 160 bytes a tag."""
    count = 5000
    hints = _hints_file(tmp_path, count)
    cache = Cache(tmp_path)
    tracemalloc.start()
    try:
        assert cache.hint("r", "repo", "v1-amd64") == hints["v1-amd64"]
        gc.collect()  # and with it the free lists of tuples, which tracemalloc counts as held
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held / count < 50, f"{held / count:.0f} bytes a tag"


def test_a_hint_this_run_changed_is_held_once(tmp_path: Path) -> None:
    """A cold run changes every hint it reads (60,000 at 20,000 aliases), each kept until
    close() writes it back: in one map, not also in a second one of the changes."""
    count = 5000
    hints = {f"v{i}-amd64": digest_of(b"%d" % i) for i in range(count)}
    cache = Cache(tmp_path)
    assert cache.hint("r", "repo", "v1-amd64") is None
    gc.collect()
    tracemalloc.start()
    try:
        for tag, digest in hints.items():
            cache.set_hint("r", "repo", tag, digest)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held / count < 100, f"{held / count:.0f} bytes a tag"
    cache.close()
    again = Cache(tmp_path)
    assert {tag: again.hint("r", "repo", tag) for tag in hints} == hints


def test_a_cache_under_its_bound_is_summed_as_walked_not_listed(tmp_path: Path) -> None:
    """Every run that wrote walks the cache (100,000 files after a cold run of 20,000
    aliases): the walk must not hold them all, as a list of Path objects did (30 MB)."""
    count = 5000
    for n in range(count):
        directory = tmp_path / "sha256" / f"{n % 256:02x}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{n:064x}").write_bytes(b"x")
    cache = Cache(tmp_path, max_bytes=count)  # at its bound, not over: nothing to delete
    tracemalloc.start()
    try:
        cache.prune()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(1 for p in tmp_path.rglob("*") if p.is_file()) == count
    assert peak < 100 * count, f"{peak / count:.0f} bytes a file"


def test_a_hint_this_run_changed_stays_its_hint_after_close(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.set_hint("r", "repo", "1", DIGEST)
    cache.close()
    assert cache.hint("r", "repo", "1") == DIGEST
    written = next(p for p in (tmp_path / "tags").rglob("*") if p.is_file()).stat().st_ino
    cache.close()  # nothing changed since: nothing written again
    assert next(p for p in (tmp_path / "tags").rglob("*") if p.is_file()).stat().st_ino == written


class _Untouchable:
    """A lock that fails the test when taken."""

    def __enter__(self) -> None:
        raise AssertionError("the cache's lock was taken")

    def __exit__(self, *exc: object) -> None:
        return None


def test_reads_writes_and_hints_take_no_lock_once_a_repositorys_hints_are_read(
    tmp_path: Path,
) -> None:
    """With 64 threads reading at once, a lock taken 22 times an alias was found held by a
    switched-out thread in a fifth of the attempts, and the queues behind it cost CPU. Only
    reading a repository's hints (once) and saving them lock."""
    other = b'{"schemaVersion":2,"other":1}'
    Cache(tmp_path).put(DIGEST, DATA)
    cache = Cache(tmp_path)
    assert cache.hint("r", "repo", "t") is None  # the repository's hints, read once
    cache._lock = _Untouchable()  # type: ignore[assignment]
    assert cache.get(DIGEST) == DATA  # from disk
    assert cache.get(DIGEST) == DATA  # from memory
    cache.put(digest_of(other), other)
    cache.set_hint("r", "repo", "t", DIGEST)
    assert cache.hint("r", "repo", "t") == DIGEST


def test_memory_keeps_the_most_recently_used_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("reconciler._registry.cache._MEMORY_ENTRIES", 2)
    cache = Cache(None)  # memory only: what is evicted is gone
    a, b, c = (b'{"n":%d}' % n for n in range(3))
    cache.put(digest_of(a), a)
    cache.put(digest_of(b), b)
    assert cache.get(digest_of(a)) == a  # a used after b: b is the oldest now
    cache.put(digest_of(c), c)
    assert [cache.get(digest_of(x)) for x in (a, b, c)] == [a, None, c]


def test_threads_sharing_a_cache_read_back_what_was_put_and_stay_within_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = 16
    monkeypatch.setattr("reconciler._registry.cache._MEMORY_ENTRIES", bound)
    blobs = [b'{"n":%d}' % n for n in range(64)]
    cache = Cache(tmp_path)
    wrong: list[bytes | None] = []

    def churn(offset: int) -> None:
        for round_ in range(50):
            data = blobs[(offset + round_) % len(blobs)]
            cache.put(digest_of(data), data)
            got = cache.get(digest_of(data))
            cache.set_hint("r", "repo", f"t{offset}", digest_of(data))
            if got != data:
                wrong.append(got)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert len(cache._memory) <= bound
    assert cache.hint("r", "repo", "t3") == digest_of(blobs[(3 + 49) % len(blobs)])


def test_a_cache_that_cannot_be_written_is_only_slower(tmp_path: Path) -> None:
    """Its root a file, not a directory: nothing is kept on disk, the run goes on."""
    root = tmp_path / "cache"
    root.write_bytes(b"not a directory")
    cache = Cache(root)
    cache.put(DIGEST, DATA)
    assert cache.get(DIGEST) == DATA  # from memory
    assert Cache(root).get(DIGEST) is None


def test_a_write_that_fails_halfway_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    Cache(tmp_path).put(DIGEST, DATA)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    assert Cache(tmp_path).get(DIGEST) is None
