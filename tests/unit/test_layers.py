"""Imports point down README's table of the package: each layer imports only itself and the
layers below it (the registry layer, the seam to the outside, only errors and the model; the
command line everything). The pure stages (desired, plan, their values, the output) import
nothing that does I/O, whether by name here or, at run time, through another module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from importlib.util import resolve_name
from pathlib import Path

import pytest

import reconciler
from reconciler._config.models import RegistrySettings, parse
from reconciler._registry.settings import HostSettings

PACKAGE = Path(reconciler.__file__).parent
# Bottom up, as README's table: a module may import its own layer and those before it.
LAYERS = (
    "reconciler._errors",
    "reconciler._model",
    "reconciler._registry",
    "reconciler._config",
    "reconciler._pipeline",
    "reconciler._output",
    "reconciler._api",
    "reconciler._cli",
)
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem.startswith("_"))
# Pure: no I/O of their own, and none loaded with them.
PURE = (
    "reconciler._model.oci",
    "reconciler._model.track",
    "reconciler._model.repository",
    "reconciler._config.models",
    "reconciler._config.selection",
    "reconciler._pipeline.observed",
    "reconciler._pipeline.desired",
    "reconciler._pipeline.plan",
    "reconciler._pipeline.report",
    "reconciler._pipeline.saved",
    "reconciler._output.render",
    "reconciler._output.markdown",
    "reconciler._output.jsonreport",
    "reconciler._output.planfile",
)
# What a pure module must not load: the HTTP stack, AWS, and the modules that use them.
DOES_IO = (
    "httpx", "urllib3", "boto3", "botocore",
    "reconciler._registry.http", "reconciler._registry.registries", "reconciler._registry.ecr",
    "reconciler._pipeline.observe", "reconciler._pipeline.shared", "reconciler._pipeline.prune",
    "reconciler._pipeline.apply", "reconciler._pipeline.transfer", "reconciler._pipeline.hooks",
)  # fmt: skip


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
    """`from .. import config` imports the module reconciler._config.models; `from ..names import
    canonical_host` and `from .. import __version__` import from the module named."""
    where = PACKAGE.parent.joinpath(*base.split("."), name)
    return f"{base}.{name}" if where.is_dir() or where.with_suffix(".py").is_file() else base


def _layer(module: str) -> int | None:
    """The index of `module`'s layer; None for what is not the package's (or the package's
    `__init__`, which loads nothing: `from .. import __version__` is allowed everywhere)."""
    for index, layer in enumerate(LAYERS):
        if module == layer or module.startswith(f"{layer}."):
            return index
    return None


def _allowed(module: str, importer: str) -> bool:
    target, own = _layer(module), _layer(importer)
    inside = module.startswith("reconciler.")
    assert target is not None or not inside, f"{module} is in no layer: add it to LAYERS"
    return target is None or own is None or target <= own


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_its_layer_and_those_below(path: Path) -> None:
    module = _module_name(path)
    upward = [f"line {line}: {m}" for line, m in _imported(path) if not _allowed(m, module)]
    assert upward == [], f"{path.relative_to(PACKAGE.parent)} imports upward: {upward}"


def test_the_layers_are_the_packages_top_level() -> None:
    top = {f"reconciler.{p.stem}" for p in PACKAGE.iterdir() if p.name.startswith("_")}
    assert top - {"reconciler.__init__", "reconciler.__main__", "reconciler.__pycache__"} == set(
        LAYERS
    )


def _loaded_with(module: str) -> list[str]:
    """Every module a fresh interpreter has loaded after importing `module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_nothing_that_does_io(module: str) -> None:
    loaded = _loaded_with(module)
    assert module in loaded
    io = [m for m in loaded if any(m == x or m.startswith(f"{x}.") for x in DOES_IO)]
    assert io == [], f"importing {module} loads {io}"


def test_the_io_check_sees_what_is_loaded_through_another_module() -> None:
    # registries.py names no HTTP library itself; httpx comes through its own imports: the
    # check looks at what is loaded, not at the text.
    assert "httpx" in _loaded_with("reconciler._registry.registries")


def test_the_check_sees_relative_and_nested_imports() -> None:
    # The check itself: an upward import hidden in `if TYPE_CHECKING:` or a function counts.
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .. import __version__\n"
        "from .._config import models\n"
        "from .._model.names import canonical_host\n"
        "from . import http\n"
        "if TYPE_CHECKING:\n"
        "    from .._config.models import Config\n"
        "def f() -> None:\n"
        "    import reconciler._pipeline.observe\n"
    )
    found = sorted(_imports(source, "reconciler._registry"))
    assert [m for _, m in found if not _allowed(m, "reconciler._registry.http")] == [
        "reconciler._config.models",
        "reconciler._config.models",
        "reconciler._pipeline.observe",
    ]
    assert (5, "reconciler._registry.http") in found and (4, "reconciler._model.names") in found


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
