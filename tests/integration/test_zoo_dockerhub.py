"""Docker Hub through the registry zoo's `dockerhub` profile (tests/support/zoo/dockerhub.py):
names as docker normalises them, credentials kept under `https://index.docker.io/v1/`, the
token realm on its own host, and the pull rate limit (read, reported, and respected once
spent). The registry behind the profile is a real token-auth `docker-registry`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image, registry_client
from tests.support.proxy import LoggedExchange
from tests.support.registry import RegistryProcess
from tests.support.tokenserver import TokenServer
from tests.support.zoo.dockerhub import AUTH_ADDRESS, DockerHub, dockerhub

from .cli import Reconcile, Run

USER, PASSWORD = next(iter(TOKEN_USERS.items()))
HUB_KEY = "https://index.docker.io/v1/"  # where `docker login` keeps Docker Hub credentials
SPENT = "pull rate limit of docker.io spent (window 21600 s = 6 h)"


@pytest.fixture
def hub(token_registry: RegistryProcess, token_server: TokenServer) -> Iterator[DockerHub]:
    with dockerhub(token_registry, token_server, remaining=40) as profile:
        yield profile


@pytest.fixture
def hub_login(docker_config: Path) -> Path:
    return docker_login_config(docker_config, HUB_KEY, USER, PASSWORD)


def seed(registry: RegistryProcess, repository: str, *tags: str) -> None:
    """Each tag `<name>-amd64` / `<name>-arm64` gets an image of that platform."""
    for tag in tags:
        platform = "linux/arm64" if tag.endswith("arm64") else "linux/amd64"
        push_image(registry.url, repository, tag, platform=platform, auth=(USER, PASSWORD))


def sources(alias: str) -> list[str]:
    return [f"{alias}-amd64", f"{alias}-arm64"]


def hub_config(
    path: Path, hub: DockerHub, repositories: dict[str, list[str]], registry_key: str = "docker.io"
) -> Path:
    """`repositories`: key -> aliases (each with the two sources `sources()` names)."""
    doc = {
        "registries": {registry_key: {"endpoint": hub.proxy.url, "insecure": True}},
        "repositories": {
            key: {"aliases": {alias: sources(alias) for alias in aliases}}
            for key, aliases in repositories.items()
        },
    }
    path.write_text(json.dumps(doc))
    return path


def manifest_gets(hub: DockerHub) -> list[LoggedExchange]:
    """Manifest GETs the registry side answered, leaving out 401 challenges (no pull)."""
    return [
        e for e in hub.proxy.log() if (e.method, e.kind) == ("GET", "manifests") and e.status != 401
    ]


def metrics(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def outcomes(run: Run) -> dict[str, tuple[str, str]]:
    return {a["target"]: (a["action"], a["message"]) for a in json.loads(run.out)["aliases"]}


# -- names, credentials and the token host ---------------------------------------------------


@pytest.mark.parametrize(
    ("repository_key", "registry_key"),
    [
        ("docker.io/nginx", "docker.io"),
        ("nginx", "index.docker.io"),
        ("index.docker.io/nginx", "registry-1.docker.io"),
        ("registry-1.docker.io/nginx", "docker.io"),
    ],
)
def test_docker_hub_names_reach_library_through_the_separate_token_host(
    repository_key: str, registry_key: str, hub: DockerHub, token_registry: RegistryProcess,
    token_server: TokenServer, hub_login: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, "library/nginx", *sources("1.25"))
    config = hub_config(tmp_path / "manifests.yaml", hub, {repository_key: ["1.25"]}, registry_key)
    run = Reconcile(capsys, config)()
    assert run.code == 0, run.out + run.err
    raw, _, _ = get_manifest(token_registry.url, "library/nginx", "1.25", auth=(USER, PASSWORD))
    platforms = [m["platform"]["architecture"] for m in json.loads(raw)["manifests"]]
    assert platforms == ["amd64", "arm64"]
    # The realm the client followed is on 127.0.0.2, and the docker config's Hub entry was sent.
    assert hub.auth is not None and hub.auth.address == AUTH_ADDRESS
    assert hub.auth.counts().by_method.get("GET", 0) >= 1
    users = {r.username for r in token_server.requests if r.status == 200}
    assert users == {USER}
    assert PASSWORD not in run.out + run.err


def test_a_name_without_library_is_refused_by_the_profile(
    hub: DockerHub, token_registry: RegistryProcess, hub_login: Path
) -> None:
    """The profile's own check: `/v2/nginx/...` does not exist on Docker Hub, so a client that
    forgot `library/` fails there instead of passing against the reference registry."""
    with httpx.Client(base_url=hub.proxy.url, trust_env=False) as client:
        answer = client.head("/v2/nginx/manifests/latest")
    assert answer.status_code == 401
    assert hub.auth is not None
    assert f'realm="{hub.auth.url}/token"' in answer.headers["www-authenticate"]


def test_the_profile_counts_manifest_gets_and_not_heads(
    hub: DockerHub, token_registry: RegistryProcess
) -> None:
    """The profile's own check of the documented headers, counting and refusal."""
    push_image(token_registry.url, "library/nginx", "1.25", auth=(USER, PASSWORD))
    hub.pulls.set(1)
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    path = "/v2/library/nginx/manifests/1.25"
    with registry_client(hub.proxy.url, (USER, PASSWORD)) as client:
        answers = [
            client.head(path, headers=accept),
            client.get(path, headers=accept),
            client.head(path, headers=accept),
            client.get(path, headers=accept),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers.get("ratelimit-remaining") for a in answers[:3]] == [
        "1;w=21600",
        "0;w=21600",
        "0;w=21600",
    ]
    assert {a.headers.get("ratelimit-limit") for a in answers[:3]} == {"100;w=21600"}
    refused = answers[3]
    assert "retry-after" not in refused.headers
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_inspect_a_short_hub_name_on_the_command_line(
    hub: DockerHub, token_registry: RegistryProcess, hub_login: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    image = push_image(token_registry.url, "library/nginx", "1.25", auth=(USER, PASSWORD))
    config = hub_config(tmp_path / "manifests.yaml", hub, {})
    run = Reconcile(capsys)("inspect", "-f", str(config), "nginx:1.25")
    assert run.code == 0, run.err
    assert json.loads(run.out) == json.loads(image.raw)


# -- the pull rate limit ---------------------------------------------------------------------


def test_remaining_pulls_are_logged_at_v_and_exported_as_the_lowest_seen(
    hub: DockerHub, token_registry: RegistryProcess, hub_login: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seed(token_registry, "library/nginx", *sources("1.25"))
    config = hub_config(tmp_path / "manifests.yaml", hub, {"nginx": ["1.25"]})
    path = tmp_path / "reconcile.prom"
    run = Reconcile(capsys, config)("-v", "--metrics-file", str(path))
    assert run.code == 0, run.out + run.err
    pulls = [e for e in manifest_gets(hub) if e.status == 200]
    assert len(pulls) == 2  # the two sources; the absent alias tag was a 404
    assert hub.pulls.left() == 38
    assert metrics(path)["reconcile_registry_ratelimit_remaining"] == {
        (("registry", "docker.io"),): 38
    }
    assert "docker.io: pull rate limit 100 (window 21600 s = 6 h), 38 left after this run" in (
        run.err
    )


def test_a_spent_pull_limit_stops_manifest_gets_and_warm_aliases_go_on(
    hub: DockerHub, token_registry: RegistryProcess, hub_login: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    aliases = ["c1", "c2", "c3", "warm"]
    seed(token_registry, "library/nginx", *(tag for alias in aliases for tag in sources(alias)))
    first = hub_config(tmp_path / "first.yaml", hub, {"nginx": ["warm"]})
    assert Reconcile(capsys, first)().code == 0  # fills the cache for `warm`

    hub.pulls.set(1)
    hub.proxy.reset_counts()
    # `warm` comes last: it is read after the limit is spent, and needs only HEADs.
    config = hub_config(tmp_path / "manifests.yaml", hub, {"nginx": aliases})
    path = tmp_path / "reconcile.prom"
    run = Reconcile(capsys, config)(
        "--concurrency", "1", "--output", "json", "--metrics-file", str(path)
    )

    assert run.code == 1
    assert "Traceback" not in run.err
    # c1: its absent tag (404), one source pulled (the last pull), the other refused once,
    # not retried; then nothing more: c2 and c3 fail without a request.
    assert [e.status for e in manifest_gets(hub)] == [404, 200, 429]
    result = outcomes(run)
    for alias in ("c1", "c2", "c3"):
        action, message = result[f"nginx:{alias}"]
        assert action == "error"
        assert SPENT in message
    assert result["nginx:warm"] == ("noop", "")
    assert metrics(path)["reconcile_registry_ratelimit_remaining"] == {
        (("registry", "docker.io"),): 0
    }
    assert run.err.count("no further manifest GET is sent to it") == 1  # one warning
