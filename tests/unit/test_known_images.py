"""What the cache learned of single images (size and platform, by digest): kept per repository
between runs, merged with other runs', and never taken from a file that does not match its
checksum."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import httpx
import pytest

from reconciler._model.oci import OCI_MANIFEST, Descriptor, Manifest, Platform, digest_of
from reconciler._registry import images
from reconciler._registry.cache import Cache
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.images import ImageFacts
from tests.support.cachereads import record_cache_reads

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")
WINDOWS = Platform("windows", "amd64", os_version="10.0.17763.5830", os_features=("win32k",))
IMAGE = digest_of(b"image")
OTHER = digest_of(b"other")


def _images_file(root: Path) -> Path:
    [path] = list((root / "images").rglob("*.json"))
    return path


def test_what_a_run_learned_is_known_to_the_next(tmp_path: Path) -> None:
    earlier = Cache(tmp_path)
    earlier.learn_image("r", "repo", IMAGE, 528, ARM64)
    earlier.learn_image("r", "repo", OTHER, 1024, WINDOWS)
    earlier.close()
    later = Cache(tmp_path)
    assert later.image("r", "repo", IMAGE) == ImageFacts(528, ARM64)
    assert later.image("r", "repo", OTHER) == ImageFacts(1024, WINDOWS)
    assert later.image("r", "other-repo", IMAGE) is None  # kept by repository
    assert later.image("r", "repo", digest_of(b"never seen")) is None


def test_images_other_runs_learned_meanwhile_are_kept(tmp_path: Path) -> None:
    first, second = Cache(tmp_path), Cache(tmp_path)
    assert first.image("r", "repo", IMAGE) is None and second.image("r", "repo", IMAGE) is None
    first.learn_image("r", "repo", IMAGE, 528, ARM64)
    second.learn_image("r", "repo", OTHER, 700, AMD64)
    first.close()
    second.close()
    later = Cache(tmp_path)
    assert [later.image("r", "repo", d) for d in (IMAGE, OTHER)] == [
        ImageFacts(528, ARM64),
        ImageFacts(700, AMD64),
    ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.replace(b'"arm64"', b'"arm65"'),  # a flipped bit in a platform
        lambda data: data.replace(b"528", b"529"),  # ... in a size
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        lambda data: b"{not json",
    ],
    ids=["platform", "size", "truncated", "empty", "garbage"],
)
def test_a_file_that_does_not_match_its_checksum_is_ignored_whole(
    tmp_path: Path, damage: object
) -> None:
    earlier = Cache(tmp_path)
    earlier.learn_image("r", "repo", IMAGE, 528, ARM64)
    earlier.learn_image("r", "repo", OTHER, 700, AMD64)
    earlier.close()
    path = _images_file(tmp_path)
    damaged = damage(path.read_bytes())  # type: ignore[operator]
    assert damaged != path.read_bytes()
    path.write_bytes(damaged)
    later = Cache(tmp_path)
    assert [later.image("r", "repo", d) for d in (IMAGE, OTHER)] == [None, None]


@pytest.mark.parametrize(
    "row",
    [[-1, 0], [528, 1], [528], [528, 0, 0], ["528", 0], [True, 0], {"size": 528}, None],
    ids=["negative", "no-such-platform", "short", "long", "text", "bool", "object", "null"],
)
def test_a_malformed_image_is_left_out_and_the_others_kept(row: object) -> None:
    """A file whose checksum matches was written by some version of reconcile: what it says
    that this one cannot read is skipped, not trusted."""
    document = {"platforms": [AMD64.to_json()], "images": {IMAGE: [700, 0], OTHER: row}}
    body = json.dumps(document).encode()
    assert images.decode(digest_of(body).encode() + b"\n" + body) == {IMAGE: ImageFacts(700, AMD64)}


def test_only_digests_are_learned_and_found(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.learn_image("r", "repo", "latest", 528, ARM64)
    assert cache.image("r", "repo", "latest") is None
    cache.close()
    assert not (tmp_path / "images").exists()


def test_without_a_directory_images_are_known_for_the_run_only(tmp_path: Path) -> None:
    cache = Cache(None)
    cache.learn_image("r", "repo", IMAGE, 528, ARM64)
    assert cache.image("r", "repo", IMAGE) == ImageFacts(528, ARM64)
    cache.close()
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_learned_nothing_writes_nothing(tmp_path: Path) -> None:
    earlier = Cache(tmp_path)
    earlier.learn_image("r", "repo", IMAGE, 528, ARM64)
    earlier.close()
    written = _images_file(tmp_path).stat().st_mtime_ns
    later = Cache(tmp_path)
    later.learn_image("r", "repo", IMAGE, 528, ARM64)  # what it knew already
    later.close()
    assert _images_file(tmp_path).stat().st_mtime_ns == written


def test_beyond_the_bound_a_file_starts_again_from_what_the_run_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "MAX_IMAGES", 2)
    earlier = Cache(tmp_path)
    for n in range(2):
        earlier.learn_image("r", "repo", digest_of(b"%d" % n), 500 + n, AMD64)
    earlier.close()
    later = Cache(tmp_path)
    later.learn_image("r", "repo", IMAGE, 528, ARM64)
    later.close()
    kept = Cache(tmp_path)
    assert [kept.image("r", "repo", digest_of(b"%d" % n)) for n in range(2)] == [None, None]
    assert kept.image("r", "repo", IMAGE) == ImageFacts(528, ARM64)


def test_images_read_from_disk_are_held_in_about_sixty_bytes_each(tmp_path: Path) -> None:
    """A run of 10,000 aliases reads 20,000 sources' images and holds them to the end: a dict
    of digests and tuples was about 250 bytes an image."""
    count = 5000
    earlier = Cache(tmp_path)
    for n in range(count):
        earlier.learn_image("r", "repo", digest_of(b"%d" % n), 500 + n, (AMD64, ARM64)[n % 2])
    earlier.close()
    cache = Cache(tmp_path)
    tracemalloc.start()
    try:
        assert cache.image("r", "repo", digest_of(b"7")) == ImageFacts(507, ARM64)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held / count < 64, f"{held / count:.0f} bytes an image"


def test_a_deferred_manifest_reads_its_bytes_once_and_only_when_asked() -> None:
    raw = b'{"schemaVersion":2,"config":{"digest":"' + IMAGE.encode() + b'"}}'
    reads: list[str] = []

    def load() -> bytes:
        reads.append("read")
        return raw

    manifest = Manifest.deferred(OCI_MANIFEST, digest_of(raw), len(raw), load)
    assert manifest.descriptor().size == len(raw) and not manifest.is_read
    assert reads == []
    assert manifest.json["config"]["digest"] == IMAGE
    assert manifest.raw == raw and manifest.is_read
    assert reads == ["read"]
    assert manifest == Manifest(raw, OCI_MANIFEST, digest_of(raw))


# -- the client: a known image costs its HEAD and nothing else ------------------------------

CONFIG = b'{"architecture":"arm64","os":"linux","variant":"v8"}'
BODY = json.dumps(
    {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
     "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(CONFIG), "size": len(CONFIG)}, "layers": []}
).encode()  # fmt: skip


class Served:
    """A registry holding `app:1.0` (and its config), logging every request."""

    def __init__(self) -> None:
        self.tags = {"1.0": BODY}
        self.log: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(f"{request.method} {request.url.path.rsplit('/', 1)[1]}")
        ref = request.url.path.rsplit("/", 1)[1]
        body = self.tags.get(ref) or next(
            (b for b in self.tags.values() if digest_of(b) == ref), None
        )
        if body is None:
            return httpx.Response(404)
        headers = {"docker-content-digest": digest_of(body), "content-type": OCI_MANIFEST}
        return httpx.Response(200, content=b"" if request.method == "HEAD" else body,
                              headers={**headers, "content-length": str(len(body))})  # fmt: skip

    def client(self, cache: Cache) -> RegistryClient:
        return RegistryClient(ClientSettings("r.test", insecure=True), StaticCredentials(None),
                              cache=cache, transport=httpx.MockTransport(self))  # fmt: skip


def _learn(served: Served, root: Path) -> None:
    """An earlier run: reads app:1.0 and learns its platform."""
    cache = Cache(root)
    manifest = served.client(cache).manifest_at("app", "1.0")
    assert manifest is not None and manifest.is_read
    assert served.client(cache).image_platform("app", manifest, lambda: ARM64) == ARM64
    cache.close()
    served.log.clear()


def _unread() -> Platform:
    raise AssertionError("the config was read")


def test_a_known_image_is_one_head_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = Served()
    _learn(served, tmp_path)
    opened = record_cache_reads(monkeypatch)
    client = served.client(Cache(tmp_path))
    manifest = client.manifest_at("app", "1.0")
    assert manifest is not None and not manifest.is_read
    assert client.image_platform("app", manifest, _unread) == ARM64
    assert manifest.descriptor() == Descriptor(OCI_MANIFEST, digest_of(BODY), len(BODY))
    assert served.log == ["HEAD 1.0"]
    assert [Path(p).parent.parent.name for p in opened] == ["tags", "images"]  # no content


def test_a_known_image_s_bytes_come_from_the_cache_when_asked_for(tmp_path: Path) -> None:
    served = Served()
    _learn(served, tmp_path)
    manifest = served.client(Cache(tmp_path)).manifest_at("app", "1.0")
    assert manifest is not None and manifest.raw == BODY
    assert served.log == ["HEAD 1.0"]


def test_a_known_image_s_bytes_gone_from_the_cache_are_read_by_digest(tmp_path: Path) -> None:
    served = Served()
    _learn(served, tmp_path)
    for path in (tmp_path / "sha256").rglob("*"):
        if path.is_file():
            path.unlink()
    manifest = served.client(Cache(tmp_path)).manifest_at("app", "1.0")
    assert manifest is not None and manifest.raw == BODY
    assert served.log == ["HEAD 1.0", f"GET {digest_of(BODY)}"]


def test_a_tag_moved_to_another_image_is_read_and_its_config_asked(tmp_path: Path) -> None:
    served = Served()
    _learn(served, tmp_path)
    moved = json.dumps({**json.loads(BODY), "annotations": {"moved": "yes"}}).encode()
    served.tags["1.0"] = moved
    client = served.client(Cache(tmp_path))
    manifest = client.manifest_at("app", "1.0")
    assert manifest is not None and manifest.is_read and manifest.raw == moved
    assert served.log == ["HEAD 1.0", f"GET {digest_of(moved)}"]  # as many as before
    assert client.image_platform("app", manifest, lambda: AMD64) == AMD64
