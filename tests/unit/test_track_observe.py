"""How observe reads a floating alias's tags, with a fake client: newest first, at most
`MAX_CANDIDATES` of them, skipping what is not an image, never the alias's own tag."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import pytest

from reconciler._errors import AliasError
from reconciler._model.oci import DOCKER_MANIFEST, Manifest, digest_of
from reconciler._model.track import MAX_CANDIDATES
from reconciler._pipeline.observe import observe_alias, resolve_track
from reconciler._registry.interface import Registry
from tests.support.fakeregistry import UnusedRegistry

from .factories import REPO, parse_dict


class FakeClient(UnusedRegistry):
    """Tags -> (os, arch) images; a tag mapped to None holds an artifact with no platform."""

    def __init__(self, tags: dict[str, tuple[str, str] | None]) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, Manifest] = {}
        for tag, platform in tags.items():
            config = json.dumps(
                {"os": platform[0], "architecture": platform[1]} if platform else {"name": tag}
            ).encode()
            self.blobs[digest_of(config)] = config
            raw = json.dumps(
                {"mediaType": DOCKER_MANIFEST, "config": {"digest": digest_of(config)}, "t": tag}
            ).encode()
            self.manifests[tag] = Manifest(raw, DOCKER_MANIFEST, digest_of(raw))
        self.read: list[str] = []
        self._lock = threading.Lock()

    def list_tags(self, repository: str) -> list[str]:
        return list(self.manifests)

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        with self._lock:
            self.read.append(ref)
        return self.manifests.get(ref)

    def get_blob(self, repository: str, digest: str) -> bytes:
        return self.blobs[digest]


if TYPE_CHECKING:
    _: Registry = FakeClient({})


def tracked(pattern: str = "10.*", tag: str = "10") -> Any:
    doc: dict[str, object] = {"repositories": {REPO: {"aliases": {tag: {"track": pattern}}}}}
    return parse_dict(doc).targets()[0]


def test_only_the_newest_matching_tags_are_read() -> None:
    tags: dict[str, tuple[str, str] | None] = {"10.0": ("linux", "arm64")}  # the oldest
    tags.update({f"10.{n}": ("linux", "amd64") for n in range(1, 60)})
    client = FakeClient(tags)
    resolved = resolve_track(client, tracked())
    assert len(client.read) == MAX_CANDIDATES == 50
    assert "10.0" not in client.read  # beyond the bound: its arm64 image is not seen
    assert [(r.source.tag, r.note) for r in resolved] == [
        ("10.59", "newest of 10.* for linux/amd64")
    ]


def test_tags_without_an_image_are_skipped() -> None:
    client = FakeClient({"10.1": ("linux", "amd64"), "10.2": None})
    resolved = resolve_track(client, tracked())
    assert [r.source.tag for r in resolved] == ["10.1"]


def test_the_alias_s_own_tag_is_not_read() -> None:
    client = FakeClient({"10": ("linux", "arm64"), "1.5": ("linux", "amd64")})
    resolve_track(client, tracked("1*", "10"))
    assert client.read == ["1.5"]


def test_nothing_to_track_is_an_alias_error() -> None:
    client = FakeClient({"9.1": ("linux", "amd64"), "10.5": None})
    with pytest.raises(AliasError, match=r"no tag of localhost:5000/my-image matching '10\.\*'"):
        resolve_track(client, tracked())


def test_observe_uses_the_track_for_a_floating_alias() -> None:
    client = FakeClient({"10.1": ("linux", "amd64"), "10.2": ("linux", "arm64")})
    observed = observe_alias(tracked(), lambda host: client)
    assert observed.error is None
    assert [r.source.tag for r in observed.sources] == ["10.1", "10.2"]
    assert observed.live is not None and observed.live.kind == "absent"
