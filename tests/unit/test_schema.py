"""`reconcile schema`: the JSON Schema of manifests.yaml accepts what the tool accepts and rejects
what it rejects (for everything a schema can express), and the report schema describes
`--output json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler._config.models import parse
from reconciler._config.schema import config_schema
from reconciler._errors import ConfigError
from reconciler._output.jsonreport import report_schema
from reconciler._output.render import render_json
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import dry_run

from .test_render import GOLDEN, applied_report, mixed_plan_observations

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIGS = [ROOT / "manifests.yaml", ROOT / "examples" / "manifests.yaml"]
CONFIG = Draft202012Validator(config_schema())


def as_editor_sees_it(text: str) -> Any:
    """YAML as a YAML language server hands it to JSON Schema: typed scalars, string keys."""

    def keys_as_text(node: Any) -> Any:
        if isinstance(node, dict):
            return {str(k): keys_as_text(v) for k, v in node.items()}
        if isinstance(node, list):
            return [keys_as_text(v) for v in node]
        return node

    return keys_as_text(yaml.safe_load(text))


def schema_errors(text: str) -> list[str]:
    return [e.message for e in CONFIG.iter_errors(as_editor_sees_it(text))]


def tool_accepts(text: str) -> bool:
    try:
        parse(text)
    except ConfigError:
        return False
    return True


def test_the_schemas_are_valid_json_schema() -> None:
    Draft202012Validator.check_schema(config_schema())
    Draft202012Validator.check_schema(report_schema())


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_configs_are_valid(path: Path) -> None:
    text = path.read_text()
    assert schema_errors(text) == []
    assert tool_accepts(text)


def test_the_published_schema_is_current() -> None:
    published = (ROOT / "examples" / "manifests.schema.json").read_text()
    assert published == json.dumps(config_schema(), indent=2) + "\n", (
        "examples/manifests.schema.json is stale: reconcile schema > examples/manifests.schema.json"
    )


REPO = "repositories:\n  localhost:5000/my-image:\n    aliases:\n"
VALID = {
    "shorthand": REPO + '      "10": ["10.10", "10.20"]\n',
    "unquoted numbers": REPO + "      10: [10.10, 10.20]\n",
    "digest source": REPO + '      "10": ["sha256:' + "a" * 64 + '"]\n',
    "long form": REPO + '      "10":\n        sources: [{tag: a, platform: linux/arm/v7}]\n'
    "        media_type: oci\n        annotations: {a.b: c}\n        attestations: drop\n",
    "docker hub": 'repositories:\n  library/alpine:\n    aliases:\n      "3": ["3.19"]\n',
    "registry settings": "registries:\n  r.example.com:\n    insecure: true\n"
    "    endpoint: http://127.0.0.1:5000\n" + REPO + '      "10": [a]\n',
    "defaults": "version: 1\ndefaults:\n  media_type: docker\n" + REPO + '      "10": [a]\n',
    "only registries": "registries:\n  localhost:5000:\n    insecure: true\n",
    "no repositories": "version: 1\n",
    "sources from other repositories": REPO + '      "10":\n        - "r.example.com/app:1.2"\n'
    '        - "library/alpine@sha256:' + "a" * 64 + '"\n'
    "        - {ref: ghcr.io/org/app-arm64:1.2, platform: linux/arm64}\n"
    '        - "localhost:5000/builds/app:1@sha256:' + "a" * 64 + '"\n',
}
INVALID = {
    "misspelt key": 'repositories:\n  localhost:5000/my-image:\n    aliasses:\n      "10": [a]\n',
    "unknown top-level key": "repos: {}\n" + REPO + '      "10": [a]\n',
    "repositories as a list": "repositories: [a]\n",
    "reference without tag or digest": REPO + '      "10": ["r.example.com/app"]\n',
    "reference with a bad tag": REPO + '      "10": ["r.example.com/app:-1"]\n',
    "ref and tag": REPO + '      "10": [{tag: a, ref: "r.example.com/app:1"}]\n',
    "no sources": REPO + '      "10": []\n',
    "tag with a space": REPO + '      "10": ["bad tag"]\n',
    "alias with a space": REPO + '      "bad alias": [a]\n',
    "tag starting with a dot": REPO + '      "10": [".x"]\n',
    "uppercase repository": "repositories:\n  localhost:5000/My_Image:\n    aliases: {a: [b]}\n",
    "repository with a tag": "repositories:\n  localhost:5000/x:1:\n    aliases: {a: [b]}\n",
    "bad media type": REPO + '      "10": {sources: [a], media_type: x}\n',
    "bad attestations": REPO + '      "10": {sources: [a], attestations: maybe}\n',
    "tag and digest": REPO + '      "10": [{tag: a, digest: "sha256:' + "a" * 64 + '"}]\n',
    "neither tag nor digest": REPO + '      "10": [{platform: linux/amd64}]\n',
    "short digest": REPO + '      "10": [{digest: "sha256:abc"}]\n',
    "bad platform": REPO + '      "10": [{tag: a, platform: linux}]\n',
    "newer version": "version: 2\n" + REPO + '      "10": [a]\n',
    "endpoint without scheme": "registries:\n  r.example.com:\n    endpoint: r.example.com\n"
    + REPO
    + '      "10": [a]\n',
    "unknown registry field": "registries:\n  r.example.com:\n    insecur: true\n"
    + REPO
    + '      "10": [a]\n',
}


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_schema_and_tool_accept(text: str) -> None:
    assert tool_accepts(text)
    assert schema_errors(text) == []


@pytest.mark.parametrize("text", INVALID.values(), ids=INVALID.keys())
def test_schema_and_tool_reject(text: str) -> None:
    assert not tool_accepts(text)
    assert schema_errors(text) != []


def test_rules_across_fields_are_left_to_validate() -> None:
    """What a schema cannot say; `reconcile validate` catches these."""
    self_source = REPO + '      "10": ["10.1", "10"]\n'
    docker_annotations = REPO + "      a: {sources: [b], media_type: docker, annotations: {c: d}}\n"
    same_source_twice = REPO + '      "10": ["10.1", {tag: "10.1"}]\n'
    for text in (self_source, docker_annotations, same_source_twice):
        assert schema_errors(text) == [] and not tool_accepts(text)


def test_the_report_schema_describes_the_json_output() -> None:
    validator = Draft202012Validator(report_schema())
    documents = [
        json.loads((GOLDEN / "plan.json").read_text()),
        json.loads(render_json(applied_report())),
        json.loads(render_json(dry_run(make_plan(mixed_plan_observations())))),
        json.loads(render_json(dry_run(make_plan([])))),
    ]
    for doc in documents:
        assert [e.message for e in validator.iter_errors(doc)] == []


def test_the_report_schema_rejects_another_version() -> None:
    doc = json.loads((GOLDEN / "plan.json").read_text())
    doc["schema_version"] = 2
    assert not Draft202012Validator(report_schema()).is_valid(doc)


def test_the_report_schema_documents_each_kind_of_run_error() -> None:
    error = report_schema()["properties"]["error"]["anyOf"][1]
    kinds = error["properties"]["kind"]["oneOf"]
    assert [k["const"] for k in kinds] == [
        "config",
        "plan",
        "lock",
        "max_changes",
        "stale",
        "timeout",
        "interrupted",
        "internal",
    ]
    assert all(k["description"] for k in kinds)
    assert "error" in report_schema()["required"]


@pytest.mark.parametrize(
    ("error", "valid"),
    [
        (None, True),
        ({"kind": "max_changes", "message": "the plan ..."}, True),
        ({"kind": "network", "message": "x"}, False),
        ({"kind": "config"}, False),
    ],
)
def test_the_report_schema_checks_the_run_error(error: Any, valid: bool) -> None:
    doc = json.loads((GOLDEN / "plan.json").read_text())
    doc["error"] = error
    assert Draft202012Validator(report_schema()).is_valid(doc) is valid
