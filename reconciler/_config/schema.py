"""The JSON Schema of `manifests.yaml` (for editor completion and CI checks). Pure. (The
report's schema is `output.jsonreport.report_schema`.)

The config schema is generated from the pydantic models in `config.py`, so a field added there
appears here with its description, then completed with what pydantic cannot see: the shorthand
forms (an alias as a bare list of sources, a source as a bare tag, digest or reference), the tag,
repository and digest grammars, and the highest config version this tool reads. YAML editors
read `10.10` as a number where this tool reads the tag "10.10", so tags may be numbers here.

The schema checks the structure; `reconcile validate` also checks the rules that span fields
(an alias listing itself, annotations under `media_type: docker`, ...).
"""

from __future__ import annotations

import copy
from typing import Any

from .._model.names import COMPONENT_PATTERN, TAG_PATTERN
from .._model.oci import DIGEST_PATTERN
from .models import CONFIG_VERSION, Config

__all__ = ["DIGEST_PATTERN", "REPOSITORY_PATTERN", "TAG_PATTERN", "config_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_HOST = (
    r"(?:localhost(?::[0-9]+)?"  # localhost, with or without a port
    r"|[a-zA-Z0-9-]*\.[a-zA-Z0-9.-]*(?::[0-9]+)?"  # anything with a dot
    r"|[a-zA-Z0-9.-]+:[0-9]+"  # anything with a port
    r"|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"  # an IPv6 literal
)
REPOSITORY_PATTERN = rf"^(?:{_HOST}/)?{COMPONENT_PATTERN}(?:/{COMPONENT_PATTERN})*$"
_PLATFORM_PATTERN = r"^[^/\s]+/[^/\s]+(?:/[^/\s]+)?$"
_TAG_STRING = {"type": "string", "pattern": TAG_PATTERN}
_SOURCE_STRING = {
    "type": "string",
    "pattern": rf"^(?:{TAG_PATTERN[1:-1]}|{DIGEST_PATTERN[1:-1]})$",
    "description": "a tag, or a digest (sha256:...), in the alias's repository",
}
# `[registry/]repository` with a tag, a digest or both, as a `ref:` source is written.
_REFERENCE_PATTERN = (
    rf"^{REPOSITORY_PATTERN[1:-1]}"
    rf"(?::{TAG_PATTERN[1:-1]}(?:@{DIGEST_PATTERN[1:-1]})?|@{DIGEST_PATTERN[1:-1]})$"
)
_REFERENCE_STRING = {
    "type": "string",
    # Written as a bare string, a reference has a '/' or an '@' (else it is read as a tag).
    "allOf": [{"pattern": _REFERENCE_PATTERN}, {"pattern": "[/@]"}],
    "description": "[registry/]repository:tag or @digest: an image in another repository",
}
_NUMBER_TAG = {"type": "number", "description": "an unquoted number, read as the tag it spells"}


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `manifests.yaml`, version `CONFIG_VERSION`."""
    schema = copy.deepcopy(Config.model_json_schema())
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    schema = {
        "$schema": DRAFT,
        "title": "manifests.yaml",
        **{k: v for k, v in schema.items() if k not in ("title", "$defs")},
        "description": "Multi-platform image aliases kept in sync by `reconcile`.",
        "$defs": defs,
    }
    props = schema["properties"]
    _set(props, "version", "maximum", CONFIG_VERSION)
    _set(props, "repositories", "propertyNames", {"pattern": REPOSITORY_PATTERN})
    _set(defs.get("Repository", {}).get("properties", {}), "aliases", "propertyNames", _TAG_STRING)
    _patch_source(defs.get("Source"))
    _patch_registry(defs.get("RegistrySettings"))
    if "Alias" in defs:
        defs["Alias"] = _alias_with_shorthand(defs["Alias"])
    return schema


def _set(props: dict[str, Any], name: str, key: str, value: Any) -> None:
    if name in props:
        props[name][key] = value


def _string_branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The `{"type": "string"}` part of an optional field (`anyOf: [string, null]`)."""
    for branch in prop.get("anyOf", []):
        if branch.get("type") == "string":
            return dict(branch)
    return prop


def _patch_source(source: dict[str, Any] | None) -> None:
    if source is None:
        return
    props = source["properties"]
    if "tag" in props:
        props["tag"]["anyOf"] = [_TAG_STRING, _NUMBER_TAG]
    if "digest" in props:
        props["digest"]["anyOf"] = [{"type": "string", "pattern": DIGEST_PATTERN}]
    if "ref" in props:
        props["ref"]["anyOf"] = [{"type": "string", "pattern": _REFERENCE_PATTERN}]
    if "platform" in props:
        props["platform"]["anyOf"] = [{"type": "string", "pattern": _PLATFORM_PATTERN}]
        props["platform"]["examples"] = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    source["oneOf"] = [{"required": [name]} for name in ("tag", "digest", "ref")]
    object_form = {k: v for k, v in source.items() if k != "description"}
    source.clear()
    source.update(
        description="A source: a tag, a digest or a reference to another repository, or"
        " {tag|digest|ref, platform} to set its platform.",
        anyOf=[_SOURCE_STRING, _REFERENCE_STRING, _NUMBER_TAG, object_form],
    )


def _patch_registry(settings: dict[str, Any] | None) -> None:
    if settings is None or "endpoint" not in settings.get("properties", {}):
        return
    endpoint = settings["properties"]["endpoint"]
    string = _string_branch(endpoint)
    endpoint["anyOf"] = [{**string, "pattern": "^https?://"}, {"type": "null"}]


def _alias_with_shorthand(alias: dict[str, Any]) -> dict[str, Any]:
    shorthand = {"type": "array", "items": {"$ref": "#/$defs/Source"}, "minItems": 1}
    return {
        "description": "The sources of an alias (a list), or its long form with options.",
        "anyOf": [shorthand, alias],
    }
