"""Why a run failed as a whole, as opposed to one alias failing: the `error` of the JSON
report (`reconcile schema report`) and what the metrics say of a refused plan. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["DESCRIPTIONS", "ERROR_KINDS", "ErrorKind", "RunError"]

ErrorKind = Literal[
    "config", "plan", "lock", "max_changes", "stale", "timeout", "interrupted", "internal"
]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)

# What each kind means, for the report's JSON Schema and the README.
DESCRIPTIONS: dict[ErrorKind, str] = {
    "config": "the file (or --only) is wrong: nothing was read from a registry",
    "plan": "reconcile apply: the plan file cannot be read, is not a plan, or is of a newer"
    " schema_version (or --plan-out cannot be written): nothing was written",
    "lock": "another run holds --lock-file: nothing was read or written",
    "max_changes": "the plan has more changes than --max-changes: nothing was written; the"
    " aliases are the refused plan, each with applied false",
    "stale": "reconcile apply: the config file, or a tag the plan read, changed since the plan"
    " was made: nothing was written; the aliases are the refused plan (none when the config"
    " changed), each with applied false",
    "timeout": "--timeout stopped the run: aliases not read or written say so",
    "interrupted": "SIGINT or SIGTERM stopped the run: aliases not read or written say so",
    "internal": "a failure the tool did not expect (a bug): stderr has the details",
}


@dataclass(frozen=True)
class RunError:
    kind: ErrorKind
    message: str
