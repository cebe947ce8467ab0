"""The YAML front end: libyaml reads valid documents, the pure-Python parser reports faults.

Both must agree on every valid document (values and line numbers), and a fault found by
libyaml must be reported exactly as the pure-Python parser reports it.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from reconciler._config import yamlsource
from reconciler._config.yamlsource import YamlIssue

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    path
    for path in [ROOT / "manifests.yaml", *(ROOT / "examples").rglob("*.yaml")]
    if "\n---" not in path.read_text()  # single documents, as manifests.yaml is
)


def pure_python_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(yaml, "CSafeLoader")


def test_libyaml_is_there_to_be_used() -> None:
    assert hasattr(yaml, "CSafeLoader"), "PyYAML without libyaml: configs load 20x slower"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_parsers_read_the_same_values_and_lines(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = path.read_text()
    fast = yamlsource.load(text)
    pure_python_only(monkeypatch)
    slow = yamlsource.load(text)
    assert fast.data == slow.data and fast.lines == slow.lines


@pytest.mark.parametrize(
    "text",
    [
        "a: [1, 2\n",
        "a: 1\na: 2\n",
        "a: b: c\n",
        "a: \x07\n",
        "a: &x [*x]\n",
        "key: !!python/object:os.system {}\n",
        "\tindented: tab\n",
    ],
)
def test_faults_are_reported_as_the_pure_python_parser_reports_them(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(YamlIssue) as fast:
        yamlsource.load(text)
    pure_python_only(monkeypatch)
    with pytest.raises(YamlIssue) as slow:
        yamlsource.load(text)
    assert (str(fast.value), fast.value.line, fast.value.column) == (
        str(slow.value),
        slow.value.line,
        slow.value.column,
    )


def test_the_fast_parser_is_used_for_valid_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[str] = []
    real = yamlsource._load_with

    def spy(loader_type: type[yaml.SafeLoader], text: str) -> yamlsource.Located:
        used.append(loader_type.__name__)
        return real(loader_type, text)

    monkeypatch.setattr(yamlsource, "_load_with", spy)
    yamlsource.load("repositories: {}\n")
    assert used == ["CSafeLoader"]
    with pytest.raises(YamlIssue):
        yamlsource.load("a: [\n")
    assert used[1:] == ["CSafeLoader", "SafeLoader"]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: &x [*x]\n", "a YAML alias refers to itself", 1),
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor 'x' (first on line 1)", 2),
        ("a: *nope\n", "YAML syntax error: found undefined alias 'nope'", 1),
        ("a: 1\n---\nb: 2\n", "YAML syntax error: but found another document", 2),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first defined on line 1)", 3),
        ("? [a]\n: 1\n", "mapping keys must be plain values", 1),
        ("a: !!set {x}\n", "YAML tag 'tag:yaml.org,2002:set' is not allowed", 1),
        (BOMB, "document too large (YAML aliases expand too far)", 6),
    ],
    ids=[
        "self-alias",
        "anchor-twice",
        "undefined-alias",
        "two-documents",
        "duplicate-key",
        "collection-key",
        "set",
        "alias-bomb",
    ],
)
def test_each_fault_is_named_with_its_line(text: str, message: str, line: int) -> None:
    with pytest.raises(YamlIssue) as issue:
        yamlsource.load(text)
    assert (issue.value.message, issue.value.line) == (message, line)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [p, q]\nb: *x\n",
        "base: &k key\nmap: {*k : v}\n",
        "a: yes\nb: ~\nc: 2024-01-02\nd: !!binary aGk=\ne: 'quoted'\n",
        "",
        "# only a comment\n",
        "---\n",
    ],
    ids=["alias-value", "alias-key", "implicit-types", "empty", "comment", "empty-document"],
)
def test_values_are_what_the_safe_loader_reads(text: str) -> None:
    assert yamlsource.load(text).data == yaml.safe_load(text)


def test_numbers_stay_text_as_written() -> None:
    assert yamlsource.load("tag: 10.10\nport: 0x1F\n").data == {"tag": "10.10", "port": "0x1F"}


def test_lines_are_read_only_when_an_error_asks_for_them() -> None:
    text = "repositories:\n  r/app:\n    aliases:\n      '10':\n        - 10.10\n        - 10.20\n"
    located = yamlsource.load(text)
    assert located._lines is None
    assert located.line_of(("repositories", "r/app", "aliases", "10", 1)) == 6
    assert located.line_of(("repositories", "r/app", "aliases", "10", "sources", 0)) == 4
    assert located.line_of(("repositories", "r/app", "prune")) == 2


def test_reading_holds_less_on_the_way_than_the_data_it_becomes() -> None:
    """PyYAML's node tree (a node and two marks per value, about 2 KB an alias) is never
    built: what reading allocates beyond the data it returns stays below that data's size."""
    aliases = "".join(f'      "v{i}": ["v{i}-amd64", "v{i}-arm64"]\n' for i in range(2000))
    text = "repositories:\n  r/app:\n    aliases:\n" + aliases
    tracemalloc.start()
    try:
        located = yamlsource.load(text)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(located.data["repositories"]["r/app"]["aliases"]) == 2000
    assert peak - held < held, (peak, held)
