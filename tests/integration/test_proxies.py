"""Whole runs through a real forward proxy (tests/support/forwardproxy.py), the way a
company network routes registry traffic: HTTP_PROXY for plain-HTTP registries (absolute-form
requests the proxy forwards), HTTPS_PROXY for TLS ones (CONNECT tunnels), token services
included, and NO_PROXY honoured as httpx honours it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.forwardproxy import ForwardProxy, start_forward_proxy
from tests.support.images import push_image
from tests.support.registry import RegistryProcess
from tests.support.tokenserver import TokenServer

from .cli import Reconcile
from .test_security import SECRET, USER, TlsRegistry, assert_nothing_leaks, tls_config
from .test_security import tls_registry as tls_registry  # the fixture

PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def forward_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A started proxy that HTTP_PROXY and HTTPS_PROXY name; NO_PROXY empty, so loopback
    registries go through it too (httpx and reconcile bypass nothing unless NO_PROXY says)."""
    proxy = start_forward_proxy()
    for name in PROXY_NAMES:
        for variant in (name, name.lower()):
            monkeypatch.setenv(variant, "" if name in ("NO_PROXY", "ALL_PROXY") else proxy.url)
    yield proxy
    proxy.stop()


def one_alias(path: Path, host: str, repo: str, settings: dict[str, object]) -> Path:
    path.write_text(json.dumps({
        "registries": {host: settings},
        "repositories": {f"{host}/{repo}": {"aliases": {"1": ["1.1", "1.2"]}}},
    }))  # fmt: skip
    return path


def push_sources(registry: RegistryProcess, repo: str, auth: tuple[str, str] | None = None) -> None:
    """Pushed directly (the test helpers ignore proxy settings), then the log is cleared."""
    for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
        push_image(registry.url, repo, tag, platform=platform, auth=auth)
    registry.clear_log()


def test_a_run_reaches_a_plain_http_registry_only_through_the_proxy(
    registry: RegistryProcess, forward_proxy: ForwardProxy, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    push_sources(registry, repo_name)
    config = one_alias(tmp_path / "m.yaml", registry.host, repo_name, {"insecure": True})
    result = Reconcile(capsys, config)("--output", "json")
    assert result.code == 0, result.out + result.err
    assert [a["action"] for a in result.json["aliases"]] == ["create"]
    carried = forward_proxy.seen()
    assert carried and {c.netloc for c in carried} == {registry.host}
    assert all(c.target.startswith(f"http://{registry.host}/v2/") for c in carried)
    # Every request the registry answered came through the proxy, and nothing else did.
    through_proxy = Counter((c.method, _path(c.target)) for c in carried)
    assert Counter((r.method, r.path) for r in registry.requests()) == through_proxy
    assert through_proxy[("PUT", f"/v2/{repo_name}/manifests/1")] == 1


def test_a_run_reaches_a_tls_registry_through_a_connect_tunnel(
    tls_registry: TlsRegistry, forward_proxy: ForwardProxy, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    settings = {"ca_file": str(tls_registry.files.ca_path)}
    tls_registry.registry.clear_log()
    result = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, settings))("-vv")
    assert result.code == 0, result.out + result.err
    assert "created" in result.out
    carried = forward_proxy.seen()
    assert carried and {(c.method, c.target) for c in carried} == {
        ("CONNECT", tls_registry.registry.host)
    }
    assert all(c.status == 200 for c in carried)
    assert tls_registry.registry.requests()  # the registry answered inside the tunnels
    assert_nothing_leaks({"stdout": result.out, "stderr": result.err}, SECRET)


def test_token_requests_go_through_the_proxy_too(
    token_registry: RegistryProcess, token_server: TokenServer, forward_proxy: ForwardProxy,
    repo_name: str, tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    password = TOKEN_USERS["alice"]
    push_sources(token_registry, repo_name, auth=("alice", password))
    docker_login_config(docker_config, token_registry.host, "alice", password)
    token_server.clear_requests()
    config = one_alias(tmp_path / "m.yaml", token_registry.host, repo_name, {"insecure": True})
    result = Reconcile(capsys, config)()
    assert result.code == 0, result.out + result.err
    realm = urlsplit(token_server.url).netloc
    by_origin = Counter(c.netloc for c in forward_proxy.seen())
    assert set(by_origin) == {token_registry.host, realm}
    assert by_origin[realm] == len(token_server.requests) > 0  # every token request, proxied


def test_no_proxy_with_the_registry_host_and_port_goes_direct(
    registry: RegistryProcess, forward_proxy: ForwardProxy, repo_name: str, tmp_path: Path,
    docker_config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    push_sources(registry, repo_name)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, f"example.com, {registry.host}")  # host:port, as httpx reads it
    config = one_alias(tmp_path / "m.yaml", registry.host, repo_name, {"insecure": True})
    result = Reconcile(capsys, config)()
    assert result.code == 0, result.out + result.err
    assert forward_proxy.seen() == []
    assert any(r.method == "PUT" for r in registry.requests())


def _path(target: str) -> str:
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")
