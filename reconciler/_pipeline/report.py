"""What a run did, as values the renderers read: each alias's outcome (its plan, whether the
write succeeded) and the report of the whole run. No I/O here: apply builds these; a dry run
is a report of the plan alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .._errors import ReconcileError
from .plan import CHANGES, Action, AliasPlan, Plan

__all__ = ["Outcome", "Report", "dry_run"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one alias: its plan, and whether the write (if any) succeeded."""

    plan: AliasPlan
    applied: bool = False
    error: ReconcileError | None = None

    @property
    def action(self) -> Action:
        return Action.ERROR if self.error is not None else self.plan.action

    @property
    def message(self) -> str:
        return str(self.error) if self.error is not None else self.plan.message


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]
    dry_run: bool

    def summary(self) -> dict[str, int]:
        counts = Counter(o.action for o in self.outcomes)
        return {action.value: counts.get(action, 0) for action in Action}

    @property
    def has_changes(self) -> bool:
        return any(o.action in CHANGES for o in self.outcomes)

    @property
    def has_failures(self) -> bool:
        return any(o.action in (Action.CONFLICT, Action.ERROR) for o in self.outcomes)


def dry_run(plan: Plan) -> Report:
    """The report of a plan that is shown and not applied."""
    return Report(tuple(Outcome(p) for p in plan.aliases), dry_run=True)
