"""`reconcile schema [config|report]`: print a JSON Schema.

`config` (the default) describes `manifests.yaml`, for editor completion (point the YAML
language server at it) and CI checks; `report` describes `reconcile --output json`.
"""

from __future__ import annotations

import json
from typing import Literal, TextIO

from ..._config.schema import config_schema
from ..._output.jsonreport import report_schema
from . import EXIT_OK

__all__ = ["SchemaName", "print_schema"]

SchemaName = Literal["config", "report"]


def print_schema(name: SchemaName, *, stdout: TextIO) -> int:
    schema = config_schema() if name == "config" else report_schema()
    stdout.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_OK
