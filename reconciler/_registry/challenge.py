"""`WWW-Authenticate` challenges (RFC 9110 section 11.6.1): parsed one by one, and the one to
answer chosen.

A 401 may offer several challenges, as separate header lines or folded into one value
separated by commas (Harbor and Quay offer Bearer and Basic side by side). Each parameter
belongs to the challenge whose scheme precedes it, so one challenge's `realm` never mixes with
another's; quoted values keep their commas and colons (scopes have both).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Challenge", "choose_challenge", "parse_challenge", "parse_challenges"]

# RFC 9110 section 11: `#challenge`, each `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# One comma-separated list element; a quoted string (commas inside) is kept whole.
_ELEMENT = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*"?)+')
_AUTH_PARAM = re.compile(rf'^({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^\s"]*))$')
_SCHEME = re.compile(rf"^({_TOKEN})(?:\s+(.*))?$", re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lowercase
    params: dict[str, str]


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in these `WWW-Authenticate` values (one per header line), in order.
    A value may hold several challenges separated by commas (`Basic realm="r", Bearer
    realm="..."`); each parameter belongs to the challenge whose scheme precedes it in the same
    value, so one challenge's `realm` never mixes with another's. Quoted values keep their
    commas and colons (scopes have both)."""
    return [challenge for value in values for challenge in _challenges_in(value)]


def _challenges_in(value: str) -> list[Challenge]:
    challenges: list[Challenge] = []
    for element in _ELEMENT.finditer(value):
        text = element.group().strip()
        param = _AUTH_PARAM.match(text)
        if param:
            if challenges:  # a parameter before any scheme has nothing to belong to
                _add_param(challenges[-1], param)
            continue
        scheme = _SCHEME.match(text)
        if scheme:
            challenges.append(Challenge(scheme.group(1).lower(), {}))
            first = _AUTH_PARAM.match((scheme.group(2) or "").strip())
            if first:
                _add_param(challenges[-1], first)
    return challenges


def _add_param(challenge: Challenge, match: re.Match[str]) -> None:
    quoted, bare = match.group(2), match.group(3)
    value = _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else bare or ""
    # A name given twice is malformed (RFC 9110): the first one stands.
    challenge.params.setdefault(match.group(1).lower(), value)


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of one `WWW-Authenticate` value, or None."""
    challenges = parse_challenges([header])
    return challenges[0] if challenges else None


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The challenge to answer: Bearer with a realm before Basic, as docker does. A registry
    offering both (Harbor, Quay) then grants tokens per repository scope, and the password
    goes to the token service only."""
    offered = list(challenges)
    bearer = (c for c in offered if c.scheme == "bearer" and c.params.get("realm"))
    basic = (c for c in offered if c.scheme == "basic")
    return next(bearer, None) or next(basic, None)
