"""Request budgets at a real registry (counted from its access log), and the cache's promises:
content by digest is reused, tags are always asked, broken cache files are never trusted."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cachereads import record_cache_reads
from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")
K = 2  # sources per alias in these tests


@pytest.fixture
def reconcile(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    for tag, platform in (("10.10", "linux/amd64"), ("10.20", "linux/arm64")):
        push_image(registry.url, repo_name, tag, platform=platform)
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    return Reconcile(capsys, config)


def methods(registry: RegistryProcess) -> Counter[str]:
    return Counter(r.method for r in registry.requests())


def test_steady_state_with_a_warm_cache_costs_one_head_per_tag(
    registry: RegistryProcess, reconcile: Reconcile
) -> None:
    assert reconcile().code == 0
    registry.clear_log()
    assert reconcile().out == "Everything up to date (1 alias).\n"
    assert methods(registry) == Counter({"HEAD": 1 + K})


def test_cold_cache_costs_at_most_one_plus_two_k(
    registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    assert reconcile().code == 0
    for path in isolated_cache.rglob("*"):  # a new machine: nothing cached
        if path.is_file():
            path.unlink()
    registry.clear_log()
    assert reconcile("--dry-run").code == 0
    requests = registry.requests()
    assert len(requests) <= 1 + 2 * K
    assert all(r.method in ("GET", "HEAD") for r in requests)


def test_sources_shared_by_aliases_are_read_once_per_run(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, reconcile: Reconcile,
    capsys: pytest.CaptureFixture[str], isolated_cache: Path,
) -> None:  # fmt: skip
    aliases = {"10": ["10.10", "10.20"], "latest": ["10.10", "10.20"], "stable": ["10.20"]}
    config = write_config(tmp_path / "shared.yaml", registry, repo_name, aliases)
    run = Reconcile(capsys, config)
    assert run().code == 0
    registry.clear_log()
    assert run().out == "Everything up to date (3 aliases).\n"
    heads = Counter(r.path.rsplit("/", 1)[1] for r in registry.requests())
    assert methods(registry) == Counter({"HEAD": 3 + 2})  # 3 alias tags, 2 distinct sources
    assert heads == Counter({"10": 1, "latest": 1, "stable": 1, "10.10": 1, "10.20": 1})
    for path in isolated_cache.rglob("*"):  # cold: each shared source is still read once
        if path.is_file():
            path.unlink()
    registry.clear_log()
    assert run("--dry-run").code == 0
    manifest_reads = [r.path for r in registry.requests() if "/manifests/" in r.path]
    assert len(manifest_reads) == len(set(manifest_reads)) == 5


def test_a_moved_tag_is_noticed_even_with_everything_cached(
    registry: RegistryProcess, repo_name: str, reconcile: Reconcile
) -> None:
    assert reconcile().code == 0
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64", seed="moved")
    plan = reconcile("--dry-run", "--output", "json").json["aliases"][0]
    assert plan["action"] == "update"
    assert [c["subject"] for c in plan["changes"]] == ["linux/arm64"]


def test_stale_tag_hints_are_never_trusted(
    registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    assert reconcile().code == 0
    [hint_file] = [p for p in (isolated_cache / "tags").rglob("*.json")]  # one repository
    hints = json.loads(hint_file.read_text())
    digests = sorted(set(hints.values()))
    assert len(hints) == 3 and len(digests) == 3  # the alias and its two sources
    # every tag now "points" at the digest of another
    hint_file.write_text(
        json.dumps({tag: digests[digests.index(d) - 1] for tag, d in hints.items()})
    )
    assert reconcile().out == "Everything up to date (1 alias).\n"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_cache_files_are_ignored_and_rewritten(
    damage: str, registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    """Every file a run reads; without what the cache learned of the sources (a cache of an
    earlier version), that is all of them: the live index, the sources and their configs."""
    assert reconcile().code == 0
    shutil.rmtree(isolated_cache / "images")
    files = [p for p in (isolated_cache / "sha256").rglob("*") if p.is_file()]
    assert len(files) == 1 + 2 * K
    originals = {p: p.read_bytes() for p in files}
    for path, data in originals.items():
        broken = {"truncate": data[: len(data) // 2], "garbage": b"{not json", "empty": b""}
        path.write_bytes(broken[damage])
    registry.clear_log()
    assert reconcile().out == "Everything up to date (1 alias).\n"
    assert registry.writes() == []
    assert {p: p.read_bytes() for p in files} == originals  # fetched again and rewritten


def test_a_steady_run_opens_one_cached_manifest_per_alias_its_live_index(
    registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The sources' size and platform were learned by the first run, from their verified
    bytes and configs: when their tags still hold those digests, neither file is opened."""
    assert reconcile().code == 0
    index = reconcile("--dry-run", "--output", "json").json["aliases"][0]["live"]["digest"]
    opened = record_cache_reads(monkeypatch)
    registry.clear_log()
    assert reconcile().out == "Everything up to date (1 alias).\n"
    assert methods(registry) == Counter({"HEAD": 1 + K})
    content = [Path(p).name for p in opened if Path(p).parent.parent.name == "sha256"]
    assert content == [index.removeprefix("sha256:")]


def test_a_damaged_record_of_the_sources_is_never_trusted(
    registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    """A flipped bit in what the cache learned (arm64 read as arm65) fails its checksum: the
    sources' files are read again, and the plan stays right."""
    assert reconcile().code == 0
    [learned] = list((isolated_cache / "images").rglob("*.json"))
    data = learned.read_bytes()
    assert data.count(b'"arm64"') == 1
    learned.write_bytes(data.replace(b'"arm64"', b'"arm65"'))
    assert reconcile().out == "Everything up to date (1 alias).\n"


def test_no_cache_uses_memory_only(
    registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    assert reconcile("--no-cache").code == 0
    assert not isolated_cache.exists()


def test_cache_dir_moves_the_cache(
    tmp_path: Path, registry: RegistryProcess, reconcile: Reconcile, isolated_cache: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert reconcile("--cache-dir", str(elsewhere)).code == 0
    assert any(p.is_file() for p in elsewhere.rglob("*"))
    assert not isolated_cache.exists()


def test_concurrency_never_changes_the_plan(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases: dict[str, list[str]] = {}
    for n in range(12):
        push_image(registry.url, repo_name, f"{n}.1", platform="linux/amd64", seed=str(n))
        arm = push_image(registry.url, repo_name, f"{n}.2", platform="linux/arm64", seed=str(n))
        aliases[str(n)] = [f"{n}.1", f"{n}.2"] if n % 3 else [f"{n}.1", arm.digest]
    aliases["broken"] = ["0.1", "missing"]
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    plans = [json.loads(run("--dry-run", "--output", "json", "--concurrency", n).out)
             for n in ("1", "32")]  # fmt: skip
    assert plans[0] == plans[1]
    assert plans[0]["summary"]["create"] == 12
