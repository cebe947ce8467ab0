"""Safe YAML loading that remembers where every value came from.

PyYAML alone loses two things a config loader needs: the line of each value (so an error can
point at it) and duplicate keys (it silently keeps the last one). This module composes the node
tree with the safe loader, walks it once, and returns plain data plus a path -> line map.

Unquoted numbers stay text: `10.10` is a tag, not the float 10.1. Fields that are numbers are
validated from that text by pydantic, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["Located", "YamlIssue", "load"]

Path = tuple[str | int, ...]
_NUMERIC_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_PLAIN = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_MAX_NODES = 200_000  # far beyond any real config; stops alias bombs


@dataclass(frozen=True)
class YamlIssue(Exception):
    """A syntax error or duplicate key, with its 1-based line and column."""

    message: str
    line: int
    column: int = 0


@dataclass
class Located:
    """Loaded data and the line where each path (tuple of keys and indexes) starts."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, *paths: Path) -> int | None:
        """The line of the deepest known prefix among `paths` (validators add segments that
        are not in the file, so callers may offer several spellings of one location)."""
        best: tuple[int, int | None] = (-1, None)
        for path in paths:
            for end in range(len(path), best[0], -1):
                if path[:end] in self.lines:
                    best = (end, self.lines[path[:end]])
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
    try:
        loader = loader_type(text)  # the pure-Python reader checks every character here
    except yaml.reader.ReaderError as exc:
        raise _reader_issue(text, exc) from None
    try:
        node = loader.get_single_node()
        located = Located(data=None)
        if node is not None:
            located.data = _Builder(loader, located.lines).build(node, ())
        return located
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


class _Builder:
    """Walks the node tree once. Aliases (`*name`) are followed, but one that refers to its
    own ancestor would never end, and nested aliases can expand exponentially ("billion
    laughs"): both stop with an error instead of a RecursionError or exhausted memory."""

    def __init__(self, loader: yaml.SafeLoader, lines: dict[Path, int]) -> None:
        self.loader, self.lines = loader, lines
        self.budget = _MAX_NODES

    def build(self, node: yaml.Node, path: Path, ancestors: frozenset[int] = frozenset()) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        self.budget -= 1
        if self.budget < 0:
            raise YamlIssue(
                "document too large (YAML aliases expand too far)", path_line(self, path)
            )
        if id(node) in ancestors:
            raise YamlIssue("a YAML alias refers to itself", node.start_mark.line + 1)
        inner = ancestors | {id(node)}
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN:
            # The safe loader would refuse `!!python/...` on a scalar; refuse it here too.
            raise YamlIssue(f"YAML tag {node.tag!r} is not allowed", node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, inner)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), inner) for i, item in enumerate(node.value)]
        if node.tag in _NUMERIC_TAGS:
            return node.value
        return self.loader.construct_object(node, deep=True)

    def _mapping(
        self, node: yaml.MappingNode, path: Path, ancestors: frozenset[int]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlIssue("mapping keys must be plain values", key_node.start_mark.line + 1)
            key = key_node.value
            if key in out:
                first = self.lines[(*path, key)]
                raise YamlIssue(
                    f"duplicate key {key!r} (first defined on line {first})",
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*path, key), ancestors)
        return out


def path_line(builder: _Builder, path: Path) -> int:
    return builder.lines.get(path, 0)
