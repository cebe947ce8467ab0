"""Floating aliases, the pure part: which tags match, newest first, and which tag each
platform takes."""

from __future__ import annotations

import random
import re

import pytest
from jsonschema import Draft202012Validator

from reconciler._config.models import parse
from reconciler._config.schema import config_schema
from reconciler._errors import ConfigError
from reconciler._model.oci import OCI_MANIFEST, Descriptor
from reconciler._model.track import Pick, Track, candidates, check, describe, glob_key, pick

from .factories import attestation, image

GLOB_ORDER = [
    "10.0",
    "10.1",
    "10.9",
    "10.10",
    "10.20-rc1",
    "10.20",
    "10.20.1",
    "10.21",
]


def test_glob_order_is_version_aware() -> None:
    shuffled = GLOB_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=glob_key) == GLOB_ORDER


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("10.9", "10.10"),
        ("10.10", "10.21"),
        ("10.21", "10.21.1"),
        ("10.21-rc1", "10.21"),
        ("10.21.0-rc.1", "10.21.0"),
        ("10.21-beta.2", "10.21-rc.1"),
        ("1.0rc1", "1.0"),
        ("9", "10"),
        ("10-alpine", "10.1-alpine"),
    ],
)
def test_glob_pairs(lower: str, higher: str) -> None:
    assert glob_key(lower) < glob_key(higher)


# (pattern, scheme, prereleases, listed tags, expected candidates newest first)
CANDIDATES = [
    ("10.*", "glob", False, ["10.10", "10.20", "9.1", "10", "latest"], ["10.20", "10.10"]),
    ("10.*", "glob", False, ["10.9", "10.10", "10.21", "10.3"], ["10.21", "10.10", "10.9", "10.3"]),
    ("10.*", "glob", False, ["10.21-rc1", "10.20"], ["10.20"]),
    ("10.*", "glob", True, ["10.21-rc1", "10.20"], ["10.21-rc1", "10.20"]),
    (
        "10.*-alpine",
        "glob",
        False,
        ["10.1-alpine", "10.2", "10.2-alpine"],
        ["10.2-alpine", "10.1-alpine"],
    ),
    ("1.?", "glob", False, ["1.1", "1.10", "1.2"], ["1.2", "1.1"]),
    ("10.*", "glob", False, ["10.01", "10.1"], ["10.1", "10.01"]),  # a tie: text order decides
    (
        "~10",
        "semver",
        False,
        ["10.10", "10.20", "latest", "10.21-rc.1", "11.0", "v10.3"],
        ["10.20", "10.10", "v10.3"],
    ),
    (
        "~10",
        "semver",
        True,
        ["10.10", "10.20", "10.21-rc.1", "11.0.0-rc.1"],
        ["10.21-rc.1", "10.20", "10.10"],
    ),
    (
        "^1.2",
        "semver",
        False,
        ["1.1.9", "1.2.0", "1.10.0", "2.0.0", "1.9.9"],
        ["1.10.0", "1.9.9", "1.2.0"],
    ),
    (">=1.0 <2", "semver", False, ["0.9", "1.0", "1.5.1", "2.0", "stable"], ["1.5.1", "1.0"]),
    ("1.x", "semver", False, ["1.0.0", "1.0", "v1.0.0"], ["v1.0.0", "1.0.0", "1.0"]),
    ("~10", "semver", False, ["10-alpine", "10.1-alpine", "10.1"], ["10.1"]),
]


@pytest.mark.parametrize(("pattern", "scheme", "pre", "tags", "expected"), CANDIDATES)
def test_candidates(
    pattern: str, scheme: str, pre: bool, tags: list[str], expected: list[str]
) -> None:
    track = Track(pattern, scheme, pre)  # type: ignore[arg-type]
    assert candidates(track, tags) == expected
    assert candidates(track, list(reversed(tags))) == expected  # listing order never matters


@pytest.mark.parametrize(("pattern", "scheme"), [("*", "glob"), ("*", "semver")])
def test_the_alias_s_own_tag_is_never_a_candidate(pattern: str, scheme: str) -> None:
    track = Track(pattern, scheme)  # type: ignore[arg-type]
    assert candidates(track, ["10", "10.1", "10.2"], exclude="10") == ["10.2", "10.1"]


