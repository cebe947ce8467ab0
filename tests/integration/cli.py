"""Run `reconcile` in-process against real registries, with configs written per test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler._cli.main import main
from tests.support.registry import RegistryProcess


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def write_config(
    path: Path, registry: RegistryProcess, repository: str, aliases: dict[str, Any]
) -> Path:
    """A manifests.yaml for one repository on `registry` (plain HTTP, as tests run it)."""
    doc = {
        "registries": {registry.host: {"insecure": True}},
        "repositories": {f"{registry.host}/{repository}": {"aliases": aliases}},
    }
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML, and keeps tags as strings
    return path


class Reconcile:
    """Calls the CLI's `main` and captures what a user would see."""

    def __init__(self, capsys: pytest.CaptureFixture[str], config: Path | None = None) -> None:
        self._capsys = capsys
        self.config = config

    def __call__(self, *args: str) -> Run:
        argv = ["-f", str(self.config), *args] if self.config else list(args)
        self._capsys.readouterr()
        code = main(argv)
        captured = self._capsys.readouterr()
        return Run(code, captured.out, captured.err)
