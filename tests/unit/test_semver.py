"""Semantic versions from tags and the ranges floating aliases use: tables of cases."""

from __future__ import annotations

import pytest

from reconciler._model.semver import Range, Version

PARSED = {
    "1.2.3": Version(1, 2, 3),
    "v1.2.3": Version(1, 2, 3),
    "10.21": Version(10, 21, 0),
    "10": Version(10, 0, 0),
    "V2": Version(2, 0, 0),
    "1.0.0-rc.1": Version(1, 0, 0, ("rc", "1")),
    "1.0.0-alpha-beta.x-1": Version(1, 0, 0, ("alpha-beta", "x-1")),
    "10.21-rc1": Version(10, 21, 0, ("rc1",)),
    "1.0.0+build.5": Version(1, 0, 0, (), ("build", "5")),
    "0.0.0": Version(0, 0, 0),
}
NOT_VERSIONS = [
    "latest",
    "stable",
    "1.2.3.4",
    "01.2.3",
    "1.02",
    "1.2.3-01",  # numeric pre-release identifiers have no leading zeros
    "1.2.3-",
    "1.2.3-rc..1",
    "v",
    "1.x",
    "sha-abc123",
    "10.21-alpine_3",
    "",
]


@pytest.mark.parametrize(("text", "version"), PARSED.items(), ids=PARSED.keys())
def test_versions_are_read_from_tags(text: str, version: Version) -> None:
    assert Version.parse(text) == version


@pytest.mark.parametrize("text", NOT_VERSIONS)
def test_other_tags_are_not_versions(text: str) -> None:
    assert Version.parse(text) is None


# semver.org, item 11: every version here has lower precedence than the next.
SEMVER_ORG_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.9.0",
    "1.10.0",
    "1.11.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


def _key(text: str) -> object:
    version = Version.parse(text)
    assert version is not None, text
    return version.precedence


@pytest.mark.parametrize("i", range(len(SEMVER_ORG_ORDER) - 1))
def test_precedence_follows_semver_org(i: int) -> None:
    lower, higher = SEMVER_ORG_ORDER[i], SEMVER_ORG_ORDER[i + 1]
    assert _key(lower) < _key(higher)  # type: ignore[operator]


def test_sorting_a_shuffled_list_gives_semver_order() -> None:
    shuffled = sorted(SEMVER_ORG_ORDER, key=lambda t: t[::-1])
    assert sorted(shuffled, key=_key) == SEMVER_ORG_ORDER  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0.0+build.1", "1.0.0+build.2"),  # build metadata plays no part
        ("v1.2.3", "1.2.3"),
        ("10.21", "10.21.0"),
        ("1.0.0-rc.1", "v1.0.0-rc.1"),
    ],
)
def test_equal_precedence(a: str, b: str) -> None:
    assert _key(a) == _key(b)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-2", "1.0.0-10"),  # numeric identifiers compare as numbers
        ("1.0.0-10", "1.0.0-a"),  # numbers below text
        ("1.0.0-Z", "1.0.0-a"),  # text in ASCII order
        ("1.0.0-rc.1", "1.0.0-rc.1.0"),  # a longer list above its prefix
        ("10.9", "10.10"),
        ("10.10", "10.21"),
        ("10.21", "10.21.1"),
    ],
)
def test_precedence_pairs(lower: str, higher: str) -> None:
    assert _key(lower) < _key(higher)  # type: ignore[operator]


# (range, version, matches without pre-releases, matches with pre-releases)
RANGES = [
    ("~10", "10.0.0", True, True),
    ("~10", "10.21", True, True),
    ("~10", "11.0.0", False, False),
    ("~10", "9.99.99", False, False),
    ("~10", "10.22.0-rc.1", False, True),
    ("~10", "11.0.0-rc.1", False, False),  # an upper bound excludes its own pre-releases
    ("~10", "10.0.0-rc.1", False, True),  # a partial lower bound includes them
    ("~1.2", "1.2.0", True, True),
    ("~1.2", "1.2.9", True, True),
    ("~1.2", "1.3.0", False, False),
    ("~1.2.3", "1.2.2", False, False),
    ("~1.2.3", "1.2.3", True, True),
    ("~1.2.3", "1.2.99", True, True),
    ("~1.2.3", "1.3.0", False, False),
    ("~1.2.3", "1.2.3-rc.1", False, False),  # a full lower bound is exact
    ("^1.2.3", "1.2.3", True, True),
    ("^1.2.3", "1.99.0", True, True),
    ("^1.2.3", "2.0.0", False, False),
    ("^1.2.3", "1.2.2", False, False),
    ("^1.2.3", "2.0.0-rc.1", False, False),
    ("^0.2.3", "0.2.9", True, True),
    ("^0.2.3", "0.3.0", False, False),
    ("^0.0.3", "0.0.3", True, True),
    ("^0.0.3", "0.0.4", False, False),
    ("^1.2", "1.9.0", True, True),
    ("^1.2", "1.1.0", False, False),
    ("^0", "0.9.9", True, True),
    ("^0", "1.0.0", False, False),
    (">=1.0 <2", "1.0.0", True, True),
    (">=1.0 <2", "1.99.99", True, True),
    (">=1.0 <2", "2.0.0", False, False),
    (">=1.0 <2", "0.9.0", False, False),
    (">=1.0 <2", "2.0.0-rc.1", False, False),
    (">= 1.0  < 2", "1.5.0", True, True),
    (">1.2", "1.2.9", False, False),  # `>1.2` is above all of 1.2.x
    (">1.2", "1.3.0", True, True),
    (">1.2.3", "1.2.4", True, True),
    (">1.2.3", "1.2.3", False, False),
    ("<=1.2", "1.2.9", True, True),
    ("<=1.2", "1.3.0", False, False),
    ("<=1.2.3", "1.2.3", True, True),
    ("<1.2.3", "1.2.3-rc.1", False, False),
    ("<1.2.3-rc.2", "1.2.3-rc.1", False, True),
    ("1.x", "1.0.0", True, True),
    ("1.x", "1.99.1", True, True),
    ("1.x", "2.0.0", False, False),
    ("1.2.x", "1.2.7", True, True),
    ("1.2.*", "1.3.0", False, False),
    ("1", "1.5.0", True, True),
    ("1.2", "1.2.5", True, True),
    ("1.2", "1.3.0", False, False),
    ("1.2.3", "1.2.3", True, True),
    ("=1.2.3", "1.2.3", True, True),
    ("v1.2.3", "1.2.3", True, True),
    ("1.2.3", "1.2.4", False, False),
    ("1.2.3-rc.1", "1.2.3-rc.1", False, True),
    ("*", "0.0.1", True, True),
    ("*", "7.0.0-beta", False, True),
    ("1.x || >=3", "2.0.0", False, False),
    ("1.x || >=3", "3.1.0", True, True),
    ("1.x || >=3", "1.4.0", True, True),
]


@pytest.mark.parametrize(("text", "version", "plain", "with_pre"), RANGES)
def test_ranges(text: str, version: str, plain: bool, with_pre: bool) -> None:
    parsed = Version.parse(version)
    assert parsed is not None
    wanted = Range.parse(text)
    assert wanted.contains(parsed) is plain
    assert wanted.contains(parsed, prereleases=True) is with_pre


@pytest.mark.parametrize(
    "text",
    ["", "latest", "~", "1.2 - 2.3", "~>1.2", ">=1.0 ||", "1.x.3", "1.2-rc", ">=a", "1.2.3.4"],
)
def test_invalid_ranges_say_why(text: str) -> None:
    with pytest.raises(ValueError, match="invalid range"):
        Range.parse(text)
