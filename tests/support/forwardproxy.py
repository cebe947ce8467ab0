"""A small HTTP forward proxy on loopback that records what it carried, for tests of
HTTP_PROXY / HTTPS_PROXY handling.

It speaks what curl, httpx and urllib3 expect of a proxy: absolute-form requests
(`GET http://host:port/path HTTP/1.1`) forwarded one by one to the origin over a fresh
connection, and `CONNECT host:port` tunnels (for https://) spliced byte for byte. Every request
and tunnel is recorded as a `Carried` entry, in arrival order.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.support.proxy import HOP_BY_HOP

__all__ = ["Carried", "ForwardProxy", "start_forward_proxy"]

_TIMEOUT = 30.0


@dataclass(frozen=True)
class Carried:
    """One request forwarded (`method`, absolute `target`) or one tunnel (`CONNECT`,
    `host:port`), with the status the proxy answered."""

    method: str
    target: str
    status: int

    @property
    def netloc(self) -> str:
        """`host:port` of the origin, for requests and tunnels alike."""
        return self.target if self.method == "CONNECT" else urlsplit(self.target).netloc


@dataclass
class ForwardProxy:
    server: ThreadingHTTPServer
    carried: list[Carried] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, entry: Carried) -> None:
        with self._lock:
            self.carried.append(entry)

    def seen(self) -> list[Carried]:
        with self._lock:
            return list(self.carried)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_forward_proxy() -> ForwardProxy:
    """A started proxy on a free loopback port; `stop()` it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    proxy = ForwardProxy(server)
    server.proxy = proxy  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the client

    @property
    def _proxy(self) -> ForwardProxy:
        return self.server.proxy  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `carried`."""

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=_TIMEOUT)
        except (OSError, ValueError):
            self._proxy.record(Carried("CONNECT", self.path, 502))
            self.send_error(502, "cannot reach the origin")
            return
        self._proxy.record(Carried("CONNECT", self.path, 200))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        with upstream:
            _splice(self.connection, upstream)
        self.close_connection = True

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        if parts.scheme != "http" or not parts.hostname:
            self._proxy.record(Carried(self.command, self.path, 400))
            self.send_error(400, "absolute http:// URL expected")
            return
        body = self._request_body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        origin = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=_TIMEOUT)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            origin.request(self.command, path or "/", body=body, headers=headers)
            answer = origin.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            self._proxy.record(Carried(self.command, self.path, 502))
            self.send_error(502, "the origin did not answer")
            return
        finally:
            origin.close()
        self._proxy.record(Carried(self.command, self.path, answer.status))
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = answer.getheader("content-length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

    def _request_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip(), 16)) != 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else None


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [client, upstream]
    with contextlib.suppress(OSError):
        while True:
            readable, _, _ = select.select(sockets, [], [], _TIMEOUT)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
