"""`hooks: {after_write: [...]}` against real registries: the hook runs once per index written,
sees the digest the registry then holds under the alias tag, never runs on a dry run or when
nothing changed, and a failing hook makes the alias an error that was written (exit 1)."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BASIC_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")

RECONCILE = str(Path(sys.executable).parent / "reconcile")

# Appends what the hook was given (its arguments and environment) as one JSON line.
RECORD = (
    "import json, os, sys\n"
    "with open(sys.argv[1], 'a') as out:\n"
    "    out.write(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}) + '\\n')\n"
    "print('recorded', os.environ['RECONCILE_ACTION'])\n"
)


def write_config(path: Path, registry: RegistryProcess, repo: str, after_write: list[str]) -> Path:
    doc = {
        "registries": {registry.host: {"insecure": True}},
        "defaults": {"hooks": {"after_write": after_write, "timeout": 30}},
        "repositories": {f"{registry.host}/{repo}": {"aliases": {"10": ["10.10", "10.20"]}}},
    }
    path.write_text(json.dumps(doc, indent=2))  # JSON is YAML, and keeps tags as strings
    return path


def recorder(tmp_path: Path) -> tuple[list[str], Path]:
    """A hook that records each call in a file: its argv, and the file."""
    program = tmp_path / "record.py"
    program.write_text(RECORD)
    calls = tmp_path / "calls.jsonl"
    return [sys.executable, str(program), str(calls)], calls


def calls_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def hook_vars(call: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in call["env"].items() if k.startswith("RECONCILE_")}


def test_a_hook_sees_each_new_index_and_only_writes_run_it(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    argv, calls = recorder(tmp_path)
    reconcile = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, argv))
    name = f"{registry.host}/{repo_name}:10"

    assert reconcile("--dry-run").code == 0
    assert calls_of(calls) == []  # a dry run writes nothing, so runs no hook

    created = reconcile("--output", "json", "-v")
    assert created.code == 0, created.err
    alias = created.json["aliases"][0]
    assert (alias["action"], alias["applied"]) == ("create", True)
    live = get_manifest(registry.url, repo_name, "10")[2]
    assert alias["desired"]["digest"] == live
    [call] = calls_of(calls)
    assert call["argv"] == [str(calls)]
    assert hook_vars(call) == {
        "RECONCILE_ALIAS": name,
        "RECONCILE_DIGEST": live,
        "RECONCILE_ACTION": "create",
    }
    prefix = f"reconcile: {name}: hook after_write ({Path(sys.executable).name}): "
    assert f"{prefix}recorded create" in created.err.splitlines()

    assert reconcile().out == "Everything up to date (1 alias).\n"
    assert len(calls_of(calls)) == 1  # nothing written, no hook

    push_image(registry.url, repo_name, "10.20", platform="linux/arm64", seed="rebuilt")
    updated = reconcile()
    assert updated.code == 0, updated.err
    moved = get_manifest(registry.url, repo_name, "10")[2]
    assert moved != live
    assert [hook_vars(c) for c in calls_of(calls)][1:] == [
        {"RECONCILE_ALIAS": name, "RECONCILE_DIGEST": moved, "RECONCILE_ACTION": "update"}
    ]


def test_a_failing_hook_is_an_error_and_the_index_stays_written(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    notify = tmp_path / "notify"
    notify.write_text("#!/bin/sh\necho chat unreachable >&2\nexit 3\n")
    notify.chmod(0o755)
    reconcile = Reconcile(
        capsys, write_config(tmp_path / "m.yaml", registry, repo_name, [str(notify)])
    )
    name = f"{registry.host}/{repo_name}:10"

    failed = reconcile("--output", "json", "-v")

    assert failed.code == 1
    alias = failed.json["aliases"][0]
    assert (alias["action"], alias["applied"], alias["message"]) == (
        "error",
        True,
        "hook after_write (notify) exited with 3",
    )
    assert failed.json["summary"]["error"] == 1
    assert get_manifest(registry.url, repo_name, "10")[2] == alias["desired"]["digest"]
    assert f"reconcile: {name}: hook after_write (notify): chat unreachable" in failed.err
    # The alias is in sync now: the next run has nothing to write, so no hook to run again.
    again = reconcile()
    assert (again.code, again.out) == (0, "Everything up to date (1 alias).\n")


def test_a_hook_is_given_no_credential(
    tmp_path: Path,
    basic_registry: RegistryProcess,
    repo_name: str,
    docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    [(user, password)] = BASIC_USERS.items()
    auth = (user, password)
    push_image(basic_registry.url, repo_name, "10.10", platform="linux/amd64", auth=auth)
    push_image(basic_registry.url, repo_name, "10.20", platform="linux/arm64", auth=auth)
    docker_login_config(docker_config, basic_registry.host, user, password)
    argv, calls = recorder(tmp_path)
    config = write_config(tmp_path / "m.yaml", basic_registry, repo_name, argv)

    run = Reconcile(capsys, config)("-vv")

    assert run.code == 0, run.err
    [call] = calls_of(calls)
    seen = json.dumps(call)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert (password in seen, basic in seen) == (False, False)


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie nobody reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize(
    ("flags", "signal_after_start", "kind"),
    [
        pytest.param([], True, "interrupted", id="SIGTERM"),
        pytest.param(["--timeout", "3"], False, "timeout", id="--timeout"),
    ],
)
def test_a_stopped_run_leaves_no_hook_running(
    tmp_path: Path,
    registry: RegistryProcess,
    repo_name: str,
    flags: list[str],
    signal_after_start: bool,
    kind: str,
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64")
    listed = tmp_path / "pids"
    notify = tmp_path / "notify"
    notify.write_text(f'#!/bin/sh\nsleep 60 & echo $! > "{listed}"\necho $$ >> "{listed}"\nwait\n')
    notify.chmod(0o755)
    config = write_config(tmp_path / "m.yaml", registry, repo_name, [str(notify)])
    started = time.monotonic()
    with subprocess.Popen(
        [RECONCILE, "-f", str(config), "--output", "json", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as run:
        assert wait_for(
            lambda: len(listed.read_text().split()) == 2 if listed.exists() else False, 30
        )
        if signal_after_start:
            run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)

    assert run.returncode == 1, err
    assert time.monotonic() - started < 10  # not the hook's 30 s timeout, nor its sleep 60
    report = json.loads(out)
    assert report["error"]["kind"] == kind
    alias = report["aliases"][0]
    assert (alias["action"], alias["applied"], alias["message"]) == (
        "error",
        True,
        "hook after_write (notify) was ended: the run was stopped",
    )
    hook_pids = [int(line) for line in listed.read_text().split()]
    assert wait_for(lambda: not any(alive(pid) for pid in hook_pids), 1)
