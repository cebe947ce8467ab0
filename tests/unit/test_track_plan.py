"""A floating alias's plan says which tag each platform resolved to and why, in every output
format; aliases with fixed sources render as before (the golden files pin that)."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from reconciler._config.models import AliasTarget, Source
from reconciler._output.jsonreport import report_schema
from reconciler._output.markdown import render_markdown
from reconciler._output.render import render_json, render_text
from reconciler._pipeline.desired import build_index
from reconciler._pipeline.observed import ObservedAlias, ResolvedSource
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import dry_run

from .factories import REPO, image, live_index, parse_dict

AMD = image("linux/amd64", "10.10")
OLD_ARM, NEW_ARM = image("linux/arm64", "10.20"), image("linux/arm64", "10.21")


def tracked(pattern: str = "10.*") -> AliasTarget:
    return parse_dict({"repositories": {REPO: {"aliases": {"10": {"track": pattern}}}}}).targets()[
        0
    ]


def floating(tag: str, entry: object, platform: str) -> ResolvedSource:
    assert isinstance(entry, type(AMD))
    note = f"newest of 10.* for {platform}"
    return ResolvedSource(Source(tag=tag), entry, (entry,), note=note)


def observed() -> ObservedAlias:
    sources = (floating("10.10", AMD, "linux/amd64"), floating("10.21", NEW_ARM, "linux/arm64"))
    return ObservedAlias(tracked(), live_index(AMD, OLD_ARM), sources)


def test_a_tracked_target_has_no_fixed_sources() -> None:
    target = tracked()
    assert target.sources == () and target.track is not None
    assert (target.track.pattern, target.track.scheme, target.track.prereleases) == (
        "10.*",
        "glob",
        False,
    )


def test_desired_entries_carry_the_reason() -> None:
    index = build_index(tracked(), observed().sources)
    assert [(e.source, e.note) for e in index.entries] == [
        ("10.10", "newest of 10.* for linux/amd64"),
        ("10.21", "newest of 10.* for linux/arm64"),
    ]


def test_the_text_plan_names_the_tag_and_why() -> None:
    text = render_text(dry_run(make_plan([observed()])))
    assert text.splitlines()[1] == (
        f"    ~ linux/arm64  {OLD_ARM.digest[:19]} -> {NEW_ARM.digest[:19]}  from 10.21"
        " (newest of 10.* for linux/arm64)"
    )


def test_the_markdown_plan_names_the_tag_and_why_escaped() -> None:
    text = render_markdown(dry_run(make_plan([observed()])))
    assert "from `10.21` (newest of 10.\\* for linux/arm64)" in text


def test_the_json_report_has_a_note_per_entry_and_fits_its_schema() -> None:
    doc = json.loads(render_json(dry_run(make_plan([observed()]))))
    notes = [e["note"] for e in doc["aliases"][0]["desired"]["entries"]]
    assert notes == ["newest of 10.* for linux/amd64", "newest of 10.* for linux/arm64"]
    assert list(Draft202012Validator(report_schema()).iter_errors(doc)) == []
