"""An httpx auth flow that answers registry challenges (Basic or Docker Bearer tokens).

Test helpers use it to talk to any of the test registries with one object; it is deliberately
independent of the `reconciler` package so that tests do not verify code with itself.
"""

from __future__ import annotations

import base64
import functools
import re
import ssl
from collections.abc import Generator

import httpx

# key="quoted value" or key=token pairs of a WWW-Authenticate challenge.
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx builds a fresh context (loading the CA bundle, ~45 ms) per client by default;
    # sharing one keeps the many short-lived test clients cheap.
    return ssl.create_default_context()


def loopback_client(
    base_url: str = "", auth: httpx.Auth | None = None, timeout: float = 15.0
) -> httpx.Client:
    """An httpx client that ignores proxy settings from the environment and starts fast."""
    return httpx.Client(
        base_url=base_url, auth=auth, timeout=timeout, trust_env=False, verify=_tls_context()
    )


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="...",service="..."`` into ("bearer", {realm:..., service:...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


def basic_header(username: str, password: str) -> str:
    """The value of a Basic Authorization header."""
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class RegistryAuth(httpx.Auth):
    """Answers 401 challenges: Basic with the credentials, Bearer by fetching a token.

    The last token is sent pre-emptively on later requests, like real clients do, so a
    push costs one token round trip rather than one per request.
    """

    requires_response_body = True

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username = username
        self.password = password
        self.token: str | None = None
        # Once a registry asked for Basic, keep sending it instead of collecting 401s.
        self.basic_known = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send, and on a 401 retry once with the challenged credentials."""
        if self.token is not None:
            request.headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic_known and self.username is not None:
            request.headers["Authorization"] = basic_header(self.username, self.password or "")
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.username is not None:
            self.basic_known = True
            request.headers["Authorization"] = basic_header(self.username, self.password or "")
        elif scheme == "bearer":
            token_response = yield self._token_request(params)
            if token_response.status_code != 200:
                return
            body = token_response.json()
            self.token = str(body.get("token") or body["access_token"])
            request.headers["Authorization"] = f"Bearer {self.token}"
        else:
            return
        yield request

    def _token_request(self, challenge: dict[str, str]) -> httpx.Request:
        params: dict[str, str] = {k: challenge[k] for k in ("service", "scope") if k in challenge}
        headers: dict[str, str] = {}
        if self.username is not None:
            headers["Authorization"] = basic_header(self.username, self.password or "")
        return httpx.Request("GET", challenge["realm"], params=params, headers=headers)
