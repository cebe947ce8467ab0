"""A reference that is not there is named as it was written, `app:nope` for a tag and
`app@sha256:...` for a digest, by every command that reads one from a real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")

ABSENT = "sha256:" + "0" * 64  # a digest no registry holds


@pytest.fixture
def reconcile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    monkeypatch.chdir(tmp_path)  # no ./manifests.yaml: registry settings from --insecure
    return Reconcile(capsys)


@pytest.mark.parametrize(
    ("command", "written", "message"),
    [
        pytest.param(["inspect"], "{repo}:nope", "{host}: {repo}:nope: not found",
                     id="inspect-tag"),
        pytest.param(["inspect"], "{repo}@{absent}", "{host}: {repo}@{absent}: not found",
                     id="inspect-digest"),
        pytest.param(["inspect", "--raw"], "{repo}:nope", "{host}: {repo}:nope: not found",
                     id="inspect-raw-tag"),
        pytest.param(["resolve", "--platform", "linux/amd64"], "{repo}:nope",
                     "{host}: {repo}:nope: not found", id="resolve-tag"),
        pytest.param(["resolve", "--platform", "linux/amd64"], "{repo}@{absent}",
                     "{host}: {repo}@{absent}: not found", id="resolve-digest"),
        pytest.param(["import"], "{repo}:nope",
                     "{host}/{repo}:nope: {host}/{repo}:nope not found", id="import-tag"),
        pytest.param(["import"], "{repo}:10@{absent}",
                     "{host}/{repo}:10@{absent}: {host}/{repo}:10@{absent} not found",
                     id="import-tag-and-digest"),
    ],
)  # fmt: skip
def test_a_missing_reference_is_named_as_written(
    command: list[str], written: str, message: str, registry: RegistryProcess, repo_name: str,
    reconcile: Reconcile,
) -> None:  # fmt: skip
    push_image(registry.url, repo_name, "there")  # the repository exists, the reference not
    names = {"host": registry.host, "repo": repo_name, "absent": ABSENT}
    reference = f"{registry.host}/{written.format(**names)}"
    run = reconcile(*command, "--insecure", reference)
    assert (run.code, run.out) == (1, "")
    assert run.err == f"reconcile: error: {message.format(**names)}\n"
