"""Terminal facts the CLI decides on once: is a stream a terminal, and may output be coloured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TextIO

__all__ = ["ColorChoice", "is_terminal", "wants_color"]

ColorChoice = Literal["auto", "always", "never"]


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def wants_color(choice: ColorChoice, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """`always`/`never` as asked; `auto`: a terminal, NO_COLOR unset or empty (no-color.org),
    and not a dumb terminal. An explicit choice wins over NO_COLOR, as the convention says."""
    if choice != "auto":
        return choice == "always"
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)
