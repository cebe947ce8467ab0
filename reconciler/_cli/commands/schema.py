"""`reconcile schema [config|report|plan]`: print a JSON Schema.

`config` (the default) describes `manifests.yaml`, for editor completion (point the YAML
language server at it) and CI checks; `report` describes `reconcile --output json`; `plan`
the plan file of `reconcile --dry-run --plan-out PLAN`.
"""

from __future__ import annotations

import json
from typing import Literal, TextIO

from ..._config.schema import config_schema
from ..._output.jsonreport import report_schema
from ..._output.planfile import plan_schema
from . import EXIT_OK

__all__ = ["SchemaName", "print_schema"]

SchemaName = Literal["config", "report", "plan"]
_SCHEMAS = {"config": config_schema, "report": report_schema, "plan": plan_schema}


def print_schema(name: SchemaName, *, stdout: TextIO) -> int:
    schema = _SCHEMAS[name]()
    stdout.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_OK
