"""The incremental tag-list reader (registry/taglist.py): the same tags as `json.loads` for any
well-formed page cut into chunks anywhere, an error for any malformed one, and memory that
follows the tags rather than the page (GCR's per-image `manifest` map may be tens of MiB)."""

from __future__ import annotations

import itertools
import json
import random
import tracemalloc
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler._errors import ProtocolError
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import MAX_MANIFEST_BYTES, ClientSettings, RegistryClient
from reconciler._registry.taglist import MalformedTagList, TagListReader, read_tag_list


def read(page: bytes, cuts: list[int] | None = None) -> list[str]:
    """The tags of `page` fed in pieces cut at `cuts` (every byte alone by default)."""
    points = sorted(set(cuts)) if cuts is not None else list(range(1, len(page)))
    bounds = [0, *points, len(page)]
    reader = TagListReader()
    for start, end in itertools.pairwise(bounds):
        reader.feed(page[start:end])
    return reader.finish()


def gcr_page(images: int, tags: list[str], *, tags_first: bool = False) -> bytes:
    """A tag list as GCR and Artifact Registry answer it: per-image data beside `tags`."""
    manifest = {
        f"sha256:{n:064x}": {
            "imageSizeBytes": str(2_000_000 + n),
            "layerId": "",
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "tag": [tags[n]] if n < len(tags) else [],
            "timeCreatedMs": "1700000000000",
            "timeUploadedMs": "1700000000123",
        }
        for n in range(images)
    }
    doc: dict[str, Any] = {"child": [], "manifest": manifest, "name": "proj/app", "tags": tags}
    if tags_first:
        doc = {"tags": tags, **{k: v for k, v in doc.items() if k != "tags"}}
    return json.dumps(doc).encode()


# -- well-formed pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("tags_first", [False, True], ids=["tags-after", "tags-before"])
def test_tags_beside_a_large_manifest_map(tags_first: bool) -> None:
    tags = ["1.0", "1.1", "latest"]
    page = gcr_page(20_000, tags, tags_first=tags_first)
    assert len(page) > 4 << 20
    assert read_tag_list([page[i : i + 65536] for i in range(0, len(page), 65536)], 8 << 20) == tags
    assert read_tag_list([page], 8 << 20) == tags  # one chunk larger than the reader's window


@pytest.mark.parametrize(
    ("page", "tags"),
    [
        (b'{"tags": ["a\\"b", "c\\\\d", "\\u00e9t\\u00e9", "\\ud83d\\ude00"]}',
         ['a"b', "c\\d", "été", "\U0001f600"]),
        (b'{"\\u0074ags": ["escaped key"]}', ["escaped key"]),
        (b'{"tag": ["no"], "tags ": ["no"], "Tags": ["no"]}', []),
        (b'{"manifest": {"x": {"tags": ["nested"]}}, "child": [{"tags": ["no"]}], "tags": ["top"]}',
         ["top"]),
        (b'{"name": "tags", "tags": ["1"], "x": "\\"tags\\": [\\"fake\\"]"}', ["1"]),
        (b'{"tags": ["first"], "tags": ["last"]}', ["last"]),
        (b'{"tags": null}', []),
        (b"{}", []),
        (b' \r\n\t{ "tags" :\t[ ] } \n', []),
        (b'{"n": [-0.5e-3, 1E+2, 0, true, false, null, {}, []], "tags": ["x"]}', ["x"]),
        ('{"name": "é\u2028", "tags": ["ü"]}'.encode(), ["ü"]),
    ],
)  # fmt: skip
def test_escapes_nesting_and_edge_cases_read_as_json_loads_does(
    page: bytes, tags: list[str]
) -> None:
    assert (json.loads(page).get("tags") or []) == tags
    assert read(page, []) == tags
    assert read(page) == tags  # every byte a chunk of its own


def test_a_deeply_nested_value_is_skipped_without_recursion() -> None:
    deep = b'{"manifest": {"x": ' + b"[" * 50_000 + b"]" * 50_000 + b'}, "tags": ["ok"]}'
    assert read_tag_list([deep], 1 << 20) == ["ok"]


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=25,
    )


@st.composite
def pages(draw: st.DrawFn) -> bytes:
    """A top-level object with `tags` (a list, null or absent) anywhere among other keys,
    written with or without non-ASCII characters and with any spacing."""
    others = draw(st.dictionaries(st.text().filter(lambda k: k != "tags"), json_values(),
                                  max_size=5))  # fmt: skip
    pairs = list(others.items())
    tags = draw(st.none() | st.lists(st.text(max_size=30), max_size=8) | st.just("absent"))
    if tags != "absent":
        pairs.insert(draw(st.integers(0, len(pairs))), ("tags", tags))
    ascii_only = draw(st.booleans())
    space = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    items = [
        f"{json.dumps(k, ensure_ascii=ascii_only)}{space}:{space}"
        f"{json.dumps(v, ensure_ascii=ascii_only)}"
        for k, v in pairs
    ]
    return f"{space}{{{space}{f',{space}'.join(items)}{space}}}".encode()


