"""The urllib3 transport: keep-alive, bodies, early answers, errors as httpx raises them,
proxies.

A scripted HTTP/1.1 server on loopback answers each request with raw bytes, so every case
(early close, truncated body, chunked answer, silence, an answer before the upload was read)
is exactly what a broken registry or a keep-alive race looks like on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import gzip
import hashlib
import http.client
import io
import socket
import ssl
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from httpx._utils import get_environment_proxies

from reconciler._errors import ProtocolError, RegistryError, TlsError
from reconciler._model.oci import MANIFEST_ACCEPT
from reconciler._registry.credentials import Credentials, StaticCredentials
from reconciler._registry.http import (
    CERTS_D_ENV,
    USER_AGENT,
    ClientSettings,
    RegistryClient,
    _target,
    _tls_context,
)
from reconciler._registry.retry import RetryPolicy
from reconciler._registry.transport import (
    NotTlsError,
    RegistryTransport,
    _QuickHead,
    proxy_for,
    wire_timeout,
)
from tests.support.registry import TlsFiles, ca_context, make_tls_files


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    lines: list[str] = field(default_factory=list)  # the header lines as sent, in order


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


def _read_head(stream: BinaryIO) -> Seen | None:
    line = stream.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    lines: list[str] = []
    while (header := stream.readline().decode("latin-1").rstrip("\r\n")) != "":
        lines.append(header)
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Seen(method, path, headers, b"", lines)


def _read_request(stream: BinaryIO) -> Seen | None:
    seen = _read_head(stream)
    if seen is None:
        return None
    if "content-length" in seen.headers:
        seen.body = stream.read(int(seen.headers["content-length"]))
    elif seen.headers.get("transfer-encoding") == "chunked":
        while (size := int(stream.readline().strip(), 16)) != 0:
            seen.body += stream.read(size)
            stream.readline()
        stream.readline()
    return seen


@contextmanager
def serving(
    handle: Callable[[socket.socket, BinaryIO], None], tls: TlsFiles | None = None
) -> Iterator[ScriptedServer]:
    """A loopback server calling `handle` on every connection, each in its own thread; over
    TLS with `tls`'s certificate for 127.0.0.1."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = ScriptedServer(listener.getsockname()[1])
    context = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert_path, tls.key_path)

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if context is not None:
                conn = context.wrap_socket(conn, server_side=True)
            with conn, conn.makefile("rb") as reader:
                handle(conn, reader)
        server.closed.release()  # the server's side of this connection is closed now

    def accept() -> None:
        while True:
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
        listener.close()


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
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

    with serving(answer_all) as server:
        yield server


def send(
    transport: httpx.BaseTransport, method: str, url: str, *, timeout: float = 5.0,
    **kwargs: object,
) -> httpx.Response:  # fmt: skip
    request = httpx.Request(method, url, extensions={"timeout": httpx.Timeout(timeout).as_dict()},
                            **kwargs)  # type: ignore[arg-type]  # fmt: skip
    response = transport.handle_request(request)
    response.read()
    response.close()
    return response


def always(answer: bytes, close: bool = False) -> Script:
    return lambda seen, number: (answer, close)


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback servers are reached directly whatever the machine's proxy settings are."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


# -- connections ----------------------------------------------------------------------------


def test_answers_read_to_the_end_leave_the_connection_open_for_the_next_request() -> None:
    with scripted_server(always(ok())) as server, RegistryTransport() as transport:
        for _ in range(3):
            assert send(transport, "GET", server.url + "/v2/").content == b"hello"
        assert server.connections == 1 and len(server.requests) == 3


def test_head_answers_carry_no_body_and_keep_the_connection() -> None:
    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        if seen.method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", False
        return ok(b"after head"), False

    with scripted_server(script) as server, RegistryTransport() as transport:
        head = send(transport, "HEAD", server.url + "/m")
        assert head.status_code == 200 and head.headers["content-length"] == "1234"
        assert send(transport, "GET", server.url + "/m").content == b"after head"
        assert server.connections == 1


def test_a_head_answer_closed_unread_still_gives_its_connection_back() -> None:
    with scripted_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")) as server:
        with RegistryTransport() as transport:
            for _ in range(3):
                request = httpx.Request("HEAD", server.url + "/m")
                transport.handle_request(request).close()  # nobody iterates a HEAD body
        assert server.connections == 1 and len(server.requests) == 3


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

    with scripted_server(script) as server, RegistryTransport() as transport:
        send(transport, "GET", server.url + "/a")
        assert send(transport, "GET", server.url + "/b").content == b"hello", reason
        assert server.connections == 2


