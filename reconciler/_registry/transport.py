"""The HTTP transport under httpx's request and response types: urllib3's connection pool.

Why not httpx's own transport: a steady-state run is thousands of small HEAD requests, and on a
loaded 2-core machine the client's CPU per request decides the wall time; httpx.Client and
httpcore need more of it than urllib3 (BENCHMARKS.md, "How the client got here"). The registry
client sends through this transport directly, with its own auth flow, and keeps httpx's
request, response and exception types. The token service and blob storage go through an
httpx.Client on the same transport, so that every request takes the same proxy and TLS path.

What it does and does not do:
- keep-alive connections per origin (urllib3's pools), an idle connection the server closed
  meanwhile noticed before it is reused; nothing retried and no redirect followed here:
  retries are decided in one layer and redirects by the registry client;
- TLS with the caller's `ssl.SSLContext`; a certificate that fails verification raises
  `CertificateError`, a plain-HTTP answer to the TLS handshake `NotTlsError`;
- httpx's per-request timeouts (connect, then read; a request is written under the connect
  timeout, as urllib3 does);
- request bodies as bytes, or as iterators with a Content-Length or chunked encoding; an answer
  the server sends before it read the whole body (413, 401, 400 on an upload) is returned as
  the answer, not as a broken connection, and that connection is not used again;
- proxies from the environment, one decision per origin by `proxy_for` (httpx's rules);
- socket and protocol errors raised as the httpx exceptions httpx's own transport raises, so
  callers handle one family of errors. No HTTP/2.
"""

from __future__ import annotations

import ipaddress
import re
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.client import HTTPException, RemoteDisconnected
from typing import Any, cast

import httpx
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ProxySchemeUnknown,
    ReadTimeoutError,
)
from urllib3.util import SKIP_HEADER

__all__ = ["CertificateError", "NotTlsError", "RegistryTransport", "proxy_for"]

_READ_CHUNK = 64 << 10
_Origin = tuple[str, str, int]
# No retries, no redirects: both are decided above this layer.
_NO_RETRIES = urllib3.Retry(total=False, redirect=False)
# What OpenSSL says when the "TLS server" answered in plain HTTP ("HTTP/1.1 400 ...").
_PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})


class CertificateError(httpx.ConnectError):
    """The server's TLS certificate failed verification (a retry cannot fix that)."""


class NotTlsError(httpx.ConnectError):
    """The server answered the TLS handshake in plain HTTP: it is not an HTTPS endpoint."""


