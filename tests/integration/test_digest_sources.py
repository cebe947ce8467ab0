"""Sources named by digest are asked of their repository on every run, --dry-run included: a
cached body proves the bytes, not that the repository still holds them (issue 11, defect 7)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support.images import get_manifest, push_image, registry_client
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")


def sources(registry: RegistryProcess, repo: str, kind: str) -> tuple[list[str], str, str]:
    """A tag source and an arm64 image pushed by digest only, named as `kind` says: a bare
    digest in the alias's repository, or a `ref:` into another repository. Returns the alias's
    sources, the repository holding the digest source, and its digest."""
    push_image(registry.url, repo, "10.10", platform="linux/amd64")
    where = repo if kind == "digest" else f"{repo}-builds"
    arm = push_image(registry.url, where, None, platform="linux/arm64").digest
    written = arm if kind == "digest" else f"{registry.host}/{where}@{arm}"
    return ["10.10", written], where, arm


def delete_manifest(registry: RegistryProcess, repo: str, digest: str) -> None:
    """Delete by digest, as the reference registry does (storage.delete is enabled)."""
    with registry_client(registry.url) as client:
        response = client.delete(f"/v2/{repo}/manifests/{digest}")
    assert response.status_code == 202, response.text
    with registry_client(registry.url) as client:
        assert client.head(f"/v2/{repo}/manifests/{digest}").status_code == 404


@pytest.mark.parametrize("kind", ["digest", "ref"])
def test_a_digest_source_deleted_from_its_repository_is_an_error_with_a_warm_cache(
    kind: str, tmp_path: Path, registry: RegistryProcess, repo_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    listed, where, digest = sources(registry, repo_name, kind)
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, {"10": listed}))
    assert run().code == 0  # created; the source's manifest and config are now cached
    alias_before = get_manifest(registry.url, repo_name, "10")[2]
    assert run("--dry-run").out == "Everything up to date (1 alias).\n"

    delete_manifest(registry, where, digest)
    registry.clear_log()
    result = run("--dry-run", "--output", "json")
    assert result.code == 1
    [alias] = result.json["aliases"]
    assert alias["action"] == "error"
    assert alias["message"] == (
        f"{registry.host}: source {listed[1]!r} not found in {registry.host}/{where}"
    )
    assert "Traceback" not in result.err
    heads = [r for r in registry.requests() if r.method == "HEAD"]
    assert f"/v2/{where}/manifests/{digest}" in [r.path for r in heads]

    text = run()  # nor does a real run write anything for it
    assert text.code == 1
    assert f"! {registry.host}/{repo_name}:10 error: " in text.out
    assert f"source {listed[1]!r} not found" in text.out
    assert registry.writes() == []
    assert get_manifest(registry.url, repo_name, "10")[2] == alias_before


@pytest.mark.parametrize("kind", ["digest", "ref"])
def test_steady_state_costs_one_head_per_digest_source(
    kind: str, tmp_path: Path, registry: RegistryProcess, repo_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    listed, where, digest = sources(registry, repo_name, kind)
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, {"10": listed}))
    assert run().code == 0
    for args in ((), ("--dry-run",)):
        registry.clear_log()
        assert run(*args).out == "Everything up to date (1 alias).\n"
        requests = Counter((r.method, r.path) for r in registry.requests())
        assert requests == Counter(
            {
                ("HEAD", f"/v2/{repo_name}/manifests/10"): 1,  # the alias
                ("HEAD", f"/v2/{repo_name}/manifests/10.10"): 1,  # the tag source
                ("HEAD", f"/v2/{where}/manifests/{digest}"): 1,  # the digest source
            }
        )


def test_a_cold_digest_source_costs_one_get_and_no_head(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing cached, the GET of the body is the proof: no HEAD before it."""
    listed, _, digest = sources(registry, repo_name, "digest")
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, {"10": listed}))
    registry.clear_log()
    assert run("--dry-run", "--no-cache").code == 0
    by_digest = [r.method for r in registry.requests() if r.path.endswith(f"/manifests/{digest}")]
    assert by_digest == ["GET"]
