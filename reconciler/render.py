"""Render a report as text for people or JSON for programs. Pure: strings in, strings out."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .apply import Outcome, Report
from .plan import Action, Change
from .types import DOCKER_LIST, OCI_INDEX

__all__ = ["JSON_SCHEMA_VERSION", "render_json", "render_text"]

JSON_SCHEMA_VERSION = 1
_SYMBOL = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.NOOP: "=",
    Action.CONFLICT: "!",
    Action.ERROR: "!",
}
_PLANNED = {Action.CREATE: "will be created", Action.UPDATE: "will be updated"}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated"}
_CHANGE_SYMBOL = {"add": "+", "remove": "-", "change": "~"}
_TYPE_NAMES = {DOCKER_LIST: "Docker manifest list", OCI_INDEX: "OCI image index"}


def short(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits: enough to tell digests apart in a review."""
    return digest[:19] if digest else "-"


def render_text(report: Report, *, verbose: bool = False) -> str:
    lines: list[str] = []
    for outcome in report.outcomes:
        if outcome.action is Action.NOOP and not verbose:
            continue
        lines.extend(_alias_lines(outcome, report.dry_run))
    lines.append(_summary_line(report))
    return "\n".join(lines) + "\n"


def _alias_lines(outcome: Outcome, dry_run: bool) -> list[str]:
    action, name = outcome.action, outcome.plan.target.name
    symbol = _SYMBOL[action]
    if action is Action.NOOP:
        return [f"{symbol} {name} is up to date"]
    if action in (Action.CONFLICT, Action.ERROR):
        return [f"{symbol} {name} {action.value}: {outcome.message}"]
    desired = outcome.plan.desired
    assert desired is not None
    verb = (_PLANNED if dry_run else _DONE)[action]
    kind = _TYPE_NAMES.get(desired.media_type, desired.media_type)
    head = f"{symbol} {name} {verb} ({kind}, {short(desired.manifest.digest)})"
    return [head, *(f"    {_change_line(c)}" for c in outcome.plan.changes)]


def _change_line(change: Change) -> str:
    symbol = _CHANGE_SYMBOL[change.kind]
    origin = f"  from {change.source}" if change.source else ""
    if change.field in ("platform", "attestation"):
        label = change.subject if change.field == "platform" else f"attestation of {change.subject}"
        values = _values(change, short)
        return f"{symbol} {label}  {values}{origin}"
    if change.field == "tag":
        return f"~ replaces {short(change.old)} (a single image) with the index"
    if change.field == "media_type":
        return f"~ media type {_values(change, lambda t: _TYPE_NAMES.get(t or '', t or '-'))}"
    return f"{symbol} annotation {change.subject}  {_values(change, lambda v: repr(v))}"


def _values(change: Change, show: Any) -> str:
    if change.kind == "add":
        return str(show(change.new))
    if change.kind == "remove":
        return str(show(change.old))
    return f"{show(change.old)} -> {show(change.new)}"


def _summary_line(report: Report) -> str:
    counts = report.summary()
    if not report.has_changes and not report.has_failures:
        n = counts["noop"]
        return f"Everything up to date ({n} alias{'' if n == 1 else 'es'})."
    label = "Plan" if report.dry_run else "Applied"
    created = "to create" if report.dry_run else "created"
    updated = "to update" if report.dry_run else "updated"
    return (
        f"{label}: {counts['create']} {created}, {counts['update']} {updated}, "
        f"{counts['noop']} unchanged, {counts['conflict']} conflict(s), {counts['error']} error(s)."
    )


def render_json(report: Report) -> str:
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "dry_run": report.dry_run,
        "aliases": [_alias_json(o) for o in report.outcomes],
        "summary": report.summary(),
    }
    return json.dumps(doc, indent=2) + "\n"


def _alias_json(outcome: Outcome) -> dict[str, Any]:
    plan = outcome.plan
    live, desired = plan.live, plan.desired
    return {
        "target": plan.target.name,
        "repository": plan.target.key,
        "alias": plan.target.tag,
        "action": outcome.action.value,
        "applied": outcome.applied,
        "live": None
        if live is None
        else {
            "kind": live.kind,
            "digest": live.descriptor.digest if live.descriptor else None,
            "media_type": live.media_type or None,
        },
        "desired": None
        if desired is None
        else {
            "digest": desired.manifest.digest,
            "media_type": desired.media_type,
            "entries": [
                {
                    "platform": str(e.descriptor.platform),
                    "digest": e.descriptor.digest,
                    "media_type": e.descriptor.media_type,
                    "size": e.descriptor.size,
                    "source": e.source,
                    "attestation_for": e.attestation_of,
                }
                for e in desired.entries
            ],
        },
        "changes": [asdict(c) for c in plan.changes],
        "message": outcome.message,
    }
