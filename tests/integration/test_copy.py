"""Sources from other repositories and registries: apply copies what the alias's repository
lacks (blobs by mount or stream, then child manifests by digest, then the index), and a
failure on the way never touches the alias. Two real registry processes, one with auth."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from reconciler._model.oci import MANIFEST_ACCEPT
from tests.conftest import BASIC_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image, push_index
from tests.support.proxy import Fault, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")
USER, PASSWORD = next(iter(BASIC_USERS.items()))


def config(path: Path, hosts: list[str], repository: str, aliases: Mapping[str, object]) -> Path:
    path.write_text(json.dumps({
        "registries": {host: {"insecure": True} for host in hosts},
        "repositories": {repository: {"aliases": aliases}},
    }))  # fmt: skip
    return path


def head(url: str, repo: str, ref: str) -> int:
    """The registry's own answer, not through the tool: 200 when the manifest is there."""
    headers = {"Accept": MANIFEST_ACCEPT}
    return httpx.head(f"{url}/v2/{repo}/manifests/{ref}", headers=headers).status_code


def test_source_in_another_repository_is_mounted_then_indexed(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    amd = push_image(registry.url, "app", "10.10", platform="linux/amd64")
    arm = push_image(registry.url, "builds/arm", "1.2", platform="linux/arm64")
    path = config(tmp_path / "m.yaml", [registry.host], f"{registry.host}/app",
                  {"10": ["10.10", f"{registry.host}/builds/arm:1.2"]})  # fmt: skip
    run = Reconcile(capsys, path)
    plan = run("--dry-run", "--output", "json").json["aliases"][0]
    assert plan["action"] == "create"
    assert [(c["digest"], c["from"]) for c in plan["copies"]] == [
        (arm.digest, f"{registry.host}/builds/arm")
    ]
    assert plan["copies"][0]["bytes"] > 0
    text = run("--dry-run").out
    assert f"+ copy {arm.digest[:19]} (" in text and f"from {registry.host}/builds/arm" in text

    registry.clear_log()
    assert run().code == 0
    writes = [(w.method, w.path.split("?")[0], w.status) for w in registry.writes()]
    mounts = [w for w in registry.writes() if "mount=" in w.path]
    assert mounts and all(w.status == 201 for w in mounts)  # no bytes streamed
    assert writes[-2:] == [("PUT", f"/v2/app/manifests/{arm.digest}", 201),
                           ("PUT", "/v2/app/manifests/10", 201)]  # fmt: skip
    index = json.loads(get_manifest(registry.url, "app", "10")[0])
    assert [m["digest"] for m in index["manifests"]] == [amd.digest, arm.digest]

    registry.clear_log()
    assert run().out == "Everything up to date (1 alias).\n"
    assert registry.writes() == []


def test_index_source_from_another_registry_with_auth_is_streamed(
    tmp_path: Path, registry: RegistryProcess, basic_registry: RegistryProcess,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    multi = push_index(basic_registry.url, "upstream/app", "2.0", ["linux/amd64", "linux/arm64"],
                       auth=(USER, PASSWORD))  # fmt: skip
    docker_login_config(docker_config, basic_registry.host, USER, PASSWORD)
    aliases = {"2": [f"{basic_registry.host}/upstream/app:2.0"]}
    hosts = [registry.host, basic_registry.host]
    path = config(tmp_path / "m.yaml", hosts, f"{registry.host}/mirror", aliases)
    run = Reconcile(capsys, path)
    assert len(run("--dry-run", "--output", "json").json["aliases"][0]["copies"]) == 4
    assert run().code == 0
    index = json.loads(get_manifest(registry.url, "mirror", "2")[0])
    assert [m["digest"] for m in index["manifests"]] == [
        *multi.child_digests,
        *multi.attestation_digests,
    ]
    for digest in index["manifests"]:
        assert head(registry.url, "mirror", digest["digest"]) == 200
    uploads = Counter(r.method for r in registry.writes() if "/blobs/uploads/" in r.path)
    assert uploads["POST"] >= 1 and uploads["PUT"] == uploads["POST"]  # streamed, not mounted
    assert run().out == "Everything up to date (1 alias).\n"


def test_a_refused_mount_falls_back_to_streaming(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, "builds/arm", "1.2", platform="linux/arm64")

    def refuse_mounts(request: ProxyRequest) -> Fault | None:
        if request.method != "POST" or "mount=" not in request.path:
            return None
        repo = request.path.split("/v2/", 1)[1].split("/blobs/", 1)[0]
        session = httpx.post(f"{registry.url}/v2/{repo}/blobs/uploads/")
        return Fault.respond(202, headers={"Location": session.headers["location"]})

    front = start_proxy(registry.url, fault=refuse_mounts)
    try:
        path = config(tmp_path / "m.yaml", [front.host], f"{front.host}/app",
                      {"1": [f"{front.host}/builds/arm:1.2"]})  # fmt: skip
        result = Reconcile(capsys, path)("-v")
    finally:
        front.stop()
    assert result.code == 0, result.out + result.err
    assert "mount of" in result.err and "refused" in result.err
    assert head(registry.url, "app", "1") == 200


def test_a_source_registry_going_away_mid_copy_leaves_the_alias_untouched(
    tmp_path: Path, registry: RegistryProcess, basic_registry: RegistryProcess,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    multi = push_index(basic_registry.url, "upstream/app", "2.0", ["linux/amd64", "linux/arm64"],
                       auth=(USER, PASSWORD))  # fmt: skip
    blob_reads = Counter[str]()

    def dies_after_first_blob(request: ProxyRequest) -> Fault | None:
        if request.kind == "blobs" and request.method == "GET":
            blob_reads["n"] += 1
            if blob_reads["n"] > 1:
                return Fault.reset()
        return None

    source = start_proxy(basic_registry.url, fault=dies_after_first_blob)
    docker_login_config(docker_config, source.host, USER, PASSWORD)
    aliases = {"2": [f"{source.host}/upstream/app:2.0"]}
    path = config(tmp_path / "m.yaml", [registry.host, source.host], f"{registry.host}/mirror",
                  aliases)  # fmt: skip
    try:
        failed = Reconcile(capsys, path)("--output", "json")
        assert failed.code == 1
        [alias] = failed.json["aliases"]
        assert alias["action"] == "error" and alias["applied"] is False
        assert head(registry.url, "mirror", "2") == 404  # the alias was never written
    finally:
        source.stop()
    healthy = start_proxy(basic_registry.url)  # the source is back (on a new address)
    docker_login_config(docker_config, healthy.host, USER, PASSWORD)
    path = config(tmp_path / "m2.yaml", [registry.host, healthy.host], f"{registry.host}/mirror",
                  {"2": [f"{healthy.host}/upstream/app:2.0"]})  # fmt: skip
    try:
        assert Reconcile(capsys, path)().code == 0
        assert Reconcile(capsys, path)().out == "Everything up to date (1 alias).\n"
    finally:
        healthy.stop()
    index = json.loads(get_manifest(registry.url, "mirror", "2")[0])
    assert [m["digest"] for m in index["manifests"]][:2] == multi.child_digests
