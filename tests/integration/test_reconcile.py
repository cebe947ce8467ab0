"""The whole loop against a real `docker-registry`: dry-run, apply, and what counts as drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler._model.oci import DOCKER_LIST, OCI_INDEX
from tests.support.dockercli import (
    docker_manifest_create_push,
    docker_manifest_inspect,
    needs_docker,
)
from tests.support.images import get_manifest, push_image, push_index, push_manifest_list
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")


@pytest.fixture
def seeded(registry: RegistryProcess, repo_name: str) -> dict[str, str]:
    """The seed images: 10.10 linux/amd64 and 10.20 linux/arm64/v8; returns tag -> digest."""
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    return {"10.10": amd.digest, "10.20": arm.digest}


@pytest.fixture
def reconcile(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    config = write_config(
        tmp_path / "manifests.yaml", registry, repo_name, {"10": ["10.10", "10.20"]}
    )
    return Reconcile(capsys, config)


def entries_of(registry: RegistryProcess, repo: str, ref: str) -> list[tuple[str, str]]:
    raw, _, _ = get_manifest(registry.url, repo, ref)
    return [
        ("/".join(filter(None, [m["platform"]["os"], m["platform"]["architecture"],
                                m["platform"].get("variant")])), m["digest"])
        for m in json.loads(raw)["manifests"]
    ]  # fmt: skip


def test_seed_scenario_creates_then_is_a_noop(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile
) -> None:
    registry.clear_log()
    plan = reconcile("--dry-run", "--output", "json")
    assert plan.code == 0
    assert [a["action"] for a in plan.json["aliases"]] == ["create"]
    assert registry.writes() == []

    applied = reconcile()
    assert applied.code == 0, applied.err
    assert "created" in applied.out
    assert [(w.method, w.path) for w in registry.writes()] == [
        ("PUT", f"/v2/{repo_name}/manifests/10")
    ]
    assert entries_of(registry, repo_name, "10") == [
        ("linux/amd64", seeded["10.10"]),
        ("linux/arm64/v8", seeded["10.20"]),  # as the image's config declares it
    ]
    _, media_type, _ = get_manifest(registry.url, repo_name, "10")
    assert media_type == DOCKER_LIST

    registry.clear_log()
    again = reconcile()
    assert (again.code, again.out) == (0, "Everything up to date (1 alias).\n")
    assert registry.writes() == []


def test_dry_run_detailed_exitcode_reports_pending_changes(
    seeded: dict[str, str], reconcile: Reconcile
) -> None:
    assert reconcile("--dry-run", "--detailed-exitcode").code == 2
    assert reconcile().code == 0
    assert reconcile("--dry-run", "--detailed-exitcode").code == 0


def test_repushed_source_updates_only_that_entry(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile
) -> None:
    assert reconcile().code == 0
    new_arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64", seed="v2")
    plan = reconcile("--dry-run", "--output", "json").json["aliases"][0]
    assert plan["action"] == "update"
    assert plan["changes"] == [
        {
            "kind": "change",
            "field": "platform",
            "subject": "linux/arm64",
            "old": seeded["10.20"],
            "new": new_arm.digest,
            "source": "10.20",
        }
    ]
    text = reconcile()
    assert text.code == 0 and "updated" in text.out
    assert entries_of(registry, repo_name, "10") == [
        ("linux/amd64", seeded["10.10"]),
        ("linux/arm64", new_arm.digest),
    ]


def test_missing_source_fails_that_alias_and_the_others_are_applied(
    tmp_path: Path,
    registry: RegistryProcess,
    repo_name: str,
    seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    aliases = {"broken": ["10.10", "10.99"], "10": ["10.10", "10.20"]}
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    result = run("--output", "json")
    assert result.code == 1
    by_alias = {a["alias"]: a for a in result.json["aliases"]}
    assert by_alias["broken"]["action"] == "error"
    assert "'10.99' not found" in by_alias["broken"]["message"]
    assert by_alias["10"]["action"] == "create" and by_alias["10"]["applied"] is True
    assert get_manifest(registry.url, repo_name, "10")


def test_two_sources_with_one_platform_is_an_error_naming_both(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "a", platform="linux/amd64", seed="a")
    push_image(registry.url, repo_name, "b", platform="linux/x86_64", seed="b")
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"x": ["a", "b"]})
    registry.clear_log()
    result = Reconcile(capsys, config)()
    assert result.code == 1
    assert "sources 'a' and 'b' both provide linux/amd64" in result.out
    assert registry.writes() == []


def test_index_source_is_flattened_with_its_attestations(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    multi = push_index(registry.url, repo_name, "multi", ["linux/amd64", "linux/arm64"])
    s390 = push_image(registry.url, repo_name, "s390", platform="linux/s390x", media="oci")
    aliases = {"keep": ["multi", "s390"], "drop": {"sources": ["multi"], "attestations": "drop"}}
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    assert run().code == 0

    raw, media_type, _ = get_manifest(registry.url, repo_name, "keep")
    doc = json.loads(raw)
    assert media_type == OCI_INDEX
    assert [m["digest"] for m in doc["manifests"]] == [
        *multi.child_digests,
        s390.digest,
        *multi.attestation_digests,
    ]
    assert doc["manifests"][3]["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert (
        doc["manifests"][3]["annotations"]["vnd.docker.reference.digest"] == multi.child_digests[0]
    )
    dropped = json.loads(get_manifest(registry.url, repo_name, "drop")[0])
    assert [m["digest"] for m in dropped["manifests"]] == multi.child_digests
    assert run().out.startswith("Everything up to date")


def test_single_image_at_the_alias_is_a_conflict_until_forced(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile
) -> None:
    theirs = push_image(registry.url, repo_name, "10", platform="linux/amd64", seed="theirs")
    registry.clear_log()
    conflict = reconcile()
    assert conflict.code == 1
    assert "conflict" in conflict.out and theirs.digest in conflict.out
    assert registry.writes() == []
    assert get_manifest(registry.url, repo_name, "10")[2] == theirs.digest

    forced = reconcile("--force")
    assert forced.code == 0, forced.out
    assert [d for _, d in entries_of(registry, repo_name, "10")] == list(seeded.values())


@needs_docker
def test_the_seed_alias_is_what_docker_manifest_create_writes(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile,
    docker_config: Path,
) -> None:  # fmt: skip
    # The README's walkthrough: `docker manifest create`, `push`, then `inspect`, as the
    # seed does it by hand; our alias must read back the same, variant v8 included.
    assert reconcile().code == 0
    base = f"{registry.host}/{repo_name}"
    docker_manifest_create_push(
        f"{base}:by-docker", [f"{base}:10.10", f"{base}:10.20"], config_dir=docker_config
    )
    ours = docker_manifest_inspect(f"{base}:10", docker_config)
    assert ours == docker_manifest_inspect(f"{base}:by-docker", docker_config)
    assert ours["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert [(e["digest"], e["platform"]) for e in ours["manifests"]] == [
        (seeded["10.10"], {"architecture": "amd64", "os": "linux"}),
        (seeded["10.20"], {"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ]


@needs_docker
def test_index_pushed_by_docker_manifest_is_in_sync(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile,
    docker_config: Path,
) -> None:  # fmt: skip
    base = f"{registry.host}/{repo_name}"
    docker_manifest_create_push(
        f"{base}:10", [f"{base}:10.10", f"{base}:10.20"], config_dir=docker_config
    )
    raw, _, _ = get_manifest(registry.url, repo_name, "10")
    assert b'\n   "' in raw  # docker's own formatting: the bytes differ from ours
    assert ("linux/arm64/v8", seeded["10.20"]) in entries_of(registry, repo_name, "10")
    registry.clear_log()
    result = reconcile()
    assert (result.code, result.out) == (0, "Everything up to date (1 alias).\n")
    assert registry.writes() == []


def test_oci_index_with_the_same_children_is_in_sync_under_auto(
    registry: RegistryProcess, repo_name: str, seeded: dict[str, str], reconcile: Reconcile
) -> None:
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    push_manifest_list(registry.url, repo_name, "10", [arm, amd], media="oci")
    registry.clear_log()
    assert reconcile().out == "Everything up to date (1 alias).\n"
    assert registry.writes() == []


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("linux/arm64/v8", {"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ("linux/aarch64", {"architecture": "arm64", "os": "linux"}),
        ("linux/arm64", {"architecture": "arm64", "os": "linux"}),
        ("linux/armhf", {"architecture": "arm", "os": "linux", "variant": "v7"}),
    ],
)
def test_an_explicit_platform_is_written_as_given_in_canonical_spelling(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str],
    given: str, written: dict[str, str],
) -> None:  # fmt: skip
    image = push_image(registry.url, repo_name, "img", platform="linux/amd64", seed="unlabelled")
    aliases = {"x": [{"tag": "img", "platform": given}]}
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    assert run().code == 0
    doc = json.loads(get_manifest(registry.url, repo_name, "x")[0])
    assert [(m["digest"], m["platform"]) for m in doc["manifests"]] == [(image.digest, written)]
    assert run().out == "Everything up to date (1 alias).\n"


def test_long_form_digest_source_platform_override_and_annotations(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    amd = push_image(registry.url, repo_name, None, platform="linux/amd64")  # digest only
    arm = push_image(registry.url, repo_name, "arm", platform="linux/amd64", seed="mislabelled")
    alias = {
        "sources": [amd.digest, {"tag": "arm", "platform": "linux/arm/v7"}],
        "media_type": "oci",
        "annotations": {"org.example.team": "infra"},
    }
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, {"x": alias}))
    assert run().code == 0
    raw, media_type, _ = get_manifest(registry.url, repo_name, "x")
    doc = json.loads(raw)
    assert media_type == OCI_INDEX
    assert doc["annotations"] == {"org.example.team": "infra"}
    assert [(m["digest"], m["platform"]) for m in doc["manifests"]] == [
        (amd.digest, {"architecture": "amd64", "os": "linux"}),
        (arm.digest, {"architecture": "arm", "os": "linux", "variant": "v7"}),
    ]
    assert run().out == "Everything up to date (1 alias).\n"
