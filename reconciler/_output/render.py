"""Render a report as text for people or JSON for programs. Pure: a report in, a string out.

The text plan reads like the infrastructure tools people know: `+` create, `~` update, `!`
conflict or error, one line per alias, then one line per changed platform with the short old and
new digests and the source the new one comes from; unchanged aliases are only counted unless
`verbose`; a summary line closes it. With `color`, symbols and the summary carry ANSI colours
(the caller decides: a terminal, and NO_COLOR unset). The Markdown form is in `markdown.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .._model.oci import DOCKER_LIST, OCI_INDEX
from .._pipeline.desired import DesiredEntry, DesiredIndex
from .._pipeline.observed import Copy, Referrer
from .._pipeline.plan import Action, Change
from .._pipeline.report import Outcome, Report
from .jsonreport import JSON_SCHEMA_VERSION, DocumentWriter, Run, document_text
from .runerror import RunError

__all__ = [
    "JSON_SCHEMA_VERSION",
    "SYMBOLS",
    "ChangeText",
    "describe_change",
    "failure_text",
    "finish_json",
    "held_entries",
    "in_reading_order",
    "index_label",
    "json_writer",
    "listed",
    "render_json",
    "render_text",
    "short",
    "source_notes",
    "subject_label",
    "summary_text",
]

SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.NOOP: "=",
    Action.CONFLICT: "!",
    Action.ERROR: "!",
    Action.DELETE: "-",
}
CHANGE_SYMBOLS = {"add": "+", "remove": "-", "change": "~"}
_PLANNED = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated",
    Action.DELETE: "will be deleted",
}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}
_TYPE_NAMES = {DOCKER_LIST: "Docker manifest list", OCI_INDEX: "OCI image index"}

# ANSI SGR codes; `_paint` is the only place that emits them.
_GREEN, _YELLOW, _RED, _BOLD, _DIM = "32", "33", "31", "1", "2"
_ACTION_COLOR = {
    Action.CREATE: _GREEN,
    Action.UPDATE: _YELLOW,
    Action.NOOP: _DIM,
    Action.CONFLICT: _RED,
    Action.ERROR: _RED,
    Action.DELETE: _RED,
}
_CHANGE_COLOR = {"add": _GREEN, "remove": _RED, "change": _YELLOW}


def short(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits: enough to tell digests apart in a review."""
    return digest[:19] if digest else "-"


def index_label(media_type: str) -> str:
    """`Docker manifest list`, `OCI image index`, or the media type itself."""
    return _TYPE_NAMES.get(media_type, media_type or "-")


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def listed(outcome: Outcome, *, verbose: bool = False) -> bool:
    """Whether the text and Markdown reports list this alias: unchanged aliases are only
    counted, unless `verbose`; one holding a platform back is listed."""
    return verbose or outcome.action is not Action.NOOP or bool(held_entries(outcome))


def render_text(report: Report, *, verbose: bool = False, color: bool = False) -> str:
    lines: list[str] = []
    for outcome in report.outcomes:
        if listed(outcome, verbose=verbose):
            lines.extend(_alias_lines(outcome, report.dry_run, color))
    lines.append(summary_text(report, color=color))
    return "\n".join(lines) + "\n"


def failure_text(outcome: Outcome) -> str:
    """Why a conflict or error happened; for an alias written before something failed (its
    after_write hook), what was written first: `created sha256:..., then hook ... exited
    with 3`."""
    desired = outcome.plan.desired
    if not outcome.applied or outcome.error is None or desired is None:
        return outcome.message
    done = _DONE.get(outcome.plan.action, "written")
    return f"{done} {short(desired.manifest.digest)}, then {outcome.message}"


