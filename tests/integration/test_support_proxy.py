"""The counting, latency-injecting, fault-injecting proxy in front of a real registry."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.support.dockercli import docker_manifest_create_push, needs_docker
from tests.support.httpauth import loopback_client
from tests.support.images import (
    ALL_MANIFEST_TYPES,
    DOCKER_LIST,
    get_manifest,
    push_blob,
    push_image,
    sha256_digest,
)
from tests.support.proxy import (
    Fault,
    Proxy,
    ProxyAnswer,
    ProxyRequest,
    path_kind,
    start_proxy,
)
from tests.support.registry import RegistryProcess

ACCEPT = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}


@pytest.fixture
def proxy(registry: RegistryProcess) -> Iterator[Proxy]:
    with start_proxy(registry.url) as running:
        yield running


def _connection(proxy: Proxy, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)


def _send(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def _raw_exchange(proxy: Proxy, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes and read until the proxy closes; raises ConnectionResetError on RST."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        for _ in range(1000):  # bounded: each recv returns data or ends the loop
            data = sock.recv(65536)
            if not data:
                break
            received += data
        return received


def test_path_kind() -> None:
    assert path_kind("/v2/a/b/manifests/latest") == "manifests"
    assert path_kind("/v2/a/blobs/sha256:00") == "blobs"
    assert path_kind("/v2/a/blobs/uploads/uuid?_state=x") == "blobs"
    assert path_kind("/v2/a/tags/list?n=10") == "tags"
    assert path_kind("/v2/") == "other"
    assert path_kind("/v2/manifests/x") == "other"  # no repository name


def test_push_and_pull_through_the_proxy_are_counted(
    registry: RegistryProcess, proxy: Proxy, repo_name: str
) -> None:
    image = push_image(proxy.url, repo_name, "v1")
    counts = proxy.counts()
    # Two blobs (POST to open, PUT to finish each) and the manifest.
    assert counts.by_method == {"POST": 2, "PUT": 3}
    assert (counts.of("POST", "blobs"), counts.of("PUT", "blobs")) == (2, 2)
    assert counts.of("PUT", "manifests") == 1
    assert counts.writes == 5
    assert counts.by_status == {202: 2, 201: 3}
    # The registry saw exactly what the proxy counted.
    assert sorted(r.method for r in registry.requests()) == ["POST", "POST", "PUT", "PUT", "PUT"]

    proxy.reset_counts()
    raw, _, digest = get_manifest(proxy.url, repo_name, "v1")
    assert (raw, digest) == (image.raw, image.digest)
    with loopback_client(proxy.url) as client:
        config = client.get(f"/v2/{repo_name}/blobs/{image.config_digest}")
    assert sha256_digest(config.content) == image.config_digest
    assert proxy.counts().by_kind == {("GET", "manifests"): 1, ("GET", "blobs"): 1}
    assert [(e.method, e.kind, e.status) for e in proxy.log()] == [
        ("GET", "manifests", 200),
        ("GET", "blobs", 200),
    ]


def test_head_keeps_headers_and_the_connection(proxy: Proxy, repo_name: str) -> None:
    image = push_image(proxy.url, repo_name, "v1")
    conn = _connection(proxy)
    try:
        for _ in range(3):  # one connection, several exchanges
            response, body = _send(conn, "HEAD", f"/v2/{repo_name}/manifests/v1", ACCEPT)
            assert (response.status, body) == (200, b"")
            assert response.getheader("Docker-Content-Digest") == image.digest
            assert response.getheader("Content-Length") == str(image.size)
        response, body = _send(conn, "HEAD", f"/v2/{repo_name}/manifests/absent", ACCEPT)
        assert (response.status, body) == (404, b"")
        response, body = _send(conn, "GET", f"/v2/{repo_name}/manifests/v1", ACCEPT)
        assert (response.status, body) == (200, image.raw)
    finally:
        conn.close()
    assert proxy.counts().by_method == {"POST": 2, "PUT": 3, "HEAD": 4, "GET": 1}


def test_upload_location_points_back_at_the_proxy(proxy: Proxy, repo_name: str) -> None:
    with loopback_client(proxy.url) as client:
        started = client.post(f"/v2/{repo_name}/blobs/uploads/")
    assert started.status_code == 202
    assert started.headers["Location"].startswith(proxy.url + "/v2/")


def test_chunked_request_bodies_are_forwarded(proxy: Proxy, repo_name: str) -> None:
    data = bytes(range(256)) * 1000
    digest = sha256_digest(data)

    def pieces() -> Iterator[bytes]:  # a generator body makes httpx send it chunked
        for start in range(0, len(data), 7000):
            yield data[start : start + 7000]

    with loopback_client(proxy.url) as client:
        started = client.post(f"/v2/{repo_name}/blobs/uploads/")
        location = httpx.URL(started.headers["Location"]).copy_merge_params({"digest": digest})
        finished = client.put(location, content=pieces())
        assert finished.status_code == 201, finished.text
        assert client.get(f"/v2/{repo_name}/blobs/{digest}").content == data


def test_latency_is_added_to_every_request(proxy: Proxy, repo_name: str) -> None:
    proxy.latency = 0.05
    with loopback_client(proxy.url) as client:
        for _ in range(3):
            started = time.monotonic()
            client.head(f"/v2/{repo_name}/manifests/v1", headers=ACCEPT)
            assert time.monotonic() - started >= 0.05


def test_fault_respond_answers_without_forwarding(
    registry: RegistryProcess, proxy: Proxy, repo_name: str
) -> None:
    def hook(request: ProxyRequest) -> Fault | None:
        if request.method == "HEAD":
            return Fault.respond(429, headers={"Retry-After": "3"}, body=b"slow down")
        if request.method == "GET":
            return Fault.respond(503, body=b'{"errors":[]}')
        return None

    proxy.fault = hook
    registry.clear_log()
    conn = _connection(proxy)
    try:
        response, body = _send(conn, "HEAD", f"/v2/{repo_name}/manifests/v1")
        assert (response.status, response.getheader("Retry-After"), body) == (429, "3", b"")
        response, body = _send(conn, "GET", f"/v2/{repo_name}/manifests/v1")
        assert (response.status, body) == (503, b'{"errors":[]}')
        # A faulted request with a body leaves the connection usable.
        conn.request("PUT", f"/v2/{repo_name}/manifests/v1", body=b"{}")
        response = conn.getresponse()
        response.read()
        assert response.status == 400  # forwarded: the registry rejects the empty manifest
    finally:
        conn.close()
    assert [r.method for r in registry.requests()] == ["PUT"]
    assert proxy.counts().faults == 2


def test_fault_respond_sends_a_header_repeated(proxy: Proxy, repo_name: str) -> None:
    challenges = [("WWW-Authenticate", 'Bearer realm="r"'), ("WWW-Authenticate", "Basic")]
    proxy.fault = lambda request: Fault.respond(401, headers=challenges)
    with loopback_client(proxy.url) as client:
        answer = client.get(f"/v2/{repo_name}/tags/list")
    assert answer.status_code == 401
    assert answer.headers.get_list("www-authenticate") == ['Bearer realm="r"', "Basic"]


def test_rewrite_edits_the_registry_answer_keeping_the_connection(
    proxy: Proxy, repo_name: str
) -> None:
    image = push_image(proxy.url, repo_name, "v1")
    seen: list[tuple[str, int]] = []

    def rewrite(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        seen.append((request.method, answer.status))
        if request.kind != "tags":
            return answer.with_header("ratelimit-remaining", "7;w=21600")
        doc = answer.json()
        return replace(answer, body=json.dumps({**doc, "extra": True}).encode())

    proxy.rewrite = rewrite
    conn = _connection(proxy)
    try:
        response, body = _send(conn, "HEAD", f"/v2/{repo_name}/manifests/v1", ACCEPT)
        assert (response.status, body) == (200, b"")
        assert response.getheader("Content-Length") == str(image.size)  # kept on HEAD
        assert response.getheader("ratelimit-remaining") == "7;w=21600"
        response, body = _send(conn, "GET", f"/v2/{repo_name}/tags/list")
        assert json.loads(body) == {"name": repo_name, "tags": ["v1"], "extra": True}
        assert response.getheader("Content-Length") == str(len(body))
    finally:
        conn.close()
    assert seen == [("HEAD", 200), ("GET", 200)]


def test_rewrite_hook_errors_answer_500_and_are_kept(proxy: Proxy, repo_name: str) -> None:
    def broken(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        raise KeyError("boom")

    proxy.rewrite = broken
    with loopback_client(proxy.url) as client:
        assert client.get(f"/v2/{repo_name}/tags/list").status_code == 500
    assert [type(e) for e in proxy.hook_errors] == [KeyError]


def test_a_proxy_can_listen_on_another_loopback_address(registry: RegistryProcess) -> None:
    with start_proxy(registry.url, address="127.0.0.2") as other:
        assert other.host == f"127.0.0.2:{other.port}"
        with loopback_client(other.url) as client:
            assert client.get("/v2/").status_code == 200


def test_fault_reset_sends_a_tcp_reset(proxy: Proxy, repo_name: str) -> None:
    proxy.fault = lambda request: Fault.reset() if request.number == 1 else None
    request = f"HEAD /v2/{repo_name}/manifests/v1 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with pytest.raises(ConnectionResetError):
        _raw_exchange(proxy, request)
    # The next request (number 2) is forwarded normally; httpx sees the first kind as an error.
    with loopback_client(proxy.url) as client:
        assert client.head(f"/v2/{repo_name}/manifests/v1").status_code == 404
    proxy.fault = lambda request: Fault.reset()
    with loopback_client(proxy.url) as client, pytest.raises(httpx.TransportError):
        client.get(f"/v2/{repo_name}/manifests/v1")
    assert proxy.counts().by_status == {0: 2, 404: 1}


def test_fault_delay_holds_the_request_then_forwards(proxy: Proxy, repo_name: str) -> None:
    proxy.fault = lambda request: Fault.delay(0.3)
    with loopback_client(proxy.url) as client:
        started = time.monotonic()
        assert client.head(f"/v2/{repo_name}/manifests/v1").status_code == 404
        assert time.monotonic() - started >= 0.3
    with loopback_client(proxy.url, timeout=0.1) as client, pytest.raises(httpx.ReadTimeout):
        client.head(f"/v2/{repo_name}/manifests/v1")


def test_fault_truncate_cuts_the_body(proxy: Proxy, repo_name: str) -> None:
    data = b"x" * 5000
    digest = push_blob(proxy.url, repo_name, data)
    proxy.fault = lambda request: Fault.truncate(10) if request.method == "GET" else None
    received = _raw_exchange(
        proxy, f"GET /v2/{repo_name}/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-length: 5000" in head.lower()
    assert body == data[:10]
    with loopback_client(proxy.url) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/v2/{repo_name}/blobs/{digest}")


def test_fault_hook_errors_answer_500_and_are_kept(proxy: Proxy, repo_name: str) -> None:
    def broken(request: ProxyRequest) -> Fault | None:
        raise RuntimeError("hook bug")

    proxy.fault = broken
    with loopback_client(proxy.url) as client:
        assert client.get(f"/v2/{repo_name}/tags/list").status_code == 500
    assert [str(e) for e in proxy.hook_errors] == ["hook bug"]


def test_hundreds_of_keep_alive_connections(proxy: Proxy, repo_name: str) -> None:
    image = push_image(proxy.url, repo_name, "v1")
    proxy.reset_counts()
    proxy.latency = 0.02
    clients, rounds = 200, 3
    barrier = threading.Barrier(clients, timeout=30)
    failures: list[str] = []

    def worker() -> None:
        conn = _connection(proxy, timeout=30)
        try:
            for _ in range(rounds):
                response, _ = _send(conn, "HEAD", f"/v2/{repo_name}/manifests/v1", ACCEPT)
                if response.getheader("Docker-Content-Digest") != image.digest:
                    failures.append(f"status {response.status}")
            barrier.wait()  # every connection is open and kept alive at this point
        except Exception as exc:
            failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert proxy.counts().by_method == {"HEAD": clients * rounds}


def test_stop_closes_kept_alive_connections(registry: RegistryProcess, repo_name: str) -> None:
    proxy = start_proxy(registry.url)
    conn = _connection(proxy)
    _send(conn, "GET", "/v2/")
    assert proxy.open_connections() == 1
    proxy.stop()
    proxy.stop()  # idempotent
    assert proxy.open_connections() == 0
    with pytest.raises((OSError, http.client.HTTPException)):
        _send(conn, "GET", "/v2/")
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()


@needs_docker
def test_docker_manifest_cli_works_through_the_proxy(
    registry: RegistryProcess, proxy: Proxy, repo_name: str, docker_config: Path
) -> None:
    amd = push_image(registry.url, repo_name, "amd64")
    arm = push_image(registry.url, repo_name, "arm64", platform="linux/arm64")
    sources = [f"{proxy.host}/{repo_name}:amd64", f"{proxy.host}/{repo_name}:arm64"]

    digest = docker_manifest_create_push(
        f"{proxy.host}/{repo_name}:alias", sources, config_dir=docker_config
    )

    raw, media_type, stored = get_manifest(registry.url, repo_name, "alias")
    assert (media_type, stored) == (DOCKER_LIST, digest)
    assert [c["digest"] for c in json.loads(raw)["manifests"]] == [amd.digest, arm.digest]
    counts = proxy.counts()
    assert counts.writes == 1 and counts.of("PUT", "manifests") == 1
