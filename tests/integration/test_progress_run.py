"""The run reports its units to the progress line: an alias read, an alias written.

What the line looks like is pinned in tests/unit/test_progress.py; here a recording progress
checks, against a real registry, that the command gives each stage its total and that every
unit is counted once."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler._cli.commands.run import RunOptions, run
from reconciler._cli.progress import Progress, Stage
from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import write_config

pytestmark = pytest.mark.usefixtures("docker_config")


class RecordingProgress(Progress):
    """Draws nothing; remembers each stage's label, total and units done when it ended."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), enabled=False)
        self.stages: list[tuple[str, int | None, int]] = []

    @contextmanager
    def stage(self, label: str, *, total: int | None = None) -> Iterator[Stage]:
        with super().stage(label, total=total) as stage:
            yield stage
        self.stages.append((label, stage.total, stage.done))


def reconcile_with_progress(config: Path, *, dry_run: bool) -> list[tuple[str, int | None, int]]:
    progress = RecordingProgress()
    options = RunOptions(file=config, dry_run=dry_run, output="json")
    run(options, stdout=io.StringIO(), stderr=io.StringIO(), progress=progress)
    return progress.stages


def test_each_alias_read_and_each_alias_written_is_counted_once(
    registry: RegistryProcess, repo_name: str, tmp_path: Path
) -> None:
    for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
        push_image(registry.url, repo_name, tag, platform=platform)
    aliases = {"a": ["1.1", "1.2"], "b": ["1.1"], "broken": ["no-such-tag"]}
    config = write_config(tmp_path / "manifests.yaml", registry, repo_name, aliases)

    # The broken alias is read (and fails): it counts as read, and is never written.
    assert reconcile_with_progress(config, dry_run=True) == [("reading aliases", 3, 3)]
    assert reconcile_with_progress(config, dry_run=False) == [
        ("reading aliases", 3, 3),
        ("writing aliases", 2, 2),
    ]
    assert reconcile_with_progress(config, dry_run=False) == [
        ("reading aliases", 3, 3),
        ("writing aliases", 0, 0),
    ]
