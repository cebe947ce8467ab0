"""`require_platforms`: an alias whose desired index would lack a required platform is a
conflict naming the missing ones (as the file spells them), whatever the live tag holds and
whether or not `--force` is given; platforms match by meaning (`arm64` is `arm64/v8`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler._config.models import AliasTarget, Source, parse
from reconciler._model.oci import Descriptor
from reconciler._pipeline.observed import LiveTag, ObservedAlias, ResolvedSource
from reconciler._pipeline.plan import Action, plan_alias

from .factories import ABSENT, REPO, attestation, image, live_index, observed, parse_dict

AMD = image("linux/amd64", "amd")
ARM = image("linux/arm64", "arm")
ARM_V8 = image("linux/arm64/v8", "arm")
ARM_V7 = image("linux/arm/v7", "armv7")
ARM_V6 = image("linux/arm/v6", "armv6")
FOREIGN = LiveTag("image", AMD)


def required(*platform_texts: str, sources: int = 2) -> AliasTarget:
    """An alias of `sources` listed sources (10.1, 10.2, ...) requiring these platforms."""
    alias = {
        "sources": [f"10.{n}" for n in range(1, sources + 1)],
        "require_platforms": list(platform_texts),
    }
    return parse_dict({"repositories": {REPO: {"aliases": {"10": alias}}}}).targets()[0]


@dataclass(frozen=True)
class Case:
    required: tuple[str, ...]
    sources: tuple[tuple[Descriptor, ...], ...]
    live: LiveTag
    force: bool
    action: Action
    message: str = ""


CONFLICTS = {
    "a missing platform is a conflict": Case(
        ("linux/amd64", "linux/arm64"),
        ((AMD,),),
        ABSENT,
        False,
        Action.CONFLICT,
        "the index would lack the required platform linux/arm64 (require_platforms:"
        " linux/amd64, linux/arm64; it would hold linux/amd64); nothing is written",
    ),
    "--force does not override it": Case(
        ("linux/arm64",),
        ((AMD,),),
        FOREIGN,
        True,
        Action.CONFLICT,
        "the index would lack the required platform linux/arm64 (require_platforms:"
        " linux/arm64; it would hold linux/amd64); nothing is written",
    ),
    "an alias already in sync that lacks one is a conflict too": Case(
        ("linux/arm64",),
        ((AMD,),),
        live_index(AMD),
        False,
        Action.CONFLICT,
        "the index would lack the required platform linux/arm64 (require_platforms:"
        " linux/arm64; it would hold linux/amd64); nothing is written",
    ),
    "several missing ones are named as the file spells them": Case(
        ("linux/aarch64", "linux/armhf", "linux/amd64"),
        ((AMD,),),
        live_index(AMD, ARM),
        False,
        Action.CONFLICT,
        "the index would lack the required platforms linux/aarch64, linux/armhf"
        " (require_platforms: linux/aarch64, linux/armhf, linux/amd64; it would hold"
        " linux/amd64); nothing is written",
    ),
    "a variant is a different platform for 32-bit arm": Case(
        ("linux/arm/v7",),
        ((ARM_V6,),),
        ABSENT,
        False,
        Action.CONFLICT,
        "the index would lack the required platform linux/arm/v7 (require_platforms:"
        " linux/arm/v7; it would hold linux/arm/v6); nothing is written",
    ),
    "an attestation does not provide the platform it describes": Case(
        ("linux/arm64",),
        ((AMD, attestation(AMD)),),
        ABSENT,
        False,
        Action.CONFLICT,
        "the index would lack the required platform linux/arm64 (require_platforms:"
        " linux/arm64; it would hold linux/amd64); nothing is written",
    ),
}

SATISFIED = {
    "every required platform present": Case(
        ("linux/amd64", "linux/arm64"), ((AMD,), (ARM,)), ABSENT, False, Action.CREATE
    ),
    "arm64 is satisfied by arm64/v8": Case(
        ("linux/arm64",), ((AMD,), (ARM_V8,)), ABSENT, False, Action.CREATE
    ),
    "arm64/v8 is satisfied by arm64": Case(
        ("linux/arm64/v8",), ((AMD,), (ARM,)), live_index(AMD, ARM), False, Action.NOOP
    ),
    "aarch64 is satisfied by arm64": Case(
        ("linux/aarch64",), ((AMD,), (ARM,)), ABSENT, False, Action.CREATE
    ),
    "bare arm is arm/v7": Case(("linux/arm",), ((AMD,), (ARM_V7,)), ABSENT, False, Action.CREATE),
    "nothing required": Case((), ((AMD,),), ABSENT, False, Action.CREATE),
    "a foreign image still needs --force": Case(
        ("linux/amd64",),
        ((AMD,), (ARM,)),
        FOREIGN,
        False,
        Action.CONFLICT,
        f"tag holds a single image, not an index ({AMD.media_type} {AMD.digest});"
        " use --force to replace it",
    ),
    "and is replaced with it": Case(
        ("linux/amd64",),
        ((AMD,), (ARM,)),
        FOREIGN,
        True,
        Action.UPDATE,
        f"replacing {AMD.media_type} {AMD.digest}",
    ),
}


@pytest.mark.parametrize(
    "case", [*CONFLICTS.values(), *SATISFIED.values()], ids=[*CONFLICTS, *SATISFIED]
)
def test_required_platforms_decide_the_action(case: Case) -> None:
    target = required(*case.required, sources=len(case.sources))
    plan = plan_alias(observed(target, case.live, *case.sources), force=case.force)
    assert (plan.action, plan.message) == (case.action, case.message)


@pytest.mark.parametrize("force", [False, True], ids=["plain", "--force"])
def test_a_required_platform_conflict_writes_nothing_and_keeps_what_it_saw(force: bool) -> None:
    live = live_index(AMD, ARM)
    plan = plan_alias(observed(required("linux/arm64", sources=1), live, (AMD,)), force=force)
    assert plan.action is Action.CONFLICT
    assert not plan.writes
    # What it saw of the tag: its kind and digest (the entries were compared, and let go).
    assert (plan.changes, plan.copies, plan.live) == ((), (), LiveTag("index", live.descriptor))
    assert plan.desired is not None
    assert [e.descriptor.digest for e in plan.desired.entries] == [AMD.digest]


# -- the README says what the code does ---------------------------------------------------------

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, flags=re.S | re.M)
    assert match, title
    return match[1]


def test_the_readme_example_config_and_message_are_the_tool_s() -> None:
    section = readme_section("Required platforms")
    (example,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    targets = {t.tag: t.require_platforms for t in parse(example).targets()}
    assert targets == {
        "10": ("linux/amd64", "linux/arm64"),
        "edge": ("linux/amd64", "linux/arm64", "linux/arm/v7"),
    }
    (shown,) = re.findall(r"```\n(! .*?)\n```", section, flags=re.S)
    target = parse(example).targets()[0]
    plan = plan_alias(observed_track(target, (AMD,)))
    assert shown == f"! {target.name} conflict: {plan.message}"


def observed_track(target: AliasTarget, entries: tuple[Descriptor, ...]) -> ObservedAlias:
    picked = ResolvedSource(Source(tag="10.10"), entries[0], entries)
    return ObservedAlias(target, ABSENT, (picked,))
