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
    """Parse one YAML document; raise `YamlIssue` on syntax errors and duplicate keys."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        located = Located(data=None)
        if node is not None:
            located.data = _build(loader, node, (), located.lines)
        return located
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise YamlIssue(f"YAML syntax error: {exc.problem or exc.context}", line, column) from None
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(loader, node, path, lines)
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    if node.tag in _NUMERIC_TAGS:
        return node.value
    return loader.construct_object(node, deep=True)


def _build_mapping(
    loader: yaml.SafeLoader, node: yaml.MappingNode, path: Path, lines: dict[Path, int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlIssue("mapping keys must be plain values", key_node.start_mark.line + 1)
        key = key_node.value
        if key in out:
            first = lines[(*path, key)]
            raise YamlIssue(
                f"duplicate key {key!r} (first defined on line {first})",
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
        lines[(*path, key)] = key_node.start_mark.line + 1
        out[key] = _build(loader, value_node, (*path, key), lines)
    return out
