"""The stages hold a `Registry` and never learn which kind it is: no module of
reconciler/_pipeline/ imports the ECR module or reaches for an `ecr` attribute; what differs
on ECR (repository facts and creation, deleting a tag alone, bulk reads) is the registry's."""

from __future__ import annotations

import ast
from importlib.util import resolve_name
from pathlib import Path

import pytest

import reconciler

PIPELINE = Path(reconciler.__file__).parent / "_pipeline"
STAGES = sorted(PIPELINE.glob("*.py"))


def _ecr_mentions(path: Path) -> list[str]:
    """`line: what` for every import of reconciler._registry.ecr and every `x.ecr` in a
    module of reconciler._pipeline."""
    package = "reconciler._pipeline"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Attribute) and node.attr == "ecr":
            found.append(f"{node.lineno}: .ecr")
            continue
        else:
            continue
        found += [f"{node.lineno}: import {n}" for n in names if n == "reconciler._registry.ecr"]
    return found


def test_the_stages_are_found() -> None:
    assert {"observe.py", "apply.py", "prune.py"} <= {p.name for p in STAGES}


@pytest.mark.parametrize("path", STAGES, ids=lambda p: p.name)
def test_no_stage_knows_whether_its_registry_is_ecr(path: Path) -> None:
    assert _ecr_mentions(path) == []


def test_the_check_sees_both_an_import_and_an_attribute(tmp_path: Path) -> None:
    stage = tmp_path / "stage.py"
    stage.write_text("from .._registry import ecr\nif client.ecr:\n    pass\n", encoding="utf-8")
    assert _ecr_mentions(stage) == ["1: import reconciler._registry.ecr", "2: .ecr"]
