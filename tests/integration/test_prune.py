"""prune: true deletes alias tags this tool wrote that the file no longer declares, and
nothing else; it shows as `-`, obeys --dry-run and --max-changes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.images import get_manifest, push_image, push_manifest_list, push_raw_manifest
from tests.support.registry import RegistryProcess

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")


@pytest.fixture
def seeded(registry: RegistryProcess) -> None:
    for n in ("10", "11"):
        push_image(registry.url, "app", f"{n}.1", platform="linux/amd64", seed=n)
        push_image(registry.url, "app", f"{n}.2", platform="linux/arm64", seed=n)


def reconcile(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str],
    aliases: list[str], *args: str,
) -> tuple[int, str, str]:  # fmt: skip
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps({
        "registries": {registry.host: {"insecure": True}},
        "repositories": {f"{registry.host}/app": {
            "prune": True, "aliases": {a: [f"{a}.1", f"{a}.2"] for a in aliases},
        }},
    }))  # fmt: skip
    result = Reconcile(capsys, path)(*args)
    return result.code, result.out, result.err


def tags(registry: RegistryProcess) -> set[str]:
    return set(httpx.get(f"{registry.url}/v2/app/tags/list").json()["tags"])


def test_removed_aliases_are_pruned_and_nothing_else(
    tmp_path: Path, registry: RegistryProcess, seeded: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reconcile(tmp_path, registry, capsys, ["10", "11"])[0] == 0
    index = json.loads(get_manifest(registry.url, "app", "11")[0])
    assert index["annotations"] == {"vnd.reconciler.alias": "11"}  # how we know it is ours
    other = push_image(registry.url, "app", "other", platform="linux/s390x")
    push_manifest_list(registry.url, "app", "by-hand", [other], media="oci")  # not ours

    code, out, _ = reconcile(tmp_path, registry, capsys, ["10"], "--dry-run")
    assert code == 0
    assert f"- {registry.host}/app:11 will be deleted" in out
    assert "1 to delete" in out
    registry.clear_log()
    code, _, err = reconcile(tmp_path, registry, capsys, ["10"], "--max-changes", "0")
    assert code == 1 and "--max-changes 0" in err
    assert registry.writes() == []

    code, out, _ = reconcile(tmp_path, registry, capsys, ["10"])
    assert code == 0, out
    assert "11" not in tags(registry)
    assert {"10", "other", "by-hand", "10.1", "11.1"} <= tags(registry)
    assert reconcile(tmp_path, registry, capsys, ["10"])[1] == "Everything up to date (1 alias).\n"


def test_an_alias_retagged_by_hand_is_not_deleted_by_digest(
    tmp_path: Path, registry: RegistryProcess, seeded: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reconcile(tmp_path, registry, capsys, ["10", "11"])[0] == 0
    raw, media_type, _ = get_manifest(registry.url, "app", "11")
    push_raw_manifest(registry.url, "app", "latest", raw, media_type)  # someone re-tags it
    code, out, _ = reconcile(tmp_path, registry, capsys, ["10"])
    assert code == 1
    assert "not pruned" in out and "latest" in out
    assert {"11", "latest"} <= tags(registry)


def test_existing_aliases_are_adopted_with_the_annotation(
    tmp_path: Path, registry: RegistryProcess, seeded: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(json.dumps({
        "registries": {registry.host: {"insecure": True}},
        "repositories": {f"{registry.host}/app": {"aliases": {"10": ["10.1", "10.2"]}}},
    }))  # fmt: skip
    assert Reconcile(capsys, path)().code == 0  # a Docker list without the annotation
    code, out, _ = reconcile(tmp_path, registry, capsys, ["10"], "--output", "json")
    assert code == 0
    [alias] = json.loads(out)["aliases"]
    assert alias["action"] == "update"
    added = {"kind": "add", "field": "annotation", "subject": "vnd.reconciler.alias"}
    assert alias["changes"] == [{**added, "old": None, "new": "10", "source": None}]
