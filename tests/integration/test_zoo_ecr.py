"""The `ecr` zoo profile (ECR's registry API: its Basic challenge, refused mounts, immutable
tags) in front of real registries: with `auth: docker` over the `basic_registry`, and with ECR
auth from moto's ECR API over a registry whose user is moto's `AWS`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.conftest import BASIC_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image
from tests.support.motoserver import MOTO_ACCOUNT, MOTO_PASSWORD, MotoServer, aws_env
from tests.support.registry import RegistryProcess, start_registry
from tests.support.zoo.ecr import Ecr, ecr, ecr_challenge

from .cli import Reconcile, Run

pytestmark = pytest.mark.usefixtures("docker_config")

USER = "alice"
PASSWORD = BASIC_USERS[USER]
REGION = "eu-west-1"
ECR_HOST = f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def run_against(
    zoo: Ecr, tmp_path: Path, capsys: pytest.CaptureFixture[str], aliases: dict[str, Any],
    *args: str, auth: str = "docker",
) -> Run:  # fmt: skip
    """A run on ECR_HOST/app, reached at the profile's proxy (`endpoint`)."""
    settings = {"endpoint": zoo.proxy.url, "insecure": True, "auth": auth}
    if auth == "ecr":
        settings["region"] = REGION
    path = tmp_path / "manifests.yaml"
    path.write_text(json.dumps({
        "registries": {ECR_HOST: settings},
        "repositories": {f"{ECR_HOST}/app": {"aliases": aliases}},
    }))  # fmt: skip
    return Reconcile(capsys, path)(*args)


def children(registry: RegistryProcess, repo: str, tag: str, auth: tuple[str, str]) -> list[str]:
    raw, _, _ = get_manifest(registry.url, repo, tag, auth=auth)
    return [m["digest"] for m in json.loads(raw)["manifests"]]


def test_the_profile_challenges_as_ecr_does(basic_registry: RegistryProcess) -> None:
    with ecr(basic_registry, host=ECR_HOST) as zoo:
        anonymous = httpx.get(f"{zoo.proxy.url}/v2/app/tags/list")
    assert anonymous.status_code == 401
    assert (
        anonymous.headers.get_list("www-authenticate")
        == [
            'Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",'
            'service="ecr.amazonaws.com"'
        ]
        == [ecr_challenge(ECR_HOST)]
    )


