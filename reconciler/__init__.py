"""Keep multi-platform image aliases in sync with a file in git.

The public API is what `__all__` lists: `load_config`, `plan` and `apply` (see
`reconciler._api` and README, "Python API"), their result types, and the errors a caller
catches. Everything else is internal and may change between versions. Names are loaded on
first use, so `import reconciler` (and `reconcile --help`) pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "load_config": "_api",
    "plan": "_api",
    "apply": "_api",
    "AliasResult": "_api",
    "Plan": "_api",
    "Report": "_api",
    "Config": "_config.models",
    "Action": "_pipeline.plan",
    "ReconcileError": "_errors",
    "ConfigError": "_errors",
    "RegistryError": "_errors",
    "GuardError": "_errors",
    "SelectionError": "_config.selection",
}

__all__ = [
    "Action",
    "AliasResult",
    "Config",
    "ConfigError",
    "GuardError",
    "Plan",
    "ReconcileError",
    "RegistryError",
    "Report",
    "SelectionError",
    "__version__",
    "apply",
    "load_config",
    "plan",
]

if TYPE_CHECKING:
    from ._api import AliasResult, Plan, Report, apply, load_config, plan
    from ._config.models import Config
    from ._config.selection import SelectionError
    from ._errors import ConfigError, GuardError, ReconcileError, RegistryError
    from ._pipeline.plan import Action


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
