"""tools/gotools.py: the Go test tools are built once per pinned version, linked from
.tools/bin, and a machine without a usable Go gets one line (and a failure under CI=true)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tools import gotools
from tools.gotools import GoTool

ROOT = Path(__file__).resolve().parents[2]
TOOL = GoTool("peer", "example.test/peer", "v1.2.3", "example.test/peer/cmd/peer", "a peer")


@pytest.fixture
def tools_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(gotools, "TOOLS_DIR", tmp_path / ".tools")
    monkeypatch.setattr(gotools, "BIN_DIR", tmp_path / ".tools" / "bin")
    return tmp_path / ".tools"


def fake_go(directory: Path, version: str) -> Path:
    """A `go` that reports `version`, logs its arguments and 'builds' by writing the -o file."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "go"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {directory}/calls\n'
        f'if [ "$1" = env ]; then echo {version}; exit 0; fi\n'
        f'if [ "$1" = build ]; then /bin/ls >> {directory}/calls; echo binary > "$4"; fi\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_readme_table_names_every_tool_at_its_pinned_version() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {
        match[1]: match[2]
        for match in re.finditer(r"^\| `([^`]+)` \| ([^|]+?) \|", readme, re.MULTILINE)
    }
    for tool in gotools.TOOLS:
        assert tool.name in rows, f"README's table lacks {tool.name}"
        assert rows[tool.name].endswith(tool.version), (tool.name, rows[tool.name])


def test_a_missing_tool_is_built_at_its_version_and_linked(
    tools_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    go = fake_go(tmp_path / "gobin", "go1.26.8")
    monkeypatch.setenv("PATH", str(go.parent))
    assert gotools.ensure_all((TOOL,)) == 0
    calls = (go.parent / "calls").read_text().splitlines()
    binary = tools_dir / "peer-v1.2.3" / "peer"
    assert calls[1:] == [
        "mod init reconciler.test/gotools",
        "get example.test/peer@v1.2.3",
        f"build -trimpath -o {binary} example.test/peer/cmd/peer",
    ]
    assert (tools_dir / "bin" / "peer").resolve() == binary
    assert "built peer v1.2.3 in" in capsys.readouterr().err


def test_a_tool_of_ours_is_built_from_its_source_and_again_when_the_source_changes(
    tools_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src" / "stand-in"
    source.mkdir(parents=True)
    (source / "main.go").write_text("package main\n")
    tool = GoTool("stand-in", "example.test/lib", "v0.1.0", ".", "a stand-in", source=source)
    go = fake_go(tmp_path / "gobin", "go1.26.8")
    monkeypatch.setenv("PATH", str(go.parent))
    assert gotools.ensure_all((tool,)) == 0
    first = tool.binary
    calls = (go.parent / "calls").read_text().splitlines()
    assert calls[1:] == [
        "mod init reconciler.test/gotools",
        "get example.test/lib@v0.1.0",
        f"build -trimpath -o {first} .",
        "main.go",  # the source was in the module built
    ]
    assert first.parent.name == f"stand-in-v0.1.0-{tool.source_hash}"
    (source / "main.go").write_text("package main\n\nfunc main() {}\n")
    assert gotools.ensure_all((tool,)) == 0
    assert tool.binary != first and tool.binary.is_file()
    assert (tools_dir / "bin" / "stand-in").resolve() == tool.binary


def test_the_referrers_registry_is_built_from_tools_referrers_registry() -> None:
    [tool] = [t for t in gotools.TOOLS if t.name == "referrers-registry"]
    assert tool.source == ROOT / "tools" / "referrers-registry"
    assert [p.name for p in tool.source_files] == ["main.go"]
    assert (tool.module, tool.version) == ("github.com/google/go-containerregistry", "v0.22.1")


def test_a_built_tool_is_not_built_again_and_needs_no_go(
    tools_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tools_dir / "peer-v1.2.3" / "peer"
    binary.parent.mkdir(parents=True)
    binary.write_text("built before")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert gotools.ensure_all((TOOL,)) == 0
    assert (tools_dir / "bin" / "peer").resolve() == binary


@pytest.mark.parametrize(
    ("ci", "go_version", "code", "found"),
    [
        ("", None, 0, "no `go` on PATH. Tests that need them will skip."),
        ("true", None, 1, "no `go` on PATH. CI=true: failing."),
        ("", "go1.21.13", 0, "/go is go1.21. Tests that need them will skip."),
        ("true", "go1.21.13", 1, "/go is go1.21. CI=true: failing."),
    ],
)
def test_without_go_1_22_one_line_names_what_needs_it(
    tools_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ci: str,
    go_version: str | None,
    code: int,
    found: str,
) -> None:
    path = tmp_path / "gobin"
    path.mkdir()
    if go_version is not None:
        fake_go(path, go_version)
    monkeypatch.setenv("PATH", str(path))
    monkeypatch.setenv("CI", ci)
    assert gotools.ensure_all((TOOL,)) == code
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gotools: Go 1.22 or newer is needed to build peer for the tests")
    assert found in lines[0]
    assert not (tools_dir / "peer-v1.2.3" / "peer").exists()
