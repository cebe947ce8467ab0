"""Tag listing follows Link pagination (relative, absolute, opaque tokens) and stays on host."""

from __future__ import annotations

import httpx
import pytest

from reconciler._errors import ProtocolError
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient

PAGES = {
    "": (["1.0", "1.1"], '</v2/app/tags/list?n=1000&last=opaque%2Btoken>; rel="next"'),
    "opaque+token": (["2.0"], '<http://r.test/v2/app/tags/list?last=zzz&n=1000>; rel="next"'),
    "zzz": (["3.0"], None),
}


def client(handler: object) -> RegistryClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    return RegistryClient(ClientSettings("r.test", insecure=True), StaticCredentials(None),
                          transport=transport)  # fmt: skip


def test_pages_are_followed_to_the_end() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        last = request.url.params.get("last", "")
        seen.append(last)
        tags, link = PAGES[last]
        headers = {"link": link} if link else {}
        return httpx.Response(200, json={"name": "app", "tags": tags}, headers=headers)

    assert client(handler).list_tags("app") == ["1.0", "1.1", "2.0", "3.0"]
    assert seen == ["", "opaque+token", "zzz"]


def test_a_missing_repository_has_no_tags() -> None:
    assert client(lambda r: httpx.Response(404)).list_tags("app") == []


def test_a_next_page_on_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<http://evil.test/v2/app/tags/list?last=x>; rel="next"'
        return httpx.Response(200, json={"tags": ["1"]}, headers={"link": link})

    with pytest.raises(ProtocolError, match="another host"):
        client(handler).list_tags("app")