def test_an_answer_closed_before_its_body_was_read_does_not_give_its_connection_back() -> None:
    with scripted_server(always(ok(b"x" * 100_000))) as server, RegistryTransport() as transport:
        request = httpx.Request("GET", server.url + "/big")
        transport.handle_request(request).close()
        assert send(transport, "GET", server.url + "/big").content == b"x" * 100_000
        assert server.connections == 2


def test_an_idle_connection_the_server_closed_is_replaced_without_an_error() -> None:
    # The server closes after every answer but says nothing: the classic keep-alive race.
    with scripted_server(always(ok(), close=True)) as server, RegistryTransport() as transport:
        send(transport, "GET", server.url + "/a")
        assert server.closed.acquire(timeout=5)  # else the race is real: the retry layer's job
        assert send(transport, "GET", server.url + "/b").content == b"hello"
        assert [r.path for r in server.requests] == ["/a", "/b"]
        assert server.connections == 2


def test_idle_connections_are_bounded_per_origin() -> None:
    def four_at_once(transport: RegistryTransport) -> None:
        responses = [
            transport.handle_request(httpx.Request("GET", server.url + f"/{n}")) for n in range(4)
        ]
        for response in responses:
            response.read()
            response.close()

    with scripted_server(always(ok())) as server, RegistryTransport(max_connections=2) as transport:
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
    with scripted_server(always(chunked)) as server, RegistryTransport() as transport:
        assert send(transport, "GET", server.url + "/c").content == b"hello world"
        assert send(transport, "GET", server.url + "/c").content == b"hello world"
        assert server.connections == 1


FRAMING = ("content-length", "transfer-encoding")


@pytest.mark.parametrize(
    ("content", "body", "framing"),
    [
        (b'{"a": 1}', b'{"a": 1}', {"content-length": "8"}),
        (iter([b"first ", b"", b"second"]), b"first second", {"transfer-encoding": "chunked"}),
    ],
    ids=["bytes", "stream"],
)
def test_request_bodies_arrive_whole(
    content: bytes | Iterator[bytes], body: bytes, framing: dict[str, str]
) -> None:
    with scripted_server(always(ok(b"stored"))) as server, RegistryTransport() as transport:
        answer = send(transport, "PUT", server.url + "/m", content=content)
        assert answer.content == b"stored"
        [seen] = server.requests
        assert {k: v for k, v in seen.headers.items() if k in FRAMING} == framing
        assert seen.body == body


def _stream() -> Iterator[bytes]:
    yield from (b"first ", b"second")


# (method, headers, body) as a caller builds an httpx.Request; a body factory, since a stream
# is sent twice (once by each transport).
HEADER_CASES = [
    pytest.param("GET", {"Accept": "a/b", "X-Test": "1", "User-Agent": "r/t"}, None, id="given"),
    pytest.param("GET", {}, None, id="none"),  # no User-Agent nor Accept-Encoding of urllib3's
    pytest.param("GET", [("Accept", "a"), ("Accept", "b")], None, id="repeated"),
    pytest.param("HEAD", {"Accept-Encoding": "gzip"}, None, id="accept-encoding"),
    pytest.param("PUT", {"Content-Type": "x"}, lambda: b'{"a": 1}', id="body"),
    pytest.param("PUT", {}, _stream, id="stream"),
    pytest.param("POST", {}, None, id="empty-post"),
]


@pytest.mark.parametrize(("method", "headers", "content"), HEADER_CASES)
def test_headers_go_out_exactly_as_httpx_own_transport_sends_them(
    method: str,
    headers: dict[str, str] | list[tuple[str, str]],
    content: Callable[[], bytes | Iterator[bytes]] | None,
) -> None:
    """Same request line, same header lines in the same order, same body: what
    httpx.HTTPTransport (httpcore) puts on the wire, byte for byte, Host included."""
    with scripted_server(always(ok())) as server:
        for transport in (httpx.HTTPTransport(), RegistryTransport()):
            with transport:
                body: dict[str, Any] = {} if content is None else {"content": content()}
                send(transport, method, server.url + "/h?n=1", headers=headers, **body)
    theirs, ours = server.requests
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
    assert ours.lines == theirs.lines
    assert ours.headers["host"] == f"127.0.0.1:{server.port}"  # one Host, as httpx set it


def test_registry_requests_ask_for_the_bytes_as_stored() -> None:
    # The transport adds nothing: the registry client asks for no compression itself.
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    with scripted_server(always(not_found)) as server:
        settings = ClientSettings(f"127.0.0.1:{server.port}", insecure=True)
        client = RegistryClient(settings, StaticCredentials(None))
        try:
            assert client.head_manifest("app", "1") is None
        finally:
            client.close()
    [seen] = server.requests
    assert (seen.method, seen.path) == ("HEAD", "/v2/app/manifests/1")
    assert seen.headers["accept-encoding"] == "identity"


