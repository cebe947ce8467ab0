"""A small threaded HTTP/1.1 reverse proxy for tests and benchmarks, in front of one registry.

It counts what clients send (by method, and by method and path kind), can add a fixed latency
to every request, and can inject faults chosen per request by a hook::

    with start_proxy(registry.url, latency=0.020) as proxy:
        ...                                   # point the client at proxy.host / proxy.url
        proxy.counts().by_method              # {"HEAD": 3, "GET": 1}
        proxy.fault = lambda r: Fault.respond(503) if r.number == 1 else None
        proxy.rewrite = lambda r, a: a.with_header("ratelimit-remaining", "99;w=21600")

`fault` decides before anything is forwarded; `rewrite` edits the registry's answer (status,
headers, body) before it is relayed, which is how the registry zoo (tests/support/zoo/) makes
the reference registry answer as Docker Hub, ECR or GCR document.

Keep-alive works on both sides: each client connection gets its own handler thread, and each
handler thread its own upstream connection, so N client connections map to at most N upstream
ones. Bodies are streamed in both directions (chunked requests are re-chunked), headers are
passed through unchanged except the hop-by-hop ones, and the client's `Host` is kept, so a
registry builds `Location` URLs that point back at the proxy (absolute upstream URLs are
rewritten as a fallback).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import socket
import struct
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "WRITE_METHODS",
    "Fault",
    "FaultHook",
    "LoggedExchange",
    "PathKind",
    "Proxy",
    "ProxyAnswer",
    "ProxyCounts",
    "ProxyRequest",
    "RewriteHook",
    "path_kind",
    "start_proxy",
]

PathKind = Literal["manifests", "blobs", "tags", "other"]
FaultAction = Literal["respond", "reset", "delay", "truncate"]

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
IDLE_TIMEOUT_S = 120.0  # a client connection idle this long is closed
UPSTREAM_TIMEOUT_S = 60.0
LOG_LIMIT = 200_000  # exchanges kept for `log()`; older ones are dropped
_BUFFER_LIMIT = 4 << 20  # request bodies up to this size are buffered, so a retry is possible
_PIECE = 64 << 10
# Headers for one hop only (RFC 9110, section 7.6.1), never passed on by either test proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# This proxy answers `Expect: 100-continue` itself, so it does not pass that on either.
_HOP_BY_HOP = HOP_BY_HOP | {"expect"}
# The last /manifests/, /blobs/ or /tags/ segment after /v2/<name>: names may contain slashes.
_KIND = re.compile(r"^/v2/.+/(manifests|blobs|tags)/")
_KINDS: dict[str, PathKind] = {"manifests": "manifests", "blobs": "blobs", "tags": "tags"}


def path_kind(path: str) -> PathKind:
    """Which API a request path belongs to: manifests, blobs (uploads too), tags or other."""
    match = _KIND.match(path.split("?", 1)[0])
    return _KINDS[match.group(1)] if match else "other"


@dataclass(frozen=True)
class ProxyRequest:
    """What a fault hook sees: one request, before anything is forwarded."""

    number: int  # 1 for the first request this proxy received, counting on across resets
    method: str
    path: str  # the request target as sent, query included
    headers: tuple[tuple[str, str], ...]

    @property
    def kind(self) -> PathKind:
        return path_kind(self.path)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or on top of) forwarding a request; build with the classmethods."""

    action: FaultAction
    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    seconds: float = 0.0
    after_bytes: int = 0

    @classmethod
    def respond(cls, status: int, *, headers: Headers | None = None, body: bytes = b"") -> Fault:
        """Answer with `status` (e.g. 503, or 429 with ``{"Retry-After": "1"}``) without
        forwarding; the connection stays usable. `headers` may be a list of pairs, to send one
        header several times (two `WWW-Authenticate` challenges)."""
        return cls("respond", status=status, headers=_pairs(headers), body=body)

    @classmethod
    def reset(cls) -> Fault:
        """Reset the client connection (TCP RST) without answering."""
        return cls("reset")

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait `seconds` (on top of the proxy's latency), then forward normally."""
        return cls("delay", seconds=seconds)

    @classmethod
    def truncate(cls, after_bytes: int) -> Fault:
        """Forward, send the full headers but only the first `after_bytes` of the body, then
        close the connection."""
        return cls("truncate", after_bytes=after_bytes)


FaultHook = Callable[[ProxyRequest], Fault | None]


@dataclass(frozen=True)
class ProxyAnswer:
    """The registry's answer to one request, as a rewrite hook sees and returns it. For a HEAD
    the body is empty and `Content-Length` is kept as the registry sent it; otherwise the
    proxy sets `Content-Length` from the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def without_header(self, name: str) -> ProxyAnswer:
        wanted = name.lower()
        kept = tuple((k, v) for k, v in self.headers if k.lower() != wanted)
        return replace(self, headers=kept)

    def with_header(self, name: str, value: str) -> ProxyAnswer:
        """This answer with `name: value` replacing any earlier value of that header."""
        cut = self.without_header(name)
        return replace(cut, headers=(*cut.headers, (name, value)))

    def json(self) -> Any:
        return json.loads(self.body)


# Edits the registry's answer before it is relayed; returning the answer unchanged is fine.
RewriteHook = Callable[[ProxyRequest, ProxyAnswer], ProxyAnswer]
Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def _pairs(headers: Headers | None) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return tuple(headers.items())
    return tuple(headers)


@dataclass(frozen=True)
class LoggedExchange:
    """One request as the proxy handled it; `status` is 0 for a reset connection."""

    method: str
    path: str
    status: int
    fault: FaultAction | None

    @property
    def kind(self) -> PathKind:
        return path_kind(self.path)


@dataclass(frozen=True)
class ProxyCounts:
    """A snapshot of the counters: requests received, by method and by (method, path kind)."""

    by_method: Mapping[str, int]
    by_kind: Mapping[tuple[str, PathKind], int]
    by_status: Mapping[int, int]
    faults: int

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    @property
    def writes(self) -> int:
        """Requests with PUT, POST, PATCH or DELETE."""
        return sum(n for method, n in self.by_method.items() if method in WRITE_METHODS)

    def of(self, method: str, kind: PathKind) -> int:
        return self.by_kind.get((method, kind), 0)


class _State:
    """Everything the handler threads share, behind one lock."""

    def __init__(
        self,
        upstream: str,
        latency: float,
        fault: FaultHook | None,
        rewrite: RewriteHook | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_origin = f"http://{parts.netloc}"
        self.upstream_addr = (parts.hostname, parts.port or 80)
        self.proxy_origin = ""  # set once the port is known
        self.latency = latency
        self.fault = fault
        self.rewrite = rewrite
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.number = 0
        self.by_method: Counter[str] = Counter()
        self.by_kind: Counter[tuple[str, PathKind]] = Counter()
        self.by_status: Counter[int] = Counter()
        self.faults = 0
        self.exchanges: deque[LoggedExchange] = deque(maxlen=LOG_LIMIT)
        self.connections: set[socket.socket] = set()
        self.hook_errors: list[BaseException] = []

    def received(self, method: str, path: str, headers: Iterable[tuple[str, str]]) -> ProxyRequest:
        with self.lock:
            self.number += 1
            self.by_method[method] += 1
            self.by_kind[(method, path_kind(path))] += 1
            return ProxyRequest(self.number, method, path, tuple(headers))

    def answered(self, request: ProxyRequest, status: int, fault: Fault | None) -> None:
        action = fault.action if fault is not None else None
        with self.lock:
            self.by_status[status] += 1
            self.faults += fault is not None
            self.exchanges.append(LoggedExchange(request.method, request.path, status, action))

    def choose_fault(self, request: ProxyRequest) -> Fault | None:
        hook = self.fault
        if hook is None:
            return None
        try:
            return hook(request)
        except Exception as exc:  # a broken hook answers 500 and is kept for the test to see
            with self.lock:
                self.hook_errors.append(exc)
            return Fault.respond(500, body=b"fault hook failed\n")

    def rewritten(self, request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        hook = self.rewrite
        if hook is None:
            return answer
        try:
            return hook(request, answer)
        except Exception as exc:  # as for fault hooks: a 500, kept for the test to see
            with self.lock:
                self.hook_errors.append(exc)
            return ProxyAnswer(500, (), b"rewrite hook failed\n")

    def counts(self) -> ProxyCounts:
        with self.lock:
            return ProxyCounts(
                dict(self.by_method), dict(self.by_kind), dict(self.by_status), self.faults
            )

    def reset(self) -> None:
        with self.lock:
            self.by_method.clear()
            self.by_kind.clear()
            self.by_status.clear()
            self.faults = 0
            self.exchanges.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen backlog: hundreds of clients may connect at once
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-exchange is normal here (reset faults, timeouts).
        if not self.state.stopping.is_set():
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        self._drop_upstream()
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # counters and `log()` replace the access log

    def handle_one_request(self) -> None:
        try:
            if self._is_tls_hello():
                return
            super().handle_one_request()
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        except ValueError:  # flushing the streams of a connection we reset on purpose
            if not self.close_connection:
                raise

    def _is_tls_hello(self) -> bool:
        """Answer a TLS handshake with a plain HTTP 400, as Go's server does: clients such as
        `docker manifest --insecure` try HTTPS first and fall back to HTTP only when the
        answer starts with ``HTTP/`` (the stdlib would answer in HTTP/0.9, without it)."""
        reader = self.rfile
        if not isinstance(reader, io.BufferedReader) or reader.peek(1)[:1] != b"\x16":
            return False
        self.wfile.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self.close_connection = True
        return True

    def _proxy(self) -> None:
        state = self.server.state
        request = state.received(self.command, self.path, self.headers.items())
        fault = state.choose_fault(request)
        delay = state.latency + (fault.seconds if fault and fault.action == "delay" else 0.0)
        if delay > 0 and state.stopping.wait(delay):
            self._reset()
            return
        if fault is not None and fault.action == "reset":
            state.answered(request, 0, fault)
            self._reset()
        elif fault is not None and fault.action == "respond":
            self._discard_body()
            state.answered(request, fault.status, fault)
            self._respond(fault)
        else:
            # Counted before the answer goes out: a client that has read it sees it counted.
            limit = fault.after_bytes if fault and fault.action == "truncate" else None
            self._forward(request, limit, lambda status: state.answered(request, status, fault))

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = _proxy

    # -- faults ----------------------------------------------------------------------------

    def _respond(self, fault: Fault) -> None:
        self.send_response_only(fault.status)
        for name, value in fault.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(fault.body)))
        self.end_headers()
        if self.command != "HEAD" and fault.body:
            self.wfile.write(fault.body)

    def _reset(self) -> None:
        """Close with SO_LINGER 0, so the client sees a reset rather than an orderly close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket closes for real only once the file objects made from it are closed too.
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        self.connection.close()

    def _discard_body(self) -> None:
        for _ in self._body_pieces():
            pass

    # -- forwarding ------------------------------------------------------------------------

    def _forward(
        self, request: ProxyRequest, truncate_after: int | None, record: Callable[[int], None]
    ) -> int:
        """Send the request upstream and relay the answer; `record` gets the status first."""
        try:
            response = self._exchange()
        except (OSError, http.client.HTTPException) as exc:
            self._drop_upstream()
            record(502)
            self._respond(Fault.respond(502, body=f"proxy: upstream failed: {exc}\n".encode()))
            return 502
        if self.server.state.rewrite is not None and truncate_after is None:
            return self._relay_rewritten(request, response, record)
        record(response.status)
        try:
            self._relay(response, truncate_after)
        except OSError:  # the client went away; the upstream answer is abandoned
            self.close_connection = True
            self._drop_upstream()
        return response.status

    def _exchange(self) -> http.client.HTTPResponse:
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        body: bytes | Iterator[bytes] | None = None
        if chunked or length > _BUFFER_LIMIT:
            body = self._body_pieces()
        elif length:
            body = _read_exact(self.rfile, length)
        # A kept-alive upstream connection may have been closed by the registry in the
        # meantime: retry once on a fresh one, unless a streamed body is already spent.
        fresh = self._upstream is None
        try:
            return self._send_upstream(body, chunked)
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            self._drop_upstream()
            if fresh or isinstance(body, Iterator):
                raise
            return self._send_upstream(body, chunked)

    def _send_upstream(
        self, body: bytes | Iterator[bytes] | None, chunked: bool
    ) -> http.client.HTTPResponse:
        conn = self._connection()
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        if isinstance(body, bytes):
            conn.send(body)
        elif body is not None:
            for piece in body:
                conn.send(_chunk(piece) if chunked else piece)
            if chunked:
                conn.send(b"0\r\n\r\n")
        return conn.getresponse()

    def _relay(self, response: http.client.HTTPResponse, truncate_after: int | None) -> None:
        has_body = self.command != "HEAD" and response.status not in (204, 304)
        length = response.getheader("Content-Length")
        rechunk = has_body and length is None and self.request_version == "HTTP/1.1"
        if has_body and length is None and not rechunk:
            self.close_connection = True  # an HTTP/1.0 client reads until the close
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in _HOP_BY_HOP:
                continue
            if name.lower() == "location":
                value = self._rewrite_location(value)
            self.send_header(name, value)
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if truncate_after is not None:
            self._send_truncated(response, truncate_after)
            return
        while piece := response.read(_PIECE):
            self.wfile.write(_chunk(piece) if rechunk else piece)
        if rechunk:
            self.wfile.write(b"0\r\n\r\n")
        if response.will_close:
            self._drop_upstream()

    def _relay_rewritten(
        self,
        request: ProxyRequest,
        response: http.client.HTTPResponse,
        record: Callable[[int], None],
    ) -> int:
        """Read the whole answer, let the hook edit it, and send the result."""
        body = response.read()
        if response.will_close:
            self._drop_upstream()
        headers = tuple(
            (name, self._rewrite_location(value) if name.lower() == "location" else value)
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP
        )
        answer = self.server.state.rewritten(request, ProxyAnswer(response.status, headers, body))
        record(answer.status)
        self.send_response_only(answer.status)
        for name, value in answer.headers:
            if name.lower() != "content-length" or self.command == "HEAD":
                self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except OSError:
            self.close_connection = True
        return answer.status

    def _send_truncated(self, response: http.client.HTTPResponse, limit: int) -> None:
        left = limit
        while left > 0 and (piece := response.read(min(left, _PIECE))):
            self.wfile.write(piece)
            left -= len(piece)
        self._drop_upstream()  # the rest of the upstream answer is never read
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _rewrite_location(self, value: str) -> str:
        state = self.server.state
        if value.startswith(state.upstream_origin):
            return state.proxy_origin + value[len(state.upstream_origin) :]
        return value

    def _body_pieces(self) -> Iterator[bytes]:
        """The request body as it arrives (Content-Length or chunked), de-chunked."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            yield from _read_chunked(self.rfile)
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, _PIECE))
            if not piece:
                raise ConnectionError("client closed the connection mid-body")
            left -= len(piece)
            yield piece

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            host, port = self.server.state.upstream_addr
            self._upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_S)
        return self._upstream

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None


def _chunk(piece: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(piece), piece)


def _read_exact(stream: io.BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ConnectionError("client closed the connection mid-body")
    return data


def _read_chunked(stream: io.BufferedIOBase) -> Iterator[bytes]:
    while True:
        line = stream.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ConnectionError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            for _ in range(100):  # trailers, up to the blank line
                if stream.readline(65537) in (b"\r\n", b"\n", b""):
                    return
            raise ConnectionError("too many trailer lines")
        yield _read_exact(stream, size)
        stream.readline(3)  # the CRLF after the data


class Proxy:
    """A running proxy; `stop()` it or use it as a context manager."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._state = server.state
        self._thread = thread
        self.port = int(server.server_address[1])
        self.address = str(server.server_address[0])
        self._finalizer = weakref.finalize(self, _shutdown, server, thread)

    @property
    def host(self) -> str:
        """``ADDRESS:PORT`` (``127.0.0.1:PORT`` by default), as a registry host in references
        and configs."""
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def upstream(self) -> str:
        return self._state.upstream_origin

    @property
    def latency(self) -> float:
        """Seconds added to every request before it is handled; may be changed while running."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @property
    def fault(self) -> FaultHook | None:
        """The fault hook, called once per request; may be replaced while running."""
        return self._state.fault

    @fault.setter
    def fault(self, hook: FaultHook | None) -> None:
        self._state.fault = hook

    @property
    def rewrite(self) -> RewriteHook | None:
        """The answer hook, called once per forwarded answer; may be replaced while running."""
        return self._state.rewrite

    @rewrite.setter
    def rewrite(self, hook: RewriteHook | None) -> None:
        self._state.rewrite = hook

    @property
    def hook_errors(self) -> list[BaseException]:
        """Exceptions raised by the fault hook (each answered with a 500)."""
        with self._state.lock:
            return list(self._state.hook_errors)

    def counts(self) -> ProxyCounts:
        """Requests received since start or the last `reset_counts()`."""
        return self._state.counts()

    def log(self) -> list[LoggedExchange]:
        """Exchanges completed since start or the last `reset_counts()`, oldest first."""
        with self._state.lock:
            return list(self._state.exchanges)

    def reset_counts(self) -> None:
        self._state.reset()

    def open_connections(self) -> int:
        """Client connections open right now."""
        with self._state.lock:
            return len(self._state.connections)

    def stop(self) -> None:
        """Stop accepting, close every client connection, and wait briefly; idempotent."""
        self._finalizer()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_proxy(
    upstream_url: str,
    *,
    latency: float = 0.0,
    fault: FaultHook | None = None,
    rewrite: RewriteHook | None = None,
    address: str = "127.0.0.1",
) -> Proxy:
    """Start a proxy on a free port of `address` (a loopback address) in front of
    `upstream_url` (http only)."""
    if latency < 0:
        raise ValueError(f"latency must be >= 0, got {latency}")
    state = _State(upstream_url, latency, fault, rewrite)
    server = _Server((address, 0), _Handler)
    server.state = state
    state.proxy_origin = f"http://{address}:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="proxy"
    )
    thread.start()
    return Proxy(server, thread)


def _shutdown(server: _Server, thread: threading.Thread) -> None:
    state = server.state
    state.stopping.set()
    server.shutdown()
    with state.lock:
        connections = list(state.connections)
    for conn in connections:  # wakes handler threads blocked reading a kept-alive connection
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
    server.server_close()
    thread.join(timeout=5)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        with state.lock:
            if not state.connections:
                return
        time.sleep(0.01)