@pytest.mark.parametrize(
    ("track", "message"),
    [
        (Track("~10"), "for a version range add `scheme: semver`"),
        (Track("10 .*"), "a glob has tag characters"),
        (Track("~1 - 2", "semver"), "invalid range"),
    ],
)
def test_unusable_patterns_are_refused(track: Track, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(track)


AMD_10 = image("linux/amd64", "10.10")
ARM_20 = image("linux/arm64", "10.20")
ARM_21 = image("linux/aarch64", "10.21")  # spelled differently: the same platform
AMD_22 = image("linux/amd64", "10.22-amd", OCI_MANIFEST)
ARM_22 = image("linux/arm64/v8", "10.22-arm", OCI_MANIFEST)
PROOF_AMD_22, PROOF_ARM_22 = attestation(AMD_22), attestation(ARM_22)


def test_each_platform_takes_the_newest_tag_that_has_it() -> None:
    picks = pick([("10.20", [ARM_20]), ("10.10", [AMD_10])])
    assert picks == [
        Pick("10.10", (AMD_10,), ("linux/amd64",), ("linux/amd64",)),
        Pick("10.20", (ARM_20,), ("linux/arm64",), ("linux/arm64",)),
    ]


def test_a_newer_tag_moves_only_its_platform() -> None:
    picks = pick([("10.21", [ARM_21]), ("10.20", [ARM_20]), ("10.10", [AMD_10])])
    assert [(p.tag, p.platforms) for p in picks] == [
        ("10.10", ("linux/amd64",)),
        ("10.21", ("linux/arm64",)),
    ]


def test_an_index_tag_gives_several_platforms_with_their_attestations() -> None:
    index = [AMD_22, ARM_22, PROOF_AMD_22, PROOF_ARM_22]
    picks = pick([("10.22", index), ("10.21", [ARM_21]), ("10.10", [AMD_10])])
    keys, shown = ("linux/amd64", "linux/arm64"), ("linux/amd64", "linux/arm64/v8")
    assert picks == [Pick("10.22", tuple(index), keys, shown)]


def test_an_index_tag_gives_only_the_platforms_it_wins() -> None:
    index = [AMD_22, ARM_22, PROOF_AMD_22, PROOF_ARM_22]
    picks = pick([("10.23", [ARM_21]), ("10.22", index)])
    assert picks == [
        Pick("10.22", (AMD_22, PROOF_AMD_22), ("linux/amd64",), ("linux/amd64",)),
        Pick("10.23", (ARM_21,), ("linux/arm64",), ("linux/aarch64",)),
    ]


def test_entries_without_a_runnable_platform_decide_nothing() -> None:
    unknown = image("unknown/unknown", "mystery")
    assert pick([("10.30", [unknown]), ("10.10", [AMD_10])]) == [
        Pick("10.10", (AMD_10,), ("linux/amd64",), ("linux/amd64",))
    ]
    assert pick([]) == []


def test_an_orphan_attestation_is_left_out() -> None:
    picks = pick([("10.22", [ARM_22, PROOF_AMD_22, PROOF_ARM_22]), ("10.10", [AMD_10])])
    assert picks[1] == Pick("10.22", (ARM_22, PROOF_ARM_22), ("linux/arm64",), ("linux/arm64/v8",))


def test_no_descriptor_is_shared_between_picks() -> None:
    picks = pick([("10.22", [AMD_22, ARM_22]), ("10.21", [AMD_22])])
    digests = [e.digest for p in picks for e in p.entries]
    assert len(digests) == len(set(digests)) == 2


@pytest.mark.parametrize(
    ("track", "note"),
    [
        (Track("10.*"), "newest of 10.* for linux/arm64"),
        (Track("~10", "semver"), "newest of ~10 (semver) for linux/arm64"),
        (
            Track("~10", "semver", True),
            "newest of ~10 (semver, pre-releases included) for linux/arm64",
        ),
    ],
)
def test_the_reason_names_pattern_and_platforms(track: Track, note: str) -> None:
    assert describe(track, ["linux/arm64"]) == note


def test_descriptor_platforms_are_normalised_before_choosing() -> None:
    arm_v8 = Descriptor(OCI_MANIFEST, AMD_22.digest, 1, ARM_22.platform)
    assert pick([("a", [arm_v8]), ("b", [ARM_21])])[0].platforms == ("linux/arm64",)


REPO_HEAD = "repositories:\n  localhost:5000/my-image:\n    aliases:\n"


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ('"10": {track: "~10"}', "aliases.10.track: invalid track pattern '~10'"),
        ('"10": {track: "~1 - 2", scheme: semver}', "aliases.10.track: invalid range"),
        ('"10": {sources: [a], scheme: semver}', "aliases.10.scheme: `scheme` only applies"),
        ('"10": {sources: [a], prereleases: true}', "aliases.10.prereleases: `prereleases` only"),
        ('"10": {track: "10.*", sources: [a]}', "needs either `sources` or `track`"),
    ],
)
def test_the_config_refuses_unusable_tracks_with_file_and_line(alias: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse(REPO_HEAD + f"      {alias}\n", "m.yaml")
    assert str(caught.value).startswith("m.yaml:4: ")


def test_a_tracked_alias_fits_the_published_schema() -> None:
    doc = {
        "repositories": {
            "localhost:5000/x": {
                "aliases": {"10": {"track": "~10", "scheme": "semver", "prereleases": True}}
            }
        }
    }
    assert list(Draft202012Validator(config_schema()).iter_errors(doc)) == []
