"""The HTTP transport under httpx's request and response types: urllib3's connection pool.

Why not httpx's own transport: a steady-state run is thousands of small HEAD requests, and on a
loaded 2-core machine the client's CPU per request decides the wall time; httpx.Client and
httpcore need more of it than urllib3 (BENCHMARKS.md, "How the client got here"). The registry
client sends through this transport directly, with its own auth flow, and keeps httpx's
exception types (and its request and response types where httpx.Client is used, below). The
token service and blob storage go through an
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
  callers handle one family of errors. No HTTP/2;
- answers' heads read as http.client reads them, the header fields without its email parser
  (`_QuickHead`; any unusual line and the head goes to that parser as before).

Two ways in: `handle_request`, httpx's, for the token service and storage (through an
httpx.Client) and the registry client's few streamed requests; and `send`, for the registry
client's many small ones: the same pools and guarantees without an httpx.Request or
httpx.Response per request (their URL parsing and header normalisation cost more CPU than
urllib3's own work), answering with a `Reply` whose headers are urllib3's, read in place.
`sender_for` gives any other httpx transport (unit tests' mocks) the same `send`.
"""

from __future__ import annotations

import email.parser
import http.client
import ipaddress
import re
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPException, HTTPMessage, RemoteDisconnected
from typing import Any, BinaryIO, Protocol, cast

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

__all__ = [
    "CertificateError",
    "NotTlsError",
    "Origin",
    "PooledReply",
    "RegistryTransport",
    "Reply",
    "ReplyHeaders",
    "Sender",
    "TlsContext",
    "origin_of",
    "proxy_for",
    "sender_for",
    "wire_timeout",
]

_READ_CHUNK = 64 << 10
Origin = tuple[str, str, int]  # scheme, host, port: what a pool serves
Body = bytes | Iterable[bytes] | None
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


# -- answers' heads, read without the email package ----------------------------------------------

_MAX_LINE = 65536  # http.client's limits: bytes in one header line, lines in one head
_MAX_HEADERS = 100
# One header field on one line: a token, a colon, the value up to the line's end (RFC 9112,
# section 5). Anything else (a folded line, a stray CR, a space before the colon) is left to
# the email package, as http.client leaves it.
_FIELD = re.compile(rb"([!-9;-~]+):[ \t]*([^\r\n]*)\r?\n")
_NO_BODY = frozenset({204, 304})


class _StockParts(Protocol):
    """What `_QuickHead` reuses of http.client.HTTPResponse as it is (not in its stubs)."""

    _method: str | None

    def _read_status(self) -> tuple[str, int, str]: ...

    def _check_close(self) -> bool: ...


class _QuickHead(http.client.HTTPResponse):
    """http.client's answer, its header fields read by `_header_fields` instead of the email
    package's parser, which costs more CPU than the rest of a small request together (a bare
    urllib3 loop pays it too). The rest is http.client's: the status line as it reads it, and
    the same framing decisions from the same fields (RFC 9112, section 6: chunked, else
    Content-Length; no body after HEAD, 1xx, 204 and 304; otherwise the body runs to the close)."""

    def begin(self) -> None:
        if self.headers is not None:
            return  # read already
        stock = cast(_StockParts, self)
        version, status, reason = stock._read_status()
        while status == http.client.CONTINUE:  # an interim answer: its head is skipped
            _head_lines(self.fp)
            version, status, reason = stock._read_status()
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = _header_fields(_head_lines(self.fp))
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding) and encoding.lower() == "chunked"
        if self.chunked:
            self.chunk_left = None
        self.will_close = stock._check_close()
        self.length = None if self.chunked else _length(self.headers.get("content-length"))
        if status in _NO_BODY or 100 <= status < 200 or stock._method == "HEAD":
            self.length = 0
        if self.length is None and not self.chunked:
            self.will_close = True  # the body ends where the connection does


