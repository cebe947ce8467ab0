"""A command line run hands each outcome on as soon as it is final (`Outcomes`): the JSON
report is written alias by alias, text and Markdown keep only what they list. Whatever is
let go, the rendered report must be the one of the whole run."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest

from reconciler._cli.outcomes import Outcomes
from reconciler._output.markdown import render_markdown
from reconciler._output.render import finish_json, json_writer, listed, render_json, render_text
from reconciler._pipeline.observe import each_in_order
from reconciler._pipeline.plan import Action, AliasPlan, make_plan
from reconciler._pipeline.report import Outcome, Report

from .test_render import mixed_plan_observations


def plans() -> list[AliasPlan]:
    """Creates, updates, noops, a conflict and an error, in the file's order."""
    return list(make_plan(mixed_plan_observations()).aliases)


def whole(dry_run: bool) -> Report:
    return Report(tuple(Outcome(plan) for plan in plans()), dry_run=dry_run)


def run_through(outcomes: Outcomes) -> Report:
    """What a run does: every plan in the file's order, then (without --dry-run) the
    outcomes of those kept for apply (here: none written)."""
    for plan in plans():
        outcomes.planned(plan)
    if not outcomes.dry_run:
        for plan in outcomes.to_apply().aliases:
            outcomes.add(Outcome(plan))
    return outcomes.report()


def test_the_plans_have_a_write_first_and_unchanged_aliases_after_it() -> None:
    actions = [plan.action for plan in plans()]
    assert actions[0] is Action.CREATE and Action.NOOP in actions, actions


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
def test_a_json_report_written_as_the_run_goes_is_the_whole_run_s_document(
    dry_run: bool,
) -> None:
    stream = io.StringIO()
    writer = json_writer(stream, dry_run)
    report = run_through(Outcomes(dry_run=dry_run, writer=writer))
    assert report.outcomes == ()  # every alias written, none held to the end
    finish_json(writer, report, None, stream)
    assert stream.getvalue() == render_json(whole(dry_run))


def test_a_dry_run_writes_each_alias_as_soon_as_it_is_planned() -> None:
    stream = io.StringIO()
    outcomes = Outcomes(dry_run=True, writer=json_writer(stream, True))
    for plan in plans():
        outcomes.planned(plan)
        assert stream.getvalue().rstrip().endswith("}"), "the alias's object is whole"
        assert f'"target": "{plan.target.name}"' in stream.getvalue()


def test_without_dry_run_the_aliases_wait_from_the_first_write_on() -> None:
    """--max-changes must see every write before the first one; what comes before the first
    write is final at once."""
    noop = next(plan for plan in plans() if plan.action is Action.NOOP)
    stream = io.StringIO()
    outcomes = Outcomes(dry_run=False, writer=json_writer(stream, False))
    for plan in [noop, *plans()]:
        outcomes.planned(plan)
    assert stream.getvalue().count('"target": ') == 1
    assert outcomes.to_apply().aliases == tuple(plans())


@pytest.mark.parametrize("verbose", [False, True], ids=["listing-changes", "verbose"])
@pytest.mark.parametrize(
    "render",
    [partial(render_text, color=False), render_markdown],
    ids=["text", "markdown"],
)
def test_text_and_markdown_keep_only_what_they_list_and_render_the_whole_run(
    render: Callable[..., str], verbose: bool
) -> None:
    report = run_through(Outcomes(dry_run=True, listed=partial(listed, verbose=verbose)))
    assert render(report, verbose=verbose) == render(whole(True), verbose=verbose)
    shown = [o for o in whole(True).outcomes if listed(o, verbose=verbose)]
    assert report.outcomes == tuple(shown)
    assert report.summary() == whole(True).summary()
    assert len(shown) < len(plans()) or verbose


def test_results_are_handed_on_in_order_as_soon_as_those_before_them_are_in() -> None:
    first_out = threading.Event()
    emitted: list[int] = []
    calls = threading.Lock()

    def work(index: int) -> int:
        if index == 9:  # the last one is still running when the first is handed on
            assert first_out.wait(10)
        time.sleep(0.002 * (8 - index) if index < 9 else 0)  # the rest finish out of order
        return index

    def emit(result: int) -> None:
        assert calls.acquire(blocking=False), "one call at a time"
        try:
            emitted.append(result)
            first_out.set()
        finally:
            calls.release()

    assert each_in_order(work, list(range(10)), workers=4, emit=emit) == []
    assert emitted == list(range(10))


def test_a_result_is_left_to_the_thread_emitting_instead_of_waiting_for_it() -> None:
    """While one thread is in `emit` (writing the report), a thread whose result is ready
    leaves it and takes its next item instead of queueing on the lock behind the writes."""
    in_emit, go_on, next_taken = threading.Event(), threading.Event(), threading.Event()
    emitted: list[int] = []

    def work(index: int) -> int:
        if index == 1:
            assert in_emit.wait(10)  # done while 0 is being emitted
        if index == 2:
            next_taken.set()  # the thread of item 1 has moved on
        return index

    def emit(result: int) -> None:
        emitted.append(result)
        if result == 0:
            in_emit.set()
            go_on.wait(10)

    runner = threading.Thread(
        target=each_in_order, args=(work, [0, 1, 2]), kwargs={"workers": 2, "emit": emit}
    )
    runner.start()
    moved_on = next_taken.wait(5)
    go_on.set()
    runner.join(10)
    assert moved_on, "the thread of item 1 waited for emit(0) to return"
    assert emitted == [0, 1, 2]
