"""`reconcile inspect` and `reconcile resolve` against real registries, with `docker manifest
inspect` as the reference for what inspect prints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler._cli.main import main
from tests.conftest import BASIC_USERS
from tests.support.dockercli import (
    docker_login_config,
    needs_docker,
    reads_oci,
    run_docker,
)
from tests.support.images import get_manifest, push_image, push_index, push_manifest_list
from tests.support.registry import RegistryProcess

from .cli import Reconcile, Run, write_config

pytestmark = pytest.mark.usefixtures("docker_config")


def without_entry_annotations(doc: dict[str, Any]) -> dict[str, Any]:
    """What docker keeps of an index: it rebuilds the list without annotations."""
    entries = [{k: v for k, v in e.items() if k != "annotations"} for e in doc["manifests"]]
    return {**{k: v for k, v in doc.items() if k != "annotations"}, "manifests": entries}


GOLDEN = Path(__file__).parent / "golden"
OCI_TAGS = ("oci", "buildx")  # what `docker manifest` reads only since CLI 23.0


@needs_docker
def test_inspect_prints_what_docker_manifest_inspect_prints(
    registry: RegistryProcess, docker_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Against the CLI itself. An older CLI (Debian bookworm's 20.10) cannot read the OCI
    tags: for those the reference is a newer CLI's output, recorded in `golden/` (images are
    deterministic) and checked against the CLI wherever it reads them."""
    repo = "reference/inspect"  # fixed: the recorded outputs hold digests that derive from it
    amd = push_image(registry.url, repo, "amd", platform="linux/amd64")
    arm = push_image(registry.url, repo, "arm", platform="linux/arm64/v8")
    push_image(registry.url, repo, "oci", platform="linux/amd64", media="oci")
    push_manifest_list(registry.url, repo, "list", [amd, arm])
    push_index(registry.url, repo, "buildx", ["linux/amd64", "linux/arm/v7"])
    reconcile = Reconcile(capsys)
    for tag in ("amd", "oci", "list", "buildx"):
        ref = f"{registry.host}/{repo}:{tag}"
        ours = reconcile("inspect", "--insecure", ref)
        theirs = docker_manifest_inspect_output(tag, ref, docker_config)
        assert ours.code == 0, ours.err
        if tag == "buildx":  # docker drops the attestation annotations; we keep them
            assert without_entry_annotations(json.loads(ours.out)) == json.loads(theirs)
            assert "vnd.docker.reference.digest" in ours.out
        else:
            assert ours.out == theirs, tag


def docker_manifest_inspect_output(tag: str, ref: str, config_dir: Path) -> str:
    """What `docker manifest inspect` prints for `ref`; for an OCI tag, the recorded output
    when this CLI cannot read OCI (UPDATE_GOLDEN=1 records it anew with a CLI that can)."""
    golden = GOLDEN / f"docker-manifest-inspect-{tag}.json"
    if tag in OCI_TAGS and not reads_oci():
        return golden.read_text()
    printed = run_docker(["manifest", "inspect", "--insecure", ref], config_dir=config_dir).stdout
    if tag in OCI_TAGS:
        if os.environ.get("UPDATE_GOLDEN"):
            golden.write_text(printed)
        assert printed == golden.read_text(), f"docker's output differs from {golden}"
    return printed


