"""The peers users would pick instead of us read what we write, and agree with `resolve`.

The seed's alias (`10` = `10.10` linux/amd64 + `10.20` linux/arm64/v8), written by reconcile,
is read by crane, regctl, oras and manifest-tool, built at pinned versions into `.tools/bin`
by tools/gotools.py. For every platform a machine could ask for, each peer must pick the same
child as `reconcile resolve`; skopeo and the docker CLI are checked elsewhere
(test_cli_inspect_resolve.py, test_copy.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.cli import Reconcile, write_config
from tests.support.images import PushedImage, get_manifest, push_image
from tests.support.registry import RegistryProcess
from tests.support.tools import requires_tool

pytestmark = [
    pytest.mark.usefixtures("docker_config"),
    requires_tool("crane"),
    requires_tool("regctl"),
    requires_tool("oras"),
    requires_tool("manifest-tool"),
]

# A machine's platform, and which seed source it must get. arm64 machines ask with and
# without the variant: the seed's arm64 image declares v8, and crane and oras match a variant
# asked for exactly, so the alias's entry must carry it.
PLATFORMS = [
    ("linux/amd64", "10.10"),
    ("linux/arm64", "10.20"),
    ("linux/arm64/v8", "10.20"),
]
COMMAND_TIMEOUT_S = 60

PeerRead = Callable[[str, str], str]  # (ref, platform) -> the child's digest


@pytest.fixture
def seed_alias(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> tuple[str, dict[str, PushedImage], Reconcile]:
    """The seed's sources pushed and its alias `10` created by reconcile; returns the ref."""
    sources = {
        "10.10": push_image(registry.url, repo_name, "10.10", platform="linux/amd64"),
        "10.20": push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8"),
    }
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    reconcile = Reconcile(capsys, config)
    created = reconcile()
    assert created.code == 0, created.err
    return f"{registry.host}/{repo_name}:10", sources, Reconcile(capsys)


def run_peer(args: list[str], env: dict[str, str] | None = None) -> bytes:
    done = subprocess.run(
        args,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr.decode(errors='replace')}"
    return done.stdout


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def crane_read(ref: str, platform: str) -> str:
    return digest_of(run_peer(["crane", "manifest", "--insecure", "--platform", platform, ref]))


def oras_read(ref: str, platform: str) -> str:
    command = ["oras", "manifest", "fetch", "--plain-http", "--platform", platform, ref]
    return digest_of(run_peer(command))


def regctl_read(ref: str, platform: str) -> str:
    # regctl speaks TLS unless its config says otherwise for the registry; the config file
    # lives beside the test's DOCKER_CONFIG, never in the user's home.
    env = {"REGCTL_CONFIG": os.path.join(os.environ["DOCKER_CONFIG"], "regctl.json")}
    run_peer(["regctl", "registry", "set", "--tls", "disabled", ref.split("/", 1)[0]], env)
    command = ["regctl", "manifest", "get", "--platform", platform, "--format", "raw-body"]
    return digest_of(run_peer([*command, ref], env))


PEERS: dict[str, PeerRead] = {"crane": crane_read, "regctl": regctl_read, "oras": oras_read}


def resolved_digest(reconcile: Reconcile, ref: str, platform: str) -> str:
    run = reconcile("resolve", "--insecure", ref, "--platform", platform, "--output", "json")
    assert run.code == 0, run.err
    digest: str = run.json["selected"]["digest"]
    return digest


@pytest.mark.parametrize("peer", sorted(PEERS))
@pytest.mark.parametrize(("platform", "source"), PLATFORMS)
def test_every_peer_picks_the_child_resolve_picks(
    seed_alias: tuple[str, dict[str, PushedImage], Reconcile],
    peer: str,
    platform: str,
    source: str,
) -> None:
    ref, sources, reconcile = seed_alias
    expected = sources[source].digest
    assert resolved_digest(reconcile, ref, platform) == expected
    assert PEERS[peer](ref, platform) == expected


def test_peers_read_the_index_bytes_the_registry_holds(
    registry: RegistryProcess,
    repo_name: str,
    seed_alias: tuple[str, dict[str, PushedImage], Reconcile],
    tmp_path: Path,
) -> None:
    ref, sources, _ = seed_alias
    held, _, _ = get_manifest(registry.url, repo_name, "10")
    assert run_peer(["crane", "manifest", "--insecure", ref]) == held
    assert run_peer(["oras", "manifest", "fetch", "--plain-http", ref]) == held
    env = {"REGCTL_CONFIG": str(tmp_path / "regctl.json")}
    run_peer(["regctl", "registry", "set", "--tls", "disabled", registry.host], env)
    regctl = ["regctl", "manifest", "get", "--format", "raw-body", ref]
    assert run_peer(regctl, env) == held
    inspected = run_peer(["manifest-tool", "--plain-http", "inspect", ref]).decode()
    assert f"Digest: {digest_of(held)}" in inspected.splitlines()[1]
    children = re.findall(r"^\[\d+\]\s+Digest: (\S+)$", inspected, re.MULTILINE)
    assert children == [sources["10.10"].digest, sources["10.20"].digest]