# -- the registry client's requests, sent without httpx's request and response types ---------


@contextmanager
def registry_client(
    server: ScriptedServer, credentials: Credentials | None = None
) -> Iterator[RegistryClient]:
    settings = ClientSettings(f"127.0.0.1:{server.port}", insecure=True, timeout_s=5,
                              retry=RetryPolicy(attempts=1))  # fmt: skip
    client = RegistryClient(settings, StaticCredentials(credentials))
    try:
        yield client
    finally:
        client.close()


HEAD_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"
    b"Content-Type: application/vnd.oci.image.index.v1+json\r\n"
    b"Docker-Content-Digest: sha256:" + b"0" * 64 + b"\r\n\r\n"
)


def manifest_answers(seen: Seen, number: int) -> tuple[bytes, bool]:
    """HEAD_OK to a HEAD, and its 9 bytes of body to anything else."""
    return (HEAD_OK if seen.method == "HEAD" else HEAD_OK + b'{"a": 1 }'), False


@pytest.mark.parametrize(
    ("method", "path", "content", "headers"),
    [
        ("HEAD", "/v2/app/manifests/1", None, {"Accept": MANIFEST_ACCEPT}),
        ("GET", "/v2/org/app/blobs/sha256:" + "0" * 64, None, None),
        ("PUT", "/v2/app/manifests/1", b'{"a": 1}', {"Content-Type": "x/y"}),
        ("POST", "/v2/app/blobs/uploads/?mount=sha256:1&from=other", None, None),
        ("DELETE", "/v2/app/manifests/1", None, None),
    ],
)
def test_registry_requests_carry_what_their_httpx_request_would(
    method: str, path: str, content: bytes | None, headers: dict[str, str] | None
) -> None:
    """`_send` builds no httpx.Request, yet sends the same request line and header fields as
    the httpx.Request `_request` builds (httpx's own transport as the witness); HEAD and GET,
    the thousands of a run, also in the same order."""
    with scripted_server(manifest_answers) as server, registry_client(server) as client:
        client._send(method, path, content=content, headers=headers)
        reference = client._request(method, path, content=content, headers=headers)
        with httpx.HTTPTransport() as transport:
            transport.handle_request(reference).read()
    ours, theirs = server.requests
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
    assert sorted(ours.lines) == sorted(theirs.lines)
    if method in ("HEAD", "GET"):
        assert ours.lines == theirs.lines
    assert ours.headers["user-agent"] == USER_AGENT


def test_a_path_that_needs_escaping_is_escaped_as_httpx_escapes_it() -> None:
    plain = "/v2/org/app-1_x.y/manifests/sha256:ab?n=1000&last=v1~2"
    assert _target(plain) is plain
    odd = "/v2/a b/manifests/é?last=x y"
    assert _target(odd) == httpx.URL("http://r.test" + odd).raw_path.decode()
    with scripted_server(always(HEAD_OK)) as server, registry_client(server) as client:
        client._send("HEAD", odd)
    assert [r.path for r in server.requests] == [_target(odd)]


def test_registry_answers_keep_their_connection_whatever_their_size() -> None:
    """HEADs, small bodies read in one piece and bodies streamed in chunks all leave the
    connection to the pool for the next request."""
    big = b"x" * 200_000

    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        if seen.method == "HEAD":
            return HEAD_OK, False
        return ok(big if seen.path.endswith("big") else b"small"), False

    with scripted_server(script) as server, registry_client(server) as client:
        assert client.head_manifest("app", "1") is not None
        assert client._send("GET", "/v2/app/blobs/small").body == b"small"
        assert client._send("GET", "/v2/app/blobs/big", cap=len(big)).body == big
        assert client.head_manifest("app", "2") is not None
        assert server.connections == 1 and len(server.requests) == 4


def test_an_answer_over_the_cap_is_refused_unread_and_its_connection_not_reused() -> None:
    body = b"y" * 200_000  # more than one read: the rest is left unread
    with scripted_server(always(ok(body))) as server, registry_client(server) as client:
        with pytest.raises(ProtocolError, match="larger than 1000 bytes"):
            client._send("GET", "/v2/app/manifests/1", cap=1000)
        assert client._send("GET", "/v2/app/manifests/1", cap=len(body)).body == body
        assert server.connections == 2


def test_an_answer_in_a_content_encoding_is_decoded_as_httpx_decodes_it() -> None:
    config = b'{"architecture": "amd64"}' * 10
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    packed = ok(gzip.compress(config, mtime=0), "Content-Encoding: gzip")
    with scripted_server(always(packed)) as server, registry_client(server) as client:
        assert client.get_blob("app", digest) == config
        with httpx.HTTPTransport() as transport:
            theirs = transport.handle_request(client._request("GET", "/v2/app/blobs/x"))
            assert theirs.read() == config


