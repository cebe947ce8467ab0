"""--metrics-file: Prometheus text format, read back with prometheus_client's own parser."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler._errors import ReconcileError
from reconciler._output.metrics import RunMetrics, render_metrics, write_metrics
from reconciler._output.runerror import RunError
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import Outcome, Report, dry_run

from .test_render import applied_report, mixed_plan_observations

# The counts per action of the report the tests build: one error and one conflict.
BY_ACTION = {
    (("action", "create"),): 1,
    (("action", "update"),): 2,
    (("action", "noop"),): 1,
    (("action", "conflict"),): 1,
    (("action", "error"),): 1,
    (("action", "delete"),): 0,
}


def parsed(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value}, through the reference parser."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_a_failed_run_with_its_counts() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    text = render_metrics(RunMetrics(1_767_225_600.5, 2.25, report, dry_run=True))
    metrics = parsed(text)
    assert metrics["reconcile_last_run_timestamp_seconds"] == {(): 1_767_225_600.5}
    assert metrics["reconcile_last_run_duration_seconds"] == {(): 2.25}
    assert metrics["reconcile_last_run_success"] == {(): 0}
    assert metrics["reconcile_last_run_dry_run"] == {(): 1}
    assert metrics["reconcile_last_run_errors"] == {(): 2}  # one error and one conflict
    assert metrics["reconcile_last_run_aliases"] == BY_ACTION


def test_after_apply_the_failed_write_is_an_error() -> None:
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, applied_report())))
    assert metrics["reconcile_last_run_aliases"][(("action", "error"),)] == 1
    assert metrics["reconcile_last_run_aliases"][(("action", "create"),)] == 1
    assert metrics["reconcile_last_run_dry_run"] == {(): 0}


def test_a_successful_run() -> None:
    report = dry_run(make_plan(mixed_plan_observations()[:3]))
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, report)))
    assert metrics["reconcile_last_run_success"] == {(): 1}
    assert metrics["reconcile_last_run_errors"] == {(): 0}


def test_a_run_that_stopped_before_planning() -> None:
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.01, None)))
    assert metrics["reconcile_last_run_success"] == {(): 0}
    assert metrics["reconcile_last_run_errors"] == {(): 1}
    assert set(metrics["reconcile_last_run_aliases"].values()) == {0}


def test_a_refused_plan_is_counted_as_planned_not_as_applied() -> None:
    plan = make_plan(mixed_plan_observations())
    refused = Report(tuple(Outcome(alias) for alias in plan.aliases), dry_run=False)
    error = RunError("max_changes", "the plan creates, updates or deletes 3 aliases, ...")
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, refused, error=error)))
    assert metrics["reconcile_refused"] == {(): 1}
    assert metrics["reconcile_last_run_success"] == {(): 0}
    assert set(metrics["reconcile_last_run_aliases"].values()) == {0}  # nothing happened
    assert metrics["reconcile_last_run_planned"] == BY_ACTION


@pytest.mark.parametrize(
    "error", [None, RunError("timeout", "--timeout 5s reached"), RunError("lock", "held")]
)
def test_only_a_refusal_says_refused_and_has_planned_counts(error: RunError | None) -> None:
    report = dry_run(make_plan(mixed_plan_observations()[:3]))
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, report, dry_run=True, error=error)))
    assert metrics["reconcile_refused"] == {(): 0}
    assert "reconcile_last_run_planned" not in metrics
    assert metrics["reconcile_last_run_success"] == {(): int(error is None)}


def test_labels_go_on_every_sample_and_are_escaped() -> None:
    labels = {"shard": "1/4", "odd": 'a"b\\c\nd'}
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, None, labels=labels)))
    for samples in metrics.values():
        for key in samples:
            assert dict(key)["shard"] == "1/4"
            assert dict(key)["odd"] == 'a"b\\c\nd'


def test_the_file_is_replaced_whole_and_readable_by_the_collector(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.prom"
    path.write_text("old")
    write_metrics(path, render_metrics(RunMetrics(1.0, 0.5, None)))
    assert parsed(path.read_text())["reconcile_last_run_success"] == {(): 0}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["reconcile.prom"]  # no temporary left


def test_an_unwritable_place_is_an_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "reconcile.prom"
    with pytest.raises(ReconcileError, match=r"cannot write metrics file .*missing-dir"):
        write_metrics(path, "x 1\n")


def test_the_lowest_remaining_pulls_per_registry() -> None:
    run = RunMetrics(1.0, 0.5, None, ratelimit_remaining={"docker.io": 38, "r.example": 0})
    metrics = parsed(render_metrics(run))
    assert metrics["reconcile_registry_ratelimit_remaining"] == {
        (("registry", "docker.io"),): 38,
        (("registry", "r.example"),): 0,
    }


def test_no_registry_announced_a_limit() -> None:
    text = render_metrics(RunMetrics(1.0, 0.5, None))
    assert "reconcile_registry_ratelimit_remaining" not in text
