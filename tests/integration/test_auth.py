"""Basic and Bearer authentication against real registries, and secrets that never leak."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import BASIC_USERS, TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image
from tests.support.registry import RegistryProcess
from tests.support.tokenserver import TokenServer

from .cli import Reconcile, Run, write_config

USER, PASSWORD = next(iter(BASIC_USERS.items()))
WRONG_PASSWORD = "Wr0ng-but-Recognisable-Secret-7731"


def seed(registry: RegistryProcess, repo: str, password: str = PASSWORD) -> None:
    for tag, platform in (("10.10", "linux/amd64"), ("10.20", "linux/arm64")):
        push_image(registry.url, repo, tag, platform=platform, auth=(USER, password))


def run_against(
    registry: RegistryProcess, repo: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    *args: str,
) -> Run:  # fmt: skip
    config = write_config(tmp_path / "manifests.yaml", registry, repo, {"10": ["10.10", "10.20"]})
    return Reconcile(capsys, config)(*args)


def assert_never_printed(secret: str, *runs: Run) -> None:
    for run in runs:
        assert secret not in run.out and secret not in run.err


@pytest.mark.parametrize("fixture", ["basic_registry", "token_registry"])
def test_credentials_from_docker_config_work(
    fixture: str, request: pytest.FixtureRequest, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry: RegistryProcess = request.getfixturevalue(fixture)
    seed(registry, repo_name)
    docker_login_config(docker_config, registry.host, USER, PASSWORD)
    runs = [run_against(registry, repo_name, tmp_path, capsys, "-vv") for _ in range(2)]
    assert runs[0].code == 0, runs[0].out + runs[0].err
    assert "created" in runs[0].out
    assert "Everything up to date (1 alias)." in runs[1].out
    assert get_manifest(registry.url, repo_name, "10", auth=(USER, PASSWORD))
    assert_never_printed(PASSWORD, *runs)


@pytest.mark.parametrize("fixture", ["basic_registry", "token_registry"])
def test_wrong_credentials_fail_clearly_without_leaking_them(
    fixture: str, request: pytest.FixtureRequest, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry: RegistryProcess = request.getfixturevalue(fixture)
    seed(registry, repo_name)
    docker_login_config(docker_config, registry.host, USER, WRONG_PASSWORD)
    runs = [run_against(registry, repo_name, tmp_path, capsys, *flags, "--dry-run")
            for flags in ([], ["-vv"], ["--output", "json", "-vv"])]  # fmt: skip
    for run in runs:
        assert run.code == 1
        assert "Traceback" not in run.err
    assert f"{registry.host}:" in runs[0].out
    assert "HTTP 401" in runs[0].out or "refused the configured credentials" in runs[0].out
    assert json.loads(runs[2].out)["aliases"][0]["action"] == "error"
    assert_never_printed(WRONG_PASSWORD, *runs)
    assert_never_printed(PASSWORD, *runs)


def test_missing_credentials_are_an_auth_error_naming_the_registry(
    basic_registry: RegistryProcess, repo_name: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(basic_registry, repo_name)
    run = run_against(basic_registry, repo_name, tmp_path, capsys, "--dry-run")
    assert run.code == 1
    assert f"{basic_registry.host}: " in run.out and "authentication required" in run.out


def test_bearer_tokens_are_reused_across_requests(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)
    docker_login_config(docker_config, token_registry.host, USER, TOKEN_USERS[USER])
    token_server.clear_requests()
    assert run_against(token_registry, repo_name, tmp_path, capsys).code == 0
    # One pull token for every read, one pull,push token for the write: not one per request.
    actions = sorted(
        ",".join(sorted(r.scope.rpartition(":")[2].split(","))) for r in token_server.requests
    )
    assert actions == ["pull", "pull,push"]
    assert all(r.scope.startswith(f"repository:{repo_name}:") for r in token_server.requests)
    assert all(r.username == USER for r in token_server.requests)


def test_credential_helpers_are_used(
    basic_registry: RegistryProcess, repo_name: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    seed(basic_registry, repo_name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    answer = json.dumps({"Username": USER, "Secret": PASSWORD})
    helper.write_text(f"#!/bin/sh\nread host\necho '{answer}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (docker_config / "config.json").write_text(
        json.dumps({"credHelpers": {basic_registry.host: "testhelper"}})
    )
    run = run_against(basic_registry, repo_name, tmp_path, capsys)
    assert run.code == 0, run.out
    assert_never_printed(PASSWORD, run)


def test_basic_credentials_are_not_sent_over_plain_http_unless_insecure(
    basic_registry: RegistryProcess, repo_name: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(basic_registry, repo_name)
    docker_login_config(docker_config, basic_registry.host, USER, PASSWORD)
    config = tmp_path / "m.yaml"
    config.write_text(json.dumps({
        "registries": {basic_registry.host: {"endpoint": basic_registry.url}},
        "repositories": {f"{basic_registry.host}/{repo_name}": {"aliases": {"10": ["10.10"]}}},
    }))  # fmt: skip
    run = Reconcile(capsys, config)("--dry-run")
    assert run.code == 1
    assert "refusing to send credentials over plain HTTP" in run.out
