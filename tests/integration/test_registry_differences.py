"""Where distribution 2.8 and distribution v3 answer differently, and what the tool does.

Each test runs on both implementations (the `registry` fixture is parametrized) and states
per implementation what the registry does; the tool's outcome is the same on both. README,
"Registries and peers the suite runs against", has the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from reconciler._registry import http as registry_http
from tests.support.images import (
    ALL_MANIFEST_TYPES,
    OCI_INDEX,
    get_manifest,
    push_image,
    push_raw_manifest,
)
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")

DOCKER_IMAGE = "application/vnd.docker.distribution.manifest.v2+json"


def by_implementation(registry: RegistryProcess, **answers: object) -> object:
    return answers[registry.implementation.name]


def test_tag_lists_are_paged_by_v3_and_whole_from_2_8_with_the_same_outcome(
    tmp_path: Path,
    registry: RegistryProcess,
    repo_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2.8 ignores `n` and `last` on tag lists (it pages only the catalog) and lists tags in
    # storage order; v3 sorts them and pages with `Link`. A floating alias picks the same tag.
    for tag in ("10.3", "10.10", "10.1", "10.9", "10.2"):
        push_image(registry.url, repo_name, tag, platform="linux/amd64", seed=tag)
    monkeypatch.setattr(registry_http, "_TAGS_PAGE", 2)
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": {"track": "10.*"}})
    registry.clear_log()
    run = Reconcile(capsys, config)("--dry-run", "--output", "json")
    assert run.code == 0, run.err
    [alias] = run.json["aliases"]
    picked = [(e["source"], e["note"]) for e in alias["desired"]["entries"]]
    assert picked == [("10.10", "newest of 10.* for linux/amd64")]
    pages = [r.path for r in registry.requests() if "/tags/list" in r.path]
    assert pages == by_implementation(
        registry,
        distribution2=[f"/v2/{repo_name}/tags/list?n=2"],
        distribution3=[
            f"/v2/{repo_name}/tags/list?n=2",
            f"/v2/{repo_name}/tags/list?last=10.10&n=2",
            f"/v2/{repo_name}/tags/list?last=10.3&n=2",
        ],
    )


def test_prune_deletes_the_tag_alone_on_v3_and_by_digest_on_2_8(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2.8 refuses DELETE by tag (400 DIGEST_INVALID): the tool deletes by digest, which takes
    # every tag of that digest, so it does that only when no other tag shares it. v3 deletes
    # the tag alone (202), and the tool's first request is all it takes.
    push_image(registry.url, "app", "11.1", platform="linux/amd64")
    path = tmp_path / "m.yaml"

    def run(aliases: dict[str, list[str]]) -> int:
        doc = {
            "registries": {registry.host: {"insecure": True}},
            "repositories": {f"{registry.host}/app": {"prune": True, "aliases": aliases}},
        }
        path.write_text(json.dumps(doc))
        return Reconcile(capsys, path)().code

    assert run({"11": ["11.1"]}) == 0
    _, _, digest = get_manifest(registry.url, "app", "11")
    registry.clear_log()
    assert run({}) == 0
    deletes = [(r.path, r.status) for r in registry.writes()]
    assert deletes == by_implementation(
        registry,
        distribution2=[("/v2/app/manifests/11", 400), (f"/v2/app/manifests/{digest}", 202)],
        distribution3=[("/v2/app/manifests/11", 202)],
    )
    listed = httpx.get(f"{registry.url}/v2/app/tags/list").json()["tags"]
    assert listed == ["11.1"]


def test_an_index_is_answered_to_an_image_only_accept_by_v3_alone(
    registry: RegistryProcess, repo_name: str
) -> None:
    # The tool always accepts every manifest type it reads (index, list, OCI and Docker
    # images), so this never reaches it; a client that accepts images only gets 404 from 2.8
    # for an index, and the index itself from v3.
    child = push_image(registry.url, repo_name, "a", platform="linux/amd64", media="oci")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child.descriptor()]}
    push_raw_manifest(registry.url, repo_name, "i", json.dumps(index).encode(), OCI_INDEX)
    url = f"{registry.url}/v2/{repo_name}/manifests/i"
    narrow = httpx.head(url, headers={"Accept": DOCKER_IMAGE})
    assert narrow.status_code == by_implementation(registry, distribution2=404, distribution3=200)
    full = httpx.head(url, headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)})
    assert (full.status_code, full.headers["content-type"]) == (200, OCI_INDEX)


def test_a_missing_source_reads_the_same_whatever_the_error_detail(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2.8 sends `"detail": {"Tag": "10.20"}`, v3 `"detail": "unknown tag=10.20"`: the tool's
    # message is built from the status and code, not the detail, so it is the same on both.
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    answer = httpx.get(f"{registry.url}/v2/{repo_name}/manifests/10.20")
    [error] = answer.json()["errors"]
    assert error["detail"] == by_implementation(
        registry, distribution2={"Tag": "10.20"}, distribution3="unknown tag=10.20"
    )
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    run = Reconcile(capsys, config)("--dry-run")
    assert run.code == 1
    host = registry.host
    message = (
        f"! {host}/{repo_name}:10 error: {host}: source '10.20' not found in {host}/{repo_name}"
    )
    assert run.out.splitlines()[0] == message
