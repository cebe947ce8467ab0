"""Shared fixtures: real registries on loopback, a token server and a throwaway DOCKER_CONFIG.

Tests that use a registry-backed fixture are marked `integration` automatically, so
`pytest -m "not integration"` runs without starting any process.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.support.cosign import COSIGN_BINARY, Cosign
from tests.support.motoserver import MotoServer, start_moto
from tests.support.registry import (
    DEFAULT_IMPLEMENTATION,
    IMPLEMENTATIONS,
    RegistryProcess,
    start_registry,
)
from tests.support.tokenserver import TokenServer

# `@requires_tool(NAME)`: skipped where NAME is missing, failed under CI=true; the
# `referrers_registry` fixture: a registry with the OCI 1.1 referrers API.
pytest_plugins = ("tests.support.tools", "tests.support.referrersregistry")

# Property tests check behaviour, not speed: on a loaded 2-core CI machine an example may take
# longer than hypothesis's default 200 ms deadline, which would make the suite flaky.
settings.register_profile("reconciler", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("reconciler")

BASIC_USERS = {"alice": "s3cret-Alice-pw"}
TOKEN_USERS = {"alice": "s3cret-Alice-pw"}

# Fixtures that start processes or servers; using any of them makes a test `integration`.
INTEGRATION_FIXTURES = frozenset(
    {"registry", "basic_registry", "token_server", "token_registry", "referrers_registry"}
)

# The Go programs tools/gotools.py builds (distribution v3, the peers, cosign) are found on PATH.
TOOLS_BIN = Path(__file__).resolve().parents[1] / ".tools" / "bin"
os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--registry",
        action="append",
        choices=sorted(IMPLEMENTATIONS),
        help="run the registry-backed tests against this implementation only (repeatable;"
        " default: all of them)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that starts a registry through a fixture runs once per implementation."""
    if "registry_implementation" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("registry") or sorted(IMPLEMENTATIONS)
        metafunc.parametrize("registry_implementation", chosen, scope="function")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that (transitively) uses a registry fixture as integration."""
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the registries' logs to the report: it is where the answer is."""
    if call.excinfo is not None:
        for registry in _registries_of(item):
            item.add_report_section(call.when, f"registry {registry.host}", _logs(registry))
    return (yield)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache directory: nothing reads or fills the real ~/.cache."""
    path = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path / "reconciler"


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto's server standing in for the ECR API: one per module (it takes about a second to
    start); tests reset it before use."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def registry_implementation(request: pytest.FixtureRequest) -> str:
    """Which registry program the fixtures start (parametrized by `pytest_generate_tests`;
    the default where a test is not parametrized). Its binary must be there: missing, the
    test skips, or fails under CI=true."""
    # Imported here: tests.support.tools is a pytest plugin, loaded after this module.
    from tests.support.tools import require_tool

    name: str = getattr(request, "param", DEFAULT_IMPLEMENTATION)
    require_tool(IMPLEMENTATIONS[name].binary)
    return name


@pytest.fixture
def registry(tmp_path: Path, registry_implementation: str) -> Iterator[RegistryProcess]:
    """An anonymous registry, fresh for each test (startup takes ~0.1 s)."""
    process = start_registry(tmp_path, implementation=registry_implementation)
    yield process
    process.stop()


@pytest.fixture
def basic_registry(tmp_path: Path, registry_implementation: str) -> Iterator[RegistryProcess]:
    """A registry with htpasswd auth; credentials in `BASIC_USERS` / `.users`."""
    process = start_registry(
        tmp_path, auth="htpasswd", users=BASIC_USERS, implementation=registry_implementation
    )
    yield process
    process.stop()


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """A started token server knowing `TOKEN_USERS`; anonymous tokens are refused."""
    server = TokenServer(tmp_path / "token-server", users=TOKEN_USERS).start()
    yield server
    server.stop()


@pytest.fixture
def token_registry(
    tmp_path: Path, token_server: TokenServer, registry_implementation: str
) -> Iterator[RegistryProcess]:
    """A registry that delegates auth to `token_server` (Docker Bearer token flow)."""
    process = start_registry(
        tmp_path, auth="token", token_server=token_server, implementation=registry_implementation
    )
    yield process
    process.stop()


@pytest.fixture
def cosign(tmp_path: Path) -> Cosign:
    """cosign with a fresh local key pair, signing without a transparency log (skipped
    without the binary, failed under CI=true)."""
    from tests.support.tools import require_tool

    require_tool(COSIGN_BINARY)
    return Cosign(tmp_path / "cosign")


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name unique to this test, valid for distribution (lowercase, no '[')."""
    node_id = request.node.nodeid
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    suffix = hashlib.sha256(node_id.encode()).hexdigest()[:8]
    return f"tests/{slug or 'test'}-{suffix}"


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOCKER_CONFIG directory, exported so nothing reads the real ~/.docker."""
    path = tmp_path / "docker-config"
    path.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(path))
    return path


def _registries_of(item: pytest.Item) -> list[RegistryProcess]:
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    return [value for value in funcargs.values() if isinstance(value, RegistryProcess)]


def _logs(registry: RegistryProcess) -> str:
    try:
        requests = registry.requests()[-40:]
    except (OSError, RuntimeError) as exc:  # a broken registry must not hide the failure
        return f"(could not read logs: {exc})"
    access = "\n".join(f"{r.method} {r.path[:120]} -> {r.status}" for r in requests)
    # Info lines repeat the access log; warnings and errors carry the registry's reasons.
    problems = [line for line in registry.log_tail(400).splitlines() if "level=info" not in line]
    server = "\n".join(problems[-20:]) or "(no warnings or errors)"
    return f"--- requests (last 40) ---\n{access}\n--- server warnings/errors ---\n{server}"
