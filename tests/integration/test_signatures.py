"""Real signatures on what we write: cosign signs the seed's alias with a local key (no
transparency log) and verifies it, on every registry implementation; signing changes nothing
the tool sees as drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli import Reconcile, write_config
from tests.support.cosign import Cosign, CosignError
from tests.support.images import get_manifest, push_image
from tests.support.registry import RegistryProcess

pytestmark = pytest.mark.usefixtures("docker_config")


@pytest.fixture
def alias(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    """The seed's alias `10`, created by reconcile; returns the reconcile of its file."""
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    reconcile = Reconcile(capsys, config)
    assert reconcile().code == 0
    return reconcile


@pytest.fixture
def pinned(registry: RegistryProcess, repo_name: str, alias: Reconcile) -> tuple[str, str]:
    """The alias by digest, as cosign signs it: (REPO@DIGEST, DIGEST)."""
    _, _, digest = get_manifest(registry.url, repo_name, "10")
    return f"{registry.host}/{repo_name}@{digest}", digest


def test_cosign_signs_and_verifies_the_alias_we_wrote(
    registry: RegistryProcess, repo_name: str, pinned: tuple[str, str], cosign: Cosign
) -> None:
    ref, digest = pinned
    cosign.sign(ref)
    [payload] = cosign.verify(ref)
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert payload["critical"]["identity"]["docker-reference"] == f"{registry.host}/{repo_name}"


def test_an_unsigned_image_and_a_foreign_key_fail_verification(
    pinned: tuple[str, str], cosign: Cosign, tmp_path: Path
) -> None:
    ref, _ = pinned
    with pytest.raises(CosignError, match="no signatures found"):
        cosign.verify(ref)
    Cosign(tmp_path / "someone-else").sign(ref)
    with pytest.raises(CosignError, match="no matching signatures"):
        cosign.verify(ref)


def test_a_signed_alias_is_up_to_date_and_stays_signed(
    registry: RegistryProcess, repo_name: str, alias: Reconcile, pinned: tuple[str, str],
    cosign: Cosign,
) -> None:  # fmt: skip
    cosign.sign(pinned[0])
    registry.clear_log()
    run = alias()
    assert run.out == "Everything up to date (1 alias).\n"
    assert registry.writes() == []
    assert len(cosign.verify(f"{registry.host}/{repo_name}:10")) == 1
