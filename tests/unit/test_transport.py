"""The lean http.client transport: keep-alive, bodies, errors as httpx raises them, proxies.

A scripted HTTP/1.1 server on loopback answers each request with raw bytes, so every case
(early close, truncated body, chunked answer, silence) is exactly what a broken registry or
a keep-alive race looks like on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import httpx
import pytest

from reconciler.registry.http import ClientSettings, _registry_transport, _tls_context
from reconciler.registry.transport import LeanTransport, proxy_for


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# Given the request and its number on the connection (from 0), the raw answer and whether the
# server then closes the connection; None: close without answering.
Script = Callable[[Seen, int], tuple[bytes, bool] | None]


@dataclass
class ScriptedServer:
    port: int
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    closed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def ok(body: bytes = b"hello", *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _read_request(stream: BinaryIO) -> Seen | None:
    line = stream.readline()
    if not line:
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers: dict[str, str] = {}
    while (header := stream.readline().decode().rstrip("\r\n")) != "":
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = stream.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while (size := int(stream.readline().strip(), 16)) != 0:
            body += stream.read(size)
            stream.readline()
        stream.readline()
    return Seen(method, path, headers, body)


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    listener = socket.create_server(("127.0.0.1", 0))
    server = ScriptedServer(listener.getsockname()[1])
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn, conn.makefile("rb") as reader:
            answer_all(conn, reader)
        server.closed.release()  # the server's side of this connection is closed now

    def answer_all(conn: socket.socket, reader: BinaryIO) -> None:
        number = 0
        while (seen := _read_request(reader)) is not None:
            server.requests.append(seen)
            answer = script(seen, number)
            number += 1
            if answer is None:
                return
            raw, close = answer
            conn.sendall(raw)
            if close:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            server.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server
    finally:
        stop.set()
        listener.close()


def send(
    transport: LeanTransport, method: str, url: str, *, timeout: float = 5.0, **kwargs: object
) -> httpx.Response:
    request = httpx.Request(method, url, extensions={"timeout": httpx.Timeout(timeout).as_dict()},
                            **kwargs)  # type: ignore[arg-type]  # fmt: skip
    response = transport.handle_request(request)
    response.read()
    response.close()
    return response


def always(answer: bytes, close: bool = False) -> Script:
    return lambda seen, number: (answer, close)


# -- connections ----------------------------------------------------------------------------


def test_answers_read_to_the_end_leave_the_connection_open_for_the_next_request() -> None:
    with scripted_server(always(ok())) as server, LeanTransport() as transport:
        for _ in range(3):
            assert send(transport, "GET", server.url + "/v2/").content == b"hello"
        assert server.connections == 1 and len(server.requests) == 3


def test_head_answers_carry_no_body_and_keep_the_connection() -> None:
    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        if seen.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", False
        return ok(b"after head"), False

    with scripted_server(script) as server, LeanTransport() as transport:
        head = send(transport, "HEAD", server.url + "/m")
        assert head.status_code == 200 and head.headers["content-length"] == "1234"
        assert send(transport, "GET", server.url + "/m").content == b"after head"
        assert server.connections == 1


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (ok(b"bye", "Connection: close"), "the server said Connection: close"),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", "the body ends with the connection"),
    ],
)
def test_a_connection_the_server_closes_is_not_reused(first: bytes, reason: str) -> None:
    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        return (first, True) if len(server.requests) == 1 else (ok(), False)

    with scripted_server(script) as server, LeanTransport() as transport:
        send(transport, "GET", server.url + "/a")
        assert send(transport, "GET", server.url + "/b").content == b"hello", reason
        assert server.connections == 2


def test_an_answer_closed_before_its_body_was_read_does_not_give_its_connection_back() -> None:
    with scripted_server(always(ok(b"x" * 100_000))) as server, LeanTransport() as transport:
        request = httpx.Request("GET", server.url + "/big")
        transport.handle_request(request).close()
        assert send(transport, "GET", server.url + "/big").content == b"x" * 100_000
        assert server.connections == 2


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    # The server closes after every answer but says nothing: the classic keep-alive race.
    with scripted_server(always(ok(), close=True)) as server, LeanTransport() as transport:
        send(transport, "GET", server.url + "/a")
        assert server.closed.acquire(timeout=5)  # else the race is real: the retry layer's job
        assert send(transport, "GET", server.url + "/b").content == b"hello"
        assert [r.path for r in server.requests] == ["/a", "/b"]
        assert server.connections == 2


def test_idle_connections_are_bounded_per_origin() -> None:
    def four_at_once(transport: LeanTransport) -> None:
        responses = [
            transport.handle_request(httpx.Request("GET", server.url + f"/{n}")) for n in range(4)
        ]
        for response in responses:
            response.read()
            response.close()

    with scripted_server(always(ok())) as server, LeanTransport(max_idle=2) as transport:
        four_at_once(transport)
        assert server.connections == 4
        four_at_once(transport)
        assert server.connections == 4 + 2  # two were kept, two opened again


# -- bodies ---------------------------------------------------------------------------------


def test_a_chunked_answer_is_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    with scripted_server(always(chunked)) as server, LeanTransport() as transport:
        assert send(transport, "GET", server.url + "/c").content == b"hello world"
        assert send(transport, "GET", server.url + "/c").content == b"hello world"
        assert server.connections == 1


@pytest.mark.parametrize(
    ("content", "framing"),
    [
        (b'{"a": 1}', "content-length"),
        (iter([b"first ", b"", b"second"]), "transfer-encoding"),
    ],
)
def test_request_bodies_arrive_whole(content: bytes | Iterator[bytes], framing: str) -> None:
    with scripted_server(always(ok(b"stored"))) as server, LeanTransport() as transport:
        answer = send(transport, "PUT", server.url + "/m", content=content)
        assert answer.content == b"stored"
        [seen] = server.requests
        assert framing in seen.headers
        assert seen.body in (b'{"a": 1}', b"first second")


def test_headers_are_sent_as_httpx_built_them_with_one_host() -> None:
    with scripted_server(always(ok())) as server, LeanTransport() as transport:
        send(transport, "GET", server.url + "/h?n=1", headers={"Accept": "a/b", "X-Test": "1"})
        [seen] = server.requests
        assert seen.path == "/h?n=1"
        assert seen.headers["host"] == f"127.0.0.1:{server.port}"
        assert seen.headers["accept"] == "a/b" and seen.headers["x-test"] == "1"
        assert "accept-encoding" not in seen.headers


# -- errors, as httpx raises them -----------------------------------------------------------


def test_a_body_cut_short_is_a_protocol_error_not_a_short_body() -> None:
    truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes...."
    with (
        scripted_server(always(truncated, close=True)) as server,
        LeanTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        send(transport, "GET", server.url + "/t")


def test_a_server_closing_without_answering_is_a_protocol_error() -> None:
    with (
        scripted_server(lambda seen, number: None) as server,
        LeanTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        send(transport, "GET", server.url + "/silent")


def test_garbage_instead_of_a_status_line_is_a_protocol_error() -> None:
    with (
        scripted_server(always(b"SSH-2.0-OpenSSH\r\n\r\n")) as server,
        LeanTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        send(transport, "GET", server.url + "/x")


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with LeanTransport() as transport, pytest.raises(httpx.ConnectError):
            send(transport, "GET", f"http://127.0.0.1:{port}/v2/")


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    hold = threading.Event()

    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        hold.wait(5)
        return ok(), True

    with scripted_server(script) as server, LeanTransport() as transport:
        try:
            with pytest.raises(httpx.ReadTimeout):
                send(transport, "GET", server.url + "/slow", timeout=0.2)
        finally:
            hold.set()


# -- proxies --------------------------------------------------------------------------------

PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.mark.parametrize(
    ("env", "url", "expected"),
    [
        ({}, "https://r.example", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://r.example", "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://r.example", None),
        ({"HTTP_PROXY": "http://proxy:3128"}, "http://r.example:5000", "http://proxy:3128"),
        ({"ALL_PROXY": "http://all:1"}, "https://r.example", "http://all:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "r.example"}, "https://r.example", None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other"}, "https://r.example", "http://p:1"),
    ],
)
def test_proxy_for_follows_the_environment_like_httpx(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(url) == expected


def test_a_registry_behind_a_proxy_gets_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    settings = ClientSettings("r.example")
    direct = _registry_transport(settings, _tls_context(settings))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = _registry_transport(settings, _tls_context(settings))
    assert isinstance(direct, LeanTransport)
    assert isinstance(proxied, httpx.HTTPTransport) and not isinstance(proxied, LeanTransport)
