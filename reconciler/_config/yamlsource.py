"""Safe YAML loading that remembers where every value came from.

PyYAML alone loses two things a config loader needs: the line of each value (so an error can
point at it) and duplicate keys (it silently keeps the last one). This module reads the safe
loader's events and builds plain data from them as they come, one value at a time: PyYAML's own
node tree holds a node and two position marks for every value until the document ends, about
2 KB an alias, several times the data it becomes.

The line of each value is only needed for an error, so it is found then: `Located.lines` reads
the text once more, recording every path's line, the first time it is asked for.

Unquoted numbers stay text: `10.10` is a tag, not the float 10.1. Fields that are numbers are
validated from that text by pydantic, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)

__all__ = ["Located", "YamlIssue", "load"]

Path = tuple[str | int, ...]
_STR = "tag:yaml.org,2002:str"
_NUMERIC_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MAX_NODES = 200_000  # far beyond any real config; stops alias bombs


@dataclass(frozen=True)
class YamlIssue(Exception):
    """A syntax error or duplicate key, with its 1-based line and column."""

    message: str
    line: int
    column: int = 0


@dataclass
class Located:
    """Loaded data, and (`lines`) the line where each path (tuple of keys and indexes)
    starts: found by reading `text` again when first asked for, errors being the only use."""

    data: Any
    text: str = field(default="", repr=False)
    loader_type: type[yaml.SafeLoader] = field(default=yaml.SafeLoader, repr=False)
    _lines: dict[Path, int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def lines(self) -> dict[Path, int]:
        if self._lines is None:
            self._lines = {}
            _read(self.loader_type, self.text, self._lines)
        return self._lines

    def line_of(self, *paths: Path) -> int | None:
        """The line of the deepest known prefix among `paths` (validators add segments that
        are not in the file, so callers may offer several spellings of one location)."""
        lines = self.lines
        best: tuple[int, int | None] = (-1, None)
        for path in paths:
            for end in range(len(path), best[0], -1):
                if path[:end] in lines:
                    best = (end, lines[path[:end]])
                    break
        return best[1]


def load(text: str) -> Located:
    """Parse one YAML document; raise `YamlIssue` on syntax errors, duplicate keys, characters
    YAML forbids, self-referencing aliases and documents that expand beyond reason.

    libyaml's parser (twenty times faster on a config with thousands of aliases) reads the
    document first; whenever it finds fault, the pure-Python parser reads it again, so that
    every error is reported the same way, with the character and position it names."""
    fast: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _load_with(fast, text)
        except (YamlIssue, yaml.YAMLError):
            pass
    return _load_with(yaml.SafeLoader, text)


def _load_with(loader_type: type[yaml.SafeLoader], text: str) -> Located:
    return Located(_read(loader_type, text, None), text, loader_type)


def _read(loader_type: type[yaml.SafeLoader], text: str, lines: dict[Path, int] | None) -> Any:
    """The document's data; with `lines`, every path's line recorded there."""
    try:
        loader = loader_type(text)  # the pure-Python reader checks every character here
    except yaml.reader.ReaderError as exc:
        raise _reader_issue(text, exc) from None
    try:
        return _Builder(loader, lines).document()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise YamlIssue(f"YAML syntax error: {exc.problem or exc.context}", line, column) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_issue(text, exc) from None
    finally:
        loader.dispose()


def _reader_issue(text: str, exc: yaml.reader.ReaderError) -> YamlIssue:
    """A character YAML does not allow (such as \\x07), located in the text."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    return YamlIssue(f"YAML syntax error: character {exc.character!r} is not allowed", line, column)


@dataclass(frozen=True, slots=True)
class _Anchor:
    """What `&name` marked: its value (shared by every `*name`), how many values it expands
    to, its text when it is a scalar (a mapping key is the text), and its line."""

    value: Any
    size: int
    text: str | None
    line: int


class _Events(Protocol):
    """What the builder uses of a safe loader (PyYAML's stubs leave these untyped)."""

    constructed_objects: dict[Any, Any]

    def get_event(self) -> Any: ...
    def peek_event(self) -> Any: ...
    def check_event(self, *choices: type) -> bool: ...
    def resolve(self, kind: type, value: str | None, implicit: Any) -> str: ...
    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any: ...


