"""Tag listing for floating aliases and import, beyond `test_tag_pages.py`: the reference
registry ignores `n`, so its pagination can only be tested against a fake transport. Links are
followed exactly as the registry wrote them (ECR's opaque `last` tokens), only `rel="next"` among
several links counts, and unsorted pages (ECR) make no difference to what a track picks."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx
import pytest

from reconciler._errors import RegistryError
from reconciler._model.track import Track, candidates
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.retry import RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> RegistryClient:
    settings = ClientSettings("r.test", insecure=True)
    return RegistryClient(settings, StaticCredentials(None), transport=httpx.MockTransport(handler))


def paged(pages: Mapping[str, tuple[list[str] | None, str | None]], seen: list[str]) -> Handler:
    """A registry whose pages are keyed by the raw query after `last=` ('' for the first)."""

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        seen.append(query)
        last = next((p[5:] for p in query.split("&") if p.startswith("last=")), "")
        tags, link = pages[last]
        headers = {"link": link} if link else {}
        return httpx.Response(200, json={"name": "app", "tags": tags}, headers=headers)

    return handler


def test_the_first_page_asks_for_a_thousand_tags() -> None:
    seen: list[str] = []
    assert client(paged({"": (["a"], None)}, seen)).list_tags("app") == ["a"]
    assert seen == ["n=1000"]


def test_opaque_tokens_are_sent_back_exactly_as_given() -> None:
    token = "eyJlbmNyeXB0ZWREYXRhIjpb/Xy+Z=="  # ECR: base64 with '/', '+' and '='
    escaped = "ab%2Fcd%3D%3D"
    pages = {
        "": (["1"], f'</v2/app/tags/list?last={token}&n=100>; rel="next"'),
        token: (["2"], f'<http://r.test/v2/app/tags/list?last={escaped}>; rel="next"'),
        escaped: (["3"], None),
    }
    seen: list[str] = []
    assert client(paged(pages, seen)).list_tags("app") == ["1", "2", "3"]
    assert seen == ["n=1000", f"last={token}&n=100", f"last={escaped}"]


def test_only_the_next_link_is_followed_among_several() -> None:
    pages = {
        "": (
            ["1"],
            '</v2/app/tags/list?last=zero>; rel="prev", </v2/app/tags/list?last=b>; rel="next"',
        ),
        "b": (["2"], '<list?last=c>; title="page 3"; rel=next'),  # relative to the page's path
        "c": (["3"], '</v2/app/tags/list?last=b>; rel="prev"'),
    }
    seen: list[str] = []
    assert client(paged(pages, seen)).list_tags("app") == ["1", "2", "3"]
    assert seen == ["n=1000", "last=b", "last=c"]


def test_a_repository_without_tags_lists_none() -> None:
    seen: list[str] = []
    assert client(paged({"": (None, None)}, seen)).list_tags("app") == []


def test_unsorted_pages_pick_the_same_newest_tags() -> None:
    """ECR pages by 100, unsorted: order comes from the track, never from the listing."""
    tags = [f"10.{n}" for n in range(250)] + ["latest", "11.0"]
    shuffled = sorted(tags, key=lambda t: hash(t) % 997)
    pages: dict[str, tuple[list[str] | None, str | None]] = {}
    for i in range(0, len(shuffled), 100):
        key = "" if i == 0 else f"tok{i}"
        after = f"tok{i + 100}" if i + 100 < len(shuffled) else None
        link = f'</v2/app/tags/list?last={after}>; rel="next"' if after else None
        pages[key] = (shuffled[i : i + 100], link)
    seen: list[str] = []
    listed = client(paged(pages, seen)).list_tags("app")
    assert len(seen) == 3 and sorted(listed) == sorted(tags)
    assert candidates(Track("10.*"), listed)[:3] == ["10.249", "10.248", "10.247"]


@pytest.mark.parametrize("status", [401, 500])
def test_other_failures_are_errors(status: int) -> None:
    settings = ClientSettings("r.test", insecure=True, retry=RetryPolicy(attempts=1))
    transport = httpx.MockTransport(lambda r: httpx.Response(status))
    broken = RegistryClient(settings, StaticCredentials(None), transport=transport)
    with pytest.raises(RegistryError):
        broken.list_tags("app")
