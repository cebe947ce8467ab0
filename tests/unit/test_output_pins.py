"""Byte-for-byte pins of output that refactors must not change: every `--help` text, the
`reconcile schema report` document and the JSON report's optional parts (notes, copies, a run
error). Regenerate with UPDATE_GOLDEN=1 after a deliberate change, and review the diff."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from reconciler._cli.commands.schema import print_schema
from reconciler._cli.main import build_parser, main
from reconciler._model.names import RepositoryName
from reconciler._model.oci import OCI_MANIFEST
from reconciler._output.jsonreport import Run, document
from reconciler._output.render import finish_json, json_writer, render_json
from reconciler._output.runerror import RunError
from reconciler._pipeline.observed import Copy
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import Outcome, Report, dry_run

from . import test_referrers_render, test_track_plan
from .factories import digest
from .test_render import check_golden, mixed_plan_observations

COMMANDS = ["", "apply", "validate", "inspect", "resolve", "import", "schema"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_text(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main([command, "--help"] if command else ["--help"]) == 0
    check_golden(f"help-{command or 'reconcile'}.txt", capsys.readouterr().out)


def test_report_schema_document() -> None:
    out = io.StringIO()
    print_schema("report", stdout=out)
    check_golden("schema-report.json", out.getvalue())


def test_json_with_notes_copies_and_a_run_error() -> None:
    plan = make_plan([*mixed_plan_observations(), test_track_plan.observed()])
    copy = Copy(
        digest("child"),
        OCI_MANIFEST,
        RepositoryName("r.test", "base"),
        "base:1",
        ((digest("config"), 100), (digest("layer"), 2_000_000)),
    )
    first = dataclasses.replace(plan.aliases[0], copies=(copy,))
    outcomes = (Outcome(first, applied=True), *(Outcome(a) for a in plan.aliases[1:]))
    error = RunError("timeout", "stopped after 5 seconds")
    check_golden("plan-notes-copies.json", render_json(Report(outcomes, dry_run=False), error))
    check_golden(
        "plan-floating.json", render_json(dry_run(make_plan([test_track_plan.observed()])))
    )


@pytest.mark.parametrize(
    ("report", "error"),
    [
        (dry_run(make_plan([*mixed_plan_observations(), test_track_plan.observed()])), None),
        (
            test_referrers_render.report_with(
                test_referrers_render.SIGNATURE, test_referrers_render.LEGACY
            ),
            None,
        ),
        (Report((), dry_run=False), RunError("interrupted", "stopped by SIGINT: « ü » \u2028")),
    ],
)
def test_the_json_report_is_json_dumps_of_its_document(
    report: Report, error: RunError | None
) -> None:
    """`render_json` writes straight from jsonreport's declarations, without the document: its
    bytes are still those of `json.dumps(document, indent=2)` (non-ASCII escaped), so the
    value, the text and the golden files agree."""
    expected = json.dumps(document(Run(report, error)), indent=2) + "\n"
    assert render_json(report, error) == expected


@pytest.mark.parametrize(
    ("report", "error"),
    [
        (dry_run(make_plan([*mixed_plan_observations(), test_track_plan.observed()])), None),
        (Report((), dry_run=False), RunError("interrupted", "stopped by SIGINT: « ü » \u2028")),
    ],
)
def test_the_streamed_json_report_is_the_rendered_one_written_alias_by_alias(
    report: Report, error: RunError | None
) -> None:
    """What the command line writes (`json_writer`, `finish_json`) is `render_json`'s text,
    handed to the stream one alias at a time: never the whole text at once, which at 20,000
    aliases was 30 MB of the run's peak memory."""
    stream = _Recording()
    finish_json(json_writer(stream, report.dry_run), report, error, stream)
    rendered = render_json(report, error)
    assert "".join(stream.writes) == rendered
    for i, alias in enumerate(json.loads(rendered)["aliases"]):  # one write for each alias
        nested = json.dumps(alias, indent=2).replace("\n", "\n    ")
        assert ("[\n    " if i == 0 else ",\n    ") + nested in stream.writes, alias["target"]
    assert max(map(len, stream.writes)) < len(rendered) // 2


class _Recording(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def test_the_main_command_options_in_help_order() -> None:
    """The flags refused after a COMMAND, as dest -> flag, in the order `--help` lists them."""
    assert list(build_parser().main_only.items()) == [
        ("dry_run", "--dry-run"),
        ("plan_out", "--plan-out"),
        ("output", "--output"),
        ("force", "--force"),
        ("detailed_exitcode", "--detailed-exitcode"),
        ("concurrency", "--concurrency"),
        ("only", "--only"),
        ("shard", "--shard"),
        ("metrics_file", "--metrics-file"),
        ("cache_dir", "--cache-dir"),
        ("no_cache", "--no-cache"),
        ("max_changes", "--max-changes"),
        ("lock_file", "--lock-file"),
        ("lock_wait", "--lock-wait"),
        ("timeout", "--timeout"),
        ("color", "--color"),
    ]
