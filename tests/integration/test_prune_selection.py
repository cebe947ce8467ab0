"""`prune: true` with --shard and --only: a run prunes a repository only when it selects the
whole repository (issue 11, defect 8). Against a real registry: the reference registry
deletes by digest, so a second prune of the same tag would go unnoticed in its answers; the
plans of each run show who prunes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from reconciler._config.selection import repository_shard
from reconciler._model.names import parse_repository
from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")
SHARDS = 3


@pytest.fixture
def repos(registry: RegistryProcess, repo_name: str) -> tuple[str, str]:
    """Two prune repositories, `kept` (alias 10 stays, 11 is removed from the file) and
    `emptied` (both removed: no alias left), after a first run that wrote 10 and 11 in both."""
    kept, emptied = f"{repo_name}/kept", f"{repo_name}/emptied"
    for repo in (kept, emptied):
        for n in ("10", "11"):
            push_image(registry.url, repo, f"{n}.1", platform="linux/amd64", seed=n)
            push_image(registry.url, repo, f"{n}.2", platform="linux/arm64", seed=n)
    return kept, emptied


def write(path: Path, registry: RegistryProcess, aliases: dict[str, list[str]]) -> Path:
    path.write_text(json.dumps({
        "registries": {registry.host: {"insecure": True}},
        "repositories": {
            f"{registry.host}/{repo}": {
                "prune": True, "aliases": {a: [f"{a}.1", f"{a}.2"] for a in tags},
            }
            for repo, tags in aliases.items()
        },
    }))  # fmt: skip
    return path


@pytest.fixture
def run(
    tmp_path: Path, registry: RegistryProcess, repos: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
) -> Reconcile:  # fmt: skip
    kept, emptied = repos
    first = write(tmp_path / "first.yaml", registry, {kept: ["10", "11"], emptied: ["10", "11"]})
    assert Reconcile(capsys, first)().code == 0
    later = write(tmp_path / "later.yaml", registry, {kept: ["10"], emptied: []})
    return Reconcile(capsys, later)


def deletions(run: Reconcile, *args: str) -> list[str]:
    result = run("--dry-run", "--output", "json", *args)
    assert result.code == 0, result.out + result.err
    return [a["target"] for a in result.json["aliases"] if a["action"] == "delete"]


def tags(registry: RegistryProcess, repo: str) -> set[str]:
    return set(httpx.get(f"{registry.url}/v2/{repo}/tags/list").json()["tags"] or ())


def test_each_repository_is_pruned_by_exactly_one_shard(
    registry: RegistryProcess, repos: tuple[str, str], run: Reconcile
) -> None:
    kept, emptied = repos
    planned = {i: deletions(run, "--shard", f"{i}/{SHARDS}") for i in range(SHARDS)}
    for repo, removed in ((kept, ["11"]), (emptied, ["10", "11"])):
        own = repository_shard(parse_repository(f"{registry.host}/{repo}"), SHARDS)
        for i, planned_here in planned.items():
            theirs = sorted(t for t in planned_here if t.startswith(f"{registry.host}/{repo}:"))
            expected = [f"{registry.host}/{repo}:{tag}" for tag in removed] if i == own else []
            assert theirs == expected, f"shard {i}/{SHARDS}"

    registry.clear_log()
    for i in range(SHARDS):
        assert run("--shard", f"{i}/{SHARDS}").code == 0
    # The reference registry refuses a delete by tag (400), then deletes by digest (202).
    deleted = [r.path for r in registry.writes() if r.method == "DELETE" and r.status == 202]
    assert len(deleted) == len(set(deleted)) == 3  # kept:11, emptied:10 and emptied:11, once
    assert tags(registry, emptied) == {"10.1", "10.2", "11.1", "11.2"}
    assert tags(registry, kept) == {"10", "10.1", "10.2", "11.1", "11.2"}


def test_only_prunes_a_repository_it_names_not_one_of_its_aliases(
    registry: RegistryProcess, repos: tuple[str, str], run: Reconcile
) -> None:
    kept, emptied = repos
    alias_only = f"{registry.host}/{kept}:10"  # the only alias left in `kept`
    assert deletions(run, "--only", alias_only) == []
    assert deletions(run, "--only", f"{registry.host}/{kept}:1*") == []
    assert deletions(run, "--only", f"{registry.host}/{kept}") == [f"{registry.host}/{kept}:11"]
    assert deletions(run, "--only", f"{registry.host}/{emptied}") == [
        f"{registry.host}/{emptied}:10",
        f"{registry.host}/{emptied}:11",
    ]  # a repository with no alias left can still be named

    registry.clear_log()
    assert run("--only", alias_only).code == 0
    assert registry.writes() == []
    assert {"10", "11"} <= tags(registry, kept)
