"""Docker Hub, as its documentation describes it, played by the test proxy in front of a
token-auth registry (the `token_registry` fixture and its `token_server`).

    with dockerhub(token_registry, token_server, remaining=40) as hub:
        config = {"registries": {"docker.io": {"endpoint": hub.proxy.url, "insecure": True}}}
        ...
        hub.pulls.remaining                    # 38 after two manifest GETs
        hub.auth.counts().by_method["GET"]     # token requests, on the realm's own host

The token realm answers on another loopback host (127.0.0.2), as auth.docker.io does beside
registry-1.docker.io: the registry's `WWW-Authenticate` realm is rewritten to a second proxy
bound there, in front of the token server. Everything stays on loopback.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.proxy import Fault, Proxy, ProxyAnswer, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.tokenserver import TokenServer
from tests.support.zoo import Behaviour, Zoo

__all__ = ["BEHAVIOURS", "PULL_LIMIT_BODY", "DockerHub", "PullBudget", "dockerhub"]

AUTH_ADDRESS = "127.0.0.2"  # auth.docker.io: not the API's host
LIMIT = 100
WINDOW_S = 21600  # six hours
_PULLS = "https://docs.docker.com/docker-hub/usage/pulls/"

BEHAVIOURS = (
    Behaviour(
        "the token realm is another host than the API (auth.docker.io beside"
        " registry-1.docker.io); the client follows the challenge's realm",
        "https://distribution.github.io/distribution/spec/auth/token/",
    ),
    Behaviour(
        "official images are `library/<name>`; a repository without a namespace does not"
        " exist (401 UNAUTHORIZED, as for any repository the token does not open)",
        "https://github.com/distribution/reference/blob/main/normalize.go",
    ),
    Behaviour(
        "`ratelimit-limit: 100;w=21600` and `ratelimit-remaining: N;w=21600` on manifest GET"
        " and HEAD answers",
        f"{_PULLS}#view-pull-rate-and-limit",
    ),
    Behaviour(
        "a manifest GET counts as a pull (remaining goes down by one); a HEAD does not",
        f"{_PULLS}#pull-definition",
    ),
    Behaviour(
        "a spent window answers manifest GETs with 429 TOOMANYREQUESTS, without Retry-After",
        f"{_PULLS}#view-pull-rate-and-limit",
    ),
)

PULL_LIMIT_BODY = json.dumps(
    {
        "errors": [
            {
                "code": "TOOMANYREQUESTS",
                "message": "You have reached your pull rate limit. You may increase the limit"
                " by authenticating and upgrading: https://www.docker.com/increase-rate-limits",
            }
        ]
    }
).encode()

_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/[^/?]+$")
_NAME = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")
_REALM = re.compile(r'realm="https?://[^/"]+')


@dataclass
class PullBudget:
    """The pulls left in the current window; every manifest GET served takes one."""

    limit: int = LIMIT
    remaining: int = LIMIT
    window_s: int = WINDOW_S
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> int | None:
        """One pull: the remaining count after it, or None when the window is spent."""
        with self._lock:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
            return self.remaining

    def left(self) -> int:
        with self._lock:
            return self.remaining

    def set(self, remaining: int) -> None:
        """Start a new window with `remaining` pulls left (0: spent)."""
        with self._lock:
            self.remaining = remaining

    def headers(self, remaining: int) -> list[tuple[str, str]]:
        return [
            ("ratelimit-limit", f"{self.limit};w={self.window_s}"),
            ("ratelimit-remaining", f"{remaining};w={self.window_s}"),
            ("docker-ratelimit-source", "127.0.0.1"),
        ]


@dataclass
class DockerHub(Zoo):
    """The running profile: `proxy` is registry-1.docker.io, `auth` is auth.docker.io."""

    auth: Proxy | None = None
    pulls: PullBudget = field(default_factory=PullBudget)


class _Hub:
    """The hooks: what Docker Hub does that the reference registry does not."""

    def __init__(self, pulls: PullBudget, realm_origin: str) -> None:
        self.pulls = pulls
        self.realm_origin = realm_origin

    def fault(self, request: ProxyRequest) -> Fault | None:
        match = _NAME.match(request.path)
        if match is None or "/" in match["name"]:
            return None
        challenge = (
            f'Bearer realm="{self.realm_origin}/token",service="registry.docker.io",'
            f'scope="repository:{match["name"]}:pull",error="insufficient_scope"'
        )
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return Fault.respond(
            401, headers=[("WWW-Authenticate", challenge)], body=json.dumps(body).encode()
        )

    def rewrite(self, request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        challenge = answer.header("www-authenticate")
        if answer.status == 401 and challenge:
            moved = _REALM.sub(f'realm="{self.realm_origin}', challenge)
            return answer.with_header("WWW-Authenticate", moved)
        if answer.status != 200 or not _MANIFEST.match(request.path.split("?", 1)[0]):
            return answer
        if request.method == "HEAD":
            return _with_headers(answer, self.pulls.headers(self.pulls.left()))
        left = self.pulls.take()
        if left is None:  # no Retry-After: the window resets hours later
            return ProxyAnswer(429, (("Content-Type", "application/json"),), PULL_LIMIT_BODY)
        return _with_headers(answer, self.pulls.headers(left))


def _with_headers(answer: ProxyAnswer, headers: list[tuple[str, str]]) -> ProxyAnswer:
    for name, value in headers:
        answer = answer.with_header(name, value)
    return answer


@contextmanager
def dockerhub(
    registry: RegistryProcess,
    token_server: TokenServer,
    *,
    limit: int = LIMIT,
    remaining: int | None = None,
    window_s: int = WINDOW_S,
) -> Iterator[DockerHub]:
    """Docker Hub in front of `registry`, a token-auth registry trusting `token_server`."""
    pulls = PullBudget(limit, limit if remaining is None else remaining, window_s)
    with start_proxy(token_server.url, address=AUTH_ADDRESS) as auth:
        hub = _Hub(pulls, auth.url)
        with start_proxy(registry.url, fault=hub.fault, rewrite=hub.rewrite) as proxy:
            yield DockerHub("dockerhub", proxy, BEHAVIOURS, auth=auth, pulls=pulls)
