"""Guards on what an alias may become, against the real registries: `require_platforms` turns
a lost platform into a conflict that writes nothing, `--force` or not; `monotonic` keeps a
floating alias's platform on its live image when the tag that gave it is deleted and only an
older one remains, and says so in the plan, while an alias without it moves back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import get_manifest, push_image, registry_client
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")


def delete_tag(registry: RegistryProcess, repo: str, digest: str) -> None:
    """Delete the image (and with it its only tag) by digest, as the reference registry
    allows (storage.delete is enabled)."""
    with registry_client(registry.url) as client:
        response = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert response.status_code == 202, response.text


def children(registry: RegistryProcess, repo: str, tag: str) -> dict[str, str]:
    """platform -> digest of the index a tag holds, as the registry serves it."""
    doc: Any = json.loads(get_manifest(registry.url, repo, tag)[0])
    return {
        "/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"]))): m["digest"]
        for m in doc["manifests"]
    }


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["plain", "force"])
def test_require_platforms_turns_a_lost_platform_into_a_conflict_that_writes_nothing(
    force: tuple[str, ...], tmp_path: Path, registry: RegistryProcess, repo_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    arm = push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    alias = {"track": "10.*", "require_platforms": ["linux/amd64", "linux/arm64"]}
    reconcile = Reconcile(
        capsys, write_config(tmp_path / "m.yaml", registry, repo_name, {"10": alias})
    )
    assert reconcile().code == 0
    before = get_manifest(registry.url, repo_name, "10")[2]

    delete_tag(registry, repo_name, arm.digest)  # the only arm64 tag is gone
    registry.clear_log()
    run = reconcile("--output", "json", *force)

    assert run.code == 1, run.err
    [planned] = run.json["aliases"]
    assert (planned["action"], planned["applied"], planned["message"]) == (
        "conflict",
        False,
        "the index would lack the required platform linux/arm64 (require_platforms:"
        " linux/amd64, linux/arm64; it would hold linux/amd64); nothing is written",
    )
    assert registry.writes() == []
    assert get_manifest(registry.url, repo_name, "10")[2] == before

    text = reconcile("--dry-run", *force)
    assert text.code == 1
    assert text.out.splitlines()[0] == (
        f"! {registry.host}/{repo_name}:10 conflict: the index would lack the required platform"
        " linux/arm64 (require_platforms: linux/amd64, linux/arm64; it would hold linux/amd64);"
        " nothing is written"
    )


def test_monotonic_keeps_the_live_image_when_the_newest_tag_is_deleted(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    amd = push_image(registry.url, repo_name, "10.1", platform="linux/amd64")
    older = push_image(registry.url, repo_name, "10.2", platform="linux/arm64")
    newest = push_image(registry.url, repo_name, "10.3", platform="linux/arm64")
    aliases = {"10": {"track": "10.*", "monotonic": True}, "10-follow": {"track": "10.*"}}
    reconcile = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    assert reconcile().code == 0
    both = {"linux/amd64": amd.digest, "linux/arm64": newest.digest}
    assert children(registry, repo_name, "10") == children(registry, repo_name, "10-follow") == both
    kept = get_manifest(registry.url, repo_name, "10")[2]

    delete_tag(registry, repo_name, newest.digest)  # 10.3 is gone: 10.2 is the newest arm64
    plan = reconcile("--dry-run")
    assert plan.code == 0, plan.err
    lines = plan.out.splitlines()
    assert lines[0] == f"= {registry.host}/{repo_name}:10 is up to date"
    assert lines[1] == (
        f"    = linux/arm64  {newest.digest[:19]}  held back (monotonic): no tag of 10.* holds"
        " the live image any more; the newest for linux/arm64 is 10.2"
    )
    assert lines[2].startswith(f"~ {registry.host}/{repo_name}:10-follow will be updated")
    assert lines[3] == (
        f"    ~ linux/arm64  {newest.digest[:19]} -> {older.digest[:19]}  from 10.2"
        " (newest of 10.* for linux/arm64)"
    )
    assert lines[4:] == ["Plan: 0 to create, 1 to update, 1 unchanged, 0 conflict(s), 0 error(s)."]

    registry.clear_log()
    applied = reconcile("--output", "json")
    assert applied.code == 0, applied.err
    assert [(r.method, r.path) for r in registry.writes()] == [
        ("PUT", f"/v2/{repo_name}/manifests/10-follow")
    ]
    held, followed = applied.json["aliases"]
    assert (held["action"], followed["action"]) == ("noop", "update")
    assert [(e["source"], e["note"]) for e in held["desired"]["entries"]] == [
        ("10.1", "newest of 10.* for linux/amd64"),
        (
            newest.digest[:19],
            "held back (monotonic): no tag of 10.* holds the live image any more; the newest"
            " for linux/arm64 is 10.2",
        ),
    ]
    assert get_manifest(registry.url, repo_name, "10")[2] == kept
    assert children(registry, repo_name, "10-follow")["linux/arm64"] == older.digest
