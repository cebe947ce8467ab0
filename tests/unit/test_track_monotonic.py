"""`monotonic: true`: a floating alias's platform never moves to an older version than the one
it holds. The pick is the newest matching tag providing the platform, so it is never older than
a tag still holding the live image; a platform whose live image no matching tag holds any more
(its tag deleted, or pushed again with another image) keeps that image, and says why."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler._config.models import AliasTarget, Source, parse
from reconciler._model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    Descriptor,
    Manifest,
    Platform,
    digest_of,
)
from reconciler._model.track import Hold, Track, describe_hold, hold_back, pick
from reconciler._output.jsonreport import report_schema
from reconciler._output.markdown import render_markdown
from reconciler._output.render import render_json, render_text
from reconciler._pipeline.desired import build_index
from reconciler._pipeline.observe import observe_alias, resolve_track
from reconciler._pipeline.observed import LiveTag, ObservedAlias, ResolvedSource
from reconciler._pipeline.plan import Action, make_plan
from reconciler._pipeline.report import dry_run

from .factories import REPO, attestation, image, live_index, parse_dict
from .test_track_observe import FakeClient

GLOB = Track("10.*")
AMD, ARM = ("linux", "amd64"), ("linux", "arm64")
AMD_1 = image("linux/amd64", "10.1")
ARM_2, ARM_3 = image("linux/arm64", "10.2"), image("linux/arm64", "10.3")
ARM_3_REBUILT = image("linux/arm64", "10.3 rebuilt")
ARM_3_V8 = image("linux/arm64/v8", "10.3")  # the same image as ARM_3, spelled with its variant
ARM_3_PROOF = attestation(ARM_3)
AMD_4 = image("linux/amd64", "10.4")


@dataclass(frozen=True)
class Case:
    live: tuple[Descriptor, ...]
    tags: tuple[tuple[str, tuple[Descriptor, ...]], ...]  # newest first
    picks: tuple[tuple[str, tuple[str, ...]], ...]  # (tag, its digests) after holding back
    holds: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()  # (platform, digests, newest)


CASES = {
    "a newer tag moves the platform forward": Case(
        live=(AMD_1, ARM_2),
        tags=(("10.3", (ARM_3,)), ("10.2", (ARM_2,)), ("10.1", (AMD_1,))),
        picks=(("10.1", (AMD_1.digest,)), ("10.3", (ARM_3.digest,))),
    ),
    "the tag of the live image is still the newest": Case(
        live=(AMD_1, ARM_3),
        tags=(("10.3", (ARM_3,)), ("10.2", (ARM_2,)), ("10.1", (AMD_1,))),
        picks=(("10.1", (AMD_1.digest,)), ("10.3", (ARM_3.digest,))),
    ),
    "the live image's tag was deleted and an older one remains: held back": Case(
        live=(AMD_1, ARM_3),
        tags=(("10.2", (ARM_2,)), ("10.1", (AMD_1,))),
        picks=(("10.1", (AMD_1.digest,)),),
        holds=(("linux/arm64", (ARM_3.digest,), "10.2"),),
    ),
    "its tag was pushed again with another image: held back": Case(
        live=(ARM_3,),
        tags=(("10.3", (ARM_3_REBUILT,)),),
        picks=(),
        holds=(("linux/arm64", (ARM_3.digest,), "10.3"),),
    ),
    "no matching tag provides the platform any more: held back": Case(
        live=(AMD_1, ARM_3),
        tags=(("10.1", (AMD_1,)),),
        picks=(("10.1", (AMD_1.digest,)),),
        holds=(("linux/arm64", (ARM_3.digest,), None),),
    ),
    "a held image keeps its attestations from the live index": Case(
        live=(ARM_3, ARM_3_PROOF),
        tags=(("10.2", (ARM_2,)),),
        picks=(),
        holds=(("linux/arm64", (ARM_3.digest, ARM_3_PROOF.digest), "10.2"),),
    ),
    "arm64/v8 in the live index is the tag's arm64": Case(
        live=(ARM_3_V8,),
        tags=(("10.3", (ARM_3,)), ("10.2", (ARM_2,))),
        picks=(("10.3", (ARM_3.digest,)),),
    ),
    "a tag of several platforms gives up only the held one": Case(
        live=(AMD_1, ARM_3),
        tags=(("10.4", (AMD_4, ARM_2)), ("10.1", (AMD_1,))),
        picks=(("10.4", (AMD_4.digest,)),),
        holds=(("linux/arm64", (ARM_3.digest,), "10.4"),),
    ),
    "a platform only the live index has no longer and no tag provides is not invented": Case(
        live=(),
        tags=(("10.2", (ARM_2,)),),
        picks=(("10.2", (ARM_2.digest,)),),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_monotonic_holds_back_only_a_platform_whose_live_image_no_tag_holds(case: Case) -> None:
    picks, holds = hold_back(case.tags, case.live)
    assert [(p.tag, tuple(e.digest for e in p.entries)) for p in picks] == list(case.picks)
    assert [(h.platform, tuple(e.digest for e in h.entries), h.newest) for h in holds] == list(
        case.holds
    )


NOTES = {
    "an older tag remains": (
        GLOB,
        "10.2",
        "held back (monotonic): no tag of 10.* holds the live image any more; the newest for"
        " linux/arm64/v8 is 10.2",
    ),
    "none provides it": (
        GLOB,
        None,
        "held back (monotonic): no tag of 10.* holds the live image any more, and none"
        " provides linux/arm64/v8",
    ),
    "a semver range": (
        Track("~10", "semver"),
        "10.2.0",
        "held back (monotonic): no tag of ~10 (semver) holds the live image any more; the"
        " newest for linux/arm64/v8 is 10.2.0",
    ),
}


@pytest.mark.parametrize(("track", "newest", "note"), NOTES.values(), ids=NOTES.keys())
def test_a_hold_says_why(track: Track, newest: str | None, note: str) -> None:
    hold = Hold("linux/arm64", "linux/arm64/v8", (ARM_3_V8,), newest)
    assert describe_hold(track, hold) == note


def test_a_hold_is_shown_as_the_live_index_spells_the_platform() -> None:
    _, holds = hold_back([("10.2", (ARM_2,))], (ARM_3_V8,))
    assert holds == [Hold("linux/arm64", "linux/arm64/v8", (ARM_3_V8,), "10.2")]


def test_without_a_hold_the_picks_are_those_of_pick() -> None:
    """Nothing held: the picks are those of `pick`, in its order."""
    tags = [("10.3", (ARM_3,)), ("10.1", (AMD_1,))]
    assert hold_back(tags, (AMD_1, ARM_3)) == (pick(tags), [])


# -- observe: the live index decides, with no read beyond those of any floating alias ----------


def monotonic_target(monotonic: bool = True) -> AliasTarget:
    alias = {"track": "10.*", "monotonic": monotonic}
    return parse_dict({"repositories": {REPO: {"aliases": {"10": alias}}}}).targets()[0]


def index_of(client: FakeClient, *tags: str) -> tuple[Manifest, LiveTag]:
    """The alias index a run wrote when `tags` were the newest, as stored and as read."""
    entries = [
        Descriptor(DOCKER_MANIFEST, m.digest, len(m.raw), platform_of(client, tag))
        for tag, m in ((tag, client.manifests[tag]) for tag in tags)
    ]
    raw = json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [e.to_json() for e in entries]}
    ).encode()
    manifest = Manifest(raw, DOCKER_LIST, digest_of(raw))
    return manifest, LiveTag("index", manifest.descriptor(), tuple(entries))


def platform_of(client: FakeClient, tag: str) -> Platform:
    config = json.loads(client.blobs[json.loads(client.manifests[tag].raw)["config"]["digest"]])
    return Platform(config["os"], config["architecture"])


def seen(resolved: Sequence[ResolvedSource]) -> list[tuple[str, list[str], str, bool]]:
    return [(r.source.label, [e.digest for e in r.entries], r.note, r.held) for r in resolved]


def test_a_monotonic_alias_keeps_the_live_image_of_a_deleted_tag() -> None:
    client = FakeClient({"10.1": AMD, "10.2": ARM, "10.3": ARM})
    _, live = index_of(client, "10.1", "10.3")
    gone = client.manifests.pop("10.3").digest  # deleted: 10.2 is now the newest for arm64
    client.read.clear()

    resolved = resolve_track(client, monotonic_target(), live)

    assert seen(resolved) == [
        ("10.1", [client.manifests["10.1"].digest], "newest of 10.* for linux/amd64", False),
        (
            gone[:19],
            [gone],
            "held back (monotonic): no tag of 10.* holds the live image any more; the newest"
            " for linux/arm64 is 10.2",
            True,
        ),
    ]
    assert resolved[1].source.digest == gone
    assert sorted(client.read) == ["10.1", "10.2"]  # what any floating alias reads, no more


def test_without_monotonic_the_live_index_plays_no_part() -> None:
    client = FakeClient({"10.1": AMD, "10.2": ARM, "10.3": ARM})
    _, live = index_of(client, "10.1", "10.3")
    client.manifests.pop("10.3")
    resolved = resolve_track(client, monotonic_target(False), live)
    assert [(r.source.label, r.held) for r in resolved] == [("10.1", False), ("10.2", False)]


def test_a_monotonic_alias_whose_matching_tags_are_all_gone_keeps_its_index() -> None:
    client = FakeClient({"10.1": AMD, "10.2": ARM, "9.0": AMD})
    _, live = index_of(client, "10.1", "10.2")
    kept = [client.manifests.pop(tag).digest for tag in ("10.1", "10.2")]
    resolved = resolve_track(client, monotonic_target(), live)
    assert [(r.source.digest, r.held) for r in resolved] == [(kept[0], True), (kept[1], True)]
    assert [r.note for r in resolved] == [
        "held back (monotonic): no tag of 10.* holds the live image any more, and none provides"
        f" {platform}"
        for platform in ("linux/amd64", "linux/arm64")
    ]


def test_observe_hands_the_live_index_to_a_monotonic_alias() -> None:
    client = FakeClient({"10.1": AMD, "10.2": ARM, "10.3": ARM})
    stored, _ = index_of(client, "10.1", "10.3")
    client.manifests["10"] = stored  # the alias tag (never a candidate of 10.*)
    gone = client.manifests.pop("10.3").digest
    observed = observe_alias(monotonic_target(), lambda host: client)
    assert observed.error is None
    assert [(r.source.digest or r.source.tag, r.held) for r in observed.sources] == [
        ("10.1", False),
        (gone, True),
    ]


# -- desired, plan and the rendered plan: a held platform is no change, and is said --------

NOTE = (
    "held back (monotonic): no tag of 10.* holds the live image any more; the newest for"
    " linux/arm64 is 10.2"
)
AMD_1_PICK = ResolvedSource(
    Source(tag="10.1"), AMD_1, (AMD_1,), note="newest of 10.* for linux/amd64"
)
AMD_4_PICK = ResolvedSource(
    Source(tag="10.4"), AMD_4, (AMD_4,), note="newest of 10.* for linux/amd64"
)
ARM_3_HELD = ResolvedSource(Source(digest=ARM_3.digest), ARM_3, (ARM_3,), note=NOTE, held=True)


def held_alias(amd: ResolvedSource) -> ObservedAlias:
    return ObservedAlias(monotonic_target(), live_index(AMD_1, ARM_3), (amd, ARM_3_HELD))


def test_a_held_entry_is_marked_in_the_desired_index() -> None:
    index = build_index(monotonic_target(), held_alias(AMD_1_PICK).sources)
    assert [(e.source, e.held, e.note) for e in index.entries] == [
        ("10.1", False, "newest of 10.* for linux/amd64"),
        (ARM_3.digest[:19], True, NOTE),
    ]


def test_a_held_platform_is_not_a_change() -> None:
    assert make_plan([held_alias(AMD_1_PICK)]).aliases[0].action is Action.NOOP
    moved = make_plan([held_alias(AMD_4_PICK)]).aliases[0]
    assert [(c.subject, c.new) for c in moved.changes] == [("linux/amd64", AMD_4.digest)]


def test_a_held_platform_satisfies_require_platforms() -> None:
    alias = {"track": "10.*", "monotonic": True, "require_platforms": ["linux/arm64"]}
    target = parse_dict({"repositories": {REPO: {"aliases": {"10": alias}}}}).targets()[0]
    observed = ObservedAlias(target, live_index(AMD_1, ARM_3), (AMD_1_PICK, ARM_3_HELD))
    assert make_plan([observed]).aliases[0].action is Action.NOOP


HELD_LINE = f"    = linux/arm64  {ARM_3.digest[:19]}  {NOTE}"


def test_the_text_plan_shows_a_hold_under_an_update() -> None:
    text = render_text(dry_run(make_plan([held_alias(AMD_4_PICK)])))
    assert text.splitlines()[1:] == [
        f"    ~ linux/amd64  {AMD_1.digest[:19]} -> {AMD_4.digest[:19]}  from 10.4"
        " (newest of 10.* for linux/amd64)",
        HELD_LINE,
        "Plan: 0 to create, 1 to update, 0 unchanged, 0 conflict(s), 0 error(s).",
    ]


def test_the_text_plan_shows_an_unchanged_alias_with_a_hold_without_v() -> None:
    text = render_text(dry_run(make_plan([held_alias(AMD_1_PICK)])))
    assert text.splitlines() == [
        f"= {REPO}:10 is up to date",
        HELD_LINE,
        "Everything up to date (1 alias).",
    ]


def test_the_markdown_plan_shows_a_hold_escaped() -> None:
    plan = make_plan([held_alias(AMD_1_PICK)])
    desired = plan.aliases[0].desired
    assert desired is not None
    row = render_markdown(dry_run(plan)).splitlines()[-1]
    assert row == (
        f"| `=` | `{REPO}:10` | unchanged | Docker manifest list"
        f" `{desired.manifest.digest[:19]}` | `=` linux/arm64 `{ARM_3.digest[:19]}` held back"
        " (monotonic): no tag of 10.\\* holds the live image any more; the newest for"
        " linux/arm64 is 10.2 |"
    )


def test_the_json_report_gives_the_hold_as_the_entry_s_note() -> None:
    doc = json.loads(render_json(dry_run(make_plan([held_alias(AMD_1_PICK)]))))
    entries = doc["aliases"][0]["desired"]["entries"]
    assert [(e["source"], e["note"]) for e in entries] == [
        ("10.1", "newest of 10.* for linux/amd64"),
        (ARM_3.digest[:19], NOTE),
    ]
    assert list(Draft202012Validator(report_schema()).iter_errors(doc)) == []


def test_the_readme_example_config_and_plan_are_the_tool_s() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(r"^### Never back: `monotonic`\n(.*?)(?=^#+ )", readme, flags=re.S | re.M)
    assert match
    (example,) = re.findall(r"```yaml\n(.*?)```", match[1], flags=re.S)
    assert {t.tag: t.monotonic for t in parse(example).targets()} == {"10": True, "1": False}
    (shown,) = re.findall(r"```\n(= .*?\n)```", match[1], flags=re.S)
    rendered = render_text(dry_run(make_plan([held_alias(AMD_1_PICK)]))).splitlines()[:2]
    assert shown.replace("sha256:cba06b5736fa", ARM_3.digest[:19]).splitlines() == rendered
