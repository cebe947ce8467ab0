"""The seed workflow against "ECR": moto stands in for the ECR API (tokens, repositories, tag
mutability) and a real docker-registry with htpasswd auth for the registry API. Its only user
is `AWS` with the password moto's token decodes to, so a run passes only if the token really
came from boto3 and was sent as Basic auth."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from reconciler._registry.ecr import EcrCredentials, EcrSession
from reconciler._registry.http import ClientSettings, RegistryClient
from tests.support.images import get_manifest, push_image
from tests.support.motoserver import (
    MOTO_ACCOUNT,
    MOTO_PASSWORD,
    MOTO_TOKEN_EXPIRY,
    MotoServer,
    aws_env,
)
from tests.support.registry import RegistryProcess, start_registry

from .cli import Reconcile, Run

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("docker_config")]

REGION = "ap-northeast-1"
HOST = f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
AWS_AUTH = ("AWS", MOTO_PASSWORD)


@pytest.fixture
def ecr_api(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A fresh moto ECR with AWS_ENDPOINT_URL_ECR pointing at it; returns a boto3 client."""
    moto_server.reset()
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION)
    return boto3.client("ecr", region_name=REGION)


@pytest.fixture
def ecr_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """The registry API of the fake ECR: htpasswd with the single user AWS."""
    process = start_registry(tmp_path, auth="htpasswd", users=dict([AWS_AUTH]))
    yield process
    process.stop()


@pytest.fixture
def seeded(ecr_registry: RegistryProcess) -> dict[str, str]:
    """The AWS guide's images: my-image:10.10 linux/amd64 and my-image:10.20 linux/arm64."""
    return {
        tag: push_image(ecr_registry.url, "my-image", tag, platform=p, auth=AWS_AUTH).digest
        for tag, p in (("10.10", "linux/amd64"), ("10.20", "linux/arm64/v8"))
    }


def reconcile(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str],
    *args: str, **settings: Any,
) -> Run:  # fmt: skip
    config = {
        "registries": {HOST: {"endpoint": registry.url, "insecure": True, **settings}},
        "repositories": {f"{HOST}/my-image": {"aliases": {"10": ["10.10", "10.20"]}}},
    }
    path = tmp_path / "manifests.yaml"
    path.write_text(json.dumps(config))
    return Reconcile(capsys, path)(*args)


