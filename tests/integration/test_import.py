"""`reconcile import`: adopt indexes pushed by hand. The round trip is the test: import, write
the output as manifests.yaml, reconcile: nothing to do and not one write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dockercli import docker_manifest_create_push, needs_docker
from tests.support.images import (
    OCI_INDEX,
    PushedImage,
    canonical_json,
    push_image,
    push_index,
    push_manifest_list,
    push_raw_manifest,
)
from tests.support.registry import RegistryProcess

from .cli import Reconcile, Run

pytestmark = pytest.mark.usefixtures("docker_config")


@pytest.fixture
def reconcile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    monkeypatch.chdir(tmp_path)  # no ./manifests.yaml but the one a test writes
    return Reconcile(capsys)


def round_trip(reconcile: Reconcile, registry: RegistryProcess, *refs: str) -> tuple[Run, Any]:
    """Import REFs, write the output as ./manifests.yaml, reconcile it: must be a no-op."""
    imported = reconcile("import", "--insecure", *refs)
    assert imported.code == 0, imported.err
    Path("manifests.yaml").write_text(imported.out)
    registry.clear_log()
    run = reconcile("-v")
    assert run.code == 0, run.out + run.err
    assert "Everything up to date" in run.out
    assert registry.writes() == []
    return imported, yaml.safe_load(imported.out)


def aliases(doc: Any, registry: RegistryProcess, repo: str) -> Any:
    return doc["repositories"][f"{registry.host}/{repo}"]["aliases"]


def retag(registry: RegistryProcess, repo: str, tag: str, image: PushedImage) -> None:
    push_raw_manifest(registry.url, repo, tag, image.raw, image.media_type)


def test_a_manifest_list_of_tagged_images(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    retag(registry, repo_name, "latest", amd)  # a second name for the same image
    retag(registry, repo_name, "zz-amd", amd)
    push_manifest_list(registry.url, repo_name, "10", [amd, arm])
    push_manifest_list(registry.url, repo_name, "stable", [amd, arm])  # another alias

    imported, doc = round_trip(reconcile, registry, f"{registry.host}/{repo_name}:10")
    assert doc["registries"] == {registry.host: {"insecure": True}}
    assert aliases(doc, registry, repo_name) == {"10": ["10.10", "10.20"]}
    assert imported.out.startswith(f"# reconcile import {registry.host}/{repo_name}:10\n")
    assert "'10': ['10.10', '10.20']" in imported.out


def test_digests_platforms_media_type_and_annotations_are_reproduced(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    tagged = push_image(registry.url, repo_name, "11.1", platform="linux/amd64")
    untagged = push_image(registry.url, repo_name, None, platform="linux/arm64", seed="u")
    armv6 = push_image(registry.url, repo_name, "11.1-arm", platform="linux/arm/v7")
    entries = [
        tagged.descriptor(),
        untagged.descriptor(),
        {**armv6.descriptor(), "platform": {"architecture": "arm", "os": "linux", "variant": "v6"}},
    ]
    annotated = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    annotated["annotations"] = {"org.example.team": "infra"}
    push_raw_manifest(registry.url, repo_name, "11", canonical_json(annotated), OCI_INDEX)
    plain = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries[:1]}
    push_raw_manifest(registry.url, repo_name, "11-oci", canonical_json(plain), OCI_INDEX)

    refs = [f"{registry.host}/{repo_name}:{tag}" for tag in ("11", "11-oci")]
    _, doc = round_trip(reconcile, registry, *refs)
    assert aliases(doc, registry, repo_name) == {
        "11": {
            "sources": ["11.1", untagged.digest, {"tag": "11.1-arm", "platform": "linux/arm/v6"}],
            "annotations": {"org.example.team": "infra"},
        },
        # Docker images only: `auto` would write a Docker list, so the OCI index is pinned.
        "11-oci": {"sources": ["11.1"], "media_type": "oci"},
    }


def test_buildx_indexes_are_sources_by_their_tag_with_their_attestations(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    buildx = push_index(registry.url, repo_name, "12.0", ["linux/amd64", "linux/arm64"])
    riscv = push_image(registry.url, repo_name, "12-riscv", platform="linux/riscv64", media="oci")
    for image in buildx.children:  # tags on buildx children must not break up the index source
        retag(registry, repo_name, f"12.0-{image.platform.split('/')[1]}", image)
    runnable = [c.descriptor() for c in buildx.children] + [riscv.descriptor()]
    proofs = json.loads(buildx.raw)["manifests"][2:]
    alias = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": runnable + proofs}
    push_raw_manifest(registry.url, repo_name, "12", canonical_json(alias), OCI_INDEX)
    # Without attestations, the same images: the index source is used with attestations: drop.
    bare = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": runnable[:2]}
    push_raw_manifest(registry.url, repo_name, "12-bare", canonical_json(bare), OCI_INDEX)

    refs = [f"{registry.host}/{repo_name}:{tag}" for tag in ("12", "12-bare")]
    _, doc = round_trip(reconcile, registry, *refs)
    assert aliases(doc, registry, repo_name) == {
        "12": ["12.0", "12-riscv"],
        "12-bare": ["12.0-amd64", "12.0-arm64"],
    }


@needs_docker
def test_a_list_made_by_docker_manifest(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile, docker_config: Path
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    base = f"{registry.host}/{repo_name}"
    docker_manifest_create_push(
        f"{base}:10", [f"{base}:10.10", f"{base}:10.20"], config_dir=docker_config
    )
    _, doc = round_trip(reconcile, registry, f"{base}:10")
    assert aliases(doc, registry, repo_name) == {"10": ["10.10", "10.20"]}


def test_what_cannot_be_reproduced_is_said_and_fails(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    untagged = push_index(registry.url, repo_name, None, ["linux/amd64"])  # only by digest
    push_raw_manifest(registry.url, repo_name, "13", untagged.raw, OCI_INDEX)
    image = push_image(registry.url, repo_name, "13-single", platform="linux/amd64")
    ref = f"{registry.host}/{repo_name}"

    run = reconcile("import", "--insecure", f"{ref}:13", f"{ref}:13-single", f"{ref}:nope")
    assert run.code == 1
    assert f"reconcile: error: {ref}:13-single: a single image, not an index" in run.err
    assert f"{ref}:nope" in run.err and "not found" in run.err
    assert "reconcile: warning:" in run.err and "reconcile would drop it" in run.err
    assert "# NOT REPRODUCED" in run.out
    doc = yaml.safe_load(run.out)
    assert aliases(doc, registry, repo_name) == {"13": [untagged.children[0].digest]}
    assert image.digest not in run.out


def test_a_reference_without_a_tag_is_refused(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    run = reconcile("import", "--insecure", f"{registry.host}/{repo_name}@sha256:" + "a" * 64)
    assert run.code == 1 and "name the alias tag" in run.err


def test_import_into_the_default_file_the_shell_has_just_emptied(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    """`reconcile import REF > manifests.yaml`: the shell empties the file before the tool
    reads it; an empty ./manifests.yaml counts as absent, without a warning."""
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    push_manifest_list(registry.url, repo_name, "10", [amd, arm])
    Path("manifests.yaml").write_text("")
    imported = reconcile("import", "--insecure", f"{registry.host}/{repo_name}:10")
    assert (imported.code, imported.err) == (0, "")
    assert aliases(yaml.safe_load(imported.out), registry, repo_name) == {"10": ["10.10", "10.20"]}


def test_import_reads_a_default_file_with_only_registries(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    """Registry settings kept in ./manifests.yaml before any alias: read, not ignored (without
    them, HTTPS to this plain-HTTP registry would fail)."""
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    push_manifest_list(registry.url, repo_name, "10", [amd, arm])
    Path("manifests.yaml").write_text(f"registries:\n  {registry.host}:\n    insecure: true\n")
    imported = reconcile("import", f"{registry.host}/{repo_name}:10")
    assert (imported.code, imported.err) == (0, "")
    doc = yaml.safe_load(imported.out)
    assert doc["registries"] == {registry.host: {"insecure": True}}
    assert aliases(doc, registry, repo_name) == {"10": ["10.10", "10.20"]}
