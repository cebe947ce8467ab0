"""Tests that need a program from outside the project (the `docker` CLI as the reference
tool): `@requires_tool("docker")`.

Where the program is missing such a test is skipped, so that a laptop without docker can
still run the suite, except under `CI=true` (set by GitHub Actions, GitLab CI and most other
CI systems): there it fails, because a test that silently skips in CI tests nothing.
`make test` installs every program these tests need (its `system-deps` target).

A pytest plugin, loaded by tests/conftest.py: it registers the marker and checks it before
each test runs.
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require_tool", "requires_tool"]

MARKER = "requires_tool"


def in_ci() -> bool:
    """Whether this run is a CI run: `CI` set to `true` (any case) or `1`."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def requires_tool(name: str) -> pytest.MarkDecorator:
    """Mark a test (or a module, with `pytestmark`) as needing the program `name` on PATH."""
    mark: pytest.MarkDecorator = getattr(pytest.mark, MARKER)
    return mark(name)


def require_tool(name: str) -> None:
    """Skip the calling test when `name` is not on PATH, or fail it under CI."""
    if shutil.which(name) is not None:
        return
    reason = f"{name!r} is not on PATH (`make test` installs or builds it)"
    if in_ci():
        pytest.fail(f"{reason}; under CI=true a missing tool fails the test", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name): needs the program `name` on PATH; skipped without it, failed under"
        " CI=true",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(MARKER):
        require_tool(*mark.args)