# -- proxies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    """One entry of httpx's proxy map (httpx._utils.URLPattern): scheme ("" = all), host
    ("" = any; "*x" = x and its subdomains; "*.x" = subdomains only) and port."""

    scheme: str
    host: str
    port: int | None
    target: str | None  # the proxy URL, or None for a direct connection

    @classmethod
    def parse(cls, pattern: str, target: str | None) -> _Pattern:
        url = httpx.URL(pattern)
        host = "" if url.host == "*" else url.host
        return cls("" if url.scheme == "all" else url.scheme, host, url.port, target)

    @property
    def priority(self) -> tuple[int, int, int]:
        return (0 if self.port is None else -1, -len(self.host), -len(self.scheme))

    def matches(self, url: httpx.URL) -> bool:
        if self.scheme and self.scheme != url.scheme:
            return False
        if self.host and not _host_matches(self.host, url.host):
            return False
        return self.port is None or self.port == url.port


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return re.fullmatch(rf".+\.{re.escape(pattern[2:])}", host) is not None
    if pattern.startswith("*"):
        return re.fullmatch(rf"(.+\.)?{re.escape(pattern[1:])}", host) is not None
    return host == pattern


def _environment_patterns() -> list[_Pattern]:
    """The proxy map httpx.Client(trust_env=True) builds (httpx._utils.get_environment_proxies),
    most specific first."""
    found = urllib.request.getproxies()
    patterns: list[_Pattern] = []
    for scheme in ("http", "https", "all"):
        proxy = found.get(scheme)
        if proxy:
            target = proxy if "://" in proxy else f"http://{proxy}"
            patterns.append(_Pattern.parse(f"{scheme}://", target))
    for entry in (host.strip() for host in found.get("no", "").split(",")):
        if entry == "*":
            return []
        if entry:
            patterns.append(_Pattern.parse(_no_proxy_pattern(entry), None))
    return sorted(patterns, key=lambda p: p.priority)


def _no_proxy_pattern(entry: str) -> str:
    if "://" in entry:
        return entry
    if _is_ip(entry.split("/")[0], ipaddress.IPv4Address):
        return f"all://{entry}"
    if _is_ip(entry, ipaddress.IPv6Address):
        return f"all://[{entry}]"
    if entry.lower() == "localhost":
        return f"all://{entry}"
    return f"all://*{entry}"


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def proxy_for(url: str | httpx.URL) -> str | None:
    """The proxy URL that `url` goes through, or None for a direct connection: the decision
    httpx.Client(trust_env=True) makes from HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY
    (lowercase forms first; NO_PROXY entries `host`, `host:port`, `.domain`, `*`, IP addresses
    and `scheme://host`)."""
    target = httpx.URL(url) if isinstance(url, str) else url
    for pattern in _environment_patterns():
        if pattern.matches(target):
            return pattern.target
    return None


# -- connections that notice an early answer ------------------------------------------------


class _EarlyAnswer(BrokenPipeError):
    """Raised while sending a body the server answered already; urllib3 then reads the answer,
    as it does when the server closed the connection after answering (a broken pipe)."""


class _Watched(HTTPConnection):
    """Stops sending a request body once the server has answered (RFC 9112, section 9.3): a
    plain connection with something to read before the next chunk, or any connection whose
    write failed (reset, closed, timed out) while an answer waits. The connection is then not
    used again: the body was not sent whole."""

    _sending_body = False
    _answered_early = False

    def connect(self) -> None:
        self._answered_early = False
        super().connect()

    def endheaders(self, message_body: Any = None, *, encode_chunked: bool = False) -> None:
        super().endheaders(message_body, encode_chunked=encode_chunked)
        self._sending_body = True

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._sending_body = False
        try:
            super().request(*args, **kwargs)
        finally:
            self._sending_body = False

    def send(self, data: Any) -> None:
        # TLS 1.3 session tickets make a fresh TLS socket readable: only plain ones are polled.
        if self._sending_body and not isinstance(self.sock, ssl.SSLSocket) and self._waiting():
            self._stop_sending()
        try:
            super().send(data)
        except OSError:  # ssl.SSLError and TimeoutError included
            if self._sending_body and self._waiting():
                self._stop_sending()
            raise

    @property
    def is_connected(self) -> bool:
        return not self._answered_early and super().is_connected

    def _waiting(self) -> bool:
        return self.sock is not None and _readable(self.sock)

    def _stop_sending(self) -> None:
        self._answered_early = True
        raise _EarlyAnswer("the server answered before the whole body was sent")


class _WatchedTls(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Watched


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedTls


_POOL_CLASSES = {"http": _Pool, "https": _TlsPool}


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


# -- the transport ------------------------------------------------------------------------------


class RegistryTransport(httpx.BaseTransport):
    """Thread-safe. `max_connections`: keep-alive connections kept per origin; set it to the
    number of requests in flight, or connections are closed and opened again all the time."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_connections: int = 4):
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_connections = max_connections
        self._direct: dict[_Origin, HTTPConnectionPool] = {}  # pools of origins reached directly
        self._proxies: dict[_Origin, urllib3.ProxyManager] = {}  # the others, by origin
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = _origin(url)
        try:
            pool, forward = self._pool(origin)
            answer = pool.urlopen(
                request.method,
                str(url) if forward else url.raw_path.decode("ascii"),
                body=_request_body(request),
                headers=_headers(request),
                retries=_NO_RETRIES,
                redirect=False,
                assert_same_host=False,
                timeout=_timeout(request),
                preload_content=False,
                decode_content=False,
            )
        except (HTTPError, ProxySchemeUnknown) as exc:
            raise _translated(exc, request) from None
        return httpx.Response(
            answer.status,
            headers=list(answer.headers.items()),
            stream=_AnswerStream(answer, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (answer.reason or "").encode(),
            },
        )

    def close(self) -> None:
        with self._lock:
            pools, self._direct = list(self._direct.values()), {}
            proxies, self._proxies = list(self._proxies.values()), {}
        for pool in pools:
            pool.close()
        for proxy in proxies:
            proxy.clear()

    def _pool(self, origin: _Origin) -> tuple[HTTPConnectionPool, bool]:
        """The pool for `origin`, and whether requests go to a forwarding proxy (plain HTTP
        through a proxy: the request line carries the absolute URL; HTTPS is tunnelled). The
        proxy decision is taken once per origin."""
        pool = self._direct.get(origin)
        if pool is not None:
            return pool, False
        scheme, host, port = origin
        with self._lock:
            if origin not in self._direct and origin not in self._proxies:
                self._route(origin)
            pool = self._direct.get(origin)
            manager = self._proxies.get(origin)
        if pool is not None:
            return pool, False
        assert manager is not None
        return manager.connection_from_host(host, port, scheme), scheme == "http"

    def _route(self, origin: _Origin) -> None:
        scheme, host, port = origin
        options: dict[str, Any] = {
            "maxsize": self._max_connections,
            "block": False,
            "retries": _NO_RETRIES,
        }
        proxy = proxy_for(httpx.URL(scheme=scheme, host=host, port=port))
        if proxy is None and scheme == "https":
            self._direct[origin] = _TlsPool(host, port, ssl_context=self._ssl_context, **options)
        elif proxy is None:
            self._direct[origin] = _Pool(host, port, **options)
        else:
            parsed = httpx.URL(proxy)
            headers = {}
            if parsed.username or parsed.password:
                auth = f"{parsed.username}:{parsed.password}"
                headers = urllib3.make_headers(proxy_basic_auth=auth)
            manager = urllib3.ProxyManager(
                str(parsed.copy_with(username=None, password=None)),
                proxy_headers=headers,
                proxy_ssl_context=self._ssl_context,
                ssl_context=self._ssl_context,
                **options,
            )
            manager.pool_classes_by_scheme = _POOL_CLASSES
            self._proxies[origin] = manager