def test_a_copy_within_the_registry_streams_the_blobs_when_the_mount_is_refused(
    basic_registry: RegistryProcess, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    auth = (USER, PASSWORD)
    amd = push_image(basic_registry.url, "app", "10.10", platform="linux/amd64", auth=auth)
    arm = push_image(basic_registry.url, "builds/arm", "1.2", platform="linux/arm64", auth=auth)
    docker_login_config(docker_config, ECR_HOST, USER, PASSWORD)
    with ecr(basic_registry, host=ECR_HOST) as zoo:
        basic_registry.clear_log()
        run = run_against(zoo, tmp_path, capsys, {"10": ["10.10", f"{ECR_HOST}/builds/arm:1.2"]},
                          "-v")  # fmt: skip
        refused = list(zoo.refused_mounts)
    assert run.code == 0, run.out + run.err
    assert "mount of" in run.err and "refused" in run.err
    assert {digest for _, digest in refused} == {arm.config_digest, arm.layer_digest}
    writes = basic_registry.writes()
    assert not [w for w in writes if "mount=" in w.path]  # no mount reached the registry
    streamed = [w for w in writes if w.method == "PUT" and "/blobs/uploads/" in w.path]
    assert [w.status for w in streamed] == [201, 201]  # config and layer, streamed
    assert children(basic_registry, "app", "10", auth) == [amd.digest, arm.digest]


def test_an_update_of_an_immutable_tag_is_an_error_saying_so_and_writes_nothing(
    basic_registry: RegistryProcess, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Without the ECR API (`auth: docker`), nothing tells the plan that the tag is immutable:
    the registry's refusal does, and it is the alias's one error line."""
    auth = (USER, PASSWORD)
    amd = push_image(basic_registry.url, "app", "10.10", platform="linux/amd64", auth=auth)
    arm = push_image(basic_registry.url, "app", "10.20", platform="linux/arm64", auth=auth)
    docker_login_config(docker_config, ECR_HOST, USER, PASSWORD)
    aliases = {"10": ["10.10", "10.20"]}
    with ecr(basic_registry, host=ECR_HOST, immutable={"app"}) as zoo:
        created = run_against(zoo, tmp_path, capsys, aliases)
        assert created.code == 0, created.out + created.err  # a new tag: allowed
        push_image(basic_registry.url, "app", "10.20", platform="linux/arm64", seed="v2",
                   auth=auth)  # fmt: skip
        basic_registry.clear_log()
        updated = run_against(zoo, tmp_path, capsys, aliases, "--output", "json")
        text = run_against(zoo, tmp_path, capsys, aliases)
        refused = list(zoo.refused_tags)
    assert updated.code == 1 and "Traceback" not in updated.err
    [alias] = updated.json["aliases"]
    assert (alias["action"], alias["applied"]) == ("error", False)
    assert alias["message"] == (
        f"{ECR_HOST}: app:10: HTTP 400: TAG_INVALID The image tag '10' already exists in the"
        " 'app' repository and cannot be overwritten because the repository is immutable."
    )
    assert refused == [("app", "10"), ("app", "10")]  # each run tried once, and only that
    assert [line for line in text.out.splitlines() if line.startswith("!")] == [
        f"! {ECR_HOST}/app:10 error: {alias['message']}"
    ]
    assert basic_registry.writes() == []  # the refused PUT never reached it; nothing else
    assert children(basic_registry, "app", "10", auth) == [amd.digest, arm.digest]


# -- with ECR auth from the ECR API (moto) --------------------------------------------------------


@pytest.fixture
def ecr_api(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    moto_server.reset()
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION)
    return boto3.client("ecr", region_name=REGION)


@pytest.fixture
def aws_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """The registry behind the profile: htpasswd with moto's single user, AWS."""
    process = start_registry(tmp_path, auth="htpasswd", users={"AWS": MOTO_PASSWORD})
    yield process
    process.stop()


def test_ecr_auth_answers_the_ecr_challenge_and_streams_refused_mounts(
    ecr_api: Any, aws_registry: RegistryProcess, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The token from GetAuthorizationToken, sent as Basic to ECR's challenge; a copy from
    another repository streams its blobs; immutability (from the ECR API) keeps the tag."""
    auth = ("AWS", MOTO_PASSWORD)
    for name in ("app", "builds/arm"):
        ecr_api.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    amd = push_image(aws_registry.url, "app", "10.10", platform="linux/amd64", auth=auth)
    arm = push_image(aws_registry.url, "builds/arm", "1.2", platform="linux/arm64", auth=auth)
    aliases = {"10": ["10.10", f"{ECR_HOST}/builds/arm:1.2"]}
    with ecr(aws_registry, host=ECR_HOST, immutable={"app"}) as zoo:
        created = run_against(zoo, tmp_path, capsys, aliases, auth="ecr")
        push_image(aws_registry.url, "builds/arm", "1.3", platform="linux/arm64", auth=auth)
        aws_registry.clear_log()
        moved = {"10": ["10.10", f"{ECR_HOST}/builds/arm:1.3"]}
        conflict = run_against(zoo, tmp_path, capsys, moved, "--output", "json", auth="ecr")
        refused_mounts, refused_tags = list(zoo.refused_mounts), list(zoo.refused_tags)
    assert created.code == 0, created.out + created.err
    assert {digest for _, digest in refused_mounts} == {arm.config_digest, arm.layer_digest}
    assert children(aws_registry, "app", "10", auth) == [amd.digest, arm.digest]
    assert conflict.code == 1
    [alias] = conflict.json["aliases"]
    assert alias["action"] == "conflict" and "immutable" in alias["message"]
    assert refused_tags == []  # the ECR API said so first: no PUT was even tried
    assert aws_registry.writes() == []
