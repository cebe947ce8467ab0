"""One parser for manifests and indexes (`types.parse_index`, `types.parse_image`,
`types.parse_config_platform`): the same bytes give the same answer to every reader.

Before, `lookup.entries_of` (inspect, resolve, import) and observe's `_entries` (the
reconciler) parsed indexes separately, and observe's `_image_platform` and `_copy_of` and
`lookup.image_platform` each read image manifests their own way. The tables record what each
reader did, so that every case whose outcome changed is written down ("ok": entries returned).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler._errors import ProtocolError
from reconciler._model.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    ImageManifest,
    Manifest,
    Platform,
    digest_of,
    index_annotations,
    parse_blobs,
    parse_config_platform,
    parse_image,
    parse_index,
)

from .factories import digest

D = digest("child")
MALFORMED = "malformed entry"
NO_LIST = "no `manifests` list"
NOT_OBJECT = "is not a JSON object"
CRASH = "AttributeError"  # an uncaught exception: an internal error, not an alias error


def entry(**changes: Any) -> dict[str, Any]:
    doc = {"mediaType": OCI_MANIFEST, "digest": D, "size": 5}
    doc["platform"] = {"os": "linux", "architecture": "amd64"}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def index(*entries: Any) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)})\
        .encode()  # fmt: skip


# (case, body, lookup.entries_of before, observe._entries before, now)
INDEX_CASES: list[tuple[str, bytes, str, str, str]] = [
    ("not JSON", b"nope", "ReconcileError: " + NOT_OBJECT, NOT_OBJECT, NOT_OBJECT),
    ("a JSON list", b"[]", "ReconcileError: " + NOT_OBJECT, NOT_OBJECT, NOT_OBJECT),
    ("no manifests", b"{}", NO_LIST, NO_LIST, NO_LIST),
    ("manifests an object", b'{"manifests": {}}', NO_LIST, NO_LIST, NO_LIST),
    ("an entry that is a string", index("x"), MALFORMED, CRASH, MALFORMED),
    ("an entry without mediaType", index(entry(mediaType=...)), MALFORMED, MALFORMED, MALFORMED),
    ("an entry without digest", index(entry(digest=...)), MALFORMED, MALFORMED, MALFORMED),
    ("an entry without size", index(entry(size=...)), MALFORMED, MALFORMED, MALFORMED),
    ("size 'abc'", index(entry(size="abc")), MALFORMED, MALFORMED, MALFORMED),
    ("size '5' (a string)", index(entry(size="5")), "ok", "ok", "ok"),
    ("digest sha256:abc", index(entry(digest="sha256:abc")), "ok", MALFORMED, MALFORMED),
    ("digest 5 (a number)", index(entry(digest=5)), "ok", MALFORMED, MALFORMED),
    ("annotations a list", index(entry(annotations=["a"])), MALFORMED, "ok", MALFORMED),
    ("annotations a string", index(entry(annotations="a")), MALFORMED, "ok", MALFORMED),
    ("annotations an empty list", index(entry(annotations=[])), "ok", "ok", "ok"),
    ("platform a string", index(entry(platform="linux/amd64")), "ok", "ok", "ok"),
    ("os.features 5", index(entry(platform={"os.features": 5})), MALFORMED, MALFORMED, MALFORMED),
]


def _outcome(call: Any) -> str:
    try:
        call()
    except ProtocolError as exc:
        return next(m for m in (MALFORMED, NO_LIST, NOT_OBJECT) if m in exc.message)
    return "ok"


@pytest.mark.parametrize(
    ("raw", "now"),
    [(raw, now) for _, raw, _, _, now in INDEX_CASES],
    ids=[c[0] for c in INDEX_CASES],
)
def test_index_cases(raw: bytes, now: str) -> None:
    manifest = Manifest(raw, OCI_INDEX, digest_of(raw))
    assert _outcome(lambda: parse_index(manifest, "r.test")) == now


def test_each_case_is_the_stricter_of_the_two_former_answers() -> None:
    for case, _, lookup, observe, now in INDEX_CASES:
        before = {lookup.removeprefix("ReconcileError: "), observe}
        assert now in before, case
        assert now == "ok" or before != {"ok"}, case


def test_an_index_parses_into_descriptors_and_errors_name_the_host() -> None:
    annotated = entry(annotations={"a": 1})
    raw = index(annotated)
    manifest = Manifest(raw, OCI_INDEX, digest_of(raw))
    assert parse_index(manifest, "r.test") == (
        Descriptor(OCI_MANIFEST, D, 5, Platform("linux", "amd64"), {"a": "1"}),
    )
    broken = Manifest(b"[]", OCI_INDEX, digest_of(b"[]"))
    with pytest.raises(ProtocolError) as caught:
        parse_index(broken, "r.test")
    assert str(caught.value) == f"r.test: manifest {digest_of(b'[]')} is not a JSON object"


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [({"k": "v", "n": 1}, {"k": "v", "n": "1"}), (["x"], {}), ("x", {}), (None, {})],
)
def test_an_index_s_own_annotations_are_read_leniently_as_before(
    annotations: object, expected: dict[str, str]
) -> None:
    raw = json.dumps({"manifests": [], "annotations": annotations}).encode()
    assert index_annotations(Manifest(raw, OCI_INDEX, digest_of(raw)), "r") == expected


def image(**changes: Any) -> bytes:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D, "size": 9}
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 3}
    doc: dict[str, Any] = {"schemaVersion": 2, "config": config, "layers": [layer]}
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def without(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != key}


NO_CONFIG = "has no config"
BLOBS = "lists malformed blobs"
OBSERVE_NO_CONFIG = "source 'src': manifest has no config"
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 3}
BAD_DIGEST = "sha256:abc"

# For a single image, the platform readers (observe's `_image_platform`, `lookup.image_platform`)
# need the config's digest, and observe's `_copy_of` the config's and layers' digests and
# sizes. (case, body, observe's platform before, lookup's platform before, copy before,
#  now: parse_image, now: parse_blobs)
IMAGE_CASES: list[tuple[str, bytes, str, str, str, str, str]] = [
    ("not JSON", b"nope", NOT_OBJECT, "ReconcileError: " + NOT_OBJECT, NOT_OBJECT, NOT_OBJECT,
     NOT_OBJECT),
    ("no config", image(config=...), OBSERVE_NO_CONFIG, "None", BLOBS, NO_CONFIG, BLOBS),
    ("config a string", image(config="x"), OBSERVE_NO_CONFIG, "None", BLOBS, NO_CONFIG, BLOBS),
    ("config digest 5", image(config={**CONFIG, "digest": 5}), OBSERVE_NO_CONFIG, "None", "ok",
     NO_CONFIG, BLOBS),
    ("config digest sha256:abc", image(config={**CONFIG, "digest": BAD_DIGEST}),
     "ok (the blob read fails)", "ok (the blob read fails)", "ok", NO_CONFIG, BLOBS),
    ("config without size", image(config=without(CONFIG, "size")), "ok", "ok", BLOBS, "ok",
     BLOBS),
    ("config without mediaType", image(config=without(CONFIG, "mediaType")), "ok", "ok", "ok",
     "ok", BLOBS),
    ("no layers", image(layers=...), "ok", "ok", "ok", "ok", "ok"),
    ("layers null", image(layers=None), "ok", "ok", BLOBS, "ok", BLOBS),
    ("a layer without size", image(layers=[{"mediaType": "x", "digest": D}]), "ok", "ok", BLOBS,
     "ok", BLOBS),
    ("a layer without mediaType", image(layers=[{"digest": D, "size": 1}]), "ok", "ok", "ok",
     "ok", BLOBS),
    ("a layer digest sha256:abc", image(layers=[{"mediaType": "x", "digest": BAD_DIGEST,
     "size": 1}]), "ok", "ok", "ok", "ok", BLOBS),
]  # fmt: skip


def _image_outcome(call: Any) -> str:
    try:
        call()
    except ProtocolError as exc:
        return next(m for m in (NO_CONFIG, BLOBS, NOT_OBJECT) if m in exc.message)
    return "ok"


@pytest.mark.parametrize(
    ("raw", "image_now", "blobs_now"),
    [(c[1], c[5], c[6]) for c in IMAGE_CASES],
    ids=[c[0] for c in IMAGE_CASES],
)
def test_image_cases(raw: bytes, image_now: str, blobs_now: str) -> None:
    manifest = Manifest(raw, OCI_MANIFEST, digest_of(raw))
    assert _image_outcome(lambda: parse_image(manifest, "r.test")) == image_now
    assert _image_outcome(lambda: parse_blobs(manifest, "r.test")) == blobs_now


def test_an_image_parses_into_its_config_and_blobs() -> None:
    manifest = Manifest(image(), OCI_MANIFEST, digest_of(image()))
    assert parse_image(manifest, "r") == ImageManifest(D)
    assert [(b.digest, b.size) for b in parse_blobs(manifest, "r")] == [(D, 3), (D, 9)]


# An image config: observe raised "source 'x': unreadable image config" (and still does),
# lookup answered None (and still does); an `os.features` that is not a list crashed both.
@pytest.mark.parametrize("raw", [b"nope", b"[]", b'{"os": "linux", "os.features": 5}'])
def test_an_unreadable_config_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^r\.test: image config sha256:\w+ is unreadable$"):
        parse_config_platform(raw, D, "r.test")


def test_a_config_names_its_platform() -> None:
    raw = b'{"os": "linux", "architecture": "arm", "variant": "v7"}'
    assert parse_config_platform(raw, D, "r") == Platform("linux", "arm", "v7")
