"""Harbor and Quay: a 401 that offers Bearer and Basic side by side, played by the test proxy in
front of a token-auth registry (the `token_registry` fixture).

    with twochallenges(token_registry, order="basic-first") as zoo:
        ...                                   # point the client at zoo.host

Every 401 the registry sends (its own `Bearer realm=...,service=...,scope=...` challenge) is
relayed with a `Basic realm="..."` challenge beside it, in one of three layouts:

    bearer-first   two `WWW-Authenticate` headers, Bearer then Basic
    basic-first    two `WWW-Authenticate` headers, Basic then Bearer
    folded         one header holding both, comma-separated, Basic first (RFC 9110 allows it)

A client must answer the Bearer challenge (through the token service): the registry accepts
nothing else. One that mixes the two challenges' parameters asks a realm that is not a URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from tests.support.proxy import ProxyAnswer, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.zoo import Behaviour, Zoo

__all__ = ["BASIC_CHALLENGE", "BEHAVIOURS", "ORDERS", "Order", "both_challenges", "twochallenges"]

Order = Literal["bearer-first", "basic-first", "folded"]
ORDERS: tuple[Order, ...] = ("bearer-first", "basic-first", "folded")
BASIC_CHALLENGE = 'Basic realm="harbor"'

BEHAVIOURS = (
    Behaviour(
        "a 401 may offer several challenges, as separate WWW-Authenticate headers or folded"
        " into one comma-separated value; each is a challenge of its own",
        "https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1",
    ),
    Behaviour(
        "Harbor answers registry API requests with a Bearer (token service) or a Basic"
        " challenge, depending on the request; clients must tell the schemes apart",
        "https://github.com/goharbor/harbor/issues/18856",
    ),
    Behaviour(
        "the Bearer challenge names realm, service and scope; the client asks the realm for a"
        " token for that scope",
        "https://distribution.github.io/distribution/spec/auth/token/",
    ),
)


def both_challenges(order: Order) -> Callable[[ProxyRequest, ProxyAnswer], ProxyAnswer]:
    """The rewrite hook: every 401 carries the registry's Bearer challenge and a Basic one."""

    def rewrite(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        bearer = answer.header("www-authenticate")
        if answer.status != 401 or not bearer:
            return answer
        kept = answer.without_header("www-authenticate")
        if order == "folded":
            return kept.with_header("WWW-Authenticate", f"{BASIC_CHALLENGE}, {bearer}")
        pair = [("WWW-Authenticate", bearer), ("WWW-Authenticate", BASIC_CHALLENGE)]
        if order == "basic-first":
            pair.reverse()
        return ProxyAnswer(kept.status, (*kept.headers, *pair), kept.body)

    return rewrite


@contextmanager
def twochallenges(registry: RegistryProcess, *, order: Order = "bearer-first") -> Iterator[Zoo]:
    """Harbor/Quay-style challenges in front of `registry`, a token-auth registry."""
    with start_proxy(registry.url, rewrite=both_challenges(order)) as proxy:
        yield Zoo("twochallenges", proxy, BEHAVIOURS)
