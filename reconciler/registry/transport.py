"""A lean HTTP/1.1 transport for httpx, on the standard library's `http.client`.

Why: a steady-state run is thousands of small HEAD requests, and on a loaded 2-core machine the
client's CPU per request decides the wall time. httpx's default transport (httpcore + h11) needs
more CPU per request than `http.client`, and `httpx.Client` more again (BENCHMARKS.md, "How the
client got here"); the registry client sends through this transport directly and keeps httpx's
request, response and exception types.

What it does and does not do:
- keep-alive connections per (scheme, host, port), reused after a response was read to the end;
- TLS with the caller's `ssl.SSLContext` (certificates and host names verified as configured);
- httpx's per-request timeouts (connect, then read/write);
- request bodies as bytes, or as iterators with a Content-Length or chunked encoding;
- an idle connection the server has closed meanwhile is noticed before it is reused (as
  httpcore does), never retried behind the caller's back: retries are decided in one layer;
- socket and protocol errors raised as the httpx exceptions httpcore would raise, so callers
  handle one family of errors;
- no proxies and no HTTP/2: callers use httpx's own transport when a proxy is configured.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterable, Iterator

import httpx

__all__ = ["CertificateError", "LeanTransport", "proxy_for"]

_READ_CHUNK = 64 << 10
_Origin = tuple[str, str, int]
# The server closed the connection before answering.
_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def proxy_for(url: str) -> str | None:
    """The proxy the environment routes `url` through (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY,
    minus NO_PROXY), as httpx.Client would honour it; None for a direct connection."""
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parsed.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parsed.host):
        return None
    return proxy


class CertificateError(httpx.ConnectError):
    """The server's TLS certificate failed verification (a retry cannot fix that)."""


class LeanTransport(httpx.BaseTransport):
    """Thread-safe: connections are checked out of a small idle list, one request at a time."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_idle: int = 4) -> None:
        """`max_idle`: keep-alive connections kept per origin; set it to the number of
        requests in flight, or connections are closed and opened again all the time."""
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_idle = max_idle
        self._idle: dict[_Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request.url)
        connection = self._checkout(origin, request)
        try:
            answer = _exchange(connection, request, _request_body(request))
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            stream=_AnswerStream(answer, connection, origin, self),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason.encode()},
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()

    # -- connections -----------------------------------------------------------------------

    def _checkout(self, origin: _Origin, request: httpx.Request) -> http.client.HTTPConnection:
        """An idle keep-alive connection to `origin` that the server has not closed, else a
        new one. A readable idle socket means the server closed it (or sent something it
        should not have): it is dropped rather than risking a request on it."""
        while True:
            with self._lock:
                connections = self._idle.get(origin)
                connection = connections.pop() if connections else None
            if connection is None:
                return self._connect(origin, request)
            if connection.sock is not None and not _readable(connection.sock):
                _set_timeout(connection, _timeout(request, "read"))
                return connection
            connection.close()

    def _connect(self, origin: _Origin, request: httpx.Request) -> http.client.HTTPConnection:
        scheme, host, port = origin
        timeout = _timeout(request, "connect")
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._ssl_context
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from None
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            raise CertificateError(str(exc), request=request) from None
        except (OSError, ssl.SSLError) as exc:
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from None
        # Small requests go out as soon as they are written (no Nagle delay on the last byte).
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _set_timeout(connection, _timeout(request, "read"))
        return connection

    def _release(self, origin: _Origin, connection: http.client.HTTPConnection) -> None:
        """A connection whose answer was read to the end goes back to the idle list."""
        with self._lock:
            if not self._closed:
                connections = self._idle.setdefault(origin, [])
                if len(connections) < self._max_idle:
                    connections.append(connection)
                    return
        connection.close()


class _AnswerStream(httpx.SyncByteStream):
    """The body of one answer; gives the connection back when read to the end and closed."""

    def __init__(
        self,
        answer: http.client.HTTPResponse,
        connection: http.client.HTTPConnection,
        origin: _Origin,
        transport: LeanTransport,
    ) -> None:
        self._answer = answer
        self._connection: http.client.HTTPConnection | None = connection
        self._origin = origin
        self._transport = transport

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._answer.read(_READ_CHUNK)
            except TimeoutError:
                raise httpx.ReadTimeout("timed out reading the answer") from None
            except http.client.IncompleteRead as exc:
                raise httpx.RemoteProtocolError(f"answer cut short: {exc}") from None
            except (http.client.HTTPException, OSError) as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__) from None
            if not chunk:
                # http.client returns a body cut short by the server as if it were whole.
                if self._answer.length:
                    raise httpx.RemoteProtocolError("connection closed before the whole answer")
                return
            yield chunk

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._answer.isclosed() and not self._answer.will_close:
            self._transport._release(self._origin, connection)
        else:
            self._answer.close()
            connection.close()


def _exchange(
    connection: http.client.HTTPConnection, request: httpx.Request, body: Iterable[bytes]
) -> http.client.HTTPResponse:
    """Send the request (headers as httpx built them, Host included) and read the status line
    and headers of the answer."""
    try:
        connection.putrequest(
            request.method,
            request.url.raw_path.decode("ascii"),
            skip_host=True,
            skip_accept_encoding=True,
        )
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        chunks = iter(body)
        connection.endheaders(next(chunks, None))
        for chunk in chunks:
            connection.send(chunk)
        return connection.getresponse()
    except _CLOSED:
        raise httpx.RemoteProtocolError(
            "server closed the connection without answering", request=request
        ) from None
    except TimeoutError:
        raise httpx.ReadTimeout("timed out", request=request) from None
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from None
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None


def _request_body(request: httpx.Request) -> Iterable[bytes]:
    """The body as chunks to send. Bodies already in memory go in one piece (with the
    headers, when small); streams as they come, chunk-encoded if httpx said so."""
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        data = b"".join(stream)
        return [data] if data else []
    assert isinstance(stream, Iterable)
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        return _chunked(stream)
    return stream


def _chunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def _origin(url: httpx.URL) -> _Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port


def _timeout(request: httpx.Request, which: str) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get(which)
    return float(value) if value is not None else None


def _readable(sock: socket.socket) -> bool:
    """Whether reading would not block: on an idle connection, EOF or unexpected bytes."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _set_timeout(connection: http.client.HTTPConnection, seconds: float | None) -> None:
    if connection.sock is not None:
        connection.sock.settimeout(seconds)
