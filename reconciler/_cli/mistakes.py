"""Usage errors said as the user made them: the option argparse did not know, not what it
tripped over next, and the option that was probably meant.

`reconcile -c manifests.yaml` is one unknown option to the user; argparse, which sets unknown
options aside and reads on, reports `invalid choice: 'manifests.yaml'` for the COMMAND it then
expects. Imported by the parser only when it fails.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence

__all__ = ["first_unknown_option", "hint_for"]

# How other tools spell "the config file"; difflib finds none of them close to --file.
_ELSEWHERE = {"-c": "-f", "--config": "--file", "--config-file": "--file", "--conf": "--file"}


def first_unknown_option(argv: Sequence[str], known: Mapping[str, bool], before: str) -> str | None:
    """The first option in `argv`, ahead of the argument `before`, that the parser does not
    know by its name or a long option's unique prefix (argparse takes those). `known` maps
    each option to whether it takes a value (so `-f a.yaml` does not end the search when
    `before` is "a.yaml")."""
    takes_value = False
    for token in argv:
        if takes_value:
            takes_value = False
        elif token in (before, "--"):
            return None
        elif _looks_like_option(token):
            name = _known_as(token.split("=", 1)[0], known)
            if name is None:
                return token
            takes_value = known[name] and "=" not in token
    return None


def hint_for(option: str, known: Collection[str]) -> str:
    """Said after the option: ", did you mean --dry-run?" for one close to a known option; ""
    when none is, or when `option` is known itself (to the main command: `apply --force` is
    in the wrong place, not misspelt)."""
    name = option.split("=", 1)[0]
    if name in known:
        return ""
    if name in _ELSEWHERE and _ELSEWHERE[name] in known:
        return f" (the config file is {_ELSEWHERE[name]} FILE)"
    longs = [flag for flag in known if flag.startswith("--")]
    close = difflib.get_close_matches(name, longs, n=1, cutoff=0.75)
    return f", did you mean {close[0]}?" if close else ""


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and token != "-" and not token[1:2].isdigit()


def _known_as(name: str, known: Collection[str]) -> str | None:
    if name in known:
        return name
    matches = [flag for flag in known if name.startswith("--") and flag.startswith(name)]
    return matches[0] if len(matches) == 1 else None
