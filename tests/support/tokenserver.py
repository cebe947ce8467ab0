"""A tiny Docker token-auth server ("Bearer realm=...") for registries started in tests.

It implements just enough of https://distribution.github.io/distribution/spec/auth/token/
for distribution 2.8: ``GET /token?service=S&scope=repository:NAME:pull,push`` with optional
Basic credentials, answering with an ES256 JWT whose header carries the self-signed
certificate in ``x5c``. The registry trusts that certificate through ``rootcertbundle`` and
checks ``iss``, ``aud`` (= service), ``exp``/``nbf`` (with 60 s leeway) and the ``access``
claim.

``POST /token`` is the OAuth2 flow of https://distribution.github.io/distribution/spec/auth/oauth/:
a form with ``grant_type`` (``password`` with ``username`` and ``password``, or
``refresh_token`` with ``refresh_token``), ``service`` and ``client_id`` (all three
required), optional ``scope`` and ``access_type=offline`` (which returns a refresh token).
Refresh tokens are what docker keeps as ``identitytoken``: `issue_refresh_token` makes one.
Refused grants answer 400 ``invalid_grant`` (RFC 6749 section 5.2).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

DEFAULT_SERVICE = "reconciler-test-registry"
DEFAULT_ISSUER = "reconciler-test-token-issuer"
ANONYMOUS_ACTIONS = frozenset({"pull"})


@dataclass(frozen=True)
class ResourceScope:
    """One parsed ``type:name:actions`` scope, e.g. ``repository:team/app:pull,push``."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ResourceScope:
        """Parse a scope; the name may itself contain ':' (e.g. a registry with a port)."""
        kind, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name:
            raise ValueError(f"malformed scope {text!r}")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, recorded whether or not it succeeded."""

    method: str
    service: str
    scopes: tuple[str, ...]
    username: str | None  # None for anonymous requests
    status: int
    grant_type: str | None = None  # POST only: "password" or "refresh_token"

    @property
    def scope(self) -> str:
        """All requested scopes joined by spaces (as in a Bearer challenge)."""
        return " ".join(self.scopes)


# Decides which of the requested actions a user (None = anonymous) gets on a resource.
Authorizer = Callable[[str | None, ResourceScope], Sequence[str]]


def default_authorizer(username: str | None, scope: ResourceScope) -> Sequence[str]:
    """Authenticated users get what they ask for; anonymous users may only pull."""
    if username is None:
        return [a for a in scope.actions if a in ANONYMOUS_ACTIONS]
    return list(scope.actions)


class TokenServer:
    """Threaded HTTP token server on 127.0.0.1; `start()` before starting the registry."""

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        allow_anonymous: bool = False,
        expires_in: int = 300,
        service: str = DEFAULT_SERVICE,
        issuer: str = DEFAULT_ISSUER,
        authorizer: Authorizer = default_authorizer,
    ) -> None:
        self.workdir = workdir
        # Public and mutable on purpose: tests may add users or shorten lifetimes mid-test.
        self.users: dict[str, str] = dict(users or {})
        self.allow_anonymous = allow_anonymous
        self.expires_in = expires_in
        self.service = service
        self.issuer = issuer
        self.authorizer = authorizer
        self.requests: list[TokenRequest] = []
        # Refresh token -> username; grants made with a refresh token act as that user.
        self.refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._cert_der = b""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TokenServer:
        """Generate the signing key and certificate, then serve in a daemon thread."""
        self._key = ec.generate_private_key(ec.SECP256R1())
        cert = _self_signed_cert(self._key, self.issuer)
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        httpd.daemon_threads = True
        cast(Any, httpd).token_server = self
        self._httpd = httpd
        # A short poll interval keeps stop() (which waits for one poll) from costing 0.5 s.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> TokenServer:
        return self if self._httpd is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and registry wiring ---------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (only valid after `start()`)."""
        if self._httpd is None:
            raise RuntimeError("token server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        """The token endpoint as advertised in the registry's Bearer challenge."""
        return f"{self.url}/token"

    @property
    def cert_path(self) -> Path:
        """PEM certificate the registry uses as ``rootcertbundle``."""
        return self.workdir / "token-signer.pem"

    def registry_auth_config(self) -> dict[str, str]:
        """The ``auth.token`` section for a distribution config trusting this server."""
        return {
            "realm": self.realm,
            "service": self.service,
            "issuer": self.issuer,
            "rootcertbundle": str(self.cert_path),
        }

    # -- tokens ----------------------------------------------------------------------------

    def issue_token(self, username: str | None, scopes: Sequence[str], service: str) -> str:
        """A signed JWT granting what the authorizer allows for each requested scope."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            "aud": service,
            "exp": now + self.expires_in,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [self._grant(username, ResourceScope.parse(s)) for s in scopes],
        }
        return self._sign(claims)

    def issue_refresh_token(self, username: str) -> str:
        """A new refresh token for `username` (docker's `identitytoken`), valid until the
        server stops or the test removes it from `refresh_tokens`."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.refresh_tokens[token] = username
        return token

    def tokens_for(self, scope: str) -> list[TokenRequest]:
        """Successful token requests that asked for exactly `scope` among their scopes."""
        return [r for r in self.requests if r.status == 200 and scope in r.scopes]

    def clear_requests(self) -> None:
        """Forget recorded token requests (e.g. between the phases of a test)."""
        with self._lock:
            self.requests.clear()

    def _grant(self, username: str | None, scope: ResourceScope) -> dict[str, Any]:
        actions = list(self.authorizer(username, scope))
        return {"type": scope.type, "name": scope.name, "actions": actions}

    def _sign(self, claims: dict[str, Any]) -> str:
        if self._key is None:
            raise RuntimeError("token server is not started")
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        # JWS wants the raw r||s form (32 bytes each for P-256), not DER.
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(raw)}"

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _check_credentials(self, username: str | None, password: str | None) -> bool:
        if username is None:
            return self.allow_anonymous
        return self.users.get(username) == password and password is not None


class _TokenHandler(BaseHTTPRequestHandler):
    """Serves GET and POST /token; everything else is 404."""

    server_version = "reconciler-test-token-server"

    @property
    def owner(self) -> TokenServer:
        return cast(TokenServer, cast(Any, self.server).token_server)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/token":
            self._send_json(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        username, password = _basic_credentials(self.headers.get("Authorization"))
        self._answer("GET", query, username, password)

    def do_POST(self) -> None:
        """OAuth2: the password grant (containerd-style clients) and the refresh_token grant
        (docker with an `identitytoken`)."""
        if urlsplit(self.path).path != "/token":
            self._send_json(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        grant = _first(form, "grant_type")
        missing = [
            name for name in ("grant_type", "service", "client_id") if not _first(form, name)
        ]
        if missing:
            self._refuse_post(form, grant, 400, "invalid_request", f"missing {', '.join(missing)}")
        elif grant == "password":
            self._grant_password(form)
        elif grant == "refresh_token":
            self._grant_refresh_token(form)
        else:
            self._refuse_post(form, grant, 400, "unsupported_grant_type", f"{grant!r}")

    def _grant_password(self, form: dict[str, list[str]]) -> None:
        username, password = _first(form, "username"), _first(form, "password")
        if username is None or not self.owner._check_credentials(username, password):
            self._refuse_post(form, "password", 400, "invalid_grant", "wrong username or password")
            return
        refresh = self.owner.issue_refresh_token(username) if _offline(form) else None
        self._answer("POST", form, username, password, grant_type="password", refresh=refresh)

    def _grant_refresh_token(self, form: dict[str, list[str]]) -> None:
        token = _first(form, "refresh_token") or ""
        with self.owner._lock:
            username = self.owner.refresh_tokens.get(token)
        if username is None:
            self._refuse_post(form, "refresh_token", 400, "invalid_grant", "unknown refresh token")
            return
        # The spec: a refresh_token grant with access_type=offline returns the same token.
        refresh = token if _offline(form) else None
        self._answer("POST", form, username, None, grant_type="refresh_token", refresh=refresh)

    def _refuse_post(
        self, form: dict[str, list[str]], grant: str | None, status: int, error: str, why: str
    ) -> None:
        owner = self.owner
        service = _first(form, "service") or owner.service
        scopes = tuple(s for value in form.get("scope", []) for s in value.split())
        owner._record(TokenRequest("POST", service, scopes, None, status, grant))
        self._send_json(status, {"error": error, "error_description": why})

    def _answer(
        self,
        method: str,
        params: dict[str, list[str]],
        username: str | None,
        password: str | None,
        *,
        grant_type: str | None = None,
        refresh: str | None = None,
    ) -> None:
        """Issue a token; `grant_type` marks an OAuth2 grant already checked by the caller."""
        owner = self.owner
        service = _first(params, "service") or owner.service
        # Clients send either several scope parameters or one space-separated list.
        scopes = tuple(s for value in params.get("scope", []) for s in value.split())
        if grant_type is None and not owner._check_credentials(username, password):
            owner._record(TokenRequest(method, service, scopes, username, 401))
            self._send_json(401, {"details": "incorrect username or password"}, challenge=True)
            return
        try:
            token = owner.issue_token(username, scopes, service)
        except ValueError as exc:
            owner._record(TokenRequest(method, service, scopes, username, 400, grant_type))
            self._send_json(400, {"details": str(exc)})
            return
        owner._record(TokenRequest(method, service, scopes, username, 200, grant_type))
        issued = dt.datetime.now(dt.UTC).isoformat()
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": owner.expires_in,
            "issued_at": issued,
        }
        if grant_type is not None:
            body["scope"] = " ".join(scopes)  # REQUIRED in the OAuth2 answer
        if refresh is not None:
            body["refresh_token"] = refresh
        self._send_json(200, body)

    def _send_json(self, status: int, body: dict[str, Any], *, challenge: bool = False) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="reconciler-test-token-server"')
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr logging; `TokenServer.requests` is the record."""


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) from a Basic Authorization header, or (None, None)."""
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None, None
    user, _, password = decoded.partition(":")
    return user, password


def _offline(form: dict[str, list[str]]) -> bool:
    return _first(form, "access_type") == "offline"


def _first(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    return values[0] if values else None


def _self_signed_cert(key: ec.EllipticCurvePrivateKey, issuer: str) -> x509.Certificate:
    """A CA-flagged self-signed certificate; Go verifies it as its own trust root."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())
