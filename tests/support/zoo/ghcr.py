"""GHCR (ghcr.io), as it behaves for public packages, played by the test proxy in front of a
token-auth registry (the `token_registry` fixture and its `token_server`).

    with ghcr(token_registry, token_server) as zoo:
        ...                                   # point the client at zoo.host, no credentials
        zoo.pages()                           # the tag-list requests, one per page served

- Public pulls are anonymous, yet still Bearer: the registry challenges, and the token service
  hands out pull tokens without credentials (the profile turns `allow_anonymous` on for its
  duration; pushes still need credentials).
- Tag lists come in pages of at most 100, whatever `n` asked, each with
  `Link: </v2/<name>/tags/list?last=X&n=100>; rel="next"` while more follow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from tests.support.proxy import LoggedExchange, ProxyAnswer, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.tokenserver import TokenServer
from tests.support.zoo import Behaviour, Zoo

__all__ = ["BEHAVIOURS", "PAGE", "Ghcr", "asked_last", "ghcr", "page_tags"]

PAGE = 100

BEHAVIOURS = (
    Behaviour(
        "public packages can be pulled anonymously",
        "https://docs.github.com/en/packages/learn-github-packages/"
        "configuring-a-packages-access-control-and-visibility",
    ),
    Behaviour(
        "an anonymous pull still answers 401 with a Bearer challenge; the token service gives"
        " a pull token without credentials",
        "https://github.com/krustlet/oci-distribution/issues/14",
    ),
    Behaviour(
        'tag lists are paged at 100 with `Link: <...?last=X&n=100>; rel="next"`; clients that'
        " do not follow the link miss every later tag",
        "https://github.com/argoproj-labs/argocd-image-updater/issues/1660",
    ),
)


@dataclass
class Ghcr(Zoo):
    """The running profile."""

    def pages(self) -> list[LoggedExchange]:
        """The tag-list requests answered so far, oldest first: one per page."""
        return [e for e in self.proxy.log() if e.kind == "tags" and e.method == "GET"]


def page_tags(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
    """The rewrite hook: a successful tag list keeps at most `PAGE` tags, in lexical order
    after the request's `last`, and links to the next page when there are more. The paging is
    the proxy's own: distribution 2.8 ignores `n` and `last` and lists every tag (a registry
    that honours them has done part of the work, and says so with its own `Link`)."""
    path, _, _ = request.path.partition("?")
    if request.method != "GET" or not path.endswith("/tags/list") or answer.status != 200:
        return answer
    doc = answer.json()
    last = asked_last(request.path)
    tags = sorted(t for t in doc.get("tags") or [] if last is None or t > last)
    more = len(tags) > PAGE or answer.header("link") is not None
    kept = {**doc, "tags": tags[:PAGE]}
    paged = answer.without_header("link")
    if more and kept["tags"]:
        target = f"{path}?last={quote(kept['tags'][-1])}&n={PAGE}"
        paged = paged.with_header("Link", f'<{target}>; rel="next"')
    return ProxyAnswer(paged.status, paged.headers, json.dumps(kept).encode())


def asked_last(request_path: str) -> str | None:
    """The `last` a tag-list request asked for (None on the first page)."""
    values = parse_qs(urlsplit(request_path).query).get("last")
    return values[0] if values else None


@contextmanager
def ghcr(registry: RegistryProcess, token_server: TokenServer) -> Iterator[Ghcr]:
    """GHCR in front of `registry`, a token-auth registry trusting `token_server`."""
    anonymous = token_server.allow_anonymous
    token_server.allow_anonymous = True  # public packages: pull tokens for anyone
    try:
        with start_proxy(registry.url, rewrite=page_tags) as proxy:
            yield Ghcr("ghcr", proxy, BEHAVIOURS)
    finally:
        token_server.allow_anonymous = anonymous
