"""Render a report as Markdown: a pull-request comment or a CI job summary. Pure.

The same plan as the text form (`render.py`), as a table with one row per alias and one line
per changed platform in the row. Unchanged aliases are counted under the table unless
`verbose`. Everything taken from the config or a registry is escaped or put in code spans, so a
message can never break the table or inject markup.
"""

from __future__ import annotations

import re

from .._pipeline.plan import Action, Change
from .._pipeline.report import Outcome, Report
from .render import (
    SYMBOLS,
    describe_change,
    failure_text,
    held_entries,
    human_size,
    in_reading_order,
    index_label,
    listed,
    short,
    source_notes,
    subject_label,
    summary_text,
)

__all__ = ["render_markdown"]

_HEADER = ["| | Alias | Action | Index | Changes |", "|:-:|---|---|---|---|"]
_PLANNED = {Action.CREATE: "create", Action.UPDATE: "update", Action.DELETE: "delete"}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~&])")
_DIGEST = re.compile(r"sha256:[0-9a-f]{12}(?:[0-9a-f]{52})?")


def render_markdown(report: Report, *, verbose: bool = False) -> str:
    shown = [o for o in report.outcomes if listed(o, verbose=verbose)]
    lines = [f"### {summary_text(report)}"]
    if shown:
        lines += ["", *_HEADER, *(_row(o, report.dry_run) for o in shown)]
    hidden = report.tally.total - len(shown)  # a run's report keeps only what it shows
    if hidden and len(shown):
        lines += ["", f"{hidden} unchanged alias{'' if hidden == 1 else 'es'} not listed."]
    return "\n".join(lines) + "\n"


def _row(outcome: Outcome, dry_run: bool) -> str:
    action, plan = outcome.action, outcome.plan
    symbol = f"`{SYMBOLS[action]}`"
    name = f"`{plan.target.name}`"
    if action in (Action.CREATE, Action.UPDATE, Action.DELETE):
        word = (_PLANNED if dry_run else _DONE)[action]
    else:
        word = "unchanged" if action is Action.NOOP else f"**{action.value}**"
    index = ""
    if plan.desired is not None and (action is not Action.ERROR or outcome.applied):
        index = f"{index_label(plan.desired.media_type)} `{short(plan.desired.manifest.digest)}`"
    if action in (Action.CONFLICT, Action.ERROR):
        details = escape(failure_text(outcome))
        details = _code_digests(details) if outcome.applied else details
    else:
        notes = source_notes(plan.desired) if plan.desired is not None else {}
        lines = [_change(c, notes.get(c.new or "", "")) for c in in_reading_order(plan.changes)]
        lines += [
            f"`=` {escape(str(e.descriptor.platform))} `{short(e.descriptor.digest)}`"
            f" {escape(e.note)}"
            for e in held_entries(outcome)
        ]
        for c in plan.copies:
            lines.append(
                f"`+` copy `{short(c.digest)}` ({human_size(c.size)} at most) from"
                f" `{escape(str(c.origin))}`"
            )
            lines += [
                f"`+` referrer `{short(r.digest)}` ({escape(r.kind)}) of {escape(subject_label(c))}"
                for r in c.referrers
            ]
        details = "<br>".join(lines)
    return f"| {symbol} | {name} | {word} | {index} | {details} |"


def _change(change: Change, note: str = "") -> str:
    described = describe_change(change)
    text = f"`{described.symbol}` {escape(described.subject)}"
    if described.detail:
        text += " " + _code_digests(escape(described.detail).replace(" -\\> ", " → "))
    if described.source:
        text += f" from `{described.source}`"
        text += f" ({escape(note)})" if note else ""
    return text


def _code_digests(text: str) -> str:
    """Short digests in code spans, for the same monospace look as the text plan."""
    return _DIGEST.sub(lambda m: f"`{m.group(0)}`", text)


def escape(text: str) -> str:
    """Markdown-inert text for a table cell: punctuation backslash-escaped, one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))
