"""Start-up: each command loads what it needs and nothing else, since every `reconcile` in a
pre-commit hook or a CI step pays for its imports (timed by `bench/startup.py`, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Heavy libraries by the command that needs them first.
HTTP = ("httpx", "urllib3", "boto3", "botocore")
CONFIG = ("pydantic", "yaml")


def loaded_by(*argv: str) -> set[str]:
    """Top-level modules (and reconciler's own) loaded by `reconcile ARGV` in a fresh process."""
    code = (
        "import contextlib, io, json, sys\n"
        "from reconciler._cli.main import main\n"
        "quiet = contextlib.redirect_stdout(io.StringIO())\n"
        "with quiet, contextlib.redirect_stderr(io.StringIO()):\n"
        f"    code = main({list(argv)!r})\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    code_, modules = json.loads(done.stdout)
    assert code_ == 0, done.stderr
    return {m for m in modules if m.startswith("reconciler.")} | {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--help"], ["apply", "--help"]])
def test_help_loads_neither_the_config_nor_the_http_stack(argv: list[str]) -> None:
    loaded = loaded_by(*argv)
    assert loaded & {*HTTP, *CONFIG} == set()
    assert {m for m in loaded if m.startswith("reconciler.")} == {
        "reconciler._cli",
        "reconciler._cli.commands",
        "reconciler._cli.main",
        "reconciler._errors",
    }


def test_validate_loads_the_config_but_not_the_http_stack() -> None:
    loaded = loaded_by("validate", "-f", "manifests.yaml")
    assert set(CONFIG) <= loaded
    assert loaded & set(HTTP) == set()


@pytest.mark.parametrize(
    "argv", [["validate", "-f", "manifests.yaml", "-v"], ["schema", "config"]], ids=str
)
def test_commands_that_log_nothing_do_not_load_logging(argv: list[str]) -> None:
    assert "logging" not in loaded_by(*argv)
