"""What a run did, as values the renderers read: each alias's outcome (its plan, whether the
write succeeded) and the report of the whole run. No I/O here: apply builds these; a dry run
is a report of the plan alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._errors import ReconcileError
from .plan import CHANGES, Action, AliasPlan, Plan

__all__ = ["Outcome", "Report", "Tally", "dry_run"]


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


@dataclass
class Tally:
    """How many outcomes a run had of each action, and how many were applied."""

    actions: Counter[Action] = field(default_factory=Counter)
    applied: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Tally:
        tally = cls()
        for outcome in outcomes:
            tally.add(outcome)
        return tally

    def add(self, outcome: Outcome) -> None:
        self.actions[outcome.action] += 1
        self.applied += outcome.applied

    @property
    def total(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True)
class Report:
    """The outcomes of a run. `counted`, when given, tallies every outcome of the run and
    `outcomes` holds only those still to be shown: a command line run writes its JSON report
    alias by alias as the run goes, and a text report shows the aliases that changed, so
    20,000 unchanged aliases need not all be held until the end."""

    outcomes: tuple[Outcome, ...]
    dry_run: bool
    counted: Tally | None = None

    @property
    def tally(self) -> Tally:
        return self.counted if self.counted is not None else Tally.of(self.outcomes)

    def summary(self) -> dict[str, int]:
        counts = self.tally.actions
        return {action.value: counts.get(action, 0) for action in Action}

    @property
    def has_changes(self) -> bool:
        counts = self.tally.actions
        return any(counts.get(action, 0) for action in CHANGES)

    @property
    def has_failures(self) -> bool:
        counts = self.tally.actions
        return bool(counts.get(Action.CONFLICT, 0) or counts.get(Action.ERROR, 0))


def dry_run(plan: Plan) -> Report:
    """The report of a plan that is shown and not applied."""
    return Report(tuple(Outcome(p) for p in plan.aliases), dry_run=True)
