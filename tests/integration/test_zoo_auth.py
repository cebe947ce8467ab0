"""Authentication as real registries do it, played by the registry zoo in front of the
token-auth registry: Harbor/Quay's two challenges on one 401, token scopes for repository names
that hold API words, a token service that throttles or fails, docker config entries with
`username`/`password` or an `identitytoken`, GHCR's anonymous pulls and 100-tag pages, and
ECR's Basic challenge answered with ECR's token (or, under `auth: docker`, docker's)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import push_image, put_manifest, registry_client
from tests.support.motoserver import MOTO_ACCOUNT, MOTO_PASSWORD, MotoServer, aws_env
from tests.support.proxy import Fault, Proxy, ProxyAnswer, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess, start_registry
from tests.support.tokenserver import ResourceScope, TokenServer
from tests.support.zoo.ecr import Ecr, ecr
from tests.support.zoo.ghcr import PAGE, asked_last, ghcr
from tests.support.zoo.twochallenges import ORDERS, Order, twochallenges

from .cli import Reconcile, Run

USER, PASSWORD = next(iter(TOKEN_USERS.items()))
ATTEMPTS = 4  # RetryPolicy's default, which the registry's settings use


def seed(registry: RegistryProcess, repo: str) -> None:
    for tag, platform in (("10.10", "linux/amd64"), ("10.20", "linux/arm64")):
        push_image(registry.url, repo, tag, platform=platform, auth=(USER, PASSWORD))


def config_for(path: Path, host: str, aliases_by_repo: dict[str, dict[str, Any]]) -> Path:
    """A manifests.yaml for repositories on `host` (plain HTTP, as tests run it)."""
    doc = {
        "registries": {host: {"insecure": True}},
        "repositories": {f"{host}/{repo}": {"aliases": a} for repo, a in aliases_by_repo.items()},
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


def reconcile_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, repo: str
) -> Reconcile:
    config = config_for(tmp_path / "manifests.yaml", host, {repo: {"10": ["10.10", "10.20"]}})
    return Reconcile(capsys, config)


def assert_never_printed(secret: str, *runs: Run) -> None:
    for run in runs:
        assert secret not in run.out and secret not in run.err


# The repository a request is for: the last `/manifests|blobs|tags/` segment decides.
_API_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:manifests|blobs|tags)/")


def jwt_repositories(authorization: str) -> set[str]:
    """The repositories a `Bearer <jwt>` from the test token server grants access to."""
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {grant["name"] for grant in claims["access"] if grant["actions"]}


@dataclass(frozen=True)
class Sent:
    """One request a proxy received, with the scheme of its Authorization header."""

    method: str
    path: str
    authorization: str | None


def recorder(sent: list[Sent]) -> Callable[[ProxyRequest], Fault | None]:
    """A fault hook that only records what was sent (and forwards everything)."""

    def hook(request: ProxyRequest) -> Fault | None:
        sent.append(Sent(request.method, request.path, request.header("authorization")))
        return None

    return hook


# -- Harbor and Quay: Bearer and Basic on one 401 -----------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_bearer_is_chosen_when_a_401_also_offers_basic(
    order: Order, token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)
    with twochallenges(token_registry, order=order) as zoo:
        sent: list[Sent] = []
        zoo.proxy.fault = recorder(sent)
        docker_login_config(docker_config, zoo.host, USER, PASSWORD)
        token_server.clear_requests()
        run = reconcile_at(tmp_path, capsys, zoo.host, repo_name)("--concurrency", "1", "-vv")
        challenged = zoo.proxy.counts().by_status.get(401, 0)
    assert run.code == 0, run.out + run.err
    assert run.out.startswith(f"+ {zoo.host}/{repo_name}:10 created")
    # Both layouts were really served, and every one was answered through the token service.
    assert challenged == len(token_server.requests) == 2  # a pull token, then a push token
    assert all(r.status == 200 and r.username == USER for r in token_server.requests)
    schemes = {s.authorization.split()[0] for s in sent if s.authorization}
    assert schemes == {"Bearer"}  # the password never went to the registry itself
    assert_never_printed(PASSWORD, run)


# -- the token scope is the repository the request is for ---------------------------------------


def test_the_token_scope_is_the_repository_even_when_its_name_holds_api_words(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    repos = [f"{repo_name}/tags/app", f"{repo_name}/manifests/lib"]
    for repo in repos:
        seed(token_registry, repo)
    sent: list[Sent] = []
    with start_proxy(token_registry.url, fault=recorder(sent)) as proxy:
        docker_login_config(docker_config, proxy.host, USER, PASSWORD)
        token_server.clear_requests()
        aliases = {repo: {"10": ["10.10", "10.20"]} for repo in repos}
        config = config_for(tmp_path / "manifests.yaml", proxy.host, aliases)
        run = Reconcile(capsys, config)("--concurrency", "1")
        challenged = proxy.counts().by_status.get(401, 0)
    assert run.code == 0, run.out + run.err
    asked = sorted(
        (scope.name, ",".join(sorted(scope.actions)))
        for r in token_server.requests
        for scope in map(ResourceScope.parse, r.scopes)
    )
    assert asked == sorted((repo, a) for repo in repos for a in ("pull", "pull,push"))
    # Each repository's token is sent only to its own requests: a token cached under the
    # wrong name (`repository:tests/...:pull` for both) would go to the other one, be refused
    # and be fetched again.
    for request in sent:
        if request.authorization and request.authorization.startswith("Bearer "):
            api = _API_PATH.match(request.path)
            assert api is not None, request.path
            assert jwt_repositories(request.authorization) == {api["name"]}, request.path
    assert challenged == 4  # one challenge per repository and action set, no more


# -- the token service is retried like the registry ---------------------------------------------

_REALM = re.compile(r'realm="https?://[^/"]+')


@contextmanager
def realm_behind(
    registry: RegistryProcess, token_server: TokenServer, fault: Callable[[ProxyRequest], Any]
) -> Iterator[tuple[Proxy, Proxy]]:
    """(registry proxy, token proxy): the registry's challenges name a realm on a proxy in
    front of the token server, where `fault` decides each token request."""
    with start_proxy(token_server.url, fault=fault) as tokens:

        def move_realm(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
            challenge = answer.header("www-authenticate")
            if answer.status != 401 or not challenge:
                return answer
            moved = _REALM.sub(f'realm="{tokens.url}', challenge)
            return answer.with_header("WWW-Authenticate", moved)

        with start_proxy(registry.url, rewrite=move_realm) as proxy:
            yield proxy, tokens


def test_the_token_service_is_retried_on_503_and_429_honouring_retry_after(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)

    def throttle_twice(request: ProxyRequest) -> Fault | None:
        if request.number == 1:
            return Fault.respond(503, headers={"Retry-After": "0"})
        if request.number == 2:
            return Fault.respond(429, headers={"Retry-After": "0"})
        return None

    with realm_behind(token_registry, token_server, throttle_twice) as (proxy, tokens):
        docker_login_config(docker_config, proxy.host, USER, PASSWORD)
        token_server.clear_requests()
        run = reconcile_at(tmp_path, capsys, proxy.host, repo_name)("--concurrency", "1", "-v")
        seen = tokens.log()
    assert run.code == 0, run.out + run.err
    assert run.out.startswith(f"+ {proxy.host}/{repo_name}:10 created")
    # The same token request three times (503, 429, then served), then the push token.
    assert [e.status for e in seen] == [503, 429, 200, 200]
    assert seen[0].path == seen[1].path == seen[2].path
    assert len(token_server.requests) == 2
    assert f"retrying token service {tokens.host} after HTTP 503" in run.err
    assert f"retrying token service {tokens.host} after HTTP 429" in run.err


def test_a_token_service_that_stays_unavailable_is_one_clear_error(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)

    def always_503(request: ProxyRequest) -> Fault:
        return Fault.respond(503, headers={"Retry-After": "0"})

    with realm_behind(token_registry, token_server, always_503) as (proxy, tokens):
        docker_login_config(docker_config, proxy.host, USER, PASSWORD)
        token_server.clear_requests()
        run = reconcile_at(tmp_path, capsys, proxy.host, repo_name)("--dry-run")
        challenged = proxy.counts().by_status.get(401, 0)
        token_attempts = tokens.counts().total
    assert run.code == 1
    assert "Traceback" not in run.out + run.err
    error = f"{proxy.host}: token service {tokens.host} unavailable: HTTP 503"
    assert [line for line in run.out.splitlines() if "token service" in line] == [
        f"! {proxy.host}/{repo_name}:10 error: {error}"
    ]
    # Every challenge was followed by the policy's attempts, and nothing retried them again.
    assert challenged >= 1 and token_attempts == ATTEMPTS * challenged
    assert token_server.requests == []


# -- docker config: username/password fields and identity tokens --------------------------------


def write_auths(docker_config: Path, host: str, entry: dict[str, str]) -> None:
    (docker_config / "config.json").write_text(json.dumps({"auths": {host: entry}}))


@pytest.mark.parametrize("fixture", ["basic_registry", "token_registry"])
def test_username_and_password_fields_in_docker_config_work(
    fixture: str, request: pytest.FixtureRequest, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry: RegistryProcess = request.getfixturevalue(fixture)
    password = registry.users[USER]
    for tag, platform in (("10.10", "linux/amd64"), ("10.20", "linux/arm64")):
        push_image(registry.url, repo_name, tag, platform=platform, auth=(USER, password))
    # As a hand-written Kubernetes Secret of type dockerconfigjson often has it: no `auth`.
    write_auths(docker_config, registry.host, {"username": USER, "password": password})
    run = reconcile_at(tmp_path, capsys, registry.host, repo_name)("-vv")
    assert run.code == 0, run.out + run.err
    assert run.out.startswith(f"+ {registry.host}/{repo_name}:10 created")
    assert_never_printed(password, run)


def test_an_identity_token_is_exchanged_at_the_token_service_as_a_refresh_token(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)
    refresh_token = token_server.issue_refresh_token(USER)
    # As `docker login` stores it for ACR or a Harbor robot account: no password at all.
    auth = base64.b64encode(f"{USER}:".encode()).decode()
    write_auths(docker_config, token_registry.host, {"auth": auth, "identitytoken": refresh_token})
    token_server.clear_requests()
    run = reconcile_at(tmp_path, capsys, token_registry.host, repo_name)(
        "--concurrency", "1", "-vv"
    )
    assert run.code == 0, run.out + run.err
    assert run.out.startswith(f"+ {token_registry.host}/{repo_name}:10 created")
    grants = [(r.method, r.grant_type, r.username, r.status) for r in token_server.requests]
    assert grants == [("POST", "refresh_token", USER, 200)] * 2  # pull, then pull,push
    assert_never_printed(refresh_token, run)


def test_a_refused_identity_token_is_one_clear_error_without_the_token(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)
    revoked = "Revoked-Refresh-Token-5f3a"
    write_auths(docker_config, token_registry.host, {"identitytoken": revoked})
    run = reconcile_at(tmp_path, capsys, token_registry.host, repo_name)("--dry-run", "-vv")
    assert run.code == 1
    assert "Traceback" not in run.out + run.err
    realm = f"127.0.0.1:{token_server.port}"
    config = docker_config / "config.json"
    refused = f"the token service at {realm} refused the identity token from {config} (HTTP 400)"
    assert error_lines(run) == [
        f"! {token_registry.host}/{repo_name}:10 error: {token_registry.host}: {refused}"
    ]
    assert_never_printed(revoked, run)


def error_lines(run: Run) -> list[str]:
    return [line for line in run.out.splitlines() if line.startswith("!")]


# -- ECR: a refusal names ECR's token, or says that `auth: docker` left ECR out -----------------

ECR_REGION = "eu-west-1"
ECR_HOST = f"{MOTO_ACCOUNT}.dkr.ecr.{ECR_REGION}.amazonaws.com"


def run_on_ecr(zoo: Ecr, tmp_path: Path, capsys: pytest.CaptureFixture[str], auth: str) -> Run:
    """A dry run of ECR_HOST/app:10, the ECR host reached at the profile's proxy."""
    settings = {"endpoint": zoo.proxy.url, "insecure": True, "auth": auth, "region": ECR_REGION}
    path = tmp_path / "manifests.yaml"
    path.write_text(json.dumps({
        "registries": {ECR_HOST: settings},
        "repositories": {f"{ECR_HOST}/app": {"aliases": {"10": ["10.10"]}}},
    }))  # fmt: skip
    return Reconcile(capsys, path)("--dry-run")


