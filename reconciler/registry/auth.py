"""Registry authentication as an httpx challenge/response flow.

The handshake, as the distribution spec defines it:
  1. Send the request with whatever this registry accepted before (a token for the scope, or
     Basic credentials), or with nothing the first time.
  2. A 401 carries `WWW-Authenticate`: `Basic realm=...` or `Bearer realm,service,scope`.
  3. Basic: resend with the credentials (ECR and htpasswd registries work this way).
  4. Bearer: GET the realm with `service` and `scope`, with Basic credentials or anonymously;
     the answer holds `token` (or `access_token`) and `expires_in`. Resend with the token.
  5. Tokens are cached per repository and action set, and reused until shortly before expiry.

Credentials are only ever put in an `Authorization` header: never in a URL, a log line or an
error. They are refused over plain HTTP unless the registry is marked insecure.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from ..errors import AuthError, ProtocolError, TransportError
from .credentials import Credentials, CredentialSource

__all__ = ["Challenge", "RegistryAuth", "parse_challenge", "scope_for"]

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags)/")
_DEFAULT_TOKEN_TTL_S = 60
_EXPIRY_MARGIN_S = 10
_MAX_TOKEN_BODY = 1 << 20
_MAX_CHALLENGES = 2


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lowercase
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse one `WWW-Authenticate` value. Scope values contain ':' and ',' inside quotes."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def scope_for(request: httpx.Request) -> str | None:
    """The token scope a request needs: `repository:<name>:pull` or `...:pull,push`."""
    match = _REPO_PATH.match(request.url.path)
    if not match:
        return None
    actions = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match.group('name')}:{actions}"


@dataclass
class _Token:
    value: str
    expires_at: float


class RegistryAuth(httpx.Auth):
    """Authenticates requests to one registry; safe to share between threads."""

    def __init__(
        self,
        registry: str,
        credentials: CredentialSource,
        *,
        token_client: httpx.Client,
        allow_plain_http: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._source = credentials
        self._token_client = token_client
        self._allow_plain_http = allow_plain_http
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._uses_basic = False
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = scope_for(request)
        self._authorize(request, scope)
        response = yield request
        # At most: anonymous -> credentials -> refreshed credentials (an expired ECR token).
        for _ in range(_MAX_CHALLENGES):
            if response.status_code != 401:
                return
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is None or not self._answer(challenge, request, scope):
                return
            response = yield request

    def _authorize(self, request: httpx.Request, scope: str | None) -> None:
        """Step 1: reuse what worked before, without waiting for a challenge."""
        token = self._cached_token(scope)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        elif self._uses_basic:
            self._set_basic(request, self._source())

    def _answer(self, challenge: Challenge, request: httpx.Request, scope: str | None) -> bool:
        """Steps 2-4; False when there is nothing new to try (the 401 stands)."""
        if challenge.scheme == "basic":
            return self._answer_basic(request)
        if challenge.scheme == "bearer" and "realm" in challenge.params:
            token = self._fetch_token(challenge, scope)
            request.headers["Authorization"] = f"Bearer {token}"
            return True
        return False

    def _answer_basic(self, request: httpx.Request) -> bool:
        """Send Basic credentials; if these very credentials were just refused, ask the source
        for fresh ones once (ECR tokens expire) and give up when nothing changed."""
        refused = request.headers.get("Authorization", "").startswith("Basic ")
        before = self._source()
        credentials = self._source(refresh=True) if refused else before
        if credentials is None or (refused and credentials == before):
            return False
        self._uses_basic = True
        self._set_basic(request, credentials)
        return True

    def _set_basic(self, request: httpx.Request, credentials: Credentials | None) -> None:
        if credentials is None:
            return
        self._refuse_plain_http(request.url)
        pair = f"{credentials.username}:{credentials.secret}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def _refuse_plain_http(self, url: httpx.URL) -> None:
        if url.scheme == "http" and not self._allow_plain_http:
            raise AuthError(
                self._registry,
                f"refusing to send credentials over plain HTTP to {url.host}; "
                "mark the registry `insecure: true` if that is really intended",
            )

    def _cached_token(self, scope: str | None) -> str | None:
        if scope is None:
            return None
        with self._lock:
            # A pull,push token also serves pulls of the same repository.
            for key in (scope, scope.replace(":pull", ":pull,push", 1)):
                token = self._tokens.get(key)
                if token and token.expires_at > self._clock():
                    return token.value
        return None

    def _fetch_token(self, challenge: Challenge, scope: str | None) -> str:
        wanted = challenge.params.get("scope") or scope
        params = {"service": challenge.params.get("service", "")}
        if wanted:
            params["scope"] = wanted
        response = self._request_token(challenge.params["realm"], params)
        value, ttl = self._parse_token(response)
        if scope:
            with self._lock:
                self._tokens[scope] = _Token(value, self._clock() + ttl - _EXPIRY_MARGIN_S)
        return value

    def _request_token(self, realm: str, params: dict[str, str]) -> httpx.Response:
        url = httpx.URL(realm)
        creds = self._source()
        try:
            if creds and creds.is_identity_token:
                self._refuse_plain_http(url)
                form = {**params, "grant_type": "refresh_token", "refresh_token": creds.secret}
                form["client_id"] = "reconciler"
                return self._token_client.post(url, data=form)
            if creds:
                self._refuse_plain_http(url)
                auth = httpx.BasicAuth(creds.username, creds.secret)
                return self._token_client.get(url, params=params, auth=auth)
            return self._token_client.get(url, params=params)
        except httpx.HTTPError as exc:
            raise TransportError(self._registry, f"token service {url.host}: {exc}") from None

    def _parse_token(self, response: httpx.Response) -> tuple[str, int]:
        if response.status_code in (401, 403):
            who = "the configured credentials" if self._source() else "anonymous access"
            raise AuthError(
                self._registry,
                f"token service refused {who} (HTTP {response.status_code})",
                status=response.status_code,
            )
        if response.status_code != 200 or len(response.content) > _MAX_TOKEN_BODY:
            raise ProtocolError(self._registry, f"token service answered {response.status_code}")
        try:
            doc = response.json()
            token = doc.get("token") or doc.get("access_token")
            ttl = int(doc.get("expires_in") or _DEFAULT_TOKEN_TTL_S)
        except (ValueError, AttributeError, TypeError):
            token, ttl = None, 0
        if not isinstance(token, str) or not token:
            raise ProtocolError(self._registry, "token service answer has no token")
        return token, max(ttl, _EXPIRY_MARGIN_S + 1)
