"""The `--output json` document, declared once. Pure.

Each object of the report is a list of fields: a name, its JSON Schema, and how its value is read.
`render.render_json` writes the values and `report_schema` the schemas, both from the
declarations below, in their order, so the document and its schema cannot drift apart.

Within one `schema_version` fields may be added, never removed or changed in meaning.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from .._config.schema import DRAFT
from .._model.oci import DIGEST_PATTERN
from .._pipeline.desired import DesiredEntry, DesiredIndex
from .._pipeline.observed import Copy, LiveTag, Referrer
from .._pipeline.plan import Action, Change
from .._pipeline.report import Outcome, Report
from .runerror import DESCRIPTIONS, ERROR_KINDS, RunError

__all__ = ["JSON_SCHEMA_VERSION", "Field", "Run", "document", "document_schema", "report_schema"]

JSON_SCHEMA_VERSION = 1

T = TypeVar("T")


@dataclass(frozen=True)
class Field(Generic[T]):
    """One member of a JSON object: its name, its JSON Schema and its value in an item.
    `optional`: left out of the object when the value is empty, and not required."""

    name: str
    schema: dict[str, Any]
    value: Callable[[T], Any]
    optional: bool = False


def to_json(fields: Sequence[Field[T]], item: T) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for field in fields:
        value = field.value(item)
        if value or not field.optional:
            doc[field.name] = value
    return doc


def object_schema(fields: Sequence[Field[T]]) -> dict[str, Any]:
    """An object with these properties, the non-optional ones required; others may be added
    later."""
    return {
        "type": "object",
        "properties": {field.name: field.schema for field in fields},
        "required": [field.name for field in fields if not field.optional],
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _or_null(fields: Sequence[Field[T]], item: T | None) -> dict[str, Any] | None:
    return None if item is None else to_json(fields, item)


_STRING = {"type": "string"}
_COUNT = {"type": "integer", "minimum": 0}
_DIGEST = {"type": "string", "pattern": DIGEST_PATTERN}
_ACTIONS = [action.value for action in Action]

_ENTRY: list[Field[DesiredEntry]] = [
    Field("platform", _STRING, lambda e: str(e.descriptor.platform)),
    Field("digest", _DIGEST, lambda e: e.descriptor.digest),
    Field("media_type", _STRING, lambda e: e.descriptor.media_type),
    Field("size", _COUNT, lambda e: e.descriptor.size),
    Field("source", _STRING, lambda e: e.source),
    Field("attestation_for", _nullable(_DIGEST), lambda e: e.attestation_of),
    # Only entries of floating aliases say why their source was taken.
    Field(
        "note",
        {"type": "string", "examples": ["newest of 10.* for linux/arm64"]},
        lambda e: e.note,
        optional=True,
    ),
]
_CHANGE: list[Field[Change]] = [
    Field("kind", {"enum": ["add", "remove", "change"]}, lambda c: c.kind),
    Field(
        "field",
        {"type": "string", "examples": ["platform", "attestation", "annotation"]},
        lambda c: c.field,
    ),
    Field("subject", _STRING, lambda c: c.subject),
    Field("old", {"type": ["string", "null"]}, lambda c: c.old),
    Field("new", {"type": ["string", "null"]}, lambda c: c.new),
    Field("source", {"type": ["string", "null"]}, lambda c: c.source),
]
_LIVE: list[Field[LiveTag]] = [
    Field("kind", {"enum": ["absent", "index", "image", "other"]}, lambda t: t.kind),
    Field("digest", _nullable(_DIGEST), lambda t: t.descriptor.digest if t.descriptor else None),
    Field("media_type", {"type": ["string", "null"]}, lambda t: t.media_type or None),
]
_DESIRED: list[Field[DesiredIndex]] = [
    Field("digest", _DIGEST, lambda d: d.manifest.digest),
    Field("media_type", _STRING, lambda d: d.media_type),
    Field(
        "entries",
        {"type": "array", "items": object_schema(_ENTRY)},
        lambda d: [to_json(_ENTRY, e) for e in d.entries],
    ),
]
_REFERRER: list[Field[Referrer]] = [
    Field("digest", _DIGEST, lambda r: r.digest),
    Field("media_type", _STRING, lambda r: r.media_type),
    Field(
        "artifact_type",
        {"type": "string", "examples": ["application/vnd.dev.cosign.artifact.sig.v1+json"]},
        lambda r: r.artifact_type,
    ),
    Field(
        "found",
        {
            "oneOf": [
                {"const": "referrers-api", "description": "listed by the referrers API"},
                {"const": "tag-schema", "description": "listed by the tag schema's index"},
                {"const": "legacy-tag", "description": "cosign's tag, written as `tag`"},
            ]
        },
        lambda r: r.found,
    ),
    Field("tag", {"type": "string", "examples": ["sha256-<hex>.sig"]}, lambda r: r.tag, True),
    Field("bytes", _COUNT, lambda r: r.size + sum(size for _, size in r.blobs)),
]
_COPY: list[Field[Copy]] = [
    Field("digest", _DIGEST, lambda c: c.digest),
    Field("media_type", _STRING, lambda c: c.media_type),
    Field("from", _STRING, lambda c: str(c.origin)),
    Field("source", _STRING, lambda c: c.source),
    Field("bytes", _COUNT, lambda c: c.size),
    # Signatures, SBOMs and attestations copied with it (`referrers: copy`), before it.
    Field(
        "referrers",
        {"type": "array", "items": object_schema(_REFERRER)},
        lambda c: [to_json(_REFERRER, r) for r in c.referrers],
        optional=True,
    ),
]
_ALIAS: list[Field[Outcome]] = [
    Field("target", _STRING, lambda o: o.plan.target.name),
    Field("repository", _STRING, lambda o: o.plan.target.key),
    Field("alias", _STRING, lambda o: o.plan.target.tag),
    Field("action", {"enum": _ACTIONS}, lambda o: o.action.value),
    Field("applied", {"type": "boolean"}, lambda o: o.applied),
    Field("live", _nullable(object_schema(_LIVE)), lambda o: _or_null(_LIVE, o.plan.live)),
    Field(
        "desired",
        _nullable(object_schema(_DESIRED)),
        lambda o: _or_null(_DESIRED, o.plan.desired),
    ),
    Field(
        "changes",
        {"type": "array", "items": object_schema(_CHANGE)},
        lambda o: [to_json(_CHANGE, c) for c in o.plan.changes],
    ),
    Field(
        "copies",
        {"type": "array", "items": object_schema(_COPY)},
        lambda o: [to_json(_COPY, c) for c in o.plan.copies],
    ),
    Field("message", _STRING, lambda o: o.message),
]
_RUN_ERROR: list[Field[RunError]] = [
    Field(
        "kind",
        {"oneOf": [{"const": kind, "description": DESCRIPTIONS[kind]} for kind in ERROR_KINDS]},
        lambda e: e.kind,
    ),
    Field("message", _STRING, lambda e: e.message),
]


class Run(NamedTuple):
    """What the document reports: the aliases, and why the run failed as a whole (or None)."""

    report: Report
    error: RunError | None


_DOCUMENT: list[Field[Run]] = [
    Field("schema_version", {"const": JSON_SCHEMA_VERSION}, lambda r: JSON_SCHEMA_VERSION),
    Field("dry_run", {"type": "boolean"}, lambda r: r.report.dry_run),
    Field(
        "error",
        {
            "anyOf": [
                {"type": "null"},
                {
                    **object_schema(_RUN_ERROR),
                    "description": "Why the run failed as a whole; exit status 1 (130 on a"
                    " second SIGINT).",
                },
            ]
        },
        lambda r: _or_null(_RUN_ERROR, r.error),
    ),
    Field(
        "aliases",
        {"type": "array", "items": object_schema(_ALIAS)},
        lambda r: [to_json(_ALIAS, o) for o in r.report.outcomes],
    ),
    Field(
        "summary",
        {
            "type": "object",
            "properties": {action: _COUNT for action in _ACTIONS},
            "required": _ACTIONS,
        },
        lambda r: r.report.summary(),  # by action, in `Action`'s order too
    ),
]


def document(run: Run) -> dict[str, Any]:
    """The report as a JSON value."""
    return to_json(_DOCUMENT, run)


def document_schema() -> dict[str, Any]:
    """The JSON Schema of `document` (without `$schema` and `title`); a copy, the caller's to
    change."""
    return copy.deepcopy(object_schema(_DOCUMENT))


def report_schema() -> dict[str, Any]:
    """The JSON Schema of `reconcile --output json`, `schema_version` JSON_SCHEMA_VERSION,
    from the same declaration as the document (`jsonreport`).

    Within one version fields may be added, never removed or changed in meaning; a consumer
    should ignore fields it does not know and check `schema_version`.
    """
    return {"$schema": DRAFT, "title": "reconcile --output json", **document_schema()}
