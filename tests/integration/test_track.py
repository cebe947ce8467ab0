"""Floating aliases against a real registry: `"10": {track: "10.*"}` follows, per platform, the
newest matching tag, moves only the platform a new tag brings, says why in the plan, and costs
one tag listing plus HEADs in the steady state."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support.images import push_image, push_index
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")


def reconcile_for(
    tmp_path: Path,
    registry: RegistryProcess,
    repo: str,
    capsys: pytest.CaptureFixture[str],
    aliases: dict[str, Any],
) -> Reconcile:
    return Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo, aliases))


def entries(doc: Any) -> dict[str, tuple[str, str]]:
    """platform -> (source tag, note) of the first alias's desired runnable entries."""
    return {
        e["platform"]: (e["source"], e.get("note", ""))
        for e in doc["aliases"][0]["desired"]["entries"]
        if e["attestation_for"] is None
    }


def test_a_floating_alias_follows_the_newest_tag_per_platform(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    amd = push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    push_image(registry.url, repo_name, "10.9", platform="linux/arm64")  # older than 10.20
    push_image(registry.url, repo_name, "11.0", platform="linux/arm64")  # does not match
    push_image(registry.url, repo_name, "latest", platform="linux/arm64", seed="latest")
    reconcile = reconcile_for(tmp_path, registry, repo_name, capsys, {"10": {"track": "10.*"}})

    first = reconcile("--output", "json")
    assert first.code == 0, first.err
    assert entries(first.json) == {
        "linux/amd64": ("10.10", "newest of 10.* for linux/amd64"),
        "linux/arm64": ("10.20", "newest of 10.* for linux/arm64"),
    }
    assert reconcile().out == "Everything up to date (1 alias).\n"

    arm = push_image(registry.url, repo_name, "10.21", platform="linux/arm64")
    plan = reconcile("--dry-run")
    assert plan.code == 0
    lines = plan.out.splitlines()
    assert lines[0].startswith(f"~ {registry.host}/{repo_name}:10 will be updated")
    assert re.fullmatch(
        rf"    ~ linux/arm64  sha256:[0-9a-f]{{12}} -> {arm.digest[:19]}  from 10.21"
        r" \(newest of 10\.\* for linux/arm64\)",
        lines[1],
    )
    assert lines[2:] == ["Plan: 0 to create, 1 to update, 0 unchanged, 0 conflict(s), 0 error(s)."]

    applied = reconcile("--output", "json")
    alias = applied.json["aliases"][0]
    assert [(c["subject"], c["new"]) for c in alias["changes"]] == [("linux/arm64", arm.digest)]
    assert {e["digest"] for e in alias["desired"]["entries"]} == {amd.digest, arm.digest}
    assert reconcile().out == "Everything up to date (1 alias).\n"


AMD, ARM = "linux/amd64", "linux/arm64"


@pytest.mark.parametrize(
    ("pushed", "aliases", "heads", "out"),
    [
        pytest.param(
            {"10.10": AMD, "10.20": ARM, "10.3": AMD, "9.0": AMD},
            {"10": {"track": "10.*"}},
            1 + 3,  # the alias tag, and each of the 3 matching tags (9.0 does not match)
            "Everything up to date (1 alias).\n",
            id="one floating alias",
        ),
        pytest.param(
            {"10.10": AMD, "10.20": ARM},
            {"10": {"track": "10.*"}, "latest": {"track": "*"}, "v10": {"track": "10.*"}},
            3 + 2,  # each alias tag, and each candidate once however many aliases track it
            "Everything up to date (3 aliases).\n",
            id="floating aliases of one repository share the listing and candidates",
        ),
    ],
)
def test_the_steady_state_costs_one_tag_listing_and_heads(
    tmp_path: Path, registry: RegistryProcess, repo_name: str,
    capsys: pytest.CaptureFixture[str], pushed: dict[str, str], aliases: dict[str, Any],
    heads: int, out: str,
) -> None:  # fmt: skip
    for tag, platform in pushed.items():
        push_image(registry.url, repo_name, tag, platform=platform)
    reconcile = reconcile_for(tmp_path, registry, repo_name, capsys, aliases)
    assert reconcile().code == 0

    registry.clear_log()
    assert reconcile().out == out
    requests = registry.requests()
    assert Counter(r.method for r in requests) == Counter({"GET": 1, "HEAD": heads})
    assert [r.path for r in requests if r.method == "GET"] == [f"/v2/{repo_name}/tags/list?n=1000"]


def test_semver_ignores_other_tags_and_pre_releases_unless_asked(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = {
        tag: push_image(registry.url, repo_name, tag, platform=platform)
        for tag, platform in [
            ("10.10", "linux/amd64"),
            ("v10.20.1", "linux/arm64"),
            ("10.21.0-rc.1", "linux/arm64"),
            ("10.30-rc.2", "linux/amd64"),
            ("nightly", "linux/arm64"),  # not a version
            ("10.99.99.1", "linux/arm64"),  # not a version either
            ("11.0.0", "linux/arm64"),  # out of range
        ]
    }
    stable = {"track": "~10", "scheme": "semver"}
    aliases = {"10": stable, "10-pre": {**stable, "prereleases": True}}
    reconcile = reconcile_for(tmp_path, registry, repo_name, capsys, aliases)
    run = reconcile("--dry-run", "--output", "json")
    assert run.code == 0, run.err
    found = {
        a["alias"]: {e["platform"]: e["source"] for e in a["desired"]["entries"]}
        for a in run.json["aliases"]
    }
    assert found == {
        "10": {"linux/amd64": "10.10", "linux/arm64": "v10.20.1"},
        "10-pre": {"linux/amd64": "10.30-rc.2", "linux/arm64": "10.21.0-rc.1"},
    }
    arm = run.json["aliases"][0]["desired"]["entries"][1]
    assert arm["note"] == "newest of ~10 (semver) for linux/arm64"
    assert arm["digest"] == pushed["v10.20.1"].digest


def test_an_index_tag_gives_its_platforms_and_their_attestations(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    index = push_index(registry.url, repo_name, "2.1", ["linux/amd64", "linux/arm64"])
    newer = push_image(registry.url, repo_name, "2.2", platform="linux/arm64")
    reconcile = reconcile_for(tmp_path, registry, repo_name, capsys, {"2": {"track": "2.*"}})
    run = reconcile("--output", "json")
    assert run.code == 0, run.err
    desired = run.json["aliases"][0]["desired"]
    assert [(e["source"], e["digest"]) for e in desired["entries"]] == [
        ("2.1", index.children[0].digest),
        ("2.2", newer.digest),
        ("2.1", index.attestations[0].digest),  # the amd64 image's, kept with it
    ]
    assert reconcile().out == "Everything up to date (1 alias).\n"


def test_a_track_without_any_matching_image_is_an_error_for_that_alias_only(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "1.0", platform="linux/amd64")
    aliases = {"1": {"track": "1.*"}, "3": {"track": "3.*"}}
    reconcile = reconcile_for(tmp_path, registry, repo_name, capsys, aliases)
    run = reconcile()
    assert run.code == 1
    assert f"+ {registry.host}/{repo_name}:1 created" in run.out
    assert f"! {registry.host}/{repo_name}:3 error: no tag of" in run.out
    assert "matching '3.*'" in run.out
    assert registry.writes()  # the other alias was written
