"""The `storage` zoo profile (GAR/GCR and S3-backed registries) against real registries: blobs
copied across registries go through storage hosts that never see the registries' credentials,
blob bytes are copied as stored whatever the storage's framing, and GCR-shaped tag lists far
above the manifest size cap are listed. Plus a 401 to a streamed upload (any registry)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler._model.oci import MANIFEST_ACCEPT
from reconciler._registry.http import MAX_MANIFEST_BYTES
from tests.conftest import BASIC_USERS, TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import (
    get_manifest,
    push_image,
    push_index,
    push_manifest_list,
    registry_client,
)
from tests.support.proxy import Fault, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.zoo.storage import STORAGE_ADDRESS, Storage, storage

from .cli import Reconcile, Run

pytestmark = pytest.mark.usefixtures("docker_config")
USER = "alice"
PASSWORD = BASIC_USERS[USER]
assert TOKEN_USERS[USER] == PASSWORD  # one password for both kinds of registry


def config(path: Path, hosts: list[str], repository: str, aliases: dict[str, Any]) -> Path:
    path.write_text(json.dumps({
        "registries": {host: {"insecure": True, "timeout": 10} for host in hosts},
        "repositories": {repository: {"aliases": aliases}},
    }))  # fmt: skip
    return path


def blob_answer(registry: RegistryProcess, repo: str, digest: str) -> httpx.Response:
    """The registry's own answer for a blob (no proxy, no storage): GET, redirects refused."""
    with registry_client(registry.url, (USER, PASSWORD)) as client:
        response = client.get(f"/v2/{repo}/blobs/{digest}")
        response.read()
    return response


def manifest_status(registry: RegistryProcess, repo: str, ref: str) -> int:
    with registry_client(registry.url, (USER, PASSWORD)) as client:
        return client.head(
            f"/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT}
        ).status_code


def assert_storage_saw_no_credentials(*zoos: Storage) -> None:
    for zoo in zoos:
        for seen in zoo.storage.requests():
            assert "authorization" not in seen.headers, (zoo.storage.origin, seen)
            assert "cookie" not in seen.headers, (zoo.storage.origin, seen)
            assert PASSWORD not in seen.path


@pytest.fixture(
    params=[("basic_registry", "token_registry"), ("token_registry", "basic_registry")],
    ids=["basic-to-token", "token-to-basic"],
)
def source_and_target(request: pytest.FixtureRequest) -> tuple[RegistryProcess, RegistryProcess]:
    source, target = request.param
    return request.getfixturevalue(source), request.getfixturevalue(target)


