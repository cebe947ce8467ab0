"""The plan file of `reconcile --dry-run --plan-out FILE` and `reconcile apply FILE`: the JSON
document, reading it back, and its JSON Schema (`reconcile schema plan`). Pure.

All three come from one declaration, the models of `_pipeline/saved.py`, so the document and
its schema cannot drift. `schema_version` is checked before anything else: a plan written by
a newer tool is refused with a message saying so, never half read.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import ValidationError

from .._config.schema import DRAFT
from .._errors import ReconcileError
from .._model import jsontext
from .._pipeline.saved import PLAN_SCHEMA_VERSION, SavedPlan

__all__ = ["PLAN_SCHEMA_VERSION", "PlanFileError", "plan_schema", "read_plan", "render_plan"]


class PlanFileError(ReconcileError):
    """A plan file that cannot be read, is not a plan, or is of a newer `schema_version`."""


def render_plan(plan: SavedPlan) -> str:
    """The plan file's text: one JSON document, keys in the declaration's order."""
    # json.dumps(indent=2, ensure_ascii=False)'s bytes, without its pure-Python encoder
    return jsontext.dumps(plan.model_dump(mode="json"), ensure_ascii=False) + "\n"


def read_plan(text: str, where: str) -> SavedPlan:
    """A plan file's text back as a `SavedPlan`; PlanFileError names `where` (the file) and
    what is wrong: not JSON, a newer `schema_version`, or the fields that do not fit."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(f"{where}: not a plan file: not JSON ({exc})") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise PlanFileError(f"{where}: not a plan file: no `schema_version`")
    version = doc["schema_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version > PLAN_SCHEMA_VERSION:
        raise PlanFileError(
            f"{where}: plan file schema_version {version} is newer than this reconcile reads"
            f" ({PLAN_SCHEMA_VERSION}); apply it with the reconcile version that made it"
        )
    try:
        return SavedPlan.model_validate(doc)
    except ValidationError as exc:
        raise PlanFileError(f"{where}: not a valid plan file: {_problems(exc)}") from None


def _problems(exc: ValidationError, limit: int = 5) -> str:
    """The first few problems, each with where it is (`aliases.0.desired: Field required`)."""
    errors = exc.errors(include_url=False, include_input=False)
    shown = [f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in errors]
    more = f" (and {len(shown) - limit} more)" if len(shown) > limit else ""
    return "; ".join(shown[:limit]) + more


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the plan file, `schema_version` PLAN_SCHEMA_VERSION."""
    schema = copy.deepcopy(SavedPlan.model_json_schema())
    return {
        "$schema": DRAFT,
        "title": "reconcile plan file",
        **{k: v for k, v in schema.items() if k != "title"},
        "description": "A plan saved by `reconcile --dry-run --plan-out FILE`, applied by"
        " `reconcile apply FILE` only when nothing it was made from has changed.",
    }
