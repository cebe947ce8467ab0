"""Proof that the test infrastructure itself works: registries, auth, images, docker CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from tests.support import registry as registry_module
from tests.support.dockercli import (
    docker_login_config,
    docker_manifest_create_push,
    docker_manifest_inspect,
    needs_docker,
)
from tests.support.httpauth import RegistryAuth, parse_challenge
from tests.support.images import (
    ATTESTATION_MANIFEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    REFERENCE_DIGEST,
    REFERENCE_TYPE,
    RegistryHTTPError,
    get_manifest,
    push_image,
    push_index,
)
from tests.support.registry import RegistryProcess, parse_access_line, start_registry
from tests.support.tokenserver import TokenServer


def _manifest_path(repo: str, ref: str) -> str:
    return f"/v2/{repo}/manifests/{ref}"


def test_access_log_line_is_parsed() -> None:
    line = '127.0.0.1 - - [28/Nov/2026:21:22:23 +0000] "HEAD /v2/a/manifests/x?y=1 HTTP/1.1" 404 91 "" "curl/7.88.1"\n'  # noqa: E501
    parsed = parse_access_line(line)
    assert parsed is not None
    assert (parsed.method, parsed.path, parsed.status, parsed.size) == (
        "HEAD",
        "/v2/a/manifests/x?y=1",
        404,
        91,
    )
    assert parse_access_line('time="..." level=info msg="response completed"') is None


def test_anonymous_push_and_pull(registry: RegistryProcess, repo_name: str) -> None:
    docker = push_image(registry.url, repo_name, "v1")
    oci = push_image(registry.url, repo_name, "v1-oci", platform="linux/arm/v7", media="oci")

    raw, media_type, digest = get_manifest(registry.url, repo_name, "v1")
    assert (raw, media_type, digest) == (docker.raw, DOCKER_MANIFEST, docker.digest)
    raw, media_type, digest = get_manifest(registry.url, repo_name, oci.digest)
    assert (media_type, digest) == (OCI_MANIFEST, oci.digest)
    config = httpx.get(f"{registry.url}/v2/{repo_name}/blobs/{oci.config_digest}").json()
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm", "v7")


def test_images_are_deterministic(registry: RegistryProcess, repo_name: str) -> None:
    first = push_image(registry.url, repo_name, "a", seed="s")
    again = push_image(registry.url, repo_name, "a", seed="s")
    other_seed = push_image(registry.url, repo_name, "a", seed="t")
    other_tag = push_image(registry.url, repo_name, "b", seed="s")
    assert first == again
    assert len({first.digest, other_seed.digest, other_tag.digest}) == 3


def test_push_by_digest_creates_no_tag(registry: RegistryProcess, repo_name: str) -> None:
    push_image(registry.url, repo_name, "kept")
    untagged = push_image(registry.url, repo_name, None, seed="x")
    tags = httpx.get(f"{registry.url}/v2/{repo_name}/tags/list").json()["tags"]
    assert tags == ["kept"]
    assert get_manifest(registry.url, repo_name, untagged.digest)[2] == untagged.digest


def test_request_log_shows_one_phase(registry: RegistryProcess, repo_name: str) -> None:
    push_image(registry.url, repo_name, "v1")
    pushed = registry.writes()
    assert {r.method for r in pushed} == {"POST", "PUT"}
    assert pushed[-1].path == _manifest_path(repo_name, "v1")
    assert all(r.status in (201, 202) for r in pushed)

    registry.clear_log()
    get_manifest(registry.url, repo_name, "v1")
    httpx.head(registry.url + _manifest_path(repo_name, "nope"))
    seen = [(r.method, r.path, r.status) for r in registry.requests()]
    assert seen == [
        ("GET", _manifest_path(repo_name, "v1"), 200),
        ("HEAD", _manifest_path(repo_name, "nope"), 404),
    ]
    assert registry.writes() == []


def test_htpasswd_registry_checks_credentials(
    basic_registry: RegistryProcess, repo_name: str
) -> None:
    user, password = next(iter(basic_registry.users.items()))
    anonymous = httpx.get(f"{basic_registry.url}/v2/")
    assert anonymous.status_code == 401
    assert parse_challenge(anonymous.headers["WWW-Authenticate"])[0] == "basic"
    assert httpx.get(f"{basic_registry.url}/v2/", auth=(user, "wrong")).status_code == 401
    assert httpx.get(f"{basic_registry.url}/v2/", auth=(user, password)).status_code == 200

    with pytest.raises(RegistryHTTPError, match="401"):
        push_image(basic_registry.url, repo_name, "v1", auth=(user, "wrong"))
    image = push_image(basic_registry.url, repo_name, "v1", auth=(user, password))
    assert get_manifest(basic_registry.url, repo_name, "v1", auth=(user, password))[2] == (
        image.digest
    )


def test_token_flow(
    token_server: TokenServer, token_registry: RegistryProcess, repo_name: str
) -> None:
    challenge = httpx.get(f"{token_registry.url}/v2/")
    assert challenge.status_code == 401
    scheme, params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert (scheme, params["realm"], params["service"]) == (
        "bearer",
        token_server.realm,
        token_server.service,
    )

    user, password = next(iter(token_server.users.items()))
    scope = f"repository:{repo_name}:pull,push"
    query = {"service": token_server.service, "scope": scope}
    answer = httpx.get(token_server.realm, params=query, auth=(user, password))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert httpx.get(f"{token_registry.url}/v2/", headers=bearer).status_code == 200

    image = push_image(token_registry.url, repo_name, "v1", auth=(user, password))
    assert get_manifest(token_registry.url, repo_name, "v1", auth=(user, password))[2] == (
        image.digest
    )
    assert token_server.requests[0].username == user
    assert token_server.requests[0].scope == scope
    assert token_server.tokens_for(f"repository:{repo_name}:pull")


def test_token_server_refuses_bad_and_anonymous_requests(token_server: TokenServer) -> None:
    query = {"service": token_server.service, "scope": "repository:x/y:pull"}
    assert httpx.get(token_server.realm, params=query).status_code == 401
    assert httpx.get(token_server.realm, params=query, auth=("alice", "no")).status_code == 401
    assert [(r.username, r.status) for r in token_server.requests] == [
        (None, 401),
        ("alice", 401),
    ]


def test_token_scope_is_enforced(
    token_server: TokenServer, token_registry: RegistryProcess, repo_name: str
) -> None:
    token_server.allow_anonymous = True  # anonymous users get pull only
    push_image(token_registry.url, repo_name, "v1", auth=("alice", "s3cret-Alice-pw"))
    anonymous = RegistryAuth()
    assert get_manifest(token_registry.url, repo_name, "v1", auth=anonymous)[1] == DOCKER_MANIFEST
    with pytest.raises(RegistryHTTPError, match="401"):
        push_image(token_registry.url, repo_name, "v2", auth=anonymous)


def test_push_index_has_buildx_layout(registry: RegistryProcess, repo_name: str) -> None:
    pushed = push_index(registry.url, repo_name, "multi", ["linux/amd64", ("linux/arm64", "x")])
    raw, media_type, digest = get_manifest(registry.url, repo_name, "multi")
    assert (raw, media_type, digest) == (pushed.raw, OCI_INDEX, pushed.digest)

    entries = json.loads(raw)["manifests"]
    assert [e["digest"] for e in entries] == pushed.child_digests + pushed.attestation_digests
    assert [e["platform"]["architecture"] for e in entries] == [
        "amd64",
        "arm64",
        "unknown",
        "unknown",
    ]
    for entry, child_digest in zip(entries[2:], pushed.child_digests, strict=True):
        assert entry["annotations"] == {
            REFERENCE_DIGEST: child_digest,
            REFERENCE_TYPE: ATTESTATION_MANIFEST,
        }
    for child in pushed.children:
        assert get_manifest(registry.url, repo_name, child.digest)[1] == OCI_MANIFEST


@pytest.mark.integration
def test_registries_run_side_by_side_and_stop(tmp_path: Path) -> None:
    registries = [start_registry(tmp_path) for _ in range(3)]
    assert len({r.host for r in registries}) == 3
    for registry in registries:
        registry.stop()
        registry.stop()  # idempotent
        assert registry.process.poll() is not None
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{registry.url}/v2/", timeout=1)


@needs_docker
def test_docker_cli_builds_manifest_list(
    registry: RegistryProcess, repo_name: str, docker_config: Path
) -> None:
    amd = push_image(registry.url, repo_name, "amd64")
    arm = push_image(registry.url, repo_name, "arm64", platform="linux/arm64/v8")
    sources = [f"{registry.host}/{repo_name}:amd64", f"{registry.host}/{repo_name}:arm64"]
    registry.clear_log()

    digest = docker_manifest_create_push(
        f"{registry.host}/{repo_name}:alias", sources, config_dir=docker_config
    )

    raw, media_type, stored = get_manifest(registry.url, repo_name, "alias")
    assert (media_type, stored) == (DOCKER_LIST, digest)
    children = json.loads(raw)["manifests"]
    assert [c["digest"] for c in children] == [amd.digest, arm.digest]
    assert children[1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert [(r.method, r.path) for r in registry.writes()] == [
        ("PUT", _manifest_path(repo_name, "alias"))
    ]
    inspected = docker_manifest_inspect(f"{registry.host}/{repo_name}:alias", docker_config)
    assert inspected == json.loads(raw)
    assert not (docker_config / "manifests").exists() or not any(
        (docker_config / "manifests").iterdir()
    )


@needs_docker
def test_docker_cli_uses_config_credentials(
    basic_registry: RegistryProcess, repo_name: str, docker_config: Path
) -> None:
    user, password = next(iter(basic_registry.users.items()))
    image = push_image(basic_registry.url, repo_name, "amd64", auth=(user, password))
    docker_login_config(docker_config, basic_registry.host, user, password)

    digest = docker_manifest_create_push(
        f"{basic_registry.host}/{repo_name}:alias",
        [f"{basic_registry.host}/{repo_name}:amd64"],
        config_dir=docker_config,
    )

    raw, _, stored = get_manifest(basic_registry.url, repo_name, "alias", auth=(user, password))
    assert stored == digest
    assert [c["digest"] for c in json.loads(raw)["manifests"]] == [image.digest]


@pytest.mark.integration
def test_start_retries_when_port_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = registry_module.free_port
        monkeypatch.setattr(registry_module, "free_port", lambda: next(ports, real_free_port()))
        process = start_registry(tmp_path)
        try:
            assert process.port != taken
        finally:
            process.stop()


@pytest.mark.integration
def test_start_failure_shows_registry_log(tmp_path: Path) -> None:
    server = TokenServer(tmp_path / "tokens").start()
    try:
        server.cert_path.unlink()  # the registry refuses to start without its trust root
        with pytest.raises(RuntimeError, match="exited") as failure:
            start_registry(tmp_path, auth="token", token_server=server)
        assert "unable to open token auth root certificate bundle" in str(failure.value)
    finally:
        server.stop()
