"""JSON text exactly as `json.dumps(value, indent=2)` writes it, without its slow path. Pure.

With `indent`, the standard library (3.11) leaves its C encoder for one written in Python with
nested generators, which costs about 90 µs for a two-platform index and most of a second for
a 10,000-alias report. The writer below gives the same bytes (the index bytes are hashed into
digests, so they may never change) and appends to one list, leaving each string to the C
escapers the standard library uses itself. `tests/unit/test_jsontext.py` holds it to
`json.dumps`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Protocol

__all__ = ["INDENT", "Escape", "Out", "dumps", "escaper", "write"]

INDENT = "  "
Escape = Callable[[str], str]  # a str as a quoted JSON string


class Out(Protocol):
    """Where the text goes, piece by piece: a list to join, or a stream's writer."""

    def append(self, text: str, /) -> object: ...


def escaper(ensure_ascii: bool) -> Escape:
    """`json.dumps`'s string encoder: non-ASCII as `\\uXXXX` escapes, or as it is."""
    return encode_basestring_ascii if ensure_ascii else encode_basestring


def dumps(value: Any, *, ensure_ascii: bool = True) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=ensure_ascii)`, byte for byte (other options
    are not offered). Raises TypeError for what json.dumps cannot encode either."""
    out: list[str] = []
    write(value, out, "", escaper(ensure_ascii))
    return "".join(out)


def write(value: Any, out: Out, pad: str, escape: Escape) -> None:
    """Append `value` as JSON text to `out`: its lines after the first indented by `pad`, then
    by INDENT per level, as `json.dumps(indent=2)` writes a value nested `len(pad) // 2` deep."""
    kind = type(value)
    if kind is str:
        out.append(escape(value))
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is dict:
        _write_object(value, out, pad, escape)
    elif kind is list or kind is tuple:
        _write_array(value, out, pad, escape)
    else:
        _write_other(value, out, pad, escape)


def _write_object(value: dict[Any, Any], out: Out, pad: str, escape: Escape) -> None:
    if not value:
        out.append("{}")
        return
    inner = pad + INDENT
    separator, comma = "{\n" + inner, ",\n" + inner
    for key, item in value.items():
        name = escape(key if type(key) is str else _key(key))
        kind = type(item)
        if kind is str:  # most values: one piece instead of two, and no call
            out.append(f"{separator}{name}: {escape(item)}")
        elif kind is int:
            out.append(f"{separator}{name}: {int.__repr__(item)}")
        else:
            out.append(f"{separator}{name}: ")
            write(item, out, inner, escape)
        separator = comma
    out.append("\n" + pad + "}")


def _write_array(value: list[Any] | tuple[Any, ...], out: Out, pad: str, escape: Escape) -> None:
    if not value:
        out.append("[]")
        return
    inner = pad + INDENT
    separator, comma = "[\n" + inner, ",\n" + inner
    for item in value:
        out.append(separator)
        write(item, out, inner, escape)
        separator = comma
    out.append("\n" + pad + "]")


def _write_other(value: Any, out: Out, pad: str, escape: Escape) -> None:
    """Scalars and subclasses, in the order of the standard library's checks."""
    if isinstance(value, str):
        out.append(escape(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(json.dumps(value))  # its spelling of floats, NaN and Infinity included
    elif isinstance(value, list | tuple):
        _write_array(value, out, pad, escape)
    elif isinstance(value, dict):
        _write_object(value, out, pad, escape)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    """An object key that is not a str, converted as json.dumps converts it."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return json.dumps(key)
    if key is True or key is False or key is None:
        return json.dumps(key)
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
