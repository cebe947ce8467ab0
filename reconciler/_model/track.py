"""Floating aliases: which tags a `track:` pattern matches, newest first, and which tag each
platform takes. Pure: tags and index entries in, choices out.

Two schemes:

- `glob` (the default): `fnmatch` on the whole tag (`10.*`, `1.2.?`), newest by a version-aware
  key: the tag split into runs of digits and of other characters, digits compared as numbers,
  so `10.9 < 10.10 < 10.21 < 10.21.1`. A tag with a pre-release word (`rc`, `alpha`, `beta`,
  `pre`, `preview`, `dev`, `snapshot`, `nightly`) is a pre-release, older than the same tag
  without it (`10.21-rc1 < 10.21`).
- `semver`: the ranges of `model/semver.py` (`~10`, `^1.2.3`, `>=1.0 <2`, `1.x`, ...) over tags that
  are versions (`v` prefix and partial versions allowed); other tags are ignored. Newest by
  semver precedence.

Pre-releases are left out unless `prereleases` is set. Ties (`1.2` and `1.2.0`) go to the tag
that sorts last as text, so the choice never depends on the order a registry lists tags in.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import platforms
from .oci import Descriptor
from .semver import Range, Version

__all__ = [
    "MAX_CANDIDATES",
    "Hold",
    "Pick",
    "Track",
    "TrackScheme",
    "candidates",
    "check",
    "describe",
    "describe_hold",
    "glob_key",
    "hold_back",
    "is_glob_prerelease",
    "pick",
]

TrackScheme = Literal["glob", "semver"]


@dataclass(frozen=True)
class Track:
    """A floating alias: per platform, the newest tag matching `pattern`."""

    pattern: str
    scheme: TrackScheme = "glob"
    prereleases: bool = False


# Tags read per run, newest first. Platforms only known from tags older than this many
# matching tags are not considered: a repository with thousands of `10.*` tags costs at most
# this many HEADs per run (and, on a cold cache, GETs).
MAX_CANDIDATES = 50

_RUNS = re.compile(r"\d+|\D+")
_WORDS = re.compile(r"[a-z]+")
_PRERELEASE_WORDS = frozenset(
    {"alpha", "beta", "rc", "pre", "preview", "dev", "snapshot", "nightly"}
)
_GLOB_CHARS = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]+$")
_RANGE_CHARS = frozenset("~^<>=| ")


def check(track: Track) -> None:
    """Raise ValueError when the pattern cannot be used (for the config loader)."""
    if track.scheme == "semver":
        Range.parse(track.pattern)
    elif not _GLOB_CHARS.match(track.pattern):
        hint = (
            "; for a version range add `scheme: semver`"
            if _RANGE_CHARS & set(track.pattern)
            else ""
        )
        raise ValueError(
            f"invalid track pattern {track.pattern!r}: a glob has tag characters and the"
            f" wildcards * ? [...] only{hint}"
        )


def candidates(track: Track, tags: Iterable[str], *, exclude: str = "") -> list[str]:
    """The tags `track` may pick from, newest first; `exclude` (the alias's own tag) never."""
    if track.scheme == "semver":
        wanted = Range.parse(track.pattern)
        versions = {t: Version.parse(t) for t in set(tags) if t != exclude}
        ok = {
            t: v
            for t, v in versions.items()
            if v is not None and wanted.contains(v, prereleases=track.prereleases)
        }
        return sorted(ok, key=lambda t: (ok[t].precedence, t), reverse=True)
    matching = {
        t
        for t in tags
        if t != exclude
        and fnmatch.fnmatchcase(t, track.pattern)
        and (track.prereleases or not is_glob_prerelease(t))
    }
    return sorted(matching, key=lambda t: (glob_key(t), t), reverse=True)


def glob_key(tag: str) -> tuple[Any, ...]:
    """Version-aware order for any tag: runs of digits compare as numbers and sort after text
    at the same position; where one tag ends and the other goes on, the longer one is newer
    unless what follows is a pre-release word (`10.21 < 10.21.1`, `10.21-rc1 < 10.21`)."""
    parts: list[tuple[int, int, str]] = []
    for run in _RUNS.findall(tag):
        if run.isdigit():
            parts.append((3, int(run), ""))
        elif _starts_prerelease(run):
            parts.append((0, 0, run))
        else:
            parts.append((2, 0, run))
    parts.append((1, 0, ""))  # the end of the tag: between a pre-release and anything else
    return tuple(parts)


def is_glob_prerelease(tag: str) -> bool:
    """Whether a tag names a pre-release: it has a word like `rc`, `beta` or `alpha`."""
    return any(w in _PRERELEASE_WORDS for w in _WORDS.findall(tag.lower()))


def _starts_prerelease(run: str) -> bool:
    words = _WORDS.findall(run.lower())
    return bool(words) and words[0] in _PRERELEASE_WORDS


@dataclass(frozen=True)
class Pick:
    """One tag and the index entries it gives the alias: the images of the platforms for
    which it is the newest matching tag, each followed by its attestations."""

    tag: str
    entries: tuple[Descriptor, ...]
    platforms: tuple[str, ...]  # normalised, as `linux/arm64`: what picks are keyed by
    shown: tuple[str, ...] = ()  # the same, as the entries declare them (`linux/arm64/v8`)


def pick(newest_first: Sequence[tuple[str, Sequence[Descriptor]]]) -> list[Pick]:
    """Per normalised platform, the first (newest) tag that provides it. Attestation entries
    never decide anything; they follow the image they describe. Entries without a usable
    platform (`unknown/unknown`) are skipped. Picks are ordered by platform, so the index
    keeps its order while tags move."""
    taken: set[str] = set()
    picks: list[Pick] = []
    for tag, entries in newest_first:
        won = [e for e in entries if _runnable_platform(e) and _platform(e) not in taken]
        if not won:
            continue
        digests = {e.digest for e in won}
        attached = [
            e for e in entries if e.attestation_of is not None and e.attestation_of in digests
        ]
        names = tuple(sorted({_platform(e) for e in won}))
        taken.update(names)
        shown = tuple(str(e.platform) for e in sorted(won, key=_platform))
        picks.append(Pick(tag, (*won, *attached), names, shown))
    return sorted(picks, key=lambda p: p.platforms)


def describe(track: Track, platform_names: Sequence[str]) -> str:
    """Why a tag was picked, for the plan: `newest of 10.* for linux/arm64/v8` (platforms as
    the images declare them)."""
    return f"newest of {_pattern_text(track)} for {', '.join(platform_names)}"


def _pattern_text(track: Track) -> str:
    """`10.*`, `~10 (semver)`, `~10 (semver, pre-releases included)`."""
    how = "" if track.scheme == "glob" else f" ({track.scheme})"
    if track.prereleases:
        how = f" ({track.scheme}, pre-releases included)"
    return f"{track.pattern}{how}"


@dataclass(frozen=True)
class Hold:
    """A platform a monotonic floating alias keeps at the image its live index holds, because
    no matching tag holds that image any more: its version is unknown, so any move could be a
    step back."""

    platform: str  # normalised, as picks are keyed
    shown: str  # as the live index declares it (`linux/arm64/v8`)
    entries: tuple[Descriptor, ...]  # the live image, then its attestations in the live index
    newest: str | None  # the tag the platform would have moved to; None: no tag provides it


def hold_back(
    newest_first: Sequence[tuple[str, Sequence[Descriptor]]], live: Sequence[Descriptor]
) -> tuple[list[Pick], list[Hold]]:
    """`pick` for a monotonic alias whose live index holds `live`: a platform never moves to
    an older version than the one it holds, that of the newest matching tag still holding the
    live image for it. `pick` takes the newest tag providing the platform, which is never older
    than that tag; so the only platforms held back are those whose live image no tag holds
    any more (its tag was deleted, or pushed again with another image), and they keep it."""
    picks = pick(newest_first)
    provided = {
        (_platform(e), e.digest)
        for _, entries in newest_first
        for e in entries
        if _runnable_platform(e)
    }
    newest = {name: p.tag for p in picks for name in p.platforms}
    holds: list[Hold] = []
    for child in _first_per_platform(live):
        name = _platform(child)
        if (name, child.digest) in provided:
            continue
        attached = tuple(e for e in live if e.attestation_of == child.digest)
        holds.append(Hold(name, str(child.platform), (child, *attached), newest.get(name)))
    if not holds:
        return picks, []
    held = {h.platform for h in holds}
    kept = [p for p in (_without(p, held) for p in picks) if p is not None]
    return kept, holds


def _first_per_platform(entries: Sequence[Descriptor]) -> list[Descriptor]:
    """The live index's runnable entries, the first of each platform (a hand-made index may
    list one twice; the alias can hold only one)."""
    seen: set[str] = set()
    first: list[Descriptor] = []
    for entry in entries:
        if _runnable_platform(entry) and _platform(entry) not in seen:
            seen.add(_platform(entry))
            first.append(entry)
    return first


def _without(chosen: Pick, held: set[str]) -> Pick | None:
    """`chosen` without the images (and their attestations) of the platforms in `held`."""
    if not held & set(chosen.platforms):
        return chosen
    images = [e for e in chosen.entries if e.attestation_of is None and _platform(e) not in held]
    if not images:
        return None
    digests = {e.digest for e in images}
    attached = [e for e in chosen.entries if e.attestation_of in digests]
    names = tuple(sorted({_platform(e) for e in images}))
    shown = tuple(str(e.platform) for e in sorted(images, key=_platform))
    return Pick(chosen.tag, (*images, *attached), names, shown)


def describe_hold(track: Track, hold: Hold) -> str:
    """Why a platform was held back, for the plan (the entry's note)."""
    why = f"held back (monotonic): no tag of {_pattern_text(track)} holds the live image any more"
    if hold.newest is None:
        return f"{why}, and none provides {hold.shown}"
    return f"{why}; the newest for {hold.shown} is {hold.newest}"


def _runnable_platform(entry: Descriptor) -> bool:
    if entry.attestation_of is not None or entry.platform is None:
        return False
    return not platforms.is_unknown(platforms.normalize(entry.platform))


def _platform(entry: Descriptor) -> str:
    assert entry.platform is not None
    return str(platforms.normalize(entry.platform))