def test_inspect_raw_gives_the_exact_bytes_of_the_digest(
    registry: RegistryProcess, repo_name: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    index = push_index(registry.url, repo_name, "multi", ["linux/amd64", "linux/arm64"])
    raw, _, _ = get_manifest(registry.url, repo_name, "multi")
    for ref in (
        f"{registry.host}/{repo_name}:multi",
        f"{registry.host}/{repo_name}@{index.digest}",
    ):
        capsysbinary.readouterr()
        assert main(["inspect", "--raw", "--insecure", ref]) == 0
        out = capsysbinary.readouterr().out
        assert out == raw
        assert "sha256:" + hashlib.sha256(out).hexdigest() == index.digest


def test_inspect_a_missing_tag_fails_naming_the_registry(
    registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "there")
    run = Reconcile(capsys)("inspect", "--insecure", f"{registry.host}/{repo_name}:absent")
    assert run.code == 1 and run.out == ""
    assert run.err.startswith(f"reconcile: error: {registry.host}: ")
    assert "not found" in run.err and "Traceback" not in run.err


def test_registry_settings_come_from_the_config_file(
    tmp_path: Path,
    registry: RegistryProcess,
    repo_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = push_image(registry.url, repo_name, "1")
    ref = f"{registry.host}/{repo_name}:1"
    config = write_config(tmp_path / "cfg.yaml", registry, repo_name, {"x": ["1"]})
    reconcile = Reconcile(capsys)
    assert json.loads(reconcile("inspect", "-f", str(config), ref).out)["config"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests.yaml").write_text(config.read_text())
    resolved = reconcile("resolve", ref, "--platform", "linux/amd64", "--output", "json")
    assert resolved.json["selected"]["digest"] == image.digest
    (tmp_path / "manifests.yaml").unlink()
    refused = reconcile("inspect", ref)  # HTTPS to a plain-HTTP registry
    assert refused.code == 1 and refused.err.startswith(f"reconcile: error: {registry.host}: ")


def test_inspect_uses_docker_credentials(
    basic_registry: RegistryProcess, repo_name: str, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    user, password = next(iter(BASIC_USERS.items()))
    push_image(basic_registry.url, repo_name, "1", auth=(user, password))
    ref = f"{basic_registry.host}/{repo_name}:1"
    reconcile = Reconcile(capsys)
    denied = reconcile("inspect", "--insecure", ref)
    assert denied.code == 1 and "HTTP 401" in denied.err
    docker_login_config(docker_config, basic_registry.host, user, password)
    allowed = reconcile("inspect", "--insecure", ref)
    assert allowed.code == 0 and password not in allowed.out + allowed.err


def resolve(reconcile: Reconcile, ref: str, platform: str) -> Run:
    return reconcile("resolve", "--insecure", ref, "--platform", platform, "--output", "json")


def test_pull_10_and_get_the_right_architecture(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The promise of the seed scenario, checked the way a user would after a run."""
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    assert Reconcile(capsys, config)().code == 0
    reconcile = Reconcile(capsys)
    ref = f"{registry.host}/{repo_name}:10"
    for platform, expected in [
        ("linux/amd64", amd.digest),
        ("linux/x86_64", amd.digest),
        ("linux/amd64/v3", amd.digest),
        ("linux/arm64", arm.digest),
        ("linux/arm64/v8", arm.digest),
        ("linux/aarch64", arm.digest),
    ]:
        run = resolve(reconcile, ref, platform)
        assert run.code == 0, (platform, run.err)
        assert run.json["pull"] == f"{registry.host}/{repo_name}@{expected}", platform
    for platform in ("linux/arm/v7", "linux/s390x", "windows/amd64"):
        run = resolve(reconcile, ref, platform)
        assert (run.code, run.json["selected"]) == (1, None), platform


def test_arm64_falls_back_to_arm_v7_in_a_buildx_index(
    registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    index = push_index(registry.url, repo_name, "multi", ["linux/amd64", "linux/arm/v7"])
    amd, arm7 = index.child_digests
    reconcile = Reconcile(capsys)
    ref = f"{registry.host}/{repo_name}:multi"
    cases = {"linux/arm64": arm7, "linux/arm/v7": arm7, "linux/arm/v8": arm7, "linux/386": None}
    for platform, expected in cases.items():
        run = resolve(reconcile, ref, platform)
        chosen = run.json["selected"]
        assert (chosen["digest"] if chosen else None) == expected, platform
        assert run.code == (0 if expected else 1)
    text = reconcile("resolve", "--insecure", ref, "--platform", "linux/arm64")
    assert text.out.splitlines()[0].endswith("(linux/arm/v7, by fallback)")
    assert amd[:19] in text.out and "attestation of" in text.out


def test_resolve_a_single_image(
    registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    image = push_image(registry.url, repo_name, "1", platform="linux/arm/v7")
    reconcile = Reconcile(capsys)
    ref = f"{registry.host}/{repo_name}:1"
    matched = resolve(reconcile, ref, "linux/arm64")  # arm64 runs arm/v7 images
    assert matched.code == 0 and matched.json["manifest"]["kind"] == "image"
    assert matched.json["selected"]["digest"] == image.digest
    refused = resolve(reconcile, ref, "linux/amd64")
    assert refused.code == 1 and refused.json["selected"] is None


REGISTRIES_ONLY = "registries:\n  {host}:\n    insecure: true\n"


@pytest.mark.parametrize(
    ("content", "flags"),
    [
        pytest.param(REGISTRIES_ONLY, [], id="registries-only"),  # its settings are used
        pytest.param("", ["--insecure"], id="emptied-by-the-shell"),  # counts as absent
    ],
)
def test_inspect_and_resolve_read_the_default_file_without_a_warning(
    content: str,
    flags: list[str],
    tmp_path: Path,
    registry: RegistryProcess,
    repo_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = push_image(registry.url, repo_name, "1", platform="linux/amd64")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests.yaml").write_text(content.format(host=registry.host))
    ref = f"{registry.host}/{repo_name}:1"
    reconcile = Reconcile(capsys)
    inspected = reconcile("inspect", *flags, ref)
    assert (inspected.code, inspected.err) == (0, "")
    assert json.loads(inspected.out)["config"]["digest"] == image.config_digest
    resolved = reconcile("resolve", *flags, ref, "--platform", "linux/amd64", "--output", "json")
    assert (resolved.code, resolved.err) == (0, "")
    assert resolved.json["selected"]["digest"] == image.digest


def test_a_registries_only_file_given_with_f(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    image = push_image(registry.url, repo_name, "1", platform="linux/amd64")
    path = tmp_path / "registries.yaml"
    path.write_text(REGISTRIES_ONLY.format(host=registry.host))
    ref = f"{registry.host}/{repo_name}:1"
    resolved = Reconcile(capsys)("resolve", "-f", str(path), ref, "--platform", "linux/amd64")
    assert (resolved.code, resolved.err) == (0, "")
    assert resolved.out.startswith(f"linux/amd64 pulls {registry.host}/{repo_name}@{image.digest}")
