"""Rendered output is pinned by golden files. Regenerate with UPDATE_GOLDEN=1 after a
deliberate change, and review the diff like any other."""

import json
import os
from pathlib import Path

import pytest

from reconciler.apply import Outcome, Report, dry_run
from reconciler.errors import NotFoundError, TransportError
from reconciler.observe import LiveTag, ObservedAlias
from reconciler.plan import make_plan
from reconciler.render import render_json, render_text
from reconciler.types import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor

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
    assert doc["summary"] == {"create": 1, "update": 2, "noop": 1, "conflict": 1, "error": 1}
    first = doc["aliases"][0]
    assert first["target"] == "localhost:5000/my-image:10"
    assert [e["source"] for e in first["desired"]["entries"]] == ["10.10", "10.20"]


@pytest.mark.parametrize("render", [render_text, render_json])
def test_rendering_is_deterministic(render: object) -> None:
    report = dry_run(make_plan(mixed_plan_observations()))
    assert render(report) == render(report)  # type: ignore[operator]
