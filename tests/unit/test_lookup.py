"""`reconcile inspect`: the manifest laid out as `docker manifest inspect` prints it."""

from __future__ import annotations

import json

import pytest

from reconciler._cli.lookup import entries_of, layout
from reconciler._errors import ProtocolError
from reconciler._model.oci import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, Manifest, digest_of

from .factories import digest


def manifest(doc: object, media_type: str) -> Manifest:
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return Manifest(raw, media_type, digest_of(raw))


def test_an_index_gets_docker_s_key_order_and_three_space_indent() -> None:
    entry = {
        "digest": digest("a"),
        "mediaType": DOCKER_MANIFEST,
        "platform": {"variant": "v8", "os": "linux", "architecture": "arm64"},
        "size": 423,
    }
    text = layout(
        manifest({"manifests": [entry], "mediaType": DOCKER_LIST, "schemaVersion": 2}, DOCKER_LIST)
    )
    assert text == (
        "{\n"
        '   "schemaVersion": 2,\n'
        f'   "mediaType": "{DOCKER_LIST}",\n'
        '   "manifests": [\n'
        "      {\n"
        f'         "mediaType": "{DOCKER_MANIFEST}",\n'
        '         "size": 423,\n'
        f'         "digest": "{digest("a")}",\n'
        '         "platform": {\n'
        '            "architecture": "arm64",\n'
        '            "os": "linux",\n'
        '            "variant": "v8"\n'
        "         }\n"
        "      }\n"
        "   ]\n"
        "}\n"
    )


def test_an_index_keeps_what_docker_would_drop() -> None:
    entry = {
        "mediaType": DOCKER_MANIFEST,
        "digest": digest("a"),
        "size": 1,
        "annotations": {"k": "v"},
    }
    doc = {"schemaVersion": 2, "manifests": [entry], "annotations": {"org.example": "x"}}
    shown = json.loads(layout(manifest(doc, OCI_INDEX)))
    assert shown == doc
    assert list(shown) == ["schemaVersion", "manifests", "annotations"]


def test_an_image_keeps_its_stored_order_indented_with_tabs() -> None:
    raw = (
        b'{"schemaVersion":2,"mediaType":"%s","config":{"size":1},"layers":[]}'
        % DOCKER_MANIFEST.encode()
    )
    text = layout(Manifest(raw, DOCKER_MANIFEST, digest_of(raw)))
    assert text.splitlines()[:3] == [
        "{",
        '\t"schemaVersion": 2,',
        f'\t"mediaType": "{DOCKER_MANIFEST}",',
    ]
    assert json.loads(text) == json.loads(raw)


@pytest.mark.parametrize(
    "doc",
    [
        {"schemaVersion": 2},
        {"manifests": [{"digest": "x"}]},
        {"manifests": [{"mediaType": "x", "digest": "y", "size": "z"}]},
    ],
)
def test_malformed_indexes_are_protocol_errors_naming_the_registry(doc: object) -> None:
    with pytest.raises(ProtocolError, match=r"^r\.example\.com: index sha256:"):
        entries_of(manifest(doc, OCI_INDEX), "r.example.com")
