"""Build the Go programs the tests and benchmarks run, at pinned versions, into `.tools/`.

    python3 tools/gotools.py            # build what is missing, print the bin directory
    python3 tools/gotools.py --list     # name, module and version of every tool

The product is pure Python; these are test and benchmark tools only: a second registry
implementation (distribution v3) and the peers users pick instead of us (crane, regctl, oras,
manifest-tool), plus cosign for real signatures and a registry with the OCI 1.1 referrers API
(go-containerregistry's, from a small main in `tools/referrers-registry/`). Each is built once
into `.tools/<name>-<version>/` and linked from `.tools/bin/`, so a pin change builds the new
version beside the old one (for a tool built from a main of ours, a change of its source too).
Go's module and build caches are reused between builds.

Without Go 1.22 or newer this prints one line naming what needs it, and exits 0 so a laptop can
still run the rest of the suite (the tests that need a tool skip); under `CI=true` it exits 1,
because in CI nothing may skip. Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS_DIR = ROOT / ".tools"
BIN_DIR = TOOLS_DIR / "bin"
MINIMUM_GO = (1, 22)


@dataclass(frozen=True)
class GoTool:
    """One program: `package` built from `module` at `version`, linked as `.tools/bin/<name>`.
    With `source`, a directory of this repository holding a `main` package: its .go files are
    built as the program (`package` is then "."), against `module` at `version`."""

    name: str
    module: str
    version: str
    package: str
    what: str  # what the suite uses it for, for the README table and the "needs Go" line
    source: Path | None = None

    @property
    def directory(self) -> Path:
        if self.source is None:
            return TOOLS_DIR / f"{self.name}-{self.version}"
        return TOOLS_DIR / f"{self.name}-{self.version}-{self.source_hash}"

    @property
    def source_files(self) -> list[Path]:
        return sorted(self.source.glob("*.go")) if self.source is not None else []

    @property
    def source_hash(self) -> str:
        """The first 12 hex digits of the SHA-256 of the source files (names and bytes): a
        change of the source builds it again, beside the old build."""
        digest = hashlib.sha256()
        for path in self.source_files:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    @property
    def binary(self) -> Path:
        return self.directory / self.name

    @property
    def link(self) -> Path:
        return BIN_DIR / self.name


# Pinned versions. Changing one rebuilds that tool on the next `make test`; keep README's table
# (section "Registries and peers the suite runs against") in step: a unit test compares them.
TOOLS = (
    GoTool(
        "registry3",
        "github.com/distribution/distribution/v3",
        "v3.1.2",
        "github.com/distribution/distribution/v3/cmd/registry",
        "distribution v3, the current reference registry (`registry:3`)",
    ),
    GoTool(
        "crane",
        "github.com/google/go-containerregistry",
        "v0.22.1",
        "github.com/google/go-containerregistry/cmd/crane",
        "crane (go-containerregistry): peer",
    ),
    GoTool(
        "regctl",
        "github.com/regclient/regclient",
        "v0.11.7",
        "github.com/regclient/regclient/cmd/regctl",
        "regctl (regclient): peer",
    ),
    GoTool("oras", "oras.land/oras", "v1.3.6", "oras.land/oras/cmd/oras", "oras: peer"),
    GoTool(
        "manifest-tool",
        "github.com/estesp/manifest-tool/v2",
        "v2.1.9",
        "github.com/estesp/manifest-tool/v2/cmd/manifest-tool",
        "manifest-tool: peer",
    ),
    GoTool(
        "cosign",
        "github.com/sigstore/cosign/v2",
        "v2.6.5",
        "github.com/sigstore/cosign/v2/cmd/cosign",
        "cosign (sigstore): real signatures",
    ),
    GoTool(
        "referrers-registry",
        "github.com/google/go-containerregistry",
        "v0.22.1",
        ".",
        "go-containerregistry's registry with the referrers API (zot's stand-in)",
        source=ROOT / "tools" / "referrers-registry",
    ),
)


class BuildError(Exception):
    """A tool could not be built; the message says which and why."""


def go_version(go: str) -> tuple[int, int] | None:
    """(major, minor) of the `go` command, or None when it cannot tell."""
    try:
        done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.match(r"go(\d+)\.(\d+)", done.stdout.strip())
    return (int(match[1]), int(match[2])) if match else None


def build(tool: GoTool, go: str) -> float:
    """Build `tool` into its directory; returns the seconds it took.

    `go install pkg@version` would be shorter, but it asks the module proxy for the module's
    version list (a deprecation check) and some proxies serve exact versions only; a throwaway
    module that requires the exact version builds the same binary without asking.
    """
    started = time.monotonic()
    tool.directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"gotools-{tool.name}-") as work:
        for path in tool.source_files:  # a main of ours: built as the throwaway module's
            shutil.copyfile(path, Path(work) / path.name)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOWORK": "off"}
        steps = (
            [go, "mod", "init", "reconciler.test/gotools"],
            [go, "get", f"{tool.module}@{tool.version}"],
            [go, "build", "-trimpath", "-o", str(tool.binary), tool.package],
        )
        for step in steps:
            done = subprocess.run(step, cwd=work, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                tail = "\n".join(done.stderr.strip().splitlines()[-5:])
                command = " ".join(step[1:3])
                raise BuildError(f"{tool.name} {tool.version}: `go {command}` failed:\n{tail}")
    return time.monotonic() - started


def link(tool: GoTool) -> None:
    """Point `.tools/bin/<name>` at this version's binary (replacing an older version's link)."""
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    temporary = tool.link.with_name(f".{tool.name}.new")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(Path("..") / tool.binary.relative_to(TOOLS_DIR))
    temporary.replace(tool.link)


def _describe_go(go: str | None, version: tuple[int, int] | None) -> str:
    if go is None:
        return "no `go` on PATH"
    if version is None:
        return f"{go} does not say its version"
    return f"{go} is go{version[0]}.{version[1]}"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def ensure_all(tools: tuple[GoTool, ...] = TOOLS) -> int:
    """Build every missing tool; returns the exit code."""
    missing = [tool for tool in tools if not tool.binary.is_file()]
    if missing:
        go = shutil.which("go")
        version = go_version(go) if go else None
        if go is None or version is None or version < MINIMUM_GO:
            names = ", ".join(tool.name for tool in missing)
            found = _describe_go(go, version)
            print(
                f"gotools: Go {'.'.join(map(str, MINIMUM_GO))} or newer is needed to build {names}"
                f" for the tests and benchmarks; {found}."
                + (" CI=true: failing." if in_ci() else " Tests that need them will skip."),
                file=sys.stderr,
            )
            return 1 if in_ci() else 0
        total = 0.0
        for tool in missing:
            print(f"gotools: building {tool.name} {tool.version} ...", file=sys.stderr, flush=True)
            try:
                seconds = build(tool, go)
            except BuildError as exc:
                print(f"gotools: {exc}", file=sys.stderr)
                return 1
            total += seconds
            print(f"gotools: built {tool.name} {tool.version} in {seconds:.0f} s", file=sys.stderr)
        print(f"gotools: first build of {len(missing)} tool(s) took {total:.0f} s", file=sys.stderr)
    for tool in tools:
        link(tool)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print name, module, version")
    args = parser.parse_args(argv)
    if args.list:
        for tool in TOOLS:
            print(f"{tool.name}\t{tool.module}\t{tool.version}")
        return 0
    return ensure_all()


if __name__ == "__main__":
    sys.exit(main())
