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
    origin = docker_config / "config.json"
    refused = {  # what was tried: where the credentials came from, and who refused them
        "basic_registry": f"{repo_name}:10: credentials from {origin} were rejected by"
        f" {registry.host} (HTTP 401): UNAUTHORIZED authentication required",
        "token_registry": f"the token service at {realm_of(request)} refused credentials from"
        f" {origin} (HTTP 401)",
    }[fixture]
    assert error_lines(runs[0]) == [
        f"! {registry.host}/{repo_name}:10 error: {registry.host}: {refused}"
    ]
    assert json.loads(runs[2].out)["aliases"][0]["message"] == f"{registry.host}: {refused}"
    assert_never_printed(WRONG_PASSWORD, *runs)
    assert_never_printed(PASSWORD, *runs)


def realm_of(request: pytest.FixtureRequest) -> str:
    """The token service's host:port, as a refusal names it."""
    server: TokenServer = request.getfixturevalue("token_server")
    return f"127.0.0.1:{server.port}"


def error_lines(run: Run) -> list[str]:
    return [line for line in run.out.splitlines() if line.startswith("!")]


@pytest.mark.parametrize("fixture", ["basic_registry", "token_registry"])
@pytest.mark.parametrize("config", [None, {"auths": {"other.test": {"auth": "dTpw"}}}],
                         ids=["no-config-file", "no-entry"])  # fmt: skip
def test_missing_credentials_say_where_they_were_looked_for(
    fixture: str, config: dict[str, object] | None, request: pytest.FixtureRequest,
    repo_name: str, tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry: RegistryProcess = request.getfixturevalue(fixture)
    seed(registry, repo_name)
    searched = f"{docker_config / 'config.json'}"
    if config is None:
        searched += ", which does not exist"
    else:
        (docker_config / "config.json").write_text(json.dumps(config))
    missing = f"no credentials found for {registry.host} in {searched}"
    refused = {
        "basic_registry": f"{repo_name}:10: {missing} (HTTP 401): UNAUTHORIZED authentication"
        " required",
        "token_registry": f"{missing}, and the token service at {realm_of(request)} refused"
        " anonymous access (HTTP 401)",
    }[fixture]
    run = run_against(registry, repo_name, tmp_path, capsys, "--dry-run")
    assert run.code == 1
    assert error_lines(run) == [
        f"! {registry.host}/{repo_name}:10 error: {registry.host}: {refused}"
    ]


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


def credential_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, answer: str, code: int = 0
) -> None:
    """`docker-credential-NAME` on PATH, printing `answer` and exiting with `code`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / f"docker-credential-{name}"
    helper.write_text(f"#!/bin/sh\nread host\necho '{answer}'\nexit {code}\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_credentials_a_helper_gave_that_are_rejected_name_the_helper(
    key: str, basic_registry: RegistryProcess, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    seed(basic_registry, repo_name)
    answer = json.dumps({"Username": USER, "Secret": WRONG_PASSWORD})
    credential_helper(tmp_path, monkeypatch, "testhelper", answer)
    config = {"credHelpers": {basic_registry.host: "testhelper"}, "credsStore": "testhelper"}
    (docker_config / "config.json").write_text(json.dumps({key: config[key]}))
    run = run_against(basic_registry, repo_name, tmp_path, capsys, "--dry-run")
    kind = {"credHelpers": "helper", "credsStore": "store"}[key]
    host = basic_registry.host
    assert error_lines(run) == [
        f"! {host}/{repo_name}:10 error: {host}: {repo_name}:10: credentials from the credential"
        f" {kind} docker-credential-testhelper were rejected by {host} (HTTP 401): UNAUTHORIZED"
        " authentication required"
    ]
    assert_never_printed(WRONG_PASSWORD, run)


def test_a_helper_without_credentials_is_named_where_none_were_found(
    basic_registry: RegistryProcess, repo_name: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    seed(basic_registry, repo_name)
    credential_helper(tmp_path, monkeypatch, "testhelper", "credentials not found", code=1)
    config = docker_config / "config.json"
    config.write_text(json.dumps({"credHelpers": {basic_registry.host: "testhelper"}}))
    run = run_against(basic_registry, repo_name, tmp_path, capsys, "--dry-run")
    host = basic_registry.host
    assert error_lines(run) == [
        f"! {host}/{repo_name}:10 error: {host}: {repo_name}:10: no credentials found for {host}"
        f" in the credential helper docker-credential-testhelper that {config} names for it"
        " (HTTP 401): UNAUTHORIZED authentication required"
    ]


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