def _alias_lines(outcome: Outcome, dry_run: bool, color: bool) -> list[str]:
    action, name = outcome.action, outcome.plan.target.name
    symbol = _paint(SYMBOLS[action], _ACTION_COLOR[action], color)
    if action is Action.NOOP:
        holds = [f"    {_held_line(e, color)}" for e in held_entries(outcome)]
        return [_paint(f"= {name} is up to date", _DIM, color), *holds]
    if action in (Action.CONFLICT, Action.ERROR):
        word = _paint(action.value, _ACTION_COLOR[action], color)
        return [f"{symbol} {_paint(name, _BOLD, color)} {word}: {failure_text(outcome)}"]
    verb = (_PLANNED if dry_run else _DONE)[action]
    if action is Action.DELETE:
        why = "written by reconcile, no longer in the file"
        return [f"{symbol} {_paint(name, _BOLD, color)} {verb} (pruned: {why})"]
    desired = outcome.plan.desired
    assert desired is not None
    kind = index_label(desired.media_type)
    head = (
        f"{symbol} {_paint(name, _BOLD, color)} {verb} ({kind}, {short(desired.manifest.digest)})"
    )
    notes = source_notes(desired)
    changes = [
        f"    {_change_line(c, color, notes.get(c.new or '', ''))}"
        for c in in_reading_order(outcome.plan.changes)
    ]
    copies = [
        f"    {line}"
        for c in outcome.plan.copies
        for line in (_copy_line(c, color), *(_referrer_line(r, c, color) for r in c.referrers))
    ]
    holds = [f"    {_held_line(e, color)}" for e in held_entries(outcome)]
    return [head, *changes, *holds, *copies]


def _copy_line(copy: Copy, color: bool) -> str:
    """`+ copy sha256:... (1.2 MB at most) from ghcr.io/org/app`: what apply moves first."""
    symbol = _paint("+", _CHANGE_COLOR["add"], color)
    return (
        f"{symbol} copy {short(copy.digest)} ({human_size(copy.size)} at most) from {copy.origin}"
    )


def _referrer_line(referrer: Referrer, copy: Copy, color: bool) -> str:
    """`+ referrer sha256:... (application/vnd.dev.cosign...) of linux/arm64`: copied with
    the child it is attached to."""
    symbol = _paint("+", _CHANGE_COLOR["add"], color)
    return f"{symbol} referrer {short(referrer.digest)} ({referrer.kind}) of {subject_label(copy)}"


def subject_label(copy: Copy) -> str:
    """The child a referrer is attached to, as the plan names it: its platform."""
    return copy.platform or short(copy.digest)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


_FIELD_ORDER = ("repository", "tag", "platform", "attestation", "annotation", "media_type")


def in_reading_order(changes: Sequence[Change]) -> list[Change]:
    """Changes as a reviewer reads them: what the tag is, then platforms, then attestations
    and the rest (the plan sorts by field name; unknown fields go last)."""
    rank = {name: i for i, name in enumerate(_FIELD_ORDER)}
    return sorted(changes, key=lambda c: rank.get(c.field, len(rank)))


def source_notes(desired: DesiredIndex) -> dict[str, str]:
    """Why each entry's source was taken, by digest (floating aliases only): a change whose
    new digest is here reads `from 10.21 (newest of 10.* for linux/arm64)`."""
    return {e.descriptor.digest: e.note for e in desired.entries if e.note}


def held_entries(outcome: Outcome) -> list[DesiredEntry]:
    """The platforms a monotonic alias kept at their live image instead of moving them (no
    change, so no change line says it): shown under the alias, even an unchanged one."""
    desired = outcome.plan.desired
    if desired is None or outcome.action in (Action.CONFLICT, Action.ERROR):
        return []
    return [e for e in desired.entries if e.held and e.attestation_of is None]


def _held_line(entry: DesiredEntry, color: bool) -> str:
    """`= linux/arm64  sha256:...  held back (monotonic): ...`."""
    symbol = _paint("=", _DIM, color)
    return f"{symbol} {entry.descriptor.platform}  {short(entry.descriptor.digest)}  {entry.note}"