def test_seed_workflow_dry_run_apply_noop(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image")
    ecr_registry.clear_log()
    plan = reconcile(tmp_path, ecr_registry, capsys, "--dry-run", "--output", "json")
    assert plan.code == 0, plan.out
    assert plan.json["aliases"][0]["action"] == "create"
    assert ecr_registry.writes() == []
    applied = reconcile(tmp_path, ecr_registry, capsys)
    assert applied.code == 0, applied.out
    assert [w.path for w in ecr_registry.writes()] == ["/v2/my-image/manifests/10"]
    raw, _, _ = get_manifest(ecr_registry.url, "my-image", "10", auth=AWS_AUTH)
    assert [m["digest"] for m in json.loads(raw)["manifests"]] == list(seeded.values())
    ecr_registry.clear_log()
    again = reconcile(tmp_path, ecr_registry, capsys)
    assert again.out == "Everything up to date (1 alias).\n"
    assert ecr_registry.writes() == []


def test_missing_repository_is_an_error_naming_it(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ecr_registry.clear_log()
    run = reconcile(tmp_path, ecr_registry, capsys)
    assert run.code == 1
    assert "ECR repository 'my-image' does not exist" in run.out
    assert "create_repository: true" in run.out
    assert ecr_registry.writes() == []


def test_create_repository_creates_it_then_the_alias(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    plan = reconcile(tmp_path, ecr_registry, capsys, "--dry-run", "--output", "json",
                     create_repository=True)  # fmt: skip
    changes = plan.json["aliases"][0]["changes"]
    assert changes[0] == {"kind": "add", "field": "repository", "subject": "my-image",
                          "old": None, "new": "my-image", "source": None}  # fmt: skip
    assert ecr_api.describe_repositories()["repositories"] == []  # dry-run wrote nothing

    run = reconcile(tmp_path, ecr_registry, capsys, create_repository=True)
    assert run.code == 0, run.out
    [repo] = ecr_api.describe_repositories()["repositories"]
    assert repo["repositoryName"] == "my-image"
    assert get_manifest(ecr_registry.url, "my-image", "10", auth=AWS_AUTH)


def test_immutable_repository_allows_create_but_update_is_a_conflict(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image", imageTagMutability="IMMUTABLE")
    assert reconcile(tmp_path, ecr_registry, capsys).code == 0  # a new tag is fine
    push_image(ecr_registry.url, "my-image", "10.20", platform="linux/arm64", seed="v2",
               auth=AWS_AUTH)  # fmt: skip
    ecr_registry.clear_log()
    run = reconcile(tmp_path, ecr_registry, capsys, "--output", "json")
    assert run.code == 1
    [alias] = run.json["aliases"]
    assert alias["action"] == "conflict"
    assert "immutable" in alias["message"] and "exclusion filter" in alias["message"]
    assert ecr_registry.writes() == []


def test_exclusion_filter_makes_the_alias_tag_mutable(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ecr_api.create_repository(
        repositoryName="my-image",
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "1*"}],
    )
    assert reconcile(tmp_path, ecr_registry, capsys).code == 0
    new = push_image(ecr_registry.url, "my-image", "10.20", platform="linux/arm64", seed="v2",
                     auth=AWS_AUTH)  # fmt: skip
    run = reconcile(tmp_path, ecr_registry, capsys)
    assert run.code == 0, run.out
    assert "updated" in run.out
    raw, _, _ = get_manifest(ecr_registry.url, "my-image", "10", auth=AWS_AUTH)
    assert json.loads(raw)["manifests"][1]["digest"] == new.digest


def test_auth_ecr_forces_ecr_auth_on_another_host(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image")
    config = {
        "registries": {"ecr-proxy.internal": {"endpoint": ecr_registry.url, "insecure": True,
                                              "auth": "ecr", "region": REGION}},
        "repositories": {"ecr-proxy.internal/my-image": {"aliases": {"10": ["10.10", "10.20"]}}},
    }  # fmt: skip
    path = tmp_path / "proxy.yaml"
    path.write_text(json.dumps(config))
    run = Reconcile(capsys, path)()
    assert run.code == 0, run.out


def test_no_aws_credentials_is_one_clear_error(
    tmp_path: Path, moto_server: MotoServer, ecr_registry: RegistryProcess,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION, credentials=False)
    run = reconcile(tmp_path, ecr_registry, capsys)
    assert run.code == 1
    assert "no AWS credentials" in run.out
    assert "Traceback" not in run.err
    assert ecr_registry.writes() == []


def test_token_is_reused_then_refreshed_after_expiry(
    ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str]
) -> None:
    clock = [MOTO_TOKEN_EXPIRY - 12 * 3600]  # moto's tokens always expire at this instant
    session = EcrSession(REGION, clock=lambda: clock[0])
    fetches: list[str] = []
    session.client.meta.events.register(
        "before-call.ecr.GetAuthorizationToken", lambda **_: fetches.append("token")
    )
    settings = ClientSettings(HOST, endpoint=ecr_registry.url, insecure=True)
    client = RegistryClient(settings, EcrCredentials(session))
    for tag in ("10.10", "10.20", "10.10"):
        assert client.head_manifest("my-image", tag) is not None
    assert fetches == ["token"]  # one token for every request
    clock[0] = MOTO_TOKEN_EXPIRY - 60  # inside the refresh margin before expiry
    assert client.head_manifest("my-image", "10.20") is not None
    assert fetches == ["token", "token"]
    client.close()


def mirror_into_ecr(ecr_api: Any, registry: RegistryProcess, tags: list[str]) -> None:
    """Real ECR has one store behind both APIs; here the images live in docker-registry, so
    copy their manifests, byte for byte and with their real digests, into moto."""
    for tag in tags:
        raw, media_type, digest = get_manifest(registry.url, "my-image", tag, auth=AWS_AUTH)
        ecr_api.put_image(
            repositoryName="my-image", imageManifest=raw.decode(), imageTag=tag,
            imageManifestMediaType=media_type, imageDigest=digest,
        )  # fmt: skip


def count_ecr_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count ECR API operations made by the sessions the CLI creates."""
    calls: Counter[str] = Counter()
    create = EcrSession._create_client

    def counting(self: EcrSession) -> Any:
        client = create(self)
        client.meta.events.register(
            "before-call.ecr.*", lambda model, **_: calls.update([model.name])
        )
        return client

    monkeypatch.setattr(EcrSession, "_create_client", counting)
    return calls


def ecr_aliases(registry: RegistryProcess, count: int) -> dict[str, list[str]]:
    """`count` aliases "n": ["n.1" (linux/amd64), "n.2" (linux/arm64)], pushed."""
    aliases = {}
    for n in range(count):
        for tag, platform in ((f"{n}.1", "linux/amd64"), (f"{n}.2", "linux/arm64")):
            push_image(registry.url, "my-image", tag, platform=platform, seed=str(n),
                       auth=AWS_AUTH)  # fmt: skip
        aliases[str(n)] = [f"{n}.1", f"{n}.2"]
    return aliases


def ecr_config(path: Path, registry: RegistryProcess, aliases: dict[str, list[str]]) -> Path:
    path.write_text(json.dumps({
        "registries": {HOST: {"endpoint": registry.url, "insecure": True}},
        "repositories": {f"{HOST}/my-image": {"aliases": aliases}},
    }))  # fmt: skip
    return path


def test_bulk_reads_replace_per_tag_requests(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image")
    aliases = ecr_aliases(ecr_registry, 10)
    run = Reconcile(capsys, ecr_config(tmp_path / "m.yaml", ecr_registry, aliases))

    # Per-tag path (nothing in the ECR API's view yet): one registry request per tag at least.
    ecr_registry.clear_log()
    assert run().code == 0
    per_tag_requests = len(ecr_registry.requests())
    assert per_tag_requests >= 30

    # Bulk path: the same 30 tags come from one BatchGetImage; the registry sees nothing.
    mirror_into_ecr(ecr_api, ecr_registry, [t for pair in aliases.values() for t in pair])
    mirror_into_ecr(ecr_api, ecr_registry, list(aliases))
    calls = count_ecr_calls(monkeypatch)
    ecr_registry.clear_log()
    steady = run()
    assert steady.out == "Everything up to date (10 aliases).\n"
    assert ecr_registry.requests() == []
    assert calls == Counter({"BatchGetImage": 1, "DescribeRepositories": 1})


def test_a_large_repository_in_steady_state_is_one_listing_with_a_warm_cache(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image")
    aliases = ecr_aliases(ecr_registry, 40)  # 120 tags: more than one BatchGetImage
    config = ecr_config(tmp_path / "m.yaml", ecr_registry, aliases)
    assert Reconcile(capsys, config)().code == 0
    mirror_into_ecr(ecr_api, ecr_registry, [t for pair in aliases.values() for t in pair])
    mirror_into_ecr(ecr_api, ecr_registry, list(aliases))
    calls = count_ecr_calls(monkeypatch)
    ecr_registry.clear_log()

    cold = Reconcile(capsys, config)("--no-cache")
    assert cold.out == "Everything up to date (40 aliases).\n"
    # The registry still serves the image configs (platforms): with moto's tokens, which
    # expire in 2015, each of those requests asks for a token again.
    del calls["GetAuthorizationToken"]
    assert calls == Counter({"BatchGetImage": 2, "DescribeRepositories": 1})
    calls.clear()
    ecr_registry.clear_log()
    warm = Reconcile(capsys, config)()  # the cache of the first run
    assert warm.out == "Everything up to date (40 aliases).\n"
    assert calls == Counter({"DescribeImages": 1, "DescribeRepositories": 1})
    assert ecr_registry.requests() == []


def test_prune_on_ecr_deletes_the_tag_through_the_ecr_api(
    tmp_path: Path, ecr_api: Any, ecr_registry: RegistryProcess, seeded: dict[str, str],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ecr_api.create_repository(repositoryName="my-image")
    repo: dict[str, Any] = {
        "prune": True,
        "aliases": {"10": ["10.10", "10.20"], "11": ["10.20", "10.10"]},
    }
    path = tmp_path / "prune.yaml"
    document = {"registries": {HOST: {"endpoint": ecr_registry.url, "insecure": True}},
                "repositories": {f"{HOST}/my-image": repo}}  # fmt: skip
    path.write_text(json.dumps(document))
    assert Reconcile(capsys, path)().code == 0
    mirror_into_ecr(ecr_api, ecr_registry, ["10", "11"])  # one store behind both APIs

    del repo["aliases"]["11"]
    path.write_text(json.dumps(document))
    calls = count_ecr_calls(monkeypatch)
    run = Reconcile(capsys, path)()
    assert run.code == 0, run.out
    assert "my-image:11 deleted" in run.out
    assert calls["BatchDeleteImage"] == 1
    tags = {t for i in ecr_api.describe_images(repositoryName="my-image")["imageDetails"]
            for t in i.get("imageTags", [])}  # fmt: skip
    assert "11" not in tags and "10" in tags
