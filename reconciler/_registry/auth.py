"""Registry authentication as an httpx challenge/response flow.

The handshake, as the distribution spec defines it:
  1. Send the request with whatever this registry accepted before (a token for the scope, or
     Basic credentials), or with nothing the first time.
  2. A 401 carries `WWW-Authenticate`: `Basic realm=...` or `Bearer realm,service,scope`, or
     several challenges (Harbor and Quay offer both), as separate headers or folded into one
     value. Each is parsed on its own; Bearer (with a realm) is preferred over Basic.
  3. Basic: resend with the credentials (ECR and htpasswd registries work this way).
  4. Bearer: GET the realm with `service` and `scope`, with Basic credentials or anonymously
     (or POST an OAuth2 refresh_token grant when the credentials are a docker identity
     token); the answer holds `token` (or `access_token`) and `expires_in`. The token service
     is retried like the registry (429 and 5xx, honouring Retry-After, and connection
     errors). Resend with the token.
  5. Tokens are cached per repository and action set, and reused until shortly before expiry.

Credentials are only ever put in an `Authorization` header: never in a URL, a log line or an
error. They are refused over plain HTTP unless the registry is marked insecure, and go only to
the registry's own scheme, host and port and to its token realm (`is_registry`). A refusal
says what was tried instead of what was sent (`refusal`, `_token_refusal`): no credentials
found and where they were looked for, credentials from where rejected by whom, or the token
service that refused them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from .._errors import AuthError, ProtocolError, RegistryError, TransportError
from .answer import Answer, HeaderView, read_at_most
from .challenge import Challenge, choose_challenge, parse_challenges
from .credentials import Credentials, CredentialSource, searched_by
from .failures import translated
from .retry import RETRYABLE_STATUS, RetryPolicy

__all__ = ["Attempts", "RegistryAuth", "scope_for", "scope_of"]

# /v2/<name>/manifests/<ref>, /blobs/<digest>, /blobs/uploads/[<session>], /tags/list and
# /referrers/<digest>. A name may itself hold a `tags`, `blobs` or `manifests` component
# (`org/tags/app`): the greedy <name> leaves only the last such segment to the API.
_REPO_PATH = re.compile(
    r"^/v2/(?P<name>.+)/"
    r"(?:manifests/[^/]+|blobs/uploads/[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)$"
)
_DEFAULT_TOKEN_TTL_S = 60
_EXPIRY_MARGIN_S = 10
_MAX_TOKEN_BODY = 1 << 20
_MAX_CHALLENGES = 2
_CLIENT_ID = "reconciler"  # OAuth2 `client_id`: any meaningful name (distribution's spec)


def scope_for(request: httpx.Request) -> str | None:
    """The token scope a request needs: `repository:<name>:pull` or `...:pull,push`, for the
    repository the request is for (`/v2/org/tags/app/tags/list` is for `org/tags/app`)."""
    return scope_of(request.method, request.url.path)


def scope_of(method: str, path: str) -> str | None:
    """`scope_for` of a request by its method and path (without the query)."""
    match = _REPO_PATH.match(path)
    if not match:
        return None
    actions = "pull" if method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match.group('name')}:{actions}"


# The Authorization header of each attempt of one request (None: none of the flow's), sent
# back the status and headers of its answer (see RegistryAuth.attempts).
Attempts = Generator[str | None, tuple[int, HeaderView], None]


@dataclass
class _Token:
    header: str  # `Bearer <token>`, built once and sent with every request of its scope
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
        origin: str | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`origin`: the registry's base URL, whose scheme, host and port alone get
        credentials (default: the host `registry`, either scheme). `retry`: the registry's
        policy, which the token service's answers go through too."""
        self._registry = registry
        self._origin = _scheme_host_port(httpx.URL(origin)) if origin else None
        self._retry = retry or RetryPolicy()
        self._source = credentials
        self._searched = searched_by(credentials)
        self._token_client = token_client
        self._allow_plain_http = allow_plain_http
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._uses_basic = False
        self._last_basic: tuple[Credentials, str] | None = None
        self._lock = threading.Lock()

    def is_registry(self, url: httpx.URL) -> bool:
        """Whether `url` is on the registry itself. Anywhere else (object storage behind a
        redirect or an upload `Location`, a pre-signed URL), whatever its path, gets no
        credentials: they go to the registry's scheme, host and port, and to its realm."""
        if self._origin is None:
            return url.netloc.decode("ascii") == self._registry
        return _scheme_host_port(url) == self._origin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.is_registry(request.url):
            yield request  # no credentials, and its challenges are not answered
            return
        given = request.headers.get("Authorization")
        attempts = self.attempts(request.url, scope_for(request), given)
        header = next(attempts)
        while True:
            if header is not None:
                request.headers["Authorization"] = header
            response = yield request
            try:
                header = attempts.send((response.status_code, response.headers))
            except StopIteration:
                return

    def attempts(self, url: httpx.URL, scope: str | None, sent: str | None = None) -> Attempts:
        """The flow of one request to the registry at `url` (only its scheme and host are
        read, for the plain-HTTP refusal), free of any HTTP library's types: yields the
        Authorization header to send (None: the request goes as it is, `sent` being what it
        carries), is sent back the answer's status and headers, and returns when that answer
        stands. Step 1 reuses what worked before for `scope`; each 401 whose challenge can be
        answered yields the answer (steps 2-4)."""
        sent = self._reused(url, scope) or sent
        status, headers = yield sent
        # At most: anonymous -> credentials -> refreshed credentials (an expired ECR token).
        for _ in range(_MAX_CHALLENGES):
            if status != 401:
                return
            # Each header line on its own: joined, two challenges would read as one.
            offered = parse_challenges(headers.get_list("www-authenticate"))
            challenge = choose_challenge(offered)
            answer = None if challenge is None else self._answer(challenge, url, scope, sent)
            if answer is None:
                return
            sent = answer
            status, headers = yield sent

    def _reused(self, url: httpx.URL, scope: str | None) -> str | None:
        """Step 1: reuse what worked before, without waiting for a challenge."""
        token = self._cached_token(scope)
        if token:
            return token
        if self._uses_basic:
            return self._basic(url, self._source())
        return None

    def _answer(
        self, challenge: Challenge, url: httpx.URL, scope: str | None, sent: str | None
    ) -> str | None:
        """Steps 2-4: the header to resend with; None when there is nothing new to try (the
        401 stands)."""
        if challenge.scheme == "basic":
            return self._answer_basic(url, sent)
        if challenge.scheme == "bearer" and "realm" in challenge.params:
            return self._fetch_token(challenge, scope)
        return None

    def _answer_basic(self, url: httpx.URL, sent: str | None) -> str | None:
        """Send Basic credentials; if these very credentials were just refused, ask the source
        for fresh ones once (ECR tokens expire) and give up when nothing changed."""
        refused = (sent or "").startswith("Basic ")
        before = self._source()
        credentials = self._source(refresh=True) if refused else before
        if credentials is None or (refused and credentials == before):
            return None
        self._uses_basic = True
        return self._basic(url, credentials)

    def _basic(self, url: httpx.URL, credentials: Credentials | None) -> str | None:
        if credentials is None:
            return None
        self._refuse_plain_http(url)
        known = self._last_basic  # the header of the credentials the source gave last
        if known is not None and known[0] is credentials:
            return known[1]
        header = _basic_header(credentials)
        self._last_basic = (credentials, header)
        return header

    def _refuse_plain_http(self, url: httpx.URL) -> None:
        if url.scheme == "http" and not self._allow_plain_http:
            raise AuthError(
                self._registry,
                f"refusing to send credentials over plain HTTP to {url.host}; "
                "mark the registry `insecure: true` if that is really intended",
            )

    def _cached_token(self, scope: str | None) -> str | None:
        """The `Bearer` header of a live token for `scope`."""
        if scope is None or not self._tokens:  # anonymous and Basic registries keep none
            return None
        with self._lock:
            # A pull,push token also serves pulls of the same repository. The actions follow
            # the last ':' (a name may be `pull`, or hold a registry's `:port`).
            for key in (scope, scope.rpartition(":")[0] + ":pull,push"):
                token = self._tokens.get(key)
                if token and token.expires_at > self._clock():
                    return token.header
        return None

    def _fetch_token(self, challenge: Challenge, scope: str | None) -> str:
        wanted = challenge.params.get("scope") or scope
        params = {"service": challenge.params.get("service", "")}
        if wanted:
            params["scope"] = wanted
        response = self._request_token(challenge.params["realm"], params)
        value, ttl = self._parse_token(response)
        header = f"Bearer {value}"
        if scope:
            with self._lock:
                self._tokens[scope] = _Token(header, self._clock() + ttl - _EXPIRY_MARGIN_S)
        return header

    def _request_token(self, realm: str, params: dict[str, str]) -> Answer:
        """Ask the token service, retried like a registry request by the same policy (429
        and 5xx answers, honouring Retry-After; connection errors). Its failure is final
        here: the registry request around it must not repeat the whole exchange."""
        url = self._realm_url(realm)
        credentials = self._source()
        what = f"token service {_host_port(url)}"
        try:
            return self._retry.run(
                what, lambda: self._exchange_token(self._token_request(url, params, credentials))
            )
        except TransportError as exc:
            if not exc.transient:
                raise  # a refused certificate: as it came, after one attempt
            raise _TokenServiceUnreachable(self._registry, exc.message) from None

    def _realm_url(self, realm: str) -> httpx.URL:
        """The challenge's realm as an absolute http(s) URL; anything else is the registry's
        mistake, which no retry can mend."""
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ProtocolError(self._registry, "the Bearer challenge names no usable token realm")
        return url

    def _token_request(
        self, url: httpx.URL, params: dict[str, str], credentials: Credentials | None
    ) -> httpx.Request:
        """GET with Basic credentials or none; an identity token is an OAuth2 refresh token
        (POST grant_type=refresh_token, as docker does for ACR and Harbor robot accounts)."""
        build = self._token_client.build_request
        if credentials is None:
            return build("GET", url, params=params)
        self._refuse_plain_http(url)
        if credentials.is_identity_token:
            form = {**params, "grant_type": "refresh_token", "client_id": _CLIENT_ID}
            return build("POST", url, data={**form, "refresh_token": credentials.secret})
        basic = {"Authorization": _basic_header(credentials)}
        return build("GET", url, params=params, headers=basic)

    def _exchange_token(self, request: httpx.Request) -> Answer:
        """One round trip to the token service, its answer read under a cap."""
        what = f"token service {_host_port(request.url)}"
        with translated(self._registry, what):
            response = self._token_client.send(request, stream=True)
            try:
                body = read_at_most(response, _MAX_TOKEN_BODY, self._registry, what)
            finally:
                response.close()
        return Answer(request.method, response.status_code, response.headers, body, response.url)

    def _parse_token(self, answer: Answer) -> tuple[str, int]:
        what = f"token service {_host_port(answer.url)}"
        if answer.status in (401, 403) or _refused_grant(answer):
            refused = self._token_refusal(_host_port(answer.url))
            raise AuthError(
                self._registry, f"{refused} (HTTP {answer.status})", status=answer.status
            )
        if answer.status in RETRYABLE_STATUS:
            # Already retried. No `status` on the error: nothing above retries it again.
            reason = "rate limited (HTTP 429)" if answer.status == 429 else f"HTTP {answer.status}"
            raise RegistryError(self._registry, f"{what} unavailable: {reason}")
        if answer.status != 200:
            raise ProtocolError(self._registry, f"{what} answered HTTP {answer.status}")
        try:
            doc = json.loads(answer.body)
            token = doc.get("token") or doc.get("access_token")
            ttl = int(doc.get("expires_in") or _DEFAULT_TOKEN_TTL_S)
        except (ValueError, AttributeError, TypeError):
            token, ttl = None, 0
        if not isinstance(token, str) or not token:
            raise ProtocolError(self._registry, f"{what}: answer has no token")
        return token, max(ttl, _EXPIRY_MARGIN_S + 1)

    def refusal(self, status: int, sent: str) -> str:
        """What a 401 or 403 from the registry refused, for its error: no credentials found
        (and where they were looked for), credentials from where, or credentials that were not
        sent; never what they are. `sent` is `Answer.authorization`: the scheme the refused
        request carried (a Bearer token counts as the credentials it was obtained with)."""
        credentials = self._source()
        if credentials is None:
            missing = self._missing()
            return missing if status == 401 else f"access denied without credentials: {missing}"
        who = _credentials_from(credentials)
        if status != 401:
            return f"access denied to {who}" if sent else "access denied"
        if not sent:  # a 401 offering no challenge the flow answers (Basic, Bearer with a realm)
            return f"{self._registry} offered no Basic or Bearer challenge; {who} were not sent"
        return f"{who} were rejected by {self._registry}"

    def _token_refusal(self, realm: str) -> str:
        service = f"the token service at {realm}"
        credentials = self._source()
        if credentials is None:
            return f"{self._missing()}, and {service} refused anonymous access"
        if credentials.is_identity_token:
            origin = f" from {credentials.origin}" if credentials.origin else ""
            return f"{service} refused the identity token{origin}"
        return f"{service} refused {_credentials_from(credentials)}"

    def _missing(self) -> str:
        where = f" in {self._searched}" if self._searched else ""
        return f"no credentials found for {self._registry}{where}"


class _TokenServiceUnreachable(TransportError):
    """The token service could not be reached, after the retries the policy allows."""

    transient = False  # retried already, by the same policy as the registry's requests


def _credentials_from(credentials: Credentials) -> str:
    """`credentials from <origin>`: where they came from, never what they are."""
    if credentials.origin:
        return f"credentials from {credentials.origin}"
    return "the configured credentials"


def _host_port(url: httpx.URL) -> str:
    """`host:port` (never the userinfo a realm URL might carry)."""
    return f"{url.host}:{url.port}" if url.port else url.host


def _scheme_host_port(url: httpx.URL) -> tuple[str, str, int]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _refused_grant(answer: Answer) -> bool:
    """An OAuth2 token endpoint refuses a bad password or refresh token with 400
    `invalid_grant` (RFC 6749 section 5.2), where the GET flow answers 401."""
    if answer.status != 400:
        return False
    try:
        return bool(json.loads(answer.body).get("error") == "invalid_grant")
    except (ValueError, AttributeError):
        return False
