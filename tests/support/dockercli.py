"""The `docker` CLI as a reference implementation of "make a manifest list of these images".

Only `docker manifest` is used: it talks to registries directly and needs no engine.
Findings for Docker CLI 28 against a plain-HTTP registry on 127.0.0.1:PORT:

* `--insecure` is required on `manifest create` and `manifest inspect`; without it the CLI
  fetches over HTTPS and reports a misleading "no such manifest: ...". `manifest push`
  happened to work without it, but we always pass it.
* Credentials come from `$DOCKER_CONFIG/config.json` ``auths`` (no `docker login` needed);
  missing ones fail with ``no basic auth credentials``. Token auth works the same way.
* `manifest create` keeps the list under `$DOCKER_CONFIG/manifests/`; `push --purge` removes
  it. Sources must be single-platform manifests ("... is a manifest list" otherwise).
* The pushed list is a Docker manifest list, or an OCI index when every source is OCI; it
  is pretty-printed (3-space indent). Entries are ordered by the sorted file names of the
  sources under `$DOCKER_CONFIG/manifests/` (i.e. alphabetically by reference), not by the
  order on the command line. A missing source fails with "no such manifest: REF".
* `manifest push` prints one ``Pushed ref REF@DIGEST with digest: DIGEST`` line per source
  that had to be copied from another repository, then the list digest alone on the last line.
* Before CLI 23.0 (docker/cli#3990) `docker manifest` cannot read OCI image manifests or OCI
  indexes: it does not accept them and reports "no such manifest: REF". Debian bookworm's
  `docker.io`, which `make test` installs, is CLI 20.10: see `reads_oci()`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.tools import requires_tool

DOCKER_BINARY = "docker"
_DIGEST_LINE = re.compile(r"^sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"version (\d+)\.(\d+)")
OCI_SINCE = (23, 0)  # the first CLI whose `docker manifest` reads OCI content
# Variables that could point the CLI at a daemon, a context or a proxy outside the test.
_SCRUBBED_ENV = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


# Marks a test that uses the CLI: skipped without it, failed under CI=true (tests/support/tools.py).
needs_docker = requires_tool(DOCKER_BINARY)


class DockerCLIError(RuntimeError):
    """A docker command failed; the message has the command, exit code and output."""


def docker_available() -> bool:
    """Whether a `docker` executable is on PATH (no engine is needed)."""
    return shutil.which(DOCKER_BINARY) is not None


def docker_version() -> tuple[int, int]:
    """(major, minor) of the CLI, from `docker --version` (which needs no engine)."""
    done = subprocess.run(
        [DOCKER_BINARY, "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    match = _VERSION.search(done.stdout)
    if match is None:
        raise DockerCLIError(f"unrecognised `docker --version` output: {done.stdout!r}")
    return int(match[1]), int(match[2])


def reads_oci() -> bool:
    """Whether this CLI's `docker manifest` reads OCI image manifests and indexes."""
    return docker_version() >= OCI_SINCE


def docker_env(config_dir: Path) -> dict[str, str]:
    """Environment for the CLI: our config dir, no daemon/context/proxy settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _SCRUBBED_ENV and "proxy" not in key.lower()
    }
    env["DOCKER_CONFIG"] = str(config_dir)
    env["DOCKER_CLI_HINTS"] = "false"
    return env


def run_docker(
    args: Sequence[str], *, config_dir: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS...` with `config_dir` as DOCKER_CONFIG; raise on a non-zero exit."""
    config_dir.mkdir(parents=True, exist_ok=True)
    command = [DOCKER_BINARY, *args]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=docker_env(config_dir),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise DockerCLIError(
            f"{' '.join(command)} exited {done.returncode}\n"
            f"stdout: {done.stdout.strip()}\nstderr: {done.stderr.strip()}"
        )
    return done


def docker_manifest_create_push(
    alias_ref: str, source_refs: Sequence[str], *, config_dir: Path
) -> str:
    """Create a manifest list ALIAS of SOURCES with the CLI, push it, return its digest."""
    run_docker(["manifest", "create", "--insecure", alias_ref, *source_refs], config_dir=config_dir)
    pushed = run_docker(
        ["manifest", "push", "--insecure", "--purge", alias_ref], config_dir=config_dir
    )
    return parse_push_digest(pushed.stdout)


def parse_push_digest(stdout: str) -> str:
    """The manifest list digest from `docker manifest push` output (its last line)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines or not _DIGEST_LINE.match(lines[-1]):
        raise DockerCLIError(f"no digest at the end of docker manifest push output: {stdout!r}")
    return lines[-1]


def docker_manifest_inspect(ref: str, config_dir: Path, *, verbose: bool = False) -> Any:
    """`docker manifest inspect --insecure [-v] REF` parsed from JSON.

    Plain mode gives the manifest (or list) itself; verbose mode gives the CLI's
    ``{"Ref", "Descriptor", "Raw", ...}`` entry or a list of them for a manifest list.
    """
    args = ["manifest", "inspect", "--insecure", *(["-v"] if verbose else []), ref]
    return json.loads(run_docker(args, config_dir=config_dir).stdout)


def docker_login_config(config_dir: Path, host: str, user: str, password: str) -> Path:
    """Add credentials for `host` to `config_dir/config.json`, like `docker login` would."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "config.json"
    config: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    config.setdefault("auths", {})[host] = {"auth": token}
    path.write_text(json.dumps(config, indent=2))
    return path