@given(pages(), st.lists(st.integers(0, 10_000), max_size=12))
def test_any_page_cut_anywhere_gives_what_json_loads_gives(page: bytes, cuts: list[int]) -> None:
    expected = json.loads(page).get("tags") or []
    assert read(page, [c % (len(page) + 1) for c in cuts]) == expected


# -- malformed pages --------------------------------------------------------------------------

MALFORMED = [
    b"",
    b"[]",
    b'"tags"',
    b"null",
    b'{"tags": "1.0"}',
    b'{"tags": {"a": 1}}',
    b'{"tags": 1}',
    b'{"tags": [1]}',
    b'{"tags": [null]}',
    b'{"tags": [["a"]]}',
    b'{"tags": ["a",]}',
    b'{"tags": ["a"] "x": 1}',
    b'{"a" 1}',
    b'{"a": 1,}',
    b"{,}",
    b'{"a": [1}',
    b'{"a": {1: 2}}',
    b'{"tags": ["a"]',
    b'{"tags": ["a"]} {}',
    b'{"tags": ["a"]} x',
    b'{"a": tru}',
    b'{"a": True}',
    b'{"a": NaN}',
    b'{"manifest": {"x": Infinity}}',
    b'{"a": 01}',
    b'{"a": 1.}',
    b'{"a": -}',
    b'{"a": "\x01"}',
    b'{"a": "\\x41"}',
    b'{"a": "\\u12G4"}',
    b'{"a": "unterminated}',
    b'{"tags": ["\xff"]}',
    b'{"name": "\xc3"}',
]


@pytest.mark.parametrize("page", MALFORMED, ids=[repr(p)[:40] for p in MALFORMED])
def test_malformed_pages_are_refused(page: bytes) -> None:
    with pytest.raises(MalformedTagList):
        read(page, [])
    with pytest.raises(MalformedTagList):
        read(page)


@given(pages(), st.data())
def test_a_page_cut_short_is_refused(page: bytes, data: st.DataObject) -> None:
    end = len(page.rstrip())
    cut = data.draw(st.integers(0, end - 1))
    with pytest.raises(MalformedTagList):
        read(page[:cut], [len(page[:cut]) // 2])


def test_a_page_over_the_cap_is_refused() -> None:
    page = gcr_page(100, ["1"])
    assert read_tag_list([page], len(page)) == ["1"]
    with pytest.raises(MalformedTagList, match="larger than"):
        read_tag_list([page[:100], page[100:]], len(page) - 1)


def test_a_tag_too_long_to_be_one_is_refused() -> None:
    with pytest.raises(MalformedTagList, match="tag longer"):
        read(b'{"tags": ["' + b"a" * 5000 + b'"]}', [100, 2000, 4900])


# -- memory ------------------------------------------------------------------------------------


def test_memory_follows_the_tags_not_the_page() -> None:
    """A 7 MiB page, a GCR map and a 4 MiB string, read in network-sized chunks: the reader
    holds a small part of it at any time (a window of text), never a whole value."""
    rng = random.Random(7)
    noise = "".join(rng.choice('ab\\"é ') for _ in range(3 << 20))
    noise = noise.replace("\\", "\\\\").replace('"', '\\"')
    page = gcr_page(10_000, ["1.0", "2.0"])[:-1] + f', "blob": "{noise}"}}'.encode()
    assert json.loads(page)["tags"] == ["1.0", "2.0"] and len(page) > 7 << 20
    chunks = [page[i : i + 65536] for i in range(0, len(page), 65536)]
    tracemalloc.start()
    try:
        assert read_tag_list(chunks, 64 << 20) == ["1.0", "2.0"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"peak {peak} bytes for a {len(page)}-byte page"


# -- through the client ------------------------------------------------------------------------


def client_serving(page: bytes) -> RegistryClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=page, headers={"content-type": "application/json"})

    transport = httpx.MockTransport(handler)
    return RegistryClient(ClientSettings("gcr.test"), StaticCredentials(None), transport=transport)


def test_a_gcr_page_larger_than_the_manifest_cap_is_listed() -> None:
    page = gcr_page(20_000, ["10.1", "10.2"])
    assert len(page) > MAX_MANIFEST_BYTES  # refused as too large before the reader existed
    assert client_serving(page).list_tags("proj/app") == ["10.1", "10.2"]


def test_a_malformed_page_is_a_protocol_error_naming_the_repository() -> None:
    with pytest.raises(ProtocolError, match=r"^gcr\.test: proj/app: unreadable tag list"):
        client_serving(b'{"tags": ["1.0", 2]}').list_tags("proj/app")