class _AnswerStream(httpx.SyncByteStream):
    """The body of one answer; its connection goes back to the pool when the body was read to
    the end, and is closed otherwise (the rest of a body nobody wants is not read)."""

    def __init__(self, answer: urllib3.BaseHTTPResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._answer.stream(_READ_CHUNK, decode_content=False)
        except (HTTPError, OSError) as exc:
            raise _translated(exc, self._request, reading=True) from None

    def close(self) -> None:
        answer = self._answer
        if not answer.closed and answer.length_remaining == 0:
            answer.read()  # a HEAD or empty answer not iterated: finishing it frees the connection
        if not answer.closed:
            answer.close()
        answer.release_conn()


def _translated(
    exc: BaseException, request: httpx.Request, *, reading: bool = False
) -> httpx.TransportError:
    """urllib3's exception as the httpx one httpx's own transport raises for the same event."""
    cause = _cause(exc)
    if isinstance(exc, ProxySchemeUnknown):
        return httpx.ProxyError(f"unsupported proxy scheme {exc.scheme!r}", request=request)
    if isinstance(exc, ProxyError):
        return httpx.ProxyError(f"proxy failed: {_reason(cause)}", request=request)
    if isinstance(exc, ReadTimeoutError):
        return httpx.ReadTimeout("timed out reading the answer", request=request)
    if isinstance(cause, TimeoutError) and not isinstance(exc, NewConnectionError):
        if isinstance(exc, ConnectTimeoutError):
            return httpx.ConnectTimeout("timed out connecting", request=request)
        return httpx.WriteTimeout("timed out sending the request", request=request)
    if isinstance(cause, ssl.SSLError) and not reading:
        return _tls_error(cause, request)
    if isinstance(exc, NewConnectionError):
        return httpx.ConnectError(_reason(cause), request=request)
    if isinstance(cause, OSError) and str(cause).startswith("Tunnel connection failed"):
        return httpx.ProxyError(str(cause), request=request)
    if isinstance(cause, RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return httpx.RemoteProtocolError("server closed the connection", request=request)
    if isinstance(cause, HTTPException | ProtocolError):
        return httpx.RemoteProtocolError(_reason(cause), request=request)
    return httpx.ReadError(_reason(cause), request=request)


def _tls_error(cause: ssl.SSLError, request: httpx.Request) -> httpx.TransportError:
    if isinstance(cause, ssl.SSLCertVerificationError):
        return CertificateError(str(cause), request=request)
    if cause.reason in _PLAIN_HTTP_REASONS:
        return NotTlsError(str(cause), request=request)
    return httpx.ConnectError(str(cause), request=request)


def _cause(exc: BaseException) -> BaseException:
    """The socket, ssl or http.client exception under urllib3's wrappers."""
    while isinstance(exc, HTTPError):
        inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        inner = inner or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _request_body(request: httpx.Request) -> bytes | Iterable[bytes] | None:
    """Bodies in memory go in one piece; streams chunk by chunk as they come (urllib3 chunk-
    encodes them when httpx said Transfer-Encoding: chunked)."""
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream) or None
    return cast(Iterable[bytes], stream)


def _headers(request: httpx.Request) -> dict[str, str] | urllib3.HTTPHeaderDict:
    """The headers exactly as httpx built them, Host and framing included, and nothing else:
    what httpx's own transport sends. Left alone, urllib3 would add `User-Agent:
    python-urllib3/...` and http.client `Accept-Encoding: identity` to a request without
    them; urllib3's SKIP_HEADER marks those two as not to be added."""
    raw = request.headers.raw
    given = {name.lower() for name, _ in raw}
    skipped = {name: SKIP_HEADER for name in _ADDED_WHEN_MISSING if name.encode() not in given}
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
    if len(headers) == len(raw):
        return headers | skipped
    repeated = urllib3.HTTPHeaderDict(skipped)
    for name, value in raw:
        repeated.add(name.decode("latin-1"), value.decode("latin-1"))
    return repeated


_ADDED_WHEN_MISSING = ("user-agent", "accept-encoding")


def _origin(url: httpx.URL) -> _Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port


def _timeout(request: httpx.Request) -> urllib3.Timeout:
    timeouts = request.extensions.get("timeout") or {}
    return urllib3.Timeout(connect=timeouts.get("connect"), read=timeouts.get("read"))