def _head_lines(fp: BinaryIO) -> list[bytes]:
    """The header lines of a head, up to and including the blank line (b"" when the stream
    ended first), within http.client's limits."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def _header_fields(lines: list[bytes]) -> HTTPMessage:
    """The same HTTPMessage http.client's parser gives: every field as `name: value` on a line
    of its own is stored as its name and its value (leading blanks dropped, trailing ones
    kept, as the parser's compat32 policy does); a head with any other line goes to that
    parser whole."""
    message = HTTPMessage()
    for line in lines[:-1]:
        field = _FIELD.fullmatch(line)
        if field is None:
            text = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=HTTPMessage).parsestr(text)
        message.set_raw(field[1].decode("ascii"), field[2].decode("iso-8859-1"))
    return message


def _length(value: str | None) -> int | None:
    """Content-Length as http.client takes it: None when missing, not a number or negative."""
    if not value:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


class _Watched(HTTPConnection):
    """Stops sending a request body once the server has answered (RFC 9112, section 9.3): a
    plain connection with something to read before the next chunk, or any connection whose
    write failed (reset, closed, timed out) while an answer waits. The connection is then not
    used again: the body was not sent whole."""

    response_class = _QuickHead
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


# A TLS context, or the function that builds it when it is first needed.
TlsContext = ssl.SSLContext | Callable[[], ssl.SSLContext]


class RegistryTransport(httpx.BaseTransport):
    """Thread-safe. `max_connections`: keep-alive connections kept per origin; set it to the
    number of requests in flight, or connections are closed and opened again all the time."""

    def __init__(self, ssl_context: TlsContext | None = None, *, max_connections: int = 4):
        # Built when the first HTTPS origin is routed, if given as a function: a context
        # costs ~50 ms, which a registry reached over plain HTTP never needs.
        self._tls: TlsContext = ssl_context or ssl.create_default_context
        self._max_connections = max_connections
        self._direct: dict[Origin, HTTPConnectionPool] = {}  # pools of origins reached directly
        self._proxies: dict[Origin, urllib3.ProxyManager] = {}  # the others, by origin
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            reply = self.send(
                request.method,
                origin_of(url),
                url.raw_path.decode("ascii"),
                _headers(request),
                _request_body(request),
                _timeout(request),
                absolute=str(url),
            )
        except httpx.TransportError as exc:
            exc.request = request
            raise
        return httpx.Response(
            reply.status,
            headers=reply.headers.multi_items(),
            stream=_AnswerStream(reply),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": reply.reason.encode(),
            },
        )

    def send(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: Mapping[str, str],
        body: Body,
        timeout: urllib3.Timeout,
        *,
        absolute: str | None = None,
    ) -> PooledReply:
        """Send one request and read the answer's head; the body is the `Reply`'s to read.
        `target`: the path and query, already percent-encoded; `absolute`: the whole URL, for
        a forwarding proxy (default: built from `origin` and `target`). `headers` go out as
        given, Host included; urllib3 adds only the framing a body needs (Content-Length, or
        chunked encoding for an iterator without one), and User-Agent and Accept-Encoding
        when they are missing (`handle_request` marks those as not to be added)."""
        try:
            pool, forward = self._pool(origin)
            answer = pool.urlopen(
                method,
                (absolute or _absolute(origin, target)) if forward else target,
                body=body,
                headers=headers,
                retries=_NO_RETRIES,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
            )
        except (HTTPError, ProxySchemeUnknown) as exc:
            raise _translated(exc) from None
        return PooledReply(answer)

    def close(self) -> None:
        with self._lock:
            pools, self._direct = list(self._direct.values()), {}
            proxies, self._proxies = list(self._proxies.values()), {}
        for pool in pools:
            pool.close()
        for proxy in proxies:
            proxy.clear()

    def _pool(self, origin: Origin) -> tuple[HTTPConnectionPool, bool]:
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

    def _ssl_context(self) -> ssl.SSLContext:
        """The TLS context, built on first use (called under the lock)."""
        if not isinstance(self._tls, ssl.SSLContext):
            self._tls = self._tls()
        return self._tls

    def _route(self, origin: Origin) -> None:
        scheme, host, port = origin
        options: dict[str, Any] = {
            "maxsize": self._max_connections,
            "block": False,
            "retries": _NO_RETRIES,
        }
        proxy = proxy_for(httpx.URL(scheme=scheme, host=host, port=port))
        if proxy is None and scheme == "https":
            self._direct[origin] = _TlsPool(host, port, ssl_context=self._ssl_context(), **options)
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
                proxy_ssl_context=self._ssl_context(),
                ssl_context=self._ssl_context(),
                **options,
            )
            manager.pool_classes_by_scheme = _POOL_CLASSES
            self._proxies[origin] = manager


class ReplyHeaders:
    """urllib3's headers of one answer, read where they are, as httpx.Headers reads them:
    names case-insensitive, `get` joining a repeated field with ", ", `get_list` keeping its
    lines apart."""

    __slots__ = ("_fields",)

    def __init__(self, fields: urllib3.HTTPHeaderDict) -> None:
        self._fields = fields

    def get(self, key: str, default: Any = None) -> Any:
        return self._fields.get(key, default)

    def get_list(self, key: str, split_commas: bool = False) -> list[str]:
        values = self._fields.getlist(key)
        if not split_commas:
            return values
        return [item.strip() for value in values for item in value.split(",")]

    def __contains__(self, key: Any) -> bool:
        return key in self._fields

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._fields.items())


class Reply(Protocol):
    """An answer whose head was read: `iter_bytes` reads the body (decoded as httpx decodes
    a `Content-Encoding`), `close` frees the connection (back to the pool when the body was
    read to the end). Read errors are raised as httpx's exceptions."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> ReplyHeaders | httpx.Headers: ...

    def iter_bytes(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class Sender(Protocol):
    """What sends one request: `RegistryTransport.send`'s signature."""

    def send(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: Mapping[str, str],
        body: Body,
        timeout: urllib3.Timeout,
        *,
        absolute: str | None = None,
    ) -> Reply: ...


class PooledReply:
    """An answer urllib3 read the head of, its body still on the connection."""

    __slots__ = ("_answer", "headers", "reason", "status")

    def __init__(self, answer: urllib3.BaseHTTPResponse) -> None:
        self.status = answer.status
        self.reason = answer.reason or ""
        self.headers = ReplyHeaders(answer.headers)
        self._answer = answer

    def iter_bytes(self) -> Iterator[bytes]:
        if "content-encoding" not in self.headers:
            return self.iter_raw()
        # Rare (the registry client asks for `identity`): httpx's own decoders, as before.
        as_httpx = httpx.Response(
            self.status, headers=self.headers.multi_items(), stream=_AnswerStream(self)
        )
        return as_httpx.iter_bytes()

    def iter_raw(self) -> Iterator[bytes]:
        """The body as sent (never content-decoded)."""
        answer = self._answer
        try:
            remaining = answer.length_remaining
            if remaining is not None and remaining <= _READ_CHUNK:
                # A HEAD or a small body of known length: one read, which also gives the
                # connection back to the pool.
                data = answer.read(decode_content=False)
                if data:
                    yield data
                return
            yield from answer.stream(_READ_CHUNK, decode_content=False)
        except (HTTPError, OSError) as exc:
            raise _translated(exc, reading=True) from None

    def close(self) -> None:
        answer = self._answer
        if not answer.closed and answer.length_remaining == 0:
            answer.read()  # a HEAD or empty answer not iterated: finishing it frees the connection
        if not answer.closed:
            answer.close()
        answer.release_conn()


class _AnswerStream(httpx.SyncByteStream):
    """The body of one answer under httpx.Response: as sent (httpx decodes it); its connection
    goes back to the pool when the body was read to the end, and is closed otherwise (the
    rest of a body nobody wants is not read)."""

    def __init__(self, reply: PooledReply) -> None:
        self._reply = reply

    def __iter__(self) -> Iterator[bytes]:
        return self._reply.iter_raw()

    def close(self) -> None:
        self._reply.close()


class _HttpxSender:
    """Any httpx transport behind `Sender`: the request built as an httpx.Request, the answer
    read through httpx.Response (unit tests answer through httpx.MockTransport)."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def send(
        self,
        method: str,
        origin: Origin,
        target: str,
        headers: Mapping[str, str],
        body: Body,
        timeout: urllib3.Timeout,
        *,
        absolute: str | None = None,
    ) -> Reply:
        request = httpx.Request(
            method,
            absolute or _absolute(origin, target),
            headers=headers,
            content=body,
            extensions={"timeout": _httpx_timeout(timeout)},
        )
        response = self._transport.handle_request(request)
        response.request = request
        return _HttpxReply(response)


class _HttpxReply:
    __slots__ = ("_response",)

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self._response.headers

    def iter_bytes(self) -> Iterator[bytes]:
        return self._response.iter_bytes()

    def close(self) -> None:
        self._response.close()


def sender_for(transport: httpx.BaseTransport) -> Sender:
    """`transport` itself when it is a RegistryTransport, else an adapter with its `send`."""
    return transport if isinstance(transport, RegistryTransport) else _HttpxSender(transport)


def _translated(
    exc: BaseException, request: httpx.Request | None = None, *, reading: bool = False
) -> httpx.TransportError:
    """urllib3's exception as the httpx one httpx's own transport raises for the same event
    (httpx.Response and `handle_request` attach the request)."""
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


def _tls_error(cause: ssl.SSLError, request: httpx.Request | None) -> httpx.TransportError:
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


def origin_of(url: httpx.URL) -> Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port


def _absolute(origin: Origin, target: str) -> str:
    """The URL of `target` on `origin`, as httpx writes it (default port left out)."""
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}{target}" if port == default else f"{scheme}://{host}:{port}{target}"


def wire_timeout(timeouts: Mapping[str, float | None]) -> urllib3.Timeout:
    """httpx's timeouts (`httpx.Timeout.as_dict()`) as urllib3 takes them: connect, then read
    (a request is written under the connect timeout, as urllib3 does)."""
    return urllib3.Timeout(connect=timeouts.get("connect"), read=timeouts.get("read"))


def _timeout(request: httpx.Request) -> urllib3.Timeout:
    return wire_timeout(request.extensions.get("timeout") or {})


def _httpx_timeout(timeout: urllib3.Timeout) -> dict[str, float | None]:
    connect, read = timeout.connect_timeout, timeout.read_timeout
    seconds = [t if isinstance(t, float | int) else None for t in (connect, read)]
    return {"connect": seconds[0], "read": seconds[1], "write": seconds[0], "pool": seconds[0]}
