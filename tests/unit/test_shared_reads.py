"""Shared reads of one observation: ReadOnce (the first caller reads, concurrent and later
callers share its outcome) and SharedReads (only the declared tags and tag lists are shared)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler._model.oci import OCI_MANIFEST, Manifest
from reconciler._pipeline.shared import ReadOnce, SharedReads
from reconciler._registry.interface import RegistryReader
from tests.support.fakeregistry import UnusedRegistry


def test_concurrent_callers_of_one_key_share_a_single_read() -> None:
    once: ReadOnce[str] = ReadOnce()
    calls: list[str] = []
    release = threading.Event()

    def read() -> str:
        calls.append("read")
        release.wait(5)
        return "value"

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(once.get, "k", read) for _ in range(8)]
        release.set()
        assert [f.result() for f in futures] == ["value"] * 8
    assert calls == ["read"]
    assert once.get("k", lambda: "other") == "value"
    assert once.get("other key", lambda: "other") == "other"


def test_none_is_an_answer_like_any_other() -> None:
    once: ReadOnce[str | None] = ReadOnce()
    assert once.get("k", lambda: None) is None
    assert once.get("k", lambda: "would be read again") is None


def test_a_failure_is_shared_not_read_again() -> None:
    once: ReadOnce[str] = ReadOnce()
    calls: list[int] = []

    def failing() -> str:
        calls.append(1)
        raise ValueError("gone")

    for _ in range(3):
        with pytest.raises(ValueError, match="gone"):
            once.get("k", failing)
    assert len(calls) == 1


def test_an_interrupted_read_is_not_shared() -> None:
    once: ReadOnce[str] = ReadOnce()

    def interrupted() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        once.get("k", interrupted)
    assert once.get("k", lambda: "read again") == "read again"


class CountingRegistry(UnusedRegistry):
    """Every tag holds the same image; counts each read."""

    def __init__(self, host: str = "localhost:5000") -> None:
        self.host = host
        self.reads: list[str] = []

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        self.reads.append(f"{self.host}/{repository}:{ref}")
        return Manifest(b"{}", OCI_MANIFEST, "sha256:" + "0" * 64)

    def list_tags(self, repository: str) -> list[str]:
        self.reads.append(f"{self.host}/{repository} tags")
        return ["1", "2"]


_: RegistryReader = CountingRegistry()
DIGEST = "sha256:" + "a" * 64


def test_only_declared_tags_are_read_once() -> None:
    registry = CountingRegistry()
    shared = SharedReads(lambda host: registry, tags=[("localhost:5000", "app", "latest")])
    for _ in range(3):
        shared("localhost:5000").manifest_at("app", "latest")
        shared("localhost:5000").manifest_at("app", "10")
    assert registry.reads == ["localhost:5000/app:latest"] + ["localhost:5000/app:10"] * 3


def test_a_repository_shared_whole_lists_once_and_reads_each_tag_once() -> None:
    registry = CountingRegistry()
    shared = SharedReads(lambda host: registry, repositories=[("localhost:5000", "app")])
    lists = [shared("localhost:5000").list_tags("app") for _ in range(3)]
    for tag in ["1", "2", "1", "2"]:
        shared("localhost:5000").manifest_at("app", tag)
    shared("localhost:5000").list_tags("other")
    assert registry.reads == [
        "localhost:5000/app tags", "localhost:5000/app:1", "localhost:5000/app:2",
        "localhost:5000/other tags",
    ]  # fmt: skip
    lists[0].append("3")  # each caller owns its list: one cannot change another's
    assert lists[1] == ["1", "2"]


def test_digests_are_never_shared_each_read_asks_the_registry() -> None:
    registry = CountingRegistry()
    shared = SharedReads(lambda host: registry, repositories=[("localhost:5000", "app")])
    shared("localhost:5000").manifest_at("app", DIGEST)
    shared("localhost:5000").manifest_at("app", DIGEST)
    assert registry.reads == [f"localhost:5000/app:{DIGEST}"] * 2


def test_the_same_repository_on_another_host_is_not_shared() -> None:
    here, there = CountingRegistry(), CountingRegistry("127.0.0.2:5000")
    by_host = {here.host: here, there.host: there}
    shared = SharedReads(by_host.__getitem__, tags=[("localhost:5000", "app", "latest")])
    assert shared("127.0.0.2:5000") is there  # nothing shared there: the reader itself
    for _ in range(2):
        shared("127.0.0.2:5000").manifest_at("app", "latest")
        shared("localhost:5000").manifest_at("app", "latest")
    assert there.reads == ["127.0.0.2:5000/app:latest"] * 2
    assert here.reads == ["localhost:5000/app:latest"]


def test_nothing_outlives_an_observation_the_next_one_reads_again() -> None:
    registry = CountingRegistry()
    declared = [("localhost:5000", "app", "latest")]
    for _ in range(2):
        shared = SharedReads(lambda host: registry, tags=declared)
        shared("localhost:5000").manifest_at("app", "latest")
        shared("localhost:5000").manifest_at("app", "latest")
    assert registry.reads == ["localhost:5000/app:latest"] * 2
