"""Semantic versions (semver.org 2.0.0) and the ranges floating aliases use. Pure.

Versions are read from tags, so two liberties are taken: a leading `v` is allowed, and a
partial version counts with zeros (`10.21` is 10.21.0, `v3` is 3.0.0). Precedence is the
spec's: numeric identifiers compare as numbers, pre-release identifiers one by one (numbers
below text, a longer list above its prefix), a pre-release below its release, build metadata
ignored.

Ranges, in the syntax npm and Cargo use:

| range            | means                     |
|------------------|---------------------------|
| `1.2.3`, `=1.2.3`| exactly 1.2.3             |
| `1.2`, `1.2.x`   | `>=1.2.0 <1.3.0`          |
| `~1.2.3`         | `>=1.2.3 <1.3.0`          |
| `~1.2`, `~1`     | `>=1.2.0 <1.3.0`, `>=1.0.0 <2.0.0` |
| `^1.2.3`, `^0.2.3`, `^0.0.3` | `<2.0.0`, `<0.3.0`, `<0.0.4` from the version up |
| `>=1.0 <2`       | both (space is "and")     |
| `1.x || >=3`     | either                    |
| `*`              | any version               |

An upper bound excludes the pre-releases of its own version (`<2` does not take `2.0.0-rc.1`),
and a lower bound written as a partial version includes them (`~1.2` takes `1.2.0-rc.1`); both
only matter when pre-releases are asked for at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Range", "Version"]

_NUMBER = r"0|[1-9]\d*"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"^[vV]?(?P<major>{_NUMBER})(?:\.(?P<minor>{_NUMBER}))?(?:\.(?P<patch>{_NUMBER}))?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?$"
)
_WILD = r"x|X|\*"
_PARTIAL = re.compile(
    rf"^[vV]?(?P<major>{_NUMBER}|{_WILD})(?:\.(?P<minor>{_NUMBER}|{_WILD}))?"
    rf"(?:\.(?P<patch>{_NUMBER}|{_WILD}))?"
    rf"(?:-(?P<pre>{_IDENT}(?:\.{_IDENT})*))?(?:\+(?P<build>{_IDENT}(?:\.{_IDENT})*))?$"
)
_COMPARATOR = re.compile(r"^(?P<op><=|>=|<|>|=|~|\^)?(?P<version>.*)$")
_LOWEST_PRERELEASE = ("0",)


@dataclass(frozen=True)
class Version:
    major: int
    minor: int = 0
    patch: int = 0
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version | None:
        """A version, or None when `text` is not one (`latest`, `10.21.1.4`, `01.2`)."""
        match = _VERSION.match(text)
        if match is None:
            return None
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        if any(p.isdigit() and len(p) > 1 and p[0] == "0" for p in pre):
            return None  # numeric identifiers have no leading zeros
        build = tuple(match["build"].split(".")) if match["build"] else ()
        return cls(
            int(match["major"]), int(match["minor"] or 0), int(match["patch"] or 0), pre, build
        )

    @property
    def precedence(self) -> tuple[Any, ...]:
        """A sort key implementing semver precedence (build metadata plays no part)."""
        if not self.prerelease:
            return (self.major, self.minor, self.patch, (1,))
        identifiers = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, (0, identifiers))

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += f"-{'.'.join(self.prerelease)}" if self.prerelease else ""
        return text + (f"+{'.'.join(self.build)}" if self.build else "")


@dataclass(frozen=True)
class _Bound:
    op: str  # ">=", ">", "<", "<="
    version: Version

    def admits(self, version: Version) -> bool:
        a, b = version.precedence, self.version.precedence
        return {">=": a >= b, ">": a > b, "<": a < b, "<=": a <= b}[self.op]


@dataclass(frozen=True)
class Range:
    """A set of versions: any of `alternatives`, each a list of bounds that must all hold."""

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Range:
        """Raise ValueError with the reason when `text` is not a range."""
        alternatives = tuple(_parse_set(part, text) for part in text.split("||"))
        return cls(text, alternatives)

    def contains(self, version: Version, *, prereleases: bool = False) -> bool:
        if version.is_prerelease and not prereleases:
            return False
        return any(all(b.admits(version) for b in bounds) for bounds in self.alternatives)


def _parse_set(part: str, whole: str) -> tuple[_Bound, ...]:
    # `>= 1.2` is `>=1.2`: join an operator to the version after it.
    tokens = re.sub(r"(<=|>=|<|>|=|~|\^)\s+", r"\1", part.strip()).split()
    if not tokens:
        raise ValueError(f"invalid range {whole!r}: empty alternative")
    bounds: list[_Bound] = []
    for token in tokens:
        bounds.extend(_comparator(token, whole))
    return tuple(bounds)


def _comparator(token: str, whole: str) -> list[_Bound]:
    match = _COMPARATOR.match(token)
    assert match is not None  # the pattern matches any string
    op, text = match["op"] or "=", match["version"]
    partial = _PARTIAL.match(text)
    if partial is None:
        raise ValueError(f"invalid range {whole!r}: {token!r} is not a version or comparator")
    parts = [partial[k] for k in ("major", "minor", "patch")]
    numbers = _leading_numbers(parts, token, whole)
    pre = tuple(partial["pre"].split(".")) if partial["pre"] else ()
    if pre and len(numbers) < 3:
        raise ValueError(f"invalid range {whole!r}: a pre-release needs a full version ({token!r})")
    return _desugar(op, numbers, pre)


def _leading_numbers(parts: list[str | None], token: str, whole: str) -> list[int]:
    """The given numbers before the first wildcard or omission; nothing numeric after it."""
    numbers: list[int] = []
    for part in parts:
        if part is None or part in ("x", "X", "*"):
            break
        numbers.append(int(part))
    rest = parts[len(numbers) + 1 :]
    if any(p is not None and p not in ("x", "X", "*") for p in rest):
        raise ValueError(f"invalid range {whole!r}: a number after a wildcard in {token!r}")
    return numbers


def _desugar(op: str, numbers: list[int], pre: tuple[str, ...]) -> list[_Bound]:
    if not numbers:
        return [] if op in ("=", "~", "^", ">=", "<=") else [_Bound("<", Version(0, 0, 0, ("0",)))]
    full = len(numbers) == 3
    low = Version(*_padded(numbers), pre if full else _LOWEST_PRERELEASE)
    if op == "=" and full:
        return [_Bound(">=", low), _Bound("<=", low)]
    if op == ">=":
        return [_Bound(">=", low)]
    if op == "<=":
        return [_Bound("<=", low)] if full else [_Bound("<", _next(numbers, len(numbers) - 1))]
    if op == ">":
        return [_Bound(">", low)] if full else [_Bound(">=", _next(numbers, len(numbers) - 1))]
    if op == "<":
        return [_Bound("<", low if pre else Version(*_padded(numbers), _LOWEST_PRERELEASE))]
    if op == "~":
        return [_Bound(">=", low), _Bound("<", _next(numbers, min(1, len(numbers) - 1)))]
    if op == "^":
        return [_Bound(">=", low), _Bound("<", _next(numbers, _caret_position(numbers)))]
    return [_Bound(">=", low), _Bound("<", _next(numbers, len(numbers) - 1))]  # `=` partial


def _caret_position(numbers: list[int]) -> int:
    """`^` allows changes right of the first non-zero number given (or of the last given)."""
    for i, n in enumerate(numbers):
        if n != 0:
            return i
    return len(numbers) - 1


def _padded(numbers: list[int]) -> tuple[int, int, int]:
    padded = [*numbers, 0, 0, 0][:3]
    return padded[0], padded[1], padded[2]


def _next(numbers: list[int], position: int) -> Version:
    """The lowest version (its lowest pre-release) above every version that keeps
    `numbers[:position + 1]` with the number at `position` as given."""
    bumped = [*numbers[:position], numbers[position] + 1]
    return Version(*_padded(bumped), _LOWEST_PRERELEASE)
