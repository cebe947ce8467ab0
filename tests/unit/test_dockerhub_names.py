"""Docker Hub names as docker normalises them, and every place a Hub spelling must find the
same registry: the config's `registries:` entry, docker's stored credentials, the API host."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from reconciler._config import models as config
from reconciler._errors import ConfigError
from reconciler._model import refs
from reconciler._model.names import parse_reference, parse_repository
from reconciler._registry.credentials import DockerCredentialStore
from reconciler._registry.http import ClientSettings

HUB_SPELLINGS = ["docker.io", "index.docker.io", "registry-1.docker.io"]


@pytest.mark.parametrize(
    ("text", "registry", "name"),
    [
        ("nginx", "docker.io", "library/nginx"),
        ("docker.io/nginx", "docker.io", "library/nginx"),
        ("index.docker.io/nginx", "docker.io", "library/nginx"),
        ("registry-1.docker.io/nginx", "docker.io", "library/nginx"),
        ("docker.io/library/nginx", "docker.io", "library/nginx"),
        ("library/nginx", "docker.io", "library/nginx"),
        ("org/app", "docker.io", "org/app"),
        ("docker.io/org/app", "docker.io", "org/app"),
        ("index.docker.io/org/app", "docker.io", "org/app"),
        ("docker.io/org/team/app", "docker.io", "org/team/app"),
        # Only Docker Hub has official images: other registries keep one-component names.
        ("localhost:5000/nginx", "localhost:5000", "nginx"),
        ("registry.example.com/nginx", "registry.example.com", "nginx"),
        ("ghcr.io/org/app", "ghcr.io", "org/app"),
        # A host that merely contains docker.io is another registry.
        ("mirror.docker.io.example.com/nginx", "mirror.docker.io.example.com", "nginx"),
    ],
)
def test_repository_names_normalise_like_docker(text: str, registry: str, name: str) -> None:
    repository = parse_repository(text)
    assert (repository.registry, repository.name) == (registry, name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.25", "docker.io/library/nginx:1.25"),
        ("docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
        ("registry-1.docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("docker.io/org/app:2", "docker.io/org/app:2"),
        ("localhost:5000/nginx:1", "localhost:5000/nginx:1"),
    ],
)
def test_command_line_references_normalise_like_docker(text: str, expected: str) -> None:
    """`reconcile inspect/resolve/import REF`."""
    assert str(refs.parse_reference(text)) == expected


@pytest.mark.parametrize(
    "text", ["docker.io/nginx:1.25", "index.docker.io/nginx:1.25", "nginx:1.25"]
)
def test_config_ref_sources_normalise_like_docker(text: str) -> None:
    """A source's `ref:` in manifests.yaml."""
    assert str(parse_reference(text)) == "docker.io/library/nginx:1.25"


def hub_repositories(*keys: str) -> str:
    lines = ["repositories:"]
    for key in keys:
        lines += [f"  {key}:", "    aliases:", '      "1": ["1.0"]']
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("written", HUB_SPELLINGS)
@pytest.mark.parametrize("asked", HUB_SPELLINGS)
def test_a_docker_hub_registries_entry_is_found_under_any_spelling(
    written: str, asked: str
) -> None:
    text = f"registries:\n  {written}:\n    endpoint: http://127.0.0.1:5999\n"
    cfg = config.parse(text + hub_repositories("nginx"))
    assert cfg.registry(asked).endpoint == "http://127.0.0.1:5999"


@pytest.mark.parametrize(
    ("written", "asked", "endpoint"),
    [
        ("localhost:5000", "localhost:5000", "http://127.0.0.1:5999"),
        ("localhost:5000", "localhost:5001", None),  # another port is another registry
        ("docker.io", "registry.example.com", None),
        ("registry.example.com", "docker.io", None),
    ],
)
def test_other_registries_are_found_only_under_their_own_host(
    written: str, asked: str, endpoint: str | None
) -> None:
    text = f'registries:\n  "{written}":\n    endpoint: http://127.0.0.1:5999\n'
    cfg = config.parse(text + hub_repositories("nginx"))
    assert cfg.registry(asked).endpoint == endpoint


def test_two_entries_for_docker_hub_are_a_config_error() -> None:
    text = (
        "registries:\n"
        "  docker.io:\n    insecure: true\n"
        "  index.docker.io:\n    endpoint: http://127.0.0.1:5999\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(text + hub_repositories("nginx"), "manifests.yaml")
    assert str(caught.value) == (
        "manifests.yaml:4: registries.index.docker.io: 'index.docker.io' and 'docker.io' are"
        " the same registry (docker.io); keep one entry"
    )


def test_two_keys_for_one_repository_are_a_config_error() -> None:
    text = (
        "repositories:\n"
        "  nginx:\n    aliases: {'1': ['1.1']}\n"
        "  docker.io/library/nginx:\n    aliases: {'2': ['2.1']}\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "manifests.yaml")
    assert str(caught.value) == (
        "manifests.yaml:4: repositories.docker.io/library/nginx: 'docker.io/library/nginx' and"
        " 'nginx' are the same repository (docker.io/library/nginx); keep one entry"
    )


@pytest.mark.parametrize("key", ["nginx", "docker.io/nginx", "index.docker.io/nginx"])
def test_alias_targets_of_hub_keys_live_in_library(key: str) -> None:
    (target,) = config.parse(hub_repositories(key)).targets()
    assert (str(target.repository), target.name) == ("docker.io/library/nginx", f"{key}:1")


@pytest.mark.parametrize(
    "stored_under",
    [
        "https://index.docker.io/v1/",  # `docker login` writes this one
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io/v2/",
    ],
)
def test_docker_hub_credentials_are_found_under_any_spelling(
    stored_under: str, tmp_path: Path
) -> None:
    auth = base64.b64encode(b"hubuser:hub-Secret-1").decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {stored_under: {"auth": auth}}}))
    store = DockerCredentialStore(tmp_path)
    for host in HUB_SPELLINGS:
        found = store.lookup(host)
        assert found is not None and (found.username, found.secret) == ("hubuser", "hub-Secret-1")


def test_hub_credentials_are_not_used_for_other_registries(tmp_path: Path) -> None:
    auth = base64.b64encode(b"hubuser:hub-Secret-1").decode()
    doc = {"auths": {"https://index.docker.io/v1/": {"auth": auth}}}
    (tmp_path / "config.json").write_text(json.dumps(doc))
    assert DockerCredentialStore(tmp_path).lookup("registry.example.com") is None


@pytest.mark.parametrize(
    ("host", "endpoint", "base_url"),
    [
        ("docker.io", None, "https://registry-1.docker.io"),
        ("index.docker.io", None, "https://registry-1.docker.io"),
        ("registry-1.docker.io", None, "https://registry-1.docker.io"),
        ("docker.io", "http://127.0.0.1:5999", "http://127.0.0.1:5999"),
        ("registry.example.com", None, "https://registry.example.com"),
    ],
)
def test_requests_for_docker_hub_go_to_its_api_host(
    host: str, endpoint: str | None, base_url: str
) -> None:
    assert ClientSettings(host=host, endpoint=endpoint).base_url == base_url
