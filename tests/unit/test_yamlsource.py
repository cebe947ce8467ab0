"""The YAML front end: libyaml reads valid documents, the pure-Python parser reports faults.

Both must agree on every valid document (values and line numbers), and a fault found by
libyaml must be reported exactly as the pure-Python parser reports it.
"""

from __future__ import annotations

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