def test_a_cross_registry_copy_goes_through_storage_that_never_sees_credentials(
    source_and_target: tuple[RegistryProcess, RegistryProcess], tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Downloads from the source and uploads to the target are both handed to storage hosts
    (pre-signed URLs); every request those hosts got had no Authorization and no Cookie,
    though both registries want credentials and got them."""
    source, target = source_and_target
    multi = push_index(source.url, "upstream/app", "2.0", ["linux/amd64", "linux/arm64"],
                       auth=(USER, PASSWORD))  # fmt: skip
    with (
        storage(source, credentials=(USER, PASSWORD)) as downloads,
        storage(target, credentials=(USER, PASSWORD)) as uploads,
    ):
        for zoo in (downloads, uploads):
            docker_login_config(docker_config, zoo.host, USER, PASSWORD)
        aliases = {"2": [f"{downloads.host}/upstream/app:2.0"]}
        hosts = [downloads.host, uploads.host]
        path = config(tmp_path / "m.yaml", hosts, f"{uploads.host}/mirror", aliases)
        run = Reconcile(capsys, path)
        first = run("-vv")
        assert first.code == 0, first.out + first.err
        assert "created" in first.out
        sessions = len([e for e in uploads.proxy.log() if e.method == "POST" and e.status == 202])
        second = run()
    assert (second.code, second.out) == (0, "Everything up to date (1 alias).\n")

    assert downloads.storage.origin.startswith(f"http://{STORAGE_ADDRESS}:")
    upload_puts = uploads.storage.requests("PUT")
    assert sessions > 0 and len(upload_puts) == sessions  # every blob streamed via storage
    assert len(downloads.storage.requests("GET")) >= sessions  # ... and read from storage
    assert_storage_saw_no_credentials(downloads, uploads)
    assert PASSWORD not in first.out + first.err

    index = json.loads(get_manifest(target.url, "mirror", "2", auth=(USER, PASSWORD))[0])
    assert [m["digest"] for m in index["manifests"]] == [
        *multi.child_digests,
        *multi.attestation_digests,
    ]
    for child in multi.children:  # the copies are whole: manifests and their blobs
        assert manifest_status(target, "mirror", child.digest) == 200
        layer = blob_answer(target, "mirror", child.layer_digest)
        assert layer.status_code == 200
        assert layer.content == blob_answer(source, "upstream/app", child.layer_digest).content


@pytest.mark.parametrize(
    ("chunked", "label_gzip"),
    [(False, True), (True, False), (True, True)],
    ids=["content-encoding-gzip", "chunked", "chunked-content-encoding-gzip"],
)
def test_blobs_are_copied_as_stored_with_the_descriptors_size(
    chunked: bool, label_gzip: bool, registry: RegistryProcess,
    basic_registry: RegistryProcess, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The source's storage serves gzip layers labelled `Content-Encoding: gzip` (as object
    storage serves a .tar.gz stored with that metadata) and/or chunked, without Content-Length.
    The copy is the stored bytes, the descriptor's size of them: decoding the label gave the
    layer's tar, whose digest is not the layer's."""
    image = push_image(registry.url, "upstream/app", "1.0", platform="linux/arm64")
    raw, _, _ = get_manifest(registry.url, "upstream/app", "1.0")
    blobs = {
        b["digest"]: b["size"] for b in [json.loads(raw)["config"], *json.loads(raw)["layers"]]
    }
    docker_login_config(docker_config, basic_registry.host, USER, PASSWORD)
    with storage(registry, chunked=chunked, label_gzip=label_gzip) as source:
        aliases = {"1": [f"{source.host}/upstream/app:1.0"]}
        hosts = [source.host, basic_registry.host]
        path = config(tmp_path / "m.yaml", hosts, f"{basic_registry.host}/mirror", aliases)
        result = Reconcile(capsys, path)("--output", "json")
        served = source.storage.requests("GET")
    assert result.code == 0, result.out + result.err
    assert len(served) >= len(blobs)  # the bytes came from the storage host
    for digest, size in blobs.items():
        copied = blob_answer(basic_registry, "mirror", digest)
        assert copied.status_code == 200, digest
        stored = (len(copied.content), "sha256:" + hashlib.sha256(copied.content).hexdigest())
        assert stored == (size, digest)
    assert manifest_status(basic_registry, "mirror", image.digest) == 200


def test_a_gcr_tag_list_larger_than_the_manifest_cap_feeds_a_floating_alias_and_import(
    registry: RegistryProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    amd_old = push_image(registry.url, "app", "10.1", platform="linux/amd64")
    arm = push_image(registry.url, "app", "10.2", platform="linux/arm64")
    amd = push_image(registry.url, "app", "10.3", platform="linux/amd64")
    push_manifest_list(registry.url, "app", "9", [amd_old, arm])  # to import
    with storage(registry, tag_page_bytes=MAX_MANIFEST_BYTES + (1 << 20)) as gcr:
        path = config(tmp_path / "m.yaml", [gcr.host], f"{gcr.host}/app",
                      {"10": {"track": "10.*"}})  # fmt: skip
        floating = Reconcile(capsys, path)("--output", "json")
        monkeypatch.chdir(tmp_path)
        imported = Reconcile(capsys)("import", "--insecure", f"{gcr.host}/app:9")
        pages = list(gcr.tag_pages)
    assert pages and min(pages) > MAX_MANIFEST_BYTES  # every page far above the old cap
    assert floating.code == 0, floating.out + floating.err
    [alias] = floating.json["aliases"]
    assert alias["action"] == "create" and alias["applied"] is True
    assert {e["platform"]: e["source"] for e in alias["desired"]["entries"]} == {
        "linux/amd64": "10.3",
        "linux/arm64": "10.2",
    }
    index = json.loads(get_manifest(registry.url, "app", "10")[0])
    assert [m["digest"] for m in index["manifests"]] == [amd.digest, arm.digest]
    assert imported.code == 0, imported.err
    doc = yaml.safe_load(imported.out)
    assert doc["repositories"][f"{gcr.host}/app"]["aliases"] == {"9": ["10.1", "10.2"]}


# -- a 401 to a streamed upload ------------------------------------------------------------------


def refuse_upload_puts(registry: RegistryProcess, times: int | None) -> Any:
    """A fault hook: the first `times` (None: every) upload PUT is answered 401 with the
    registry's own challenge, as when a token or an ECR password expires mid-copy."""
    challenge = httpx.get(f"{registry.url}/v2/").headers["www-authenticate"]
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
    refused = [0]

    def hook(request: ProxyRequest) -> Fault | None:
        if request.method != "PUT" or "/blobs/uploads/" not in request.path:
            return None
        if times is not None and refused[0] >= times:
            return None
        refused[0] += 1
        headers = [("WWW-Authenticate", challenge), ("Content-Type", "application/json")]
        return Fault.respond(401, headers=headers, body=body)

    return hook


@pytest.fixture(params=["basic_registry", "token_registry"])
def authenticated(request: pytest.FixtureRequest) -> RegistryProcess:
    registry: RegistryProcess = request.getfixturevalue(request.param)
    return registry


def copy_through(
    target: RegistryProcess, source: RegistryProcess, times: int | None, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> tuple[Run, list[tuple[str, int]]]:  # fmt: skip
    push_image(source.url, "upstream/app", "1.0", platform="linux/arm64")
    with start_proxy(target.url, fault=refuse_upload_puts(target, times)) as proxy:
        docker_login_config(docker_config, proxy.host, USER, PASSWORD)
        path = config(tmp_path / "m.yaml", [proxy.host, source.host], f"{proxy.host}/mirror",
                      {"1": [f"{source.host}/upstream/app:1.0"]})  # fmt: skip
        result = Reconcile(capsys, path)()
        uploads = [(e.method, e.status) for e in proxy.log() if "/blobs/uploads/" in e.path]
    return result, uploads


def test_a_401_to_a_streamed_upload_starts_a_new_session_with_fresh_credentials(
    authenticated: RegistryProcess, registry: RegistryProcess, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    result, uploads = copy_through(authenticated, registry, 1, tmp_path, docker_config, capsys)
    assert result.code == 0, result.out + result.err
    assert "Traceback" not in result.err
    puts = [status for method, status in uploads if method == "PUT"]
    assert puts[0] == 401 and puts[1:] == [201] * (len(puts) - 1) and len(puts) >= 3
    sessions = [status for method, status in uploads if method == "POST" and status == 202]
    assert len(sessions) == len(puts)  # the refused session was not reused: a new one
    assert manifest_status(authenticated, "mirror", "1") == 200


def test_a_persistent_401_to_uploads_is_one_clear_line(
    authenticated: RegistryProcess, registry: RegistryProcess, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    result, uploads = copy_through(authenticated, registry, None, tmp_path, docker_config, capsys)
    assert result.code == 1
    assert "Traceback" not in result.out + result.err
    failed = [line for line in result.out.splitlines() if line.startswith("!")]
    assert len(failed) == 1, result.out
    assert "mirror:1" in failed[0] and "upload" in failed[0] and "HTTP 401" in failed[0]
    assert PASSWORD not in result.out + result.err
    assert [s for m, s in uploads if m == "PUT"] == [401, 401]  # one more session, no more
    assert manifest_status(authenticated, "mirror", "1") == 404
