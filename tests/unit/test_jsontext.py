"""`jsontext` writes what `json.dumps(indent=2)` writes, byte for byte: the index bytes (whose
digest names every index reconcile writes) and the JSON report depend on it."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler._model import jsontext
from reconciler._model.oci import OCI_INDEX, OCI_MANIFEST, Descriptor, Platform, digest_of
from reconciler._pipeline.desired import serialize

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and the infinities included: json.dumps spells them
    | st.text()  # quotes, backslashes, control characters, non-ASCII, surrogates
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)


@given(VALUES, st.booleans())
def test_the_same_text_as_json_dumps(value: Any, ensure_ascii: bool) -> None:
    expected = json.dumps(value, indent=2, ensure_ascii=ensure_ascii)
    assert jsontext.dumps(value, ensure_ascii=ensure_ascii) == expected


@given(st.dictionaries(KEYS, SCALARS, max_size=4))
def test_keys_that_are_not_strings_are_converted_as_json_dumps_converts_them(
    value: dict[Any, Any],
) -> None:
    assert jsontext.dumps(value) == json.dumps(value, indent=2)


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Mapping(dict[str, Any]):
    pass


def test_subclasses_are_written_as_their_base_types() -> None:
    value = Mapping(colour=Colour.RED, size=Size.BIG, nested=Mapping(), items=[Mapping(a=1)])
    assert jsontext.dumps({"v": value, "w": [Colour.RED]}) == json.dumps(
        {"v": value, "w": [Colour.RED]}, indent=2
    )


@pytest.mark.parametrize("value", [object(), {"a": {1, 2}}, [b"bytes"], {(1, 2): "tuple key"}])
def test_what_json_dumps_refuses_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, indent=2)
    with pytest.raises(TypeError):
        jsontext.dumps(value)


def test_write_indents_a_value_nested_in_a_document() -> None:
    """A value written at `pad` reads as it would inside a document at that depth."""
    value = {"a": [1, {"b": None}], "c": {}}
    out: list[str] = ['{\n  "x": ']
    jsontext.write(value, out, "  ", jsontext.escaper(True))
    out.append("\n}")
    assert "".join(out) == json.dumps({"x": value}, indent=2)


def test_index_bytes_keep_their_digest() -> None:
    """The bytes of an index, hence the digest of every index already written, are those of
    `json.dumps(indent=2, ensure_ascii=False)`: the digest was computed with it."""
    amd = "sha256:" + "a" * 64
    entries = [
        Descriptor(OCI_MANIFEST, amd, 1234, Platform("linux", "arm", "v7")),
        Descriptor(
            OCI_MANIFEST,
            "sha256:" + "b" * 64,
            99,
            Platform("windows", "amd64", "", "10.0.20348.2700", ("win32k",)),
        ),
        Descriptor(
            OCI_MANIFEST,
            "sha256:" + "c" * 64,
            5,
            Platform("unknown", "unknown"),
            {
                "vnd.docker.reference.type": "attestation-manifest",
                "vnd.docker.reference.digest": amd,
            },
        ),
    ]
    annotations = {"org.opencontainers.image.title": 'Grüße \u2028 "quoted" \\ tab\t', "a": "1"}
    raw = serialize(OCI_INDEX, entries, annotations)
    assert digest_of(raw) == (
        "sha256:06a3d25ff6d52aa897f3620e9719b620ef633940b37aeccba766efad8c4bb812"
    )
    assert raw == json.dumps(json.loads(raw), indent=2, ensure_ascii=False).encode()
