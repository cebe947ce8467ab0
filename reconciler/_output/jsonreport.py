"""The `--output json` document, declared once. Pure.

Each object of the report is a list of fields: a name, its JSON Schema, and how its value is read.
`document_text` and `DocumentWriter` write the values (for `render.render_json`, and for the
command line's `render.json_writer`, which writes each alias as the run goes), `document`
gives them as a JSON value and `report_schema` the schemas, all from the declarations below,
in their order, so the document and its schema cannot drift apart.

Within one `schema_version` fields may be added, never removed or changed in meaning.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from .._config.schema import DRAFT
from .._model import jsontext
from .._model.oci import DIGEST_PATTERN
from .._pipeline.desired import DesiredEntry, DesiredIndex
from .._pipeline.observed import Copy, LiveTag, Referrer
from .._pipeline.plan import Action, Change
from .._pipeline.report import Outcome, Report
from .runerror import DESCRIPTIONS, ERROR_KINDS, RunError

__all__ = [
    "JSON_SCHEMA_VERSION",
    "DocumentWriter",
    "Field",
    "Run",
    "document",
    "document_schema",
    "document_text",
    "report_schema",
    "write_document",
]

JSON_SCHEMA_VERSION = 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)  # slots: its attributes are read for every value written
class Field(Generic[T]):
    """One member of a JSON object: its name, its JSON Schema and its value in an item.
    `optional`: left out of the object when the value is empty, and not required.
    `of`: the value is an object declared by these fields: `value` gives its item, or None
    for null; with `many`, an array of such objects, one per item of the sequence `value`
    gives (`objects` and `object_or_null` build such fields)."""

    name: str
    schema: dict[str, Any]
    value: Callable[[T], Any]
    optional: bool = False
    of: Sequence[Field[Any]] | None = None
    many: bool = False
    key: str = dataclasses.field(init=False, repr=False, compare=False)  # `"name": `, as written

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", json.dumps(self.name) + ": ")


def objects(
    name: str,
    fields: Sequence[Field[Any]],
    items: Callable[[T], Sequence[Any]],
    optional: bool = False,
) -> Field[T]:
    """An array of objects declared by `fields`, one per item of `items`."""
    schema = {"type": "array", "items": object_schema(fields)}
    return Field(name, schema, items, optional, of=fields, many=True)


def object_or_null(
    name: str,
    fields: Sequence[Field[Any]],
    item: Callable[[T], Any],
    schema: dict[str, Any] | None = None,
) -> Field[T]:
    """An object declared by `fields`, or null when `item` gives None."""
    return Field(name, schema or _nullable(object_schema(fields)), item, of=fields)


def to_json(fields: Sequence[Field[T]], item: T) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in fields:
        value = f.value(item)
        if value or not f.optional:
            doc[f.name] = value if f.of is None else _nested_json(f, value)
    return doc


def _nested_json(f: Field[Any], value: Any) -> Any:
    assert f.of is not None
    if f.many:
        return [to_json(f.of, item) for item in value]
    return None if value is None else to_json(f.of, value)


def write_object(
    fields: Sequence[Field[T]], item: T, out: jsontext.Out, pad: str, escape: jsontext.Escape
) -> None:
    """Append `to_json(fields, item)` to `out` as `json.dumps(indent=2)` writes it nested at
    `pad`, straight from the declarations (no dict in between)."""
    inner = pad + jsontext.INDENT
    if _write_members(fields, item, out, inner, escape, "{\n" + inner):
        out.append("\n" + pad + "}")
    else:
        out.append("{}")


def _write_members(
    fields: Sequence[Field[T]],
    item: T,
    out: jsontext.Out,
    inner: str,
    escape: jsontext.Escape,
    separator: str,
) -> bool:
    """The members of an object whose members sit at `inner`, the first after `separator`;
    whether any was written."""
    comma = ",\n" + inner
    wrote = False
    for f in fields:
        value = f.value(item)
        if not value and f.optional:
            continue
        if type(value) is str and f.of is None:  # most values: one piece instead of two
            out.append(separator + f.key + escape(value))
        elif f.of is None:
            out.append(separator + f.key)
            jsontext.write(value, out, inner, escape)
        elif f.many:
            out.append(separator + f.key)
            _write_objects(f.of, value, out, inner, escape)
        elif value is None:
            out.append(separator + f.key + "null")
        else:
            out.append(separator + f.key)
            write_object(f.of, value, out, inner, escape)
        separator, wrote = comma, True
    return wrote


def _write_objects(
    fields: Sequence[Field[Any]],
    items: Sequence[Any],
    out: jsontext.Out,
    pad: str,
    escape: jsontext.Escape,
) -> None:
    array = _ObjectArray(fields, out, pad, escape)
    for item in items:
        array.add(item)
    array.close()


class _ObjectArray:
    """An array of objects declared by `fields`, at `pad`, written an item at a time."""

    __slots__ = ("_count", "_escape", "_fields", "_inner", "_out", "_pad")

    def __init__(
        self, fields: Sequence[Field[Any]], out: jsontext.Out, pad: str, escape: jsontext.Escape
    ) -> None:
        self._fields, self._out, self._pad, self._escape = fields, out, pad, escape
        self._inner = pad + jsontext.INDENT
        self._count = 0

    def add(self, item: Any) -> None:
        # One string per item, joined at once: a report of 10,000 aliases is written as
        # 10,000 strings, not as millions of pieces.
        piece = [("[\n" if not self._count else ",\n") + self._inner]
        write_object(self._fields, item, piece, self._inner, self._escape)
        self._out.append("".join(piece))
        self._count += 1

    def close(self) -> None:
        self._out.append("\n" + self._pad + "]" if self._count else "[]")


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
    objects("entries", _ENTRY, lambda d: d.entries),
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
    objects("referrers", _REFERRER, lambda c: c.referrers, optional=True),
]
_ALIAS: list[Field[Outcome]] = [
    Field("target", _STRING, lambda o: o.plan.target.name),
    Field("repository", _STRING, lambda o: o.plan.target.key),
    Field("alias", _STRING, lambda o: o.plan.target.tag),
    Field("action", {"enum": _ACTIONS}, lambda o: o.action.value),
    Field("applied", {"type": "boolean"}, lambda o: o.applied),
    object_or_null("live", _LIVE, lambda o: o.plan.live),
    object_or_null("desired", _DESIRED, lambda o: o.plan.desired),
    objects("changes", _CHANGE, lambda o: o.plan.changes),
    objects("copies", _COPY, lambda o: o.plan.copies),
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


_ALIASES: Field[Run] = objects("aliases", _ALIAS, lambda r: r.report.outcomes)
# `error` and `summary` come after `aliases`: they are known only once the run has ended, and
# the aliases are written as the run goes (`DocumentWriter`).
_HEAD: list[Field[Run]] = [
    Field("schema_version", {"const": JSON_SCHEMA_VERSION}, lambda r: JSON_SCHEMA_VERSION),
    Field("dry_run", {"type": "boolean"}, lambda r: r.report.dry_run),
]
_TAIL: list[Field[Run]] = [
    object_or_null(
        "error",
        _RUN_ERROR,
        lambda r: r.error,
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
_DOCUMENT: list[Field[Run]] = [*_HEAD, _ALIASES, *_TAIL]


def document(run: Run) -> dict[str, Any]:
    """The report as a JSON value."""
    return to_json(_DOCUMENT, run)


def document_text(run: Run) -> str:
    """`json.dumps(document(run), indent=2)`, byte for byte, at a fraction of its CPU and
    memory: written from the declarations, alias by alias, without the document's millions of
    objects in between (non-ASCII escaped, as json.dumps does by default)."""
    out: list[str] = []
    write_document(run, out)
    return "".join(out)


def write_document(run: Run, out: jsontext.Out) -> None:
    """`document_text(run)`, handed to `out` piece by piece: each alias's object is one
    piece, so a stream's writer holds one alias at a time where the whole text would be
    megabytes (a few times over while it is joined, concatenated and encoded)."""
    DocumentWriter(out, run.report.dry_run).finish(run)


class DocumentWriter:
    """The document written while the run goes: `alias` writes one alias's object as soon as
    its outcome is final, `finish` the outcomes left in the report, then `error` and
    `summary` (which count every outcome of the run, written before or not). The bytes are
    `document_text`'s for the same outcomes; a run that streams them holds none."""

    def __init__(self, out: jsontext.Out, dry_run: bool) -> None:
        self._out, self._dry_run = out, dry_run
        self._escape = jsontext.escaper(ensure_ascii=True)
        self._aliases: _ObjectArray | None = None  # opened with the document's head

    def alias(self, outcome: Outcome) -> None:
        self._opened().add(outcome)

    def finish(self, run: Run) -> None:
        aliases = self._opened()
        for outcome in run.report.outcomes:
            aliases.add(outcome)
        aliases.close()
        _write_members(_TAIL, run, self._out, jsontext.INDENT, self._escape, _NEXT_MEMBER)
        self._out.append("\n}")

    def _opened(self) -> _ObjectArray:
        if self._aliases is None:
            head = Run(Report((), self._dry_run), None)  # the head reads no outcome
            _write_members(_HEAD, head, self._out, jsontext.INDENT, self._escape, _FIRST_MEMBER)
            self._out.append(_NEXT_MEMBER + _ALIASES.key)
            self._aliases = _ObjectArray(_ALIAS, self._out, jsontext.INDENT, self._escape)
        return self._aliases


_FIRST_MEMBER, _NEXT_MEMBER = "{\n" + jsontext.INDENT, ",\n" + jsontext.INDENT


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