def test_repeated_answer_headers_read_as_httpx_reads_them() -> None:
    fields = [
        ("Link", '</v2/a/tags/list?last=b>; rel="next"'),
        ("link", "</other>; rel=prev"),
        ("WWW-Authenticate", 'Basic realm="r"'),
        ("Www-Authenticate", 'Bearer realm="https://t/token",scope="s"'),
        ("X-One", " padded "),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n{head}\r\n".encode()
    with scripted_server(always(raw)) as server, RegistryTransport() as transport:
        origin = ("http", "127.0.0.1", server.port)
        reply = transport.send(
            "GET", origin, "/h", {"Host": f"127.0.0.1:{server.port}"}, None,
            wire_timeout({"connect": 5, "read": 5}),
        )  # fmt: skip
        reply.close()
        theirs = send(transport, "GET", server.url + "/h").headers
    for name in ("link", "LINK", "www-authenticate", "x-one", "content-length", "missing"):
        assert reply.headers.get(name) == theirs.get(name), name
        assert reply.headers.get_list(name) == theirs.get_list(name), name
        assert reply.headers.get_list(name, True) == theirs.get_list(name, True), name
        assert (name in reply.headers) == (name in theirs), name


def test_a_basic_challenge_is_answered_on_the_same_connection_and_then_sent_first() -> None:
    refused = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="r"\r\n'
    refused += b"Content-Length: 12\r\n\r\nunauthorized"

    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        return (HEAD_OK if "authorization" in seen.headers else refused), False

    credentials = Credentials("user", "secret")
    with scripted_server(script) as server, registry_client(server, credentials) as c:
        assert c.head_manifest("app", "1") is not None
        assert c.head_manifest("app", "2") is not None
    basic = "Basic " + base64.b64encode(b"user:secret").decode()
    assert [r.headers.get("authorization") for r in server.requests] == [None, basic, basic]
    assert server.connections == 1  # the refusal's body was read, freeing the connection


def test_requests_in_flight_to_a_registry_are_bounded_whatever_the_threads() -> None:
    lock, inside, most = threading.Lock(), [0], [0]

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with lock:
            inside[0] -= 1
        return httpx.Response(404)

    settings = ClientSettings("r.test", insecure=True, max_connections=2)
    mock = httpx.MockTransport(answer)
    client = RegistryClient(settings, StaticCredentials(None), transport=mock)
    with ThreadPoolExecutor(6) as pool:
        found = list(pool.map(lambda n: client.head_manifest("app", str(n)), range(12)))
    assert found == [None] * 12 and most[0] == 2


# -- answers' heads: the same as http.client reads them ---------------------------------------


class _Recorded:
    """A socket whose stream is `raw`, for http.client's response classes."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.raw))


REGISTRY_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 529\r\n"
    b"Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n"
    b"Docker-Content-Digest: sha256:" + b"ab" * 32 + b"\r\n"
    b"Docker-Distribution-Api-Version: registry/2.0\r\n"
    b'Etag: "sha256:' + b"ab" * 32 + b'"\r\nDate: Tue, 02 Dec 2026 01:00:00 GMT\r\n\r\n'
)
HEADS = {
    "registry": REGISTRY_HEAD,
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 3\nX-A:b\n\nabc",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "http10": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "http10-keep-alive": b"HTTP/1.0 200 OK\r\nKeep-Alive: 5\r\nContent-Length: 2\r\n\r\nok",
    "continue": b"HTTP/1.1 100 Continue\r\nX-I: 1\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "no-content": b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
    "not-modified": b"HTTP/1.1 304 Not Modified\r\n\r\n",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 5\r\n\r\nok",
    "repeated": b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=a\r\n"
    b"Www-Authenticate: Bearer realm=b\r\nContent-Length: 0\r\n\r\n",
    "blanks": b"HTTP/1.1 200 OK\r\nX-Pad: \t  padded \t\r\nX-Empty:\r\nX-Sp: \r\n"
    b"Content-Length: 0\r\n\r\n",
    "latin-1": b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n",
    "folded": b"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\nContent-Length: 0\r\n\r\n",
    "no-colon": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nthis is no header\r\nX-B: 1\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
    "stray-cr": b"HTTP/1.1 200 OK\r\nX-A: 1\r2\r\nContent-Length: 0\r\n\r\n",
    "colon-first": b"HTTP/1.1 200 OK\r\n: nothing\r\nContent-Length: 0\r\n\r\n",
    "ends-in-head": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-A: 1",
    "no-reason": b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "http2-version": b"HTTP/2.0 200 OK\r\n\r\n",
    "garbage": b"SSH-2.0-OpenSSH\r\n\r\n",
    "empty": b"",
    "long-line": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "many-headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
}


def _head_as_read(cls: type[http.client.HTTPResponse], raw: bytes, method: str) -> object:
    response = cls(_Recorded(raw), method=method)  # type: ignore[arg-type]
    try:
        response.begin()
        msg = response.msg
        framing = (response.status, response.reason, response.version, response.chunked,
                   response.length, response.will_close)  # fmt: skip
        fields = (msg.items(), [type(d) for d in msg.defects], msg.get_payload() or None,
                  msg.is_multipart())  # fmt: skip
        return framing, fields, response.read()
    except Exception as exc:  # the failure itself is what is compared
        return (type(exc), str(exc))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("raw", HEADS.values(), ids=HEADS.keys())
def test_an_answers_head_is_read_as_http_client_reads_it(raw: bytes, method: str) -> None:
    """Status, framing, header fields (and what the email parser makes of odd lines) and
    body: exactly what http.client's own response class reads from the same bytes."""
    stock = _head_as_read(http.client.HTTPResponse, raw, method)
    assert _head_as_read(_QuickHead, raw, method) == stock


# -- an answer before the upload was read ---------------------------------------------------

BLOB_BYTES = 8 << 20  # several MiB: far more than the socket buffers hold
SIZE_INVALID = b'{"errors":[{"code":"SIZE_INVALID","message":"blob too large"}]}'
UNAUTHORIZED = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
BAD_DIGEST = b'{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match"}]}'


def answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@dataclass
class EarlyAnswers:
    """Answers every request right after its headers, without reading the body; then closes
    the connection (a reset, since the body was not read: as soon as the answer has left the
    send queue, or the reset would discard it) or keeps it open without reading anything."""

    raw: bytes
    then: str  # "close" | "stall"
    stop: threading.Event = field(default_factory=threading.Event)
    seen: list[Seen] = field(default_factory=list)

    def __call__(self, conn: socket.socket, reader: BinaryIO) -> None:
        seen = _read_head(reader)
        if seen is None:
            return
        self.seen.append(seen)
        conn.sendall(self.raw)
        if self.then == "stall":
            self.stop.wait(10)
        else:
            _wait_until_sent(conn)


def _wait_until_sent(conn: socket.socket, timeout: float = 5.0) -> None:
    """Until the peer acknowledged everything sent (Linux: nothing left in the send queue)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if struct.unpack("i", fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0] == 0:
            return
        time.sleep(0.001)


def blob_chunks(size: int = BLOB_BYTES, chunk: int = 64 << 10) -> Iterator[bytes]:
    """A blob streamed the way copies stream them: an iterator of chunks, length known."""
    for offset in range(0, size, chunk):
        yield b"\0" * min(chunk, size - offset)


@pytest.mark.parametrize("then", ["close", "stall"])
@pytest.mark.parametrize(
    ("status", "body"),
    [("413 Payload Too Large", SIZE_INVALID), ("401 Unauthorized", UNAUTHORIZED),
     ("400 Bad Request", BAD_DIGEST)],
)  # fmt: skip
def test_an_answer_sent_before_the_body_was_read_is_the_answer(
    status: str, body: bytes, then: str
) -> None:
    early = EarlyAnswers(answer(status, body), then)
    headers = {"Content-Length": str(BLOB_BYTES)}
    with serving(early) as server, RegistryTransport() as transport:
        try:
            response = send(transport, "PUT", server.url + "/up", content=blob_chunks(),
                            headers=headers, timeout=5)  # fmt: skip
        finally:
            early.stop.set()
    assert (response.status_code, response.content) == (int(status[:3]), body)
    assert [s.method for s in early.seen] == ["PUT"]


@pytest.mark.parametrize("then", ["close", "stall"])
def test_an_early_answer_over_tls_is_the_answer_too(then: str, tmp_path: Path) -> None:
    """TLS sockets are not polled while sending (a TLS 1.3 session ticket makes them readable):
    the answer is found when the write fails, at once after a close, or when it times out."""
    files = make_tls_files(tmp_path / "tls")
    early = EarlyAnswers(answer("413 Payload Too Large", SIZE_INVALID), then)
    headers = {"Content-Length": str(BLOB_BYTES)}
    with serving(early, tls=files) as server, RegistryTransport(ca_context(files.ca_path)) as t:
        url = f"https://127.0.0.1:{server.port}/up"
        try:
            response = send(t, "PUT", url, content=blob_chunks(), headers=headers, timeout=1)
        finally:
            early.stop.set()
    assert (response.status_code, response.content) == (413, SIZE_INVALID)


def test_a_connection_answered_before_its_body_was_sent_is_not_used_again() -> None:
    early = EarlyAnswers(answer("413 Payload Too Large", SIZE_INVALID), "stall")

    def handle(conn: socket.socket, reader: BinaryIO) -> None:
        if not early.seen:
            early(conn, reader)  # the first connection answers early and keeps still
        else:
            while (seen := _read_request(reader)) is not None:
                early.seen.append(seen)
                conn.sendall(ok())

    headers = {"Content-Length": str(BLOB_BYTES)}
    with serving(handle) as server, RegistryTransport() as transport:
        try:
            first = send(transport, "PUT", server.url + "/up", content=blob_chunks(),
                         headers=headers)  # fmt: skip
            second = send(transport, "GET", server.url + "/next")
        finally:
            early.stop.set()
    assert (first.status_code, second.content) == (413, b"hello")
    assert server.connections == 2  # the half-sent request's connection was dropped


def test_an_upload_refused_early_is_reported_with_the_registry_error_and_once() -> None:
    early = EarlyAnswers(answer("413 Payload Too Large", SIZE_INVALID), "close")
    with serving(early) as server:
        settings = ClientSettings(f"127.0.0.1:{server.port}", insecure=True, retry=RetryPolicy())
        client = RegistryClient(settings, StaticCredentials(None))
        digest = "sha256:" + hashlib.sha256(b"\0" * BLOB_BYTES).hexdigest()
        location = f"{server.url}/v2/app/blobs/uploads/session-1"
        try:
            with pytest.raises(RegistryError) as caught:
                client.finish_upload("app", location, digest, blob_chunks(), BLOB_BYTES)
        finally:
            client.close()
    message = str(caught.value)
    assert "HTTP 413: SIZE_INVALID blob too large" in message, message
    assert "closed" not in message and "broken" not in message
    assert caught.value.status == 413
    assert len(early.seen) == 1  # a permanent refusal is not sent again


# -- errors, as httpx raises them -----------------------------------------------------------


def test_a_body_cut_short_is_a_protocol_error_not_a_short_body() -> None:
    truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly twenty bytes...."
    with (
        scripted_server(always(truncated, close=True)) as server,
        RegistryTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        send(transport, "GET", server.url + "/t")


def test_a_server_closing_without_answering_is_a_protocol_error() -> None:
    with (
        scripted_server(lambda seen, number: None) as server,
        RegistryTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError, match="server closed the connection"),
    ):
        send(transport, "GET", server.url + "/silent")


def test_garbage_instead_of_a_status_line_is_a_protocol_error() -> None:
    with (
        scripted_server(always(b"SSH-2.0-OpenSSH\r\n\r\n")) as server,
        RegistryTransport() as transport,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        send(transport, "GET", server.url + "/x")


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with RegistryTransport() as transport, pytest.raises(httpx.ConnectError) as caught:
            send(transport, "GET", f"http://127.0.0.1:{port}/v2/")
    assert "refused" in str(caught.value).lower()


def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    hold = threading.Event()

    def script(seen: Seen, number: int) -> tuple[bytes, bool]:
        hold.wait(5)
        return ok(), True

    with scripted_server(script) as server, RegistryTransport() as transport:
        try:
            with pytest.raises(httpx.ReadTimeout):
                send(transport, "GET", server.url + "/slow", timeout=0.2)
        finally:
            hold.set()


def test_a_server_that_stops_reading_without_answering_is_a_write_timeout() -> None:
    hold = threading.Event()

    def stall(conn: socket.socket, reader: BinaryIO) -> None:
        _read_head(reader)
        hold.wait(10)

    headers = {"Content-Length": str(BLOB_BYTES)}
    with serving(stall) as server, RegistryTransport() as transport:
        try:
            with pytest.raises(httpx.WriteTimeout):
                send(transport, "PUT", server.url + "/up", content=blob_chunks(),
                     headers=headers, timeout=0.3)  # fmt: skip
        finally:
            hold.set()


def test_a_plain_http_answer_to_the_tls_handshake_says_so() -> None:
    def plain(conn: socket.socket, reader: BinaryIO) -> None:
        conn.recv(1024)  # the ClientHello, which a plain HTTP server reads as a bad request
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

    with serving(plain) as server, RegistryTransport() as transport:
        with pytest.raises(NotTlsError, match="WRONG_VERSION_NUMBER"):
            send(transport, "GET", f"https://127.0.0.1:{server.port}/v2/")
        settings = ClientSettings(f"127.0.0.1:{server.port}", retry=RetryPolicy(attempts=4))
        client = RegistryClient(settings, StaticCredentials(None))
        try:
            with pytest.raises(TlsError) as caught:
                client.head_manifest("app", "1")
        finally:
            client.close()
    assert "insecure: true" in str(caught.value) and "--insecure" in str(caught.value)
    assert server.connections == 2  # one handshake each: not retried


# -- proxies --------------------------------------------------------------------------------

PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD")
P = "http://proxy:3128"
ONLY_HTTPS = {"HTTPS_PROXY": P}

PROXY_CASES = [
    ({}, "https://r.example", None),
    (ONLY_HTTPS, "https://r.example", P),
    (ONLY_HTTPS, "http://r.example", None),
    ({"HTTP_PROXY": P}, "http://r.example:5000", P),
    ({"ALL_PROXY": "http://all:1"}, "https://r.example", "http://all:1"),
    ({"ALL_PROXY": "http://all:1", **ONLY_HTTPS}, "https://r.example", P),
    ({"HTTPS_PROXY": "proxy:3128"}, "https://r.example", P),  # no scheme: http://
    ({"https_proxy": "http://lower:1", **ONLY_HTTPS}, "https://r.example", "http://lower:1"),
    ({"NO_PROXY": "r.example", **ONLY_HTTPS}, "https://r.example", None),
    ({"NO_PROXY": "r.example", **ONLY_HTTPS}, "https://sub.r.example", None),
    ({"NO_PROXY": "r.example", **ONLY_HTTPS}, "https://xr.example", P),
    ({"NO_PROXY": "other, r.example", **ONLY_HTTPS}, "https://r.example", None),
    ({"NO_PROXY": "other", **ONLY_HTTPS}, "https://r.example", P),
    ({"NO_PROXY": ".r.example", **ONLY_HTTPS}, "https://sub.r.example", None),
    ({"NO_PROXY": ".r.example", **ONLY_HTTPS}, "https://r.example", P),  # httpx: subdomains only
    ({"NO_PROXY": "r.example:5000", **ONLY_HTTPS}, "https://r.example:5000", None),
    ({"NO_PROXY": "r.example:5000", **ONLY_HTTPS}, "https://r.example:5001", P),
    ({"NO_PROXY": "r.example:443", **ONLY_HTTPS}, "https://r.example", P),  # default port: none
    ({"NO_PROXY": "*", **ONLY_HTTPS}, "https://r.example", None),
    ({"NO_PROXY": "a, *", **ONLY_HTTPS}, "https://r.example", None),
    ({"NO_PROXY": "127.0.0.1", "HTTP_PROXY": P}, "http://127.0.0.1:5000", None),
    ({"NO_PROXY": "127.0.0.1", "HTTP_PROXY": P}, "http://127.0.0.2:5000", P),
    ({"NO_PROXY": "::1", "HTTP_PROXY": P}, "http://[::1]:5000", None),
    ({"NO_PROXY": "10.0.0.0/8", "HTTP_PROXY": P}, "http://10.1.2.3", P),  # httpx: no CIDR
    ({"NO_PROXY": "localhost", "HTTP_PROXY": P}, "http://localhost:5000", None),
    ({"NO_PROXY": "http://r.example", "ALL_PROXY": P}, "http://r.example", None),
    ({"NO_PROXY": "http://r.example", "ALL_PROXY": P}, "https://r.example", P),
    ({"HTTP_PROXY": P, "REQUEST_METHOD": "GET"}, "http://r.example", None),  # CGI: ignored
    ({}, "http://127.0.0.1:5000", None),
    ({"HTTP_PROXY": P}, "http://127.0.0.1:5000", P),  # loopback is not special
]


def httpx_choice(url: str) -> str | None:
    """The proxy httpx.Client(trust_env=True) sends `url` through, from its own mounts."""
    proxies = get_environment_proxies()
    with httpx.Client(trust_env=True) as client:
        chosen = client._transport_for_url(httpx.URL(url))
        if chosen is client._transport:
            return None
        [pattern] = [p.pattern for p, t in client._mounts.items() if t is chosen]
        return proxies[pattern]


@pytest.mark.parametrize(("env", "url", "expected"), PROXY_CASES)
def test_proxy_for_decides_as_httpx_does(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], url: str, expected: str | None
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(url) == expected
    assert httpx_choice(url) == expected


def test_plain_http_goes_to_the_proxy_in_absolute_form(monkeypatch: pytest.MonkeyPatch) -> None:
    with scripted_server(always(ok(b"via proxy"))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pa%40ss@127.0.0.1:{proxy.port}")
        with RegistryTransport() as transport:
            answer = send(transport, "GET", "http://r.example:5000/v2/?n=1")
    assert answer.content == b"via proxy"
    [seen] = proxy.requests
    assert seen.path == "http://r.example:5000/v2/?n=1"
    assert seen.headers["host"] == "r.example:5000"
    assert seen.headers["proxy-authorization"] == "Basic dXNlcjpwYUBzcw=="  # user:pa@ss


def test_https_is_tunnelled_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse = always(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", close=True)
    with scripted_server(refuse) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "elsewhere")
        with RegistryTransport() as transport, pytest.raises(httpx.ProxyError, match="403"):
            send(transport, "GET", "https://r.example/v2/")
    [seen] = proxy.requests
    assert (seen.method, seen.path) == ("CONNECT", "r.example:443")


def test_token_and_storage_requests_take_the_same_proxy_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with scripted_server(always(ok(b"stored elsewhere"))) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        client = RegistryClient(ClientSettings("r.example", insecure=True), StaticCredentials(None))
        try:
            content = client._tokens.get("http://storage.example/blob").content
        finally:
            client.close()
    assert content == b"stored elsewhere"
    assert [s.path for s in proxy.requests] == ["http://storage.example/blob"]


# -- TLS trust ------------------------------------------------------------------------------


@pytest.fixture
def trust_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No system store from the environment, an empty docker certs.d."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CERTS_D_ENV, str(tmp_path / "certs.d"))
    return monkeypatch


def test_the_system_store_is_trusted_and_certifi_is_not_added_to_it(
    trust_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = make_tls_files(tmp_path / "tls")
    trust_env.setenv("SSL_CERT_FILE", str(files.ca_path))
    context = _tls_context(ClientSettings("r.example"))
    assert context.cert_store_stats()["x509_ca"] == 1  # that CA, and no certifi bundle


def test_certifi_stands_in_only_on_a_machine_without_any_system_store(
    trust_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    trust_env.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    trust_env.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    context = _tls_context(ClientSettings("r.example"))
    assert context.cert_store_stats()["x509_ca"] > 100  # the public roots certifi ships


def test_certs_d_adds_the_crt_files_of_the_host_with_its_port(
    trust_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cas = [make_tls_files(tmp_path / f"ca{n}", f"CA {n}").ca_path for n in range(4)]
    trust_env.setenv("SSL_CERT_FILE", str(cas[0]))
    certs_d = tmp_path / "certs.d"
    for host, ca, name in [("r.example:5000", cas[1], "a.crt"), ("r.example:5000", cas[2],
                           "b.crt"), ("r.example:5000", cas[3], "ignored.pem"),
                           ("r.example", cas[3], "other-port.crt")]:  # fmt: skip
        (certs_d / host).mkdir(parents=True, exist_ok=True)
        (certs_d / host / name).write_bytes(ca.read_bytes())
    context = _tls_context(ClientSettings("r.example:5000"))
    assert context.cert_store_stats()["x509_ca"] == 3  # system, a.crt, b.crt
    with_ca_file = _tls_context(ClientSettings("r.example:5000", ca_file=str(cas[3])))
    assert with_ca_file.cert_store_stats()["x509_ca"] == 4  # ca_file adds, replaces nothing


def test_an_unreadable_certs_d_file_is_a_clear_error(
    trust_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "certs.d" / "r.example" / "broken.crt"
    bad.parent.mkdir(parents=True)
    bad.write_text("not a certificate")
    with pytest.raises(RegistryError, match=f"r.example: cannot use certificate {bad}"):
        _tls_context(ClientSettings("r.example"))


def test_a_tls_context_given_as_a_function_is_built_once_when_an_https_origin_is_routed() -> None:
    built: list[ssl.SSLContext] = []

    def build() -> ssl.SSLContext:
        built.append(ssl.create_default_context())
        return built[-1]

    transport = RegistryTransport(build)
    transport._pool(("http", "127.0.0.1", 5000))
    assert built == []  # plain HTTP needs none
    transport._pool(("https", "127.0.0.1", 5001))
    transport._pool(("https", "127.0.0.2", 5001))
    assert len(built) == 1
    transport.close()


@pytest.mark.parametrize(("insecure", "built"), [(True, 0), (False, 1)], ids=["http", "https"])
def test_a_registry_client_builds_its_tls_context_only_for_an_https_registry(
    monkeypatch: pytest.MonkeyPatch, insecure: bool, built: int
) -> None:
    """Over HTTPS at once (an unusable ca_file stops the client there); over plain HTTP only
    when a token realm or a storage redirect turns out to be HTTPS (~50 ms saved a run)."""
    import reconciler._registry.http as http_module

    calls: list[str] = []

    def counted(settings: ClientSettings) -> ssl.SSLContext:
        calls.append(settings.host)
        return ssl.create_default_context()

    monkeypatch.setattr(http_module, "_tls_context", counted)
    client = RegistryClient(ClientSettings("r.test", insecure=insecure), StaticCredentials(None))
    client.close()
    assert len(calls) == built