def _change_line(change: Change, color: bool, note: str = "") -> str:
    described = describe_change(change)
    symbol = _paint(described.symbol, _CHANGE_COLOR.get(change.kind, _YELLOW), color)
    detail = f"  {described.detail}" if described.detail else ""
    origin = f"  from {described.source}" if described.source else ""
    why = f" ({note})" if note and described.source else ""
    return f"{symbol} {described.subject}{detail}{origin}{why}"


@dataclass(frozen=True)
class ChangeText:
    """One change in words: `+ linux/amd64  sha256:...  from 10.10` is (symbol, subject,
    detail, source)."""

    symbol: str
    subject: str
    detail: str = ""
    source: str | None = None


def describe_change(change: Change) -> ChangeText:
    """Unknown fields (added by later stages) still render, generically."""
    symbol = CHANGE_SYMBOLS.get(change.kind, "~")
    if change.field in ("platform", "attestation"):
        label = change.subject if change.field == "platform" else f"attestation of {change.subject}"
        return ChangeText(symbol, label, _values(change, short), change.source)
    if change.field == "tag":
        return ChangeText("~", f"replaces {short(change.old)} (a single image) with the index")
    if change.field == "media_type":
        return ChangeText("~", f"media type {_values(change, lambda t: index_label(t or ''))}")
    if change.field == "annotation":
        return ChangeText(symbol, f"annotation {change.subject}", _values(change, repr))
    if change.field == "repository" and change.kind == "add":
        return ChangeText("+", f"repository {change.subject} (created first)")
    return ChangeText(symbol, f"{change.field} {change.subject}", _values(change, str))


def _values(change: Change, show: Callable[[Any], str]) -> str:
    if change.kind == "add":
        return show(change.new)
    if change.kind == "remove":
        return show(change.old)
    return f"{show(change.old)} -> {show(change.new)}"


def summary_text(report: Report, *, color: bool = False) -> str:
    """`Plan: 1 to create, ...` / `Applied: ...`, or `Everything up to date (N aliases).`"""
    counts = report.summary()
    if not report.has_changes and not report.has_failures:
        n = counts["noop"]
        return f"Everything up to date ({n} alias{'' if n == 1 else 'es'})."
    label = _paint("Plan:" if report.dry_run else "Applied:", _BOLD, color)
    created = "to create" if report.dry_run else "created"
    updated = "to update" if report.dry_run else "updated"
    failed = [
        _paint(f"{counts[a.value]} {a.value}(s)", _RED, color and counts[a.value] > 0)
        for a in (Action.CONFLICT, Action.ERROR)
    ]
    deleted = "to delete" if report.dry_run else "deleted"
    pruned = f"{counts['delete']} {deleted}, " if counts["delete"] else ""
    return (
        f"{label} {counts['create']} {created}, {counts['update']} {updated}, {pruned}"
        f"{counts['noop']} unchanged, {failed[0]}, {failed[1]}."
    )


def render_json(report: Report, error: RunError | None = None) -> str:
    """The `--output json` document, `schema_version` 1 (see `reconcile schema report`; both
    come from `jsonreport`). `error` says why the run failed as a whole (`null` when it did
    not); a run that stopped before planning passes an empty report."""
    return document_text(Run(report, error)) + "\n"  # json.dumps(indent=2)'s bytes, faster


def json_writer(stream: TextIO, dry_run: bool) -> DocumentWriter:
    """A writer of the `--output json` document to `stream`, alias by alias as a run goes:
    `render_json`'s text, never held whole (at 20,000 aliases, 30 MB of a run's peak)."""
    return DocumentWriter(_Writes(stream), dry_run)


def finish_json(
    writer: DocumentWriter, report: Report, error: RunError | None, stream: TextIO
) -> None:
    """The rest of the document: `report`'s outcomes not yet written, `error`, `summary`."""
    writer.finish(Run(report, error))
    stream.write("\n")


class _Writes:
    """A stream as jsontext's `Out`: each piece appended is written."""

    __slots__ = ("append",)

    def __init__(self, stream: TextIO) -> None:
        self.append = stream.write
