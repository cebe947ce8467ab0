"""A broken config stops before any network call: the registry sees no request at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.registry import RegistryProcess

from .cli import Reconcile

# (name, body under `repositories: <repo>:`, expected line, expected text)
BROKEN = [
    ("misspelled-key", '    aliasses:\n      "10": ["10.10"]\n', 7, "did you mean 'aliases'"),
    ("no-sources", '    aliases:\n      "10": []\n', 8, "alias has no sources"),
    ("self-source", '    aliases:\n      "10": ["10.10", "10"]\n', 8, "lists itself"),
    ("bad-tag", '    aliases:\n      "10": ["bad tag"]\n', 8, "invalid tag"),
    ("duplicate", '    aliases:\n      "10": [a]\n      "10": [b]\n', 9, "duplicate key"),
    ("yaml-syntax", '    aliases:\n      "10": ["a", \n', 9, "YAML syntax error"),
    (
        "bad-media-type",
        '    aliases:\n      "10": {sources: [a], media_type: x}\n',
        8,
        "media_type",
    ),
]


def config_text(registry: RegistryProcess, body: str, repository: str = "my-image") -> str:
    return (
        "version: 1\n"
        "registries:\n"
        f"  {registry.host}:\n"
        "    insecure: true\n"
        "repositories:\n"
        f"  {registry.host}/{repository}:\n" + body
    )


@pytest.mark.parametrize(("name", "body", "line", "text"), BROKEN, ids=[b[0] for b in BROKEN])
def test_config_errors_stop_before_any_request(
    name: str,
    body: str,
    line: int,
    text: str,
    tmp_path: Path,
    registry: RegistryProcess,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(config_text(registry, body))
    registry.clear_log()
    result = Reconcile(capsys, path)("--dry-run")
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"reconcile: error: {path}:{line}: "), result.err
    assert text in result.err
    assert registry.requests() == []


def test_invalid_repository_name_stops_before_any_request(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(config_text(registry, '    aliases:\n      "10": [a]\n', "My_Image"))
    result = Reconcile(capsys, path)()
    assert result.code == 1 and "invalid repository name 'My_Image'" in result.err
    assert registry.requests() == []


def test_console_script_reports_config_errors_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text("repositories:\n  r.example/a:\n    aliases:\n      '1': []\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "reconcile"), "-f", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    field = "repositories.r.example/a.aliases.1.sources"
    assert done.stderr.strip() == f"reconcile: error: {path}:4: {field}: alias has no sources"