class _Builder:
    """Builds the data event by event, as PyYAML's composer and the safe constructor would,
    without their node tree. Aliases (`*name`) share the anchored value, but one that refers
    to its own ancestor would never end, and nested aliases can expand exponentially
    ("billion laughs") for whoever walks the data: both stop with an error, counted as if
    every alias were expanded."""

    def __init__(self, loader: yaml.SafeLoader, lines: dict[Path, int] | None) -> None:
        self.loader, self.lines = cast(_Events, loader), lines
        self.budget = _MAX_NODES
        self.anchors: dict[str, _Anchor] = {}
        self.open: dict[str, int] = {}  # anchors of collections being read -> their line

    def document(self) -> Any:
        """The single document of the stream, or None for an empty stream."""
        loader = self.loader
        loader.get_event()  # stream start
        if loader.check_event(StreamEndEvent):
            return None
        loader.get_event()  # document start
        start = loader.peek_event().start_mark
        value, _ = self.value(())
        loader.get_event()  # document end
        if not loader.check_event(StreamEndEvent):
            event = loader.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                start,
                "but found another document",
                event.start_mark,
            )
        return value

    def value(self, path: Path) -> tuple[Any, int]:
        """The next value and how many values it counts for, expanded."""
        loader = self.loader
        event = loader.peek_event()
        line = event.start_mark.line + 1
        if self.lines is not None:
            self.lines.setdefault(path, line)
        if isinstance(event, AliasEvent):
            anchor = self._alias(loader.get_event())
            self._spend(anchor.size, line)
            return anchor.value, anchor.size
        self._spend(1, line)
        name = event.anchor
        if isinstance(event, ScalarEvent):
            loader.get_event()
            value, size = self._scalar(event), 1
            if name is not None:
                self._name(name, _Anchor(value, size, event.value, line))
            return value, size
        if name is not None:
            self._name(name, None, line)
        if isinstance(event, MappingStartEvent):
            self._check_tag(event, yaml.MappingNode, _MAP, line)
            value, size = self._mapping(path)
        else:
            self._check_tag(event, yaml.SequenceNode, _SEQ, line)
            value, size = self._sequence(path)
        if name is not None:
            del self.open[name]
            self.anchors[name] = _Anchor(value, size, None, line)
        return value, size

    def _name(self, name: str, anchor: _Anchor | None, line: int = 0) -> None:
        """Record `&name`: its anchor, or (None) a collection still being read at `line`."""
        first = self.anchors[name].line if name in self.anchors else self.open.get(name)
        if first is not None:
            raise YamlIssue(
                f"found duplicate anchor {name!r} (first on line {first})",
                anchor.line if anchor else line,
            )
        if anchor is None:
            self.open[name] = line
        else:
            self.anchors[name] = anchor

    def _alias(self, event: Any) -> _Anchor:
        name = event.anchor
        if name in self.open:
            raise YamlIssue("a YAML alias refers to itself", self.open[name])
        anchor = self.anchors.get(name)
        if anchor is None:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {name!r}", event.start_mark
            )
        return anchor

    def _spend(self, size: int, line: int) -> None:
        self.budget -= size
        if self.budget < 0:
            raise YamlIssue("document too large (YAML aliases expand too far)", line)

    def _check_tag(self, event: Any, kind: type, plain: str, line: int) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, None, event.implicit)
        if tag != plain:
            # The safe loader would refuse `!!python/...` on a scalar; refuse it here too.
            raise YamlIssue(f"YAML tag {tag!r} is not allowed", line)

    def _scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _STR or tag in _NUMERIC_TAGS:
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.construct_object(node, deep=True)
        finally:
            self.loader.constructed_objects.clear()  # one node at a time: nothing to share

    def _sequence(self, path: Path) -> tuple[list[Any], int]:
        loader = self.loader
        loader.get_event()
        items: list[Any] = []
        size = 1
        while not loader.check_event(SequenceEndEvent):
            item, counted = self.value((*path, len(items)))
            items.append(item)
            size += counted
        loader.get_event()
        return items, size

    def _mapping(self, path: Path) -> tuple[dict[str, Any], int]:
        loader = self.loader
        loader.get_event()
        out: dict[str, Any] = {}
        first_lines: dict[str, int] = {}
        size = 1
        while not loader.check_event(MappingEndEvent):
            key, mark = self._key()
            line = mark.line + 1
            if key in first_lines:
                raise YamlIssue(
                    f"duplicate key {key!r} (first defined on line {first_lines[key]})",
                    line,
                    mark.column + 1,
                )
            first_lines[key] = line
            if self.lines is not None:
                self.lines[(*path, key)] = line
            out[key], counted = self.value((*path, key))
            size += counted
        loader.get_event()
        return out, size

    def _key(self) -> tuple[str, Any]:
        """A mapping key as written (`10` is "10"): a scalar, or an alias of one."""
        event = self.loader.get_event()
        mark: Any = event.start_mark
        if isinstance(event, AliasEvent):
            anchor = self._alias(event)
            if anchor.text is not None:
                return anchor.text, mark
        elif isinstance(event, ScalarEvent):
            if event.anchor is not None:
                self._name(event.anchor, _Anchor(event.value, 1, event.value, mark.line + 1))
            return event.value, mark
        raise YamlIssue("mapping keys must be plain values", mark.line + 1)
