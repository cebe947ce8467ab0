"""The main command's outcome without a registry: exit codes, and the one JSON document that
`--output json` prints for every run that got past argument parsing, failed runs included."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler._cli.commands import run as run_module
from reconciler._cli.commands.run import RunOptions, exit_code, run
from reconciler._cli.lock import run_lock
from reconciler._cli.outcomes import Outcomes
from reconciler._cli.progress import Progress
from reconciler._config import models as config
from reconciler._errors import TransportError
from reconciler._output.jsonreport import report_schema
from reconciler._output.metrics import RunMetrics, render_metrics
from reconciler._output.runerror import ERROR_KINDS, RunError
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import Outcome, Report, dry_run

from .factories import ABSENT, image, live_index, observed, target

AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64", "arm")
CREATE = observed(target("10"), ABSENT, (AMD,), (ARM,))
NOOP = observed(target("8"), live_index(AMD, ARM), (AMD,), (ARM,))
REPORT = Draft202012Validator(report_schema())
FAILED = TransportError("localhost:5000", "PUT /v2/my-image/manifests/10: timed out")


def applied(*, create: str = "applied") -> Report:
    """After apply: alias 10 created (or its write failed), alias 8 unchanged."""
    plan = make_plan([CREATE, NOOP])
    first = (
        Outcome(plan.aliases[0], applied=True)
        if create == "applied"
        else Outcome(plan.aliases[0], error=FAILED)
    )
    return Report((first, Outcome(plan.aliases[1])), dry_run=False)


@pytest.mark.parametrize(
    ("report", "detailed", "code"),
    [
        (dry_run(make_plan([CREATE, NOOP])), True, 2),
        (dry_run(make_plan([CREATE, NOOP])), False, 0),
        (dry_run(make_plan([NOOP])), True, 0),
        (applied(), True, 2),  # apply changed something: a cron job alerting on change sees it
        (applied(), False, 0),
        (Report((Outcome(make_plan([NOOP]).aliases[0]),), dry_run=False), True, 0),
        (applied(create="failed"), True, 1),
        (applied(create="failed"), False, 1),
    ],
    ids=[
        "plan-with-changes",
        "plan-with-changes-plain",
        "plan-without-changes",
        "apply-changed",
        "apply-changed-plain",
        "apply-changed-nothing",
        "apply-failed",
        "apply-failed-plain",
    ],
)
def test_detailed_exitcode_means_changes_planned_or_made(
    report: Report, detailed: bool, code: int
) -> None:
    assert exit_code(report, detailed=detailed) == code


def start(options: RunOptions) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(options, stdout=out, stderr=err, progress=Progress.for_terminal(io.StringIO()))
    return code, out.getvalue(), err.getvalue()


def json_of(out: str) -> dict[str, Any]:
    """The one document on stdout, checked against the published schema."""
    doc: dict[str, Any] = json.loads(out)
    assert [e.message for e in REPORT.iter_errors(doc)] == []
    return doc


EMPTY_SUMMARY = {"create": 0, "update": 0, "noop": 0, "conflict": 0, "error": 0, "delete": 0}


def test_a_config_error_still_prints_one_json_document(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text("repositories:\n  localhost:5000/x:\n    aliasses: {}\n")
    code, out, err = start(RunOptions(file=path, output="json", dry_run=True))
    message = f"{path}:3: repositories.localhost:5000/x.aliasses: unknown field 'aliasses'"
    assert code == 1
    doc = json_of(out)
    assert doc["error"]["kind"] == "config"
    assert doc["error"]["message"].startswith(message)
    assert (doc["dry_run"], doc["aliases"], doc["summary"]) == (True, [], EMPTY_SUMMARY)
    assert err.startswith(f"reconcile: error: {message}")


def test_a_held_lock_prints_one_json_document(tmp_path: Path) -> None:
    lock, path = tmp_path / "reconcile.lock", tmp_path / "manifests.yaml"
    path.write_text("registries: {}\n")
    with run_lock(lock):
        code, out, err = start(RunOptions(file=path, output="json", lock_file=lock))
    assert code == 1
    doc = json_of(out)
    assert doc["error"] == {"kind": "lock", "message": f"another reconcile holds the lock {lock}"}
    assert (doc["dry_run"], doc["aliases"], doc["summary"]) == (False, [], EMPTY_SUMMARY)
    assert err == f"reconcile: error: another reconcile holds the lock {lock}\n"


def test_a_run_that_went_well_says_error_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "reconcile", lambda *args: dry_run(make_plan([NOOP])))
    code, out, err = start(RunOptions(file=tmp_path / "m.yaml", output="json", dry_run=True))
    assert (code, err) == (0, "")
    doc = json_of(out)
    assert doc["error"] is None
    assert doc["summary"] == {**EMPTY_SUMMARY, "noop": 1}


def test_an_unexpected_failure_is_an_internal_error_in_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> config.Config:
        raise RuntimeError("a bug")

    monkeypatch.setattr(config, "load", broken)
    code, out, err = start(RunOptions(file=tmp_path / "m.yaml", output="json"))
    assert code == 1
    assert json_of(out)["error"] == {"kind": "internal", "message": "RuntimeError: a bug"}
    assert "reconcile: internal error: RuntimeError: a bug" in err
    assert "Traceback" in err  # a bug: the details are what a report needs


def half_a_run_then(failure: BaseException) -> Callable[..., Report]:
    """A run that planned one alias (written at once under --output json), then failed."""

    def reconcile(*args: Any) -> Report:
        outcomes: Outcomes = args[-1]
        outcomes.planned(make_plan([NOOP]).aliases[0])
        raise failure

    return reconcile


@pytest.mark.parametrize(
    ("failure", "kind", "code"),
    [(RuntimeError("a bug"), "internal", 1), (KeyboardInterrupt(), "interrupted", 130)],
    ids=["bug", "second-interrupt"],
)
def test_a_run_that_failed_part_way_ends_its_document_with_what_it_wrote(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
    kind: str,
    code: int,
) -> None:
    monkeypatch.setattr(run_module, "reconcile", half_a_run_then(failure))
    done, out, _ = start(RunOptions(file=tmp_path / "m.yaml", output="json", dry_run=True))
    doc = json_of(out)
    assert (done, doc["error"]["kind"]) == (code, kind)
    assert [alias["target"] for alias in doc["aliases"]] == [NOOP.target.name]
    assert doc["summary"] == {**EMPTY_SUMMARY, "noop": 1}


class GoneReader(io.StringIO):
    """Standard output whose reader left (`| head -1`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_report_whose_reader_left_during_the_run_is_no_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output json writes each alias as the run goes: the failed write happens inside the
    run, which must not take it for a bug of its own (a traceback, a report to nobody). The
    console ends such a process with exit 1, quietly."""
    monkeypatch.setattr(run_module, "reconcile", half_a_run_then(AssertionError("not reached")))
    err = io.StringIO()
    options = RunOptions(file=tmp_path / "m.yaml", output="json", dry_run=True)
    with pytest.raises(BrokenPipeError):
        run(options, stdout=GoneReader(), stderr=err, progress=Progress.for_terminal(err))
    assert err.getvalue() == ""


def test_a_second_interrupt_still_prints_the_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(path: Path) -> config.Config:
        raise KeyboardInterrupt

    monkeypatch.setattr(config, "load", interrupted)
    code, out, err = start(RunOptions(file=tmp_path / "m.yaml", output="json"))
    assert code == 130
    assert json_of(out)["error"] == {
        "kind": "interrupted",
        "message": "interrupted: stopped at once",
    }
    assert err == "reconcile: interrupted\n"


def test_a_signal_during_the_run_is_an_interrupted_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def signalled(*args: object) -> Report:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler only sets the stop flag
        return dry_run(make_plan([NOOP]))

    monkeypatch.setattr(run_module, "reconcile", signalled)
    code, out, err = start(RunOptions(file=tmp_path / "m.yaml", output="json"))
    assert code == 1
    doc = json_of(out)
    assert doc["error"] == {
        "kind": "interrupted",
        "message": "stopped by SIGTERM: no read or write started after it",
    }
    assert doc["summary"] == {**EMPTY_SUMMARY, "noop": 1}  # what was done is still reported
    assert err == "reconcile: stopped early; aliases not read or written are listed\n"


def test_a_timeout_is_a_timeout_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object) -> Report:
        time.sleep(0.3)
        return dry_run(make_plan([NOOP]))

    monkeypatch.setattr(run_module, "reconcile", slow)
    code, out, _ = start(RunOptions(file=tmp_path / "m.yaml", output="json", timeout=0.05))
    assert code == 1
    assert json_of(out)["error"] == {
        "kind": "timeout",
        "message": "--timeout 0.05s reached: no read or write started after it",
    }


@pytest.mark.parametrize("output", ["text", "markdown"])
def test_other_formats_print_nothing_when_the_run_failed_first(tmp_path: Path, output: str) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text("repositories: []\n")
    code, out, err = start(RunOptions(file=path, output=output))  # type: ignore[arg-type]
    assert (code, out) == (1, "")
    assert err.startswith("reconcile: error: ")


README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, flags=re.S | re.M)
    assert match, title
    return match[1]


def test_the_readme_documents_every_kind_of_run_error() -> None:
    section = readme_section("JSON output (schema_version 1)")
    (bullet,) = re.findall(r"^- `error`: (.*?)^- ", section, flags=re.S | re.M)
    listed = re.findall(r"^  - `(\w+)`(?:, `(\w+)`)?:", bullet, flags=re.M)
    assert [kind for pair in listed for kind in pair if kind] == list(ERROR_KINDS)


def test_the_readme_metrics_table_lists_every_metric() -> None:
    plan = make_plan([CREATE, NOOP])
    refused = Report(tuple(Outcome(alias) for alias in plan.aliases), dry_run=False)
    text = render_metrics(
        RunMetrics(
            1.0,
            0.5,
            refused,
            ratelimit_remaining={"docker.io": 3},
            error=RunError("max_changes", "refused"),
        )
    )
    families = re.findall(r"^# TYPE (\w+) gauge$", text, flags=re.M)
    table = re.findall(r"^\| `(\w+)[{`]", readme_section("On a schedule"), flags=re.M)
    assert sorted(families) == sorted(table)
