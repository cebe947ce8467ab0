"""Where a command line run's outcomes go, in the file's order, as each becomes final.

A report of every alias held until the run ends costs a run 1-2 KB an alias (its plan: the
live and desired indexes, their digests and platforms): 40 MB at 20,000 aliases. The run
hands each outcome here instead, once it and every alias before it are final: `--output json`
writes it at once (`DocumentWriter`); text and Markdown keep only the aliases they list
(changes and failures; unchanged ones under `-v`) and count the rest.

Without `--dry-run` the plans that write, and every plan after the first of them, are kept
until they are applied (`--max-changes` must see every change before the first write): a run
where nothing drifted holds none.
"""

from __future__ import annotations

from collections.abc import Callable

from .._output.jsonreport import DocumentWriter
from .._pipeline.plan import AliasPlan, Plan
from .._pipeline.report import Outcome, Report, Tally

__all__ = ["Outcomes"]


class Outcomes:
    """`planned` takes each alias's plan in order; `add` each final outcome in order;
    `report` is the run's report: the outcomes kept, with the tally of every one."""

    def __init__(
        self,
        *,
        dry_run: bool,
        writer: DocumentWriter | None = None,
        listed: Callable[[Outcome], bool] = lambda outcome: True,
        keep_plans: bool = False,
    ) -> None:
        self.dry_run = dry_run
        self._writer, self._listed = writer, listed
        self._tally = Tally()
        self._kept: list[Outcome] = []
        self._to_apply: list[AliasPlan] = []
        self._plans: list[AliasPlan] | None = [] if keep_plans else None

    def planned(self, plan: AliasPlan) -> None:
        if self._plans is not None:
            self._plans.append(plan)
        if self.dry_run or (not self._to_apply and not plan.writes):
            self.add(Outcome(plan))  # final: nothing before it waits to be written
        else:
            self._to_apply.append(plan)

    def add(self, outcome: Outcome) -> None:
        self._tally.add(outcome)
        if self._writer is not None:
            self._writer.alias(outcome)
        elif self._listed(outcome):
            self._kept.append(outcome)

    def to_apply(self) -> Plan:
        """The plans kept for `apply`: every write, and the aliases after the first one."""
        return Plan(tuple(self._to_apply))

    def plan(self) -> Plan:
        """Every plan handed in (`keep_plans`: a saved plan records them all)."""
        assert self._plans is not None, "made without keep_plans"
        return Plan(tuple(self._plans))

    def report(self) -> Report:
        return Report(tuple(self._kept), self.dry_run, counted=self._tally)
