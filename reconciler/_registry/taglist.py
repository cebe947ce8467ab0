"""Reading a tag-list page incrementally, keeping only the names in its top-level `tags` array.

Why: GCR and Artifact Registry answer `GET /v2/<name>/tags/list` with a `manifest` map of
per-image data (sizes, media types, times, the tags of each image) beside `tags`, for every
image of the repository in one page: tens of megabytes for a busy repository. `json.loads`
would hold the page and every parsed value at once; this reader holds only the tag names and
the few bytes of a token cut by a chunk boundary, whatever the page size.

It is a small JSON tokenizer over chunks that tracks nesting and strings, checks the grammar
(a malformed page is an error, wherever the fault is), and skips every value other than the
top-level `tags` array without keeping it. Speed: the values nested in a top-level value (the
entries of `manifest`) are each checked and dropped by the json module's C scanner when the
current window holds them whole; only values cut by a window's end go through the tokenizer.
A 50 MiB GCR page takes about two seconds. The result is what
`json.loads(page).get("tags") or []` gives for a well-formed page: `tags` may be missing or
null (no tags); when the key repeats, the last one counts.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable

__all__ = ["MalformedTagList", "TagListReader", "read_tag_list"]

# Longest tag kept, in characters of JSON text: the distribution grammar allows 128 characters
# (ECR 300), and a name written with \u escapes takes six per character.
MAX_TAG_CHARS = 4096
_MAX_TOKEN_CHARS = 4096  # a number or literal longer than this is not from a registry
_WINDOW = 64 << 10  # text scanned at a time: bounds memory whatever the chunks' size

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# The inside of a string: anything but a quote, a backslash or a control character, and
# well-formed escapes. It stops at the closing quote, a cut escape, or an error. Possessive
# (`*+`): a backtracking `*` keeps state per repetition, megabytes for a long string.
_STRING_BODY = re.compile(r'(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+')
_ESCAPE_PREFIX = re.compile(r"\\(?:u[0-9a-fA-F]{0,3})?")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBERISH = re.compile(r"[-+0-9.eE]*")
_LETTERS = re.compile(r"[a-z]*")
_LITERALS = {"true", "false", "null"}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


# Python's json accepts NaN and Infinity; JSON does not.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)

_OBJECT, _ARRAY = "object", "array"
# What may come next.
_VALUE = "a value"
_VALUE_OR_CLOSE = "a value or ']'"
_KEY = "a key"
_KEY_OR_CLOSE = "a key or '}'"
_COLON = "':'"
_COMMA_OR_CLOSE = "',' or a closing bracket"
_END = "the end of the page"


class MalformedTagList(ValueError):
    """The page is not JSON, or its `tags` is not a list of strings."""


def read_tag_list(chunks: Iterable[bytes], max_bytes: int) -> list[str]:
    """The tags of one page read from `chunks`; MalformedTagList when the page is malformed or
    longer than `max_bytes`."""
    reader = TagListReader()
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise MalformedTagList(f"page larger than {max_bytes} bytes")
        reader.feed(chunk)
    return reader.finish()


class TagListReader:
    """Feed a page chunk by chunk (cut anywhere), then `finish()` for its tags."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""  # the start of a token cut by the end of the last window
        self._stack: list[str] = []  # open objects and arrays, outermost first
        self._expect = _VALUE
        self._skipping_string = False  # inside a string whose bytes are not kept
        self._key_is_tags = False  # the last key of the top-level object was "tags"
        self._in_tags = False  # inside the top-level `tags` array
        self._tags: list[str] = []

    def feed(self, chunk: bytes) -> None:
        text = self._decode(chunk, final=False)
        for start in range(0, len(text), _WINDOW):
            self._scan(self._pending + text[start : start + _WINDOW], final=False)

    def finish(self) -> list[str]:
        self._scan(self._pending + self._decode(b"", final=True), final=True)
        if self._expect != _END or self._skipping_string or self._pending:
            raise MalformedTagList("the page ends in the middle of its JSON")
        return self._tags

    def _decode(self, chunk: bytes, *, final: bool) -> str:
        try:
            return self._utf8.decode(chunk, final)
        except UnicodeDecodeError:
            raise MalformedTagList("the page is not UTF-8") from None

    # -- tokens ----------------------------------------------------------------------------

    def _scan(self, buf: str, *, final: bool) -> None:
        """Consume every complete token of `buf`; keep a cut one in `_pending`."""
        self._pending = ""
        pos = 0
        if self._skipping_string:
            pos = self._skip_string_body(buf, pos)
        while pos < len(buf) and not self._skipping_string:
            pos = _WHITESPACE.match(buf, pos).end()  # type: ignore[union-attr]
            if pos == len(buf):
                return
            end = self._token(buf, pos, final)
            if end is None:  # cut by the end of the chunk: wait for the next one
                self._pending = buf[pos:]
                return
            pos = end

    def _token(self, buf: str, pos: int, final: bool) -> int | None:
        """Handle the token at `pos`; its end, or None when it is cut."""
        char = buf[pos]
        if self._skips_nested_value(char):
            end = self._skip_whole_value(buf, pos)
            if end is not None:
                return end
        if char in "{[":
            self._open(_OBJECT if char == "{" else _ARRAY)
        elif char in "}]":
            self._close(_OBJECT if char == "}" else _ARRAY)
        elif char == ":":
            self._require(_COLON)
            self._expect = _VALUE
        elif char == ",":
            self._require(_COMMA_OR_CLOSE)
            self._expect = _KEY if self._stack[-1] == _OBJECT else _VALUE
        elif char == '"':
            return self._string(buf, pos, final)
        else:
            return self._scalar(buf, pos, final)
        return pos + 1

    def _skips_nested_value(self, char: str) -> bool:
        """An object or array inside a top-level value other than `tags` (an entry of
        `manifest`). Only containers: they end with a bracket, where a number cut by the
        window's end would read as a shorter number."""
        starts_value = self._expect in (_VALUE, _VALUE_OR_CLOSE) and char in "{["
        return starts_value and len(self._stack) == 2 and not self._in_tags

    def _skip_whole_value(self, buf: str, pos: int) -> int | None:
        """Check and drop a container the window holds whole, at C speed; None when it does
        not (cut by the window's end, or malformed): the tokenizer then tells which."""
        try:
            _, end = _DECODER.raw_decode(buf, pos)
        except (ValueError, RecursionError):
            return None
        self._value_done()
        return int(end)

    def _string(self, buf: str, pos: int, final: bool) -> int | None:
        if self._expect not in (_KEY, _KEY_OR_CLOSE, _VALUE, _VALUE_OR_CLOSE):
            raise MalformedTagList(f"expected {self._expect}, found a string")
        end = _STRING_BODY.match(buf, pos + 1).end()  # type: ignore[union-attr]
        if end < len(buf) and buf[end] == '"':
            raw = buf[pos : end + 1]
            self._string_done(_string_value(raw) if self._keeps_string(len(raw)) else None)
            return end + 1
        self._check_cut(buf, end, final)
        if self._keeps_string(len(buf) - pos):
            return None  # kept whole in `_pending` until its closing quote arrives
        # Skipped: its bytes are dropped as they come; only a cut escape is carried over.
        self._skipping_string = True
        self._pending = buf[end:]
        return len(buf)

    def _skip_string_body(self, buf: str, pos: int) -> int:
        """Continue a skipped string; the position after its closing quote, or the end."""
        end = _STRING_BODY.match(buf, pos).end()  # type: ignore[union-attr]
        if end < len(buf) and buf[end] == '"':
            self._skipping_string = False
            self._string_done(None)
            return end + 1
        self._check_cut(buf, end, final=False)
        self._pending = buf[end:]
        return len(buf)

    def _check_cut(self, buf: str, end: int, final: bool) -> None:
        """A string stopped before its closing quote at `end`: fine only when the chunk ends
        there, or inside an escape that the next chunk completes."""
        rest = buf[end:]
        cut_escape = _ESCAPE_PREFIX.fullmatch(rest) is not None
        if final or not (rest == "" or cut_escape):
            raise MalformedTagList("a malformed or unterminated string")

    def _keeps_string(self, length: int) -> bool:
        """Keys of the top-level object (to find `tags`) and the tags themselves are kept;
        a longer key cannot be "tags" and is skipped."""
        if self._in_tags:  # strings in the tags array are always values
            if length > MAX_TAG_CHARS:
                raise MalformedTagList(f"a tag longer than {MAX_TAG_CHARS} characters")
            return True
        is_key = self._expect in (_KEY, _KEY_OR_CLOSE)
        return is_key and len(self._stack) == 1 and length <= MAX_TAG_CHARS

    def _scalar(self, buf: str, pos: int, final: bool) -> int | None:
        """A number, true, false or null (checked, then dropped unless it is `tags: null`)."""
        pattern = _LETTERS if buf[pos].isalpha() else _NUMBERISH
        end = pattern.match(buf, pos).end()  # type: ignore[union-attr]
        if end == len(buf) and not final:
            if end - pos > _MAX_TOKEN_CHARS:
                raise MalformedTagList("a number or literal too long")
            return None  # the token may go on in the next chunk
        text = buf[pos:end]
        if text not in _LITERALS and not _NUMBER.fullmatch(text):
            raise MalformedTagList(f"unexpected {text[:20]!r}" if text else "unexpected byte")
        self._value_starts()
        if self._in_tags:
            raise MalformedTagList("a tag that is not a string")
        if self._key_is_tags and len(self._stack) == 1:
            if text != "null":
                raise MalformedTagList("tags is not a list")
            self._tags = []
        self._value_done()
        return end

    # -- structure -------------------------------------------------------------------------

    def _require(self, *allowed: str) -> None:
        if self._expect not in allowed:
            raise MalformedTagList(f"expected {self._expect}")

    def _value_starts(self) -> None:
        self._require(_VALUE, _VALUE_OR_CLOSE)
        if not self._stack:
            raise MalformedTagList("the page is not a JSON object")

    def _open(self, kind: str) -> None:
        if self._stack or kind == _ARRAY:
            self._value_starts()
        else:
            self._require(_VALUE)  # the page itself: an object
        if self._in_tags:
            raise MalformedTagList("a tag that is not a string")
        if self._key_is_tags and len(self._stack) == 1:
            if kind != _ARRAY:
                raise MalformedTagList("tags is not a list")
            self._in_tags = True
            self._tags = []  # a repeated key: the last one counts, as in json.loads
        self._stack.append(kind)
        self._expect = _KEY_OR_CLOSE if kind == _OBJECT else _VALUE_OR_CLOSE

    def _close(self, kind: str) -> None:
        opened = _KEY_OR_CLOSE if kind == _OBJECT else _VALUE_OR_CLOSE
        self._require(opened, _COMMA_OR_CLOSE)
        if not self._stack or self._stack[-1] != kind:
            raise MalformedTagList("mismatched brackets")
        self._stack.pop()
        if len(self._stack) == 1:
            self._in_tags = False
        self._value_done()

    def _string_done(self, text: str | None) -> None:
        if self._expect in (_KEY, _KEY_OR_CLOSE):
            if len(self._stack) == 1:
                self._key_is_tags = text == "tags"
            self._expect = _COLON
            return
        self._value_starts()
        if self._in_tags:
            assert text is not None  # tags are always kept
            self._tags.append(text)
        elif self._key_is_tags and len(self._stack) == 1:
            raise MalformedTagList("tags is not a list")
        self._value_done()

    def _value_done(self) -> None:
        if len(self._stack) == 1:
            self._key_is_tags = False
        self._expect = _COMMA_OR_CLOSE if self._stack else _END


def _string_value(raw: str) -> str:
    """A complete JSON string token (quotes included), escapes resolved."""
    text = json.loads(raw)
    assert isinstance(text, str)
    return text
