"""Rendered output is pinned by golden files. Regenerate with UPDATE_GOLDEN=1 after a
deliberate change, and review the diff like any other."""

import json
import os
import re
from pathlib import Path

import pytest

from reconciler._errors import NotFoundError, TransportError
from reconciler._model.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor
from reconciler._output.markdown import render_markdown
from reconciler._output.render import ChangeText, describe_change, render_json, render_text
from reconciler._output.runerror import RunError
from reconciler._pipeline.observed import LiveTag, ObservedAlias
from reconciler._pipeline.plan import Change, make_plan
from reconciler._pipeline.report import Outcome, Report, dry_run

from .factories import ABSENT, attestation, digest, image, live_index, observed, target

GOLDEN = Path(__file__).parent / "golden"
AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64/v8", "arm")


def mixed_plan_observations() -> list[ObservedAlias]:
    multi = target("multi", ["11"])
    oci_amd = image("linux/amd64", "oci-amd", OCI_MANIFEST)
    return [
        observed(target("10"), ABSENT, (AMD,), (ARM,)),
        observed(target("9"), live_index(AMD, image("linux/arm64", "old")), (AMD,), (ARM,)),
        observed(target("8"), live_index(AMD, ARM), (AMD,), (ARM,)),
        observed(
            target("7"),
            LiveTag("image", Descriptor(DOCKER_MANIFEST, digest("theirs"), 1)),
            (AMD,),
            (ARM,),
        ),
        ObservedAlias(target("6"), error=NotFoundError("localhost:5000", "source '6.1' not found")),
        observed(
            multi,
            live_index(oci_amd, media_type=OCI_INDEX),
            (oci_amd, attestation(oci_amd)),
        ),
    ]


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_text_dry_run_plan() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    check_golden("plan.txt", render_text(report))


def test_text_dry_run_plan_verbose_lists_unchanged_aliases() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    check_golden("plan-verbose.txt", render_text(report, verbose=True))


def test_text_after_apply_with_a_failed_write() -> None:
    plan = make_plan(mixed_plan_observations()[:3])
    failed = TransportError("localhost:5000", "PUT /v2/my-image/manifests/9: timed out")
    outcomes = (Outcome(plan.aliases[0], applied=True), Outcome(plan.aliases[1], error=failed))
    report = Report((*outcomes, Outcome(plan.aliases[2])), dry_run=False)
    check_golden("applied.txt", render_text(report))


def test_everything_up_to_date() -> None:
    report = dry_run(make_plan([observed(target("8"), live_index(AMD, ARM), (AMD,), (ARM,))]))
    assert render_text(report) == "Everything up to date (1 alias).\n"


def test_json_plan() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    text = render_json(report)
    check_golden("plan.json", text)
    doc = json.loads(text)
    assert doc["summary"] == {
        "create": 1,
        "update": 2,
        "noop": 1,
        "conflict": 1,
        "error": 1,
        "delete": 0,
    }
    first = doc["aliases"][0]
    assert first["target"] == "localhost:5000/my-image:10"
    assert [e["source"] for e in first["desired"]["entries"]] == ["10.10", "10.20"]


def test_json_says_why_the_run_failed_as_a_whole() -> None:
    error = RunError("lock", "another reconcile holds the lock /run/reconcile.lock")
    doc = json.loads(render_json(Report((), dry_run=False), error))
    assert doc == {
        "schema_version": 1,
        "dry_run": False,
        "error": {
            "kind": "lock",
            "message": "another reconcile holds the lock /run/reconcile.lock",
        },
        "aliases": [],
        "summary": {"create": 0, "update": 0, "noop": 0, "conflict": 0, "error": 0, "delete": 0},
    }


def applied_report() -> Report:
    plan = make_plan(mixed_plan_observations()[:3])
    failed = TransportError("localhost:5000", "PUT /v2/my-image/manifests/9: timed out")
    outcomes = (Outcome(plan.aliases[0], applied=True), Outcome(plan.aliases[1], error=failed))
    return Report((*outcomes, Outcome(plan.aliases[2])), dry_run=False)


def test_text_plan_in_colour() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    text = render_text(report, color=True)
    check_golden("plan-color.txt", text)
    assert _strip_ansi(text) == render_text(report)


def test_text_applied_in_colour() -> None:
    text = render_text(applied_report(), color=True)
    check_golden("applied-color.txt", text)
    assert _strip_ansi(text) == render_text(applied_report())


def test_text_without_colour_has_no_escape_codes() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    assert "\x1b" not in render_text(report, verbose=True)


def test_markdown_plan() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    text = render_markdown(report)
    check_golden("plan.md", text)
    assert "\x1b" not in text
    assert "1 unchanged alias not listed." in text
    assert "localhost:5000/my-image:8" not in text  # the noop is only counted


def test_markdown_plan_verbose_lists_unchanged_aliases() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    text = render_markdown(report, verbose=True)
    check_golden("plan-verbose.md", text)
    assert "| `=` | `localhost:5000/my-image:8` | unchanged |" in text


def test_markdown_after_apply() -> None:
    check_golden("applied.md", render_markdown(applied_report()))


def test_markdown_every_row_has_the_table_s_columns() -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    rows = [line for line in render_markdown(report, verbose=True).splitlines() if line[:1] == "|"]
    # Escaped pipes inside cells do not count as column separators.
    assert {line.replace("\\|", "").count("|") for line in rows} == {6}


def test_markdown_escapes_text_from_registries() -> None:
    hostile = NotFoundError("localhost:5000", "source 'x' | <script>alert(1)</script> **bold**")
    report = dry_run(make_plan([ObservedAlias(target("6"), error=hostile)]))
    text = render_markdown(report)
    assert "<script>" not in text and "**bold**" not in text
    assert "\\| \\<script\\>" in text


def test_markdown_when_everything_is_up_to_date() -> None:
    report = dry_run(make_plan([observed(target("8"), live_index(AMD, ARM), (AMD,), (ARM,))]))
    assert render_markdown(report) == "### Everything up to date (1 alias).\n"


def test_changes_read_platforms_before_attestations() -> None:
    multi = target("multi", ["11"])
    oci_amd = image("linux/amd64", "oci-amd", OCI_MANIFEST)
    report = dry_run(make_plan([observed(multi, ABSENT, (oci_amd, attestation(oci_amd)))]))
    lines = render_text(report).splitlines()
    assert lines[1].startswith("    + linux/amd64") and "attestation of" in lines[2]


def test_unknown_change_fields_still_render() -> None:
    created = describe_change(Change("add", "repository", "my-image", None, "my-image"))
    assert created == ChangeText("+", "repository my-image (created first)")
    retention = describe_change(Change("change", "retention", "days", "7", "30"))
    assert retention == ChangeText("~", "retention days", "7 -> 30")


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("render", [render_text, render_json, render_markdown])
def test_rendering_is_deterministic(render: object) -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    assert render(report) == render(report)  # type: ignore[operator]