def test_an_ecr_token_the_registry_rejects_is_named_as_ecrs(
    moto_server: MotoServer, registry_implementation: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    moto_server.reset()
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=ECR_REGION)
    boto3.client("ecr", region_name=ECR_REGION).create_repository(repositoryName="app")
    # The registry's AWS user has another password than the token moto hands out.
    users = {"AWS": "Not-The-Ecr-Token-4"}
    registry = start_registry(
        tmp_path, auth="htpasswd", users=users, implementation=registry_implementation
    )
    try:
        with ecr(registry, host=ECR_HOST) as zoo:
            run = run_on_ecr(zoo, tmp_path, capsys, "ecr")
    finally:
        registry.stop()
    assert error_lines(run) == [
        f"! {ECR_HOST}/app:10 error: {ECR_HOST}: app:10: credentials from ECR"
        f" GetAuthorizationToken in {ECR_REGION} were rejected by {ECR_HOST} (HTTP 401):"
        " UNAUTHORIZED authentication required"
    ]
    assert_never_printed(MOTO_PASSWORD, run)


def test_an_ecr_host_under_auth_docker_without_docker_credentials_says_ecr_was_not_asked(
    basic_registry: RegistryProcess, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with ecr(basic_registry, host=ECR_HOST) as zoo:
        run = run_on_ecr(zoo, tmp_path, capsys, "docker")
    config = docker_config / "config.json"
    assert error_lines(run) == [
        f"! {ECR_HOST}/app:10 error: {ECR_HOST}: app:10: no credentials found for {ECR_HOST} in"
        f" {config}, which does not exist, and `auth: docker` turns ECR login off for it"
        " (HTTP 401): UNAUTHORIZED authentication required"
    ]


# -- GHCR: anonymous pulls, tag lists paged at 100 ----------------------------------------------


def test_a_public_ghcr_package_plans_without_any_credentials(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, repo_name)
    token_server.clear_requests()
    with ghcr(token_registry, token_server) as zoo:
        run = reconcile_at(tmp_path, capsys, zoo.host, repo_name)("--dry-run")
    assert run.code == 0, run.out + run.err
    assert run.out.startswith(f"+ {zoo.host}/{repo_name}:10 will be created")
    asked = {(r.username, r.scope, r.status) for r in token_server.requests}
    assert asked == {(None, f"repository:{repo_name}:pull", 200)}  # anonymous pull tokens only


def floating_entries(run: Run) -> dict[str, tuple[str, str]]:
    """platform -> (source tag, digest) of the alias's desired runnable entries."""
    assert run.code == 0, run.out + run.err
    entries = run.json["aliases"][0]["desired"]["entries"]
    return {e["platform"]: (e["source"], e["digest"]) for e in entries}


def test_a_floating_alias_reads_every_ghcr_tag_page(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    amd = push_image(token_registry.url, repo_name, "v1.0", auth=(USER, PASSWORD))
    arm = push_image(
        token_registry.url, repo_name, "v1.1", platform="linux/arm64", auth=(USER, PASSWORD)
    )
    fillers = [f"build-{n:03d}" for n in range(PAGE + 20)]  # sort before every `v1.*` tag
    with registry_client(token_registry.url, (USER, PASSWORD)) as client:
        for tag in [*fillers, "v1.2"]:
            put_manifest(client, repo_name, tag, amd.raw, amd.media_type)
    aliases = {repo_name: {"1": {"track": "v1.*"}}}
    with ghcr(token_registry, token_server) as zoo:
        direct = config_for(tmp_path / "direct.yaml", token_registry.host, aliases)
        through = config_for(tmp_path / "ghcr.yaml", zoo.host, aliases)
        plain = Reconcile(capsys, direct)("--dry-run", "--output", "json")
        paged = Reconcile(capsys, through)("--dry-run", "--output", "json")
        pages = zoo.pages()
    expected = {"linux/amd64": ("v1.2", amd.digest), "linux/arm64": ("v1.1", arm.digest)}
    assert floating_entries(plain) == floating_entries(paged) == expected
    # Every matching tag is past the first page: the client followed the Link.
    assert [asked_last(e.path) for e in pages] == [None, fillers[PAGE - 1]]
