"""Imports point down: the registry layer (`reconciler/registry/`) is the seam to the outside
and depends only on itself and what it shares with everything (errors, the model),
never on the config file's models, the pipeline, the commands or the output above it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import fields
from importlib.util import resolve_name
from pathlib import Path

import pytest

import reconciler
from reconciler.config import RegistrySettings, parse
from reconciler.registry.settings import HostSettings

PACKAGE = Path(reconciler.__file__).parent
REGISTRY = PACKAGE / "registry"
# What the registry layer may import of the package besides itself: the shared model.
BELOW_REGISTRY = ("reconciler.errors", "reconciler.model")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    return _imports(path.read_text(encoding="utf-8"), package)


def _imports(source: str, package: str) -> Iterator[tuple[int, str]]:
    """Every module that `source`, a module of `package`, imports (at any depth: functions
    and `if TYPE_CHECKING:` blocks included), with its line."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                yield node.lineno, _target(base, alias.name)


def _target(base: str, name: str) -> str:
    """`from .. import config` imports the module reconciler.config; `from ..names import
    canonical_host` and `from .. import __version__` import from the module named."""
    where = PACKAGE.parent.joinpath(*base.split("."), name)
    return f"{base}.{name}" if where.is_dir() or where.with_suffix(".py").is_file() else base


def _allowed(module: str) -> bool:
    if module != "reconciler" and not module.startswith("reconciler."):
        return True  # the standard library and third-party packages
    inside = (*BELOW_REGISTRY, "reconciler.registry")
    return module == "reconciler" or any(
        module == name or module.startswith(f"{name}.") for name in inside
    )


@pytest.mark.parametrize("path", sorted(REGISTRY.rglob("*.py")), ids=lambda p: p.name)
def test_the_registry_layer_imports_nothing_above_it(path: Path) -> None:
    upward = [f"line {line}: {module}" for line, module in _imported(path) if not _allowed(module)]
    assert upward == [], f"{path.relative_to(PACKAGE.parent)} imports upward: {upward}"


def test_the_check_sees_relative_and_nested_imports() -> None:
    # The check itself: an upward import hidden in `if TYPE_CHECKING:` or a function counts.
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .. import __version__, config\n"
        "from ..model.names import canonical_host\n"
        "from . import http\n"
        "if TYPE_CHECKING:\n"
        "    from ..config import Config\n"
        "def f() -> None:\n"
        "    import reconciler.pipeline.observe\n"
    )
    found = sorted(_imports(source, "reconciler.registry"))
    assert [m for _, m in found if not _allowed(m)] == [
        "reconciler.config",
        "reconciler.config",
        "reconciler.pipeline.observe",
    ]
    assert (4, "reconciler.registry.http") in found and (3, "reconciler.model.names") in found


def test_the_config_builds_the_registry_layers_settings() -> None:
    # Every field of a `registries:` entry reaches the registry layer, defaults included,
    # and hosts are matched as `Config.registry` matches them (another spelling of a host).
    assert set(RegistrySettings.model_fields) == {f.name for f in fields(HostSettings)}
    assert RegistrySettings().host_settings() == HostSettings()
    cfg = parse(
        "registries:\n"
        "  docker.io: {endpoint: 'http://127.0.0.1:1', timeout: 5, concurrency: 2}\n"
        "  r.example: {insecure: true, auth: ecr, region: eu-west-1, create_repository: true}\n"
    )
    settings = cfg.registry_settings()
    for host in ("docker.io", "registry-1.docker.io", "r.example", "elsewhere.example"):
        assert settings.for_host(host) == cfg.registry(host).host_settings()
    assert settings.for_host("index.docker.io").timeout == 5
    assert settings.for_host("elsewhere.example") == HostSettings()
