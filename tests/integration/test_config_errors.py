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
    (
        "same-source-twice",
        '    aliases:\n      "10": ["10.10", {tag: "10.10"}]\n',
        8,
        "source '10.10' is listed twice (also sources[0])",
    ),
    (
        "alias-as-text",
        '    aliases:\n      "10": "10.10"\n',
        8,
        "expected a list of sources, or a mapping with `sources` or `track`, got 10.10",
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


def test_validate_finds_the_same_source_twice_offline(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """However each is written: a tag, the same tag as a mapping, a reference to it."""
    path = tmp_path / "manifests.yaml"
    ref = f"{registry.host}/my-image:10.10"
    body = (
        '    aliases:\n      "10":\n        - "10.10"\n        - {tag: "10.10"}\n'
        + f"        - {ref}\n"
    )
    path.write_text(config_text(registry, body))
    registry.clear_log()
    result = Reconcile(capsys)("validate", str(path))
    field = f"repositories.{registry.host}/my-image.aliases.10.sources"
    assert (result.code, result.out) == (1, "")
    assert result.err.splitlines() == [
        f"reconcile: error: {path}:10: {field}[1]:"
        " source '10.10' is listed twice (also sources[0])",
        f"{path}:11: {field}[2]: source {ref!r} is sources[0] ('10.10') again: both name {ref}",
    ]
    assert registry.requests() == []


def test_a_file_with_only_registries_is_valid_and_plans_nothing(
    tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(f"registries:\n  {registry.host}:\n    insecure: true\n")
    registry.clear_log()
    reconcile = Reconcile(capsys)
    validated = reconcile("validate", str(path))
    assert (validated.code, validated.out, validated.err) == (
        0,
        f"{path}: valid (0 repositories, 0 aliases)\n",
        "",
    )
    for args in (["--dry-run"], []):
        run = reconcile("-f", str(path), *args)
        assert (run.code, run.out, run.err) == (0, "Everything up to date (0 aliases).\n", "")
    assert registry.requests() == []
