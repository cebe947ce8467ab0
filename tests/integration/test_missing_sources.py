"""Every missing source of an alias is reported in one run, not only the first (issue 13, 8):
fixing a file one source per run is slow when a release renamed all its tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")

ABSENT_DIGEST = "sha256:" + "0" * 64


def test_every_missing_source_of_an_alias_is_reported_in_one_run(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    missing = ["10.20", ABSENT_DIGEST, f"{registry.host}/{repo_name}-other:10.30"]
    # Each missing source alone in an alias gives the message it must also get among others.
    alone = {f"alone-{i}": ["10.10", source] for i, source in enumerate(missing)}
    together = {"10": ["10.10", missing[0], missing[1], missing[2]]}
    config = write_config(tmp_path / "m.yaml", registry, repo_name, {**alone, **together})
    registry.clear_log()
    run = Reconcile(capsys, config)("--dry-run", "--output", "json")
    assert run.code == 1
    messages = {alias["alias"]: alias["message"] for alias in run.json["aliases"]}
    assert {alias["action"] for alias in run.json["aliases"]} == {"error"}
    prefix = f"{registry.host}: "
    singles = [messages[f"alone-{i}"].removeprefix(prefix) for i in range(len(missing))]
    assert messages["10"] == prefix + "; ".join(singles)
    assert [missing[i] in single for i, single in enumerate(singles)] == [True] * len(missing)
    assert registry.writes() == []
