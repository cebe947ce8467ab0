"""Keep multi-platform image aliases in sync with a file in git.

The public API is what `__all__` lists: `load_config`, `plan` and `apply` (see
`reconciler.api` and README, "Python API"), their result types, and the errors a caller
catches. Everything else is internal and may change between versions. Names are loaded on
first use, so `import reconciler` (and `reconcile --help`) pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "load_config": "api",
    "plan": "api",
    "apply": "api",
    "AliasResult": "api",
    "Plan": "api",
    "Report": "api",
    "Config": "config",
    "Action": "pipeline.plan",
    "ReconcileError": "errors",
    "ConfigError": "errors",
    "RegistryError": "errors",
    "GuardError": "errors",
    "SelectionError": "selection",
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
    from .api import AliasResult, Plan, Report, apply, load_config, plan
    from .config import Config
    from .errors import ConfigError, GuardError, ReconcileError, RegistryError
    from .pipeline.plan import Action
    from .selection import SelectionError


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
