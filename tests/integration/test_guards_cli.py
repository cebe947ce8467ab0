"""Guards a scheduled run relies on, through the real CLI against a real registry:
--max-changes, --lock-file, --timeout, and SIGTERM in the middle of an apply."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler._cli.lock import run_lock
from tests.support.images import get_manifest, push_image
from tests.support.proxy import Fault, start_proxy
from tests.support.registry import RegistryProcess

from .cli import Reconcile, write_config

pytestmark = pytest.mark.usefixtures("docker_config")
RECONCILE = str(Path(sys.executable).parent / "reconcile")


def seed_aliases(registry: RegistryProcess, repo: str, n: int) -> dict[str, list[str]]:
    push_image(registry.url, repo, "base-amd", platform="linux/amd64")
    aliases = {}
    for i in range(n):
        push_image(registry.url, repo, f"{i}.arm", platform="linux/arm64", seed=str(i))
        aliases[str(i)] = ["base-amd", f"{i}.arm"]
    return aliases


def test_max_changes_refuses_a_larger_plan_and_writes_nothing(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = seed_aliases(registry, repo_name, 3)
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    registry.clear_log()
    refused = run("--max-changes", "2")
    assert refused.code == 1
    assert "creates, updates or deletes 3 aliases, more than --max-changes 2" in refused.err
    assert refused.out == ""  # a text report would read as if the plan had been applied
    assert registry.writes() == []
    assert run("--max-changes", "3").code == 0


def test_a_refused_plan_is_reported_as_such_in_json_and_metrics(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = seed_aliases(registry, repo_name, 3)
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    metrics = tmp_path / "reconcile.prom"
    refused = run("--max-changes", "2", "--output", "json", "--metrics-file", str(metrics))
    assert refused.code == 1
    doc = refused.json
    assert doc["error"]["kind"] == "max_changes"
    assert doc["error"]["message"].startswith(
        "the plan creates, updates or deletes 3 aliases, more than --max-changes 2;"
    )
    assert [(a["alias"], a["action"], a["applied"]) for a in doc["aliases"]] == [
        ("0", "create", False),
        ("1", "create", False),
        ("2", "create", False),
    ]
    assert doc["summary"]["create"] == 3 and doc["dry_run"] is False
    samples = {
        (s.name, s.labels.get("action")): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    assert samples[("reconcile_refused", None)] == 1
    assert samples[("reconcile_last_run_success", None)] == 0
    assert samples[("reconcile_last_run_planned", "create")] == 3
    assert samples[("reconcile_last_run_aliases", "create")] == 0  # nothing was created


def test_a_second_run_exits_while_the_lock_is_held(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = seed_aliases(registry, repo_name, 1)
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    lock = tmp_path / "reconcile.lock"
    registry.clear_log()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time\nfrom reconciler._cli.lock import run_lock\n"
         f"from pathlib import Path\nwith run_lock(Path({str(lock)!r})):\n"
         "    print('held', flush=True)\n    time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        blocked = run("--lock-file", str(lock))
        assert blocked.code == 1 and "another reconcile holds the lock" in blocked.err
        in_json = run("--lock-file", str(lock), "--output", "json")
        assert in_json.code == 1
        assert in_json.json["error"] == {
            "kind": "lock",
            "message": f"another reconcile holds the lock {lock}",
        }
        assert in_json.json["aliases"] == []
        assert registry.requests() == []
    finally:
        holder.kill()
        holder.wait()
    assert run("--lock-file", str(lock)).code == 0
    with run_lock(lock):  # released again
        pass


def test_sigterm_mid_apply_finishes_in_flight_writes_and_reports_the_rest(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = seed_aliases(registry, repo_name, 30)
    slow_puts = start_proxy(
        registry.url, fault=lambda r: Fault.delay(0.3) if r.method == "PUT" else None
    )
    try:
        config = {
            "registries": {slow_puts.host: {"insecure": True}},
            "repositories": {f"{slow_puts.host}/{repo_name}": {"aliases": aliases}},
        }
        path = tmp_path / "m.yaml"
        path.write_text(json.dumps(config))
        process = subprocess.Popen(
            [RECONCILE, "-f", str(path), "--output", "json", "--concurrency", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while slow_puts.counts().writes < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        slow_puts.stop()
    assert process.returncode == 1
    assert "SIGTERM" in err and "Traceback" not in err
    report = json.loads(out)
    assert report["error"] == {
        "kind": "interrupted",
        "message": "stopped by SIGTERM: no read or write started after it",
    }
    applied = [a["alias"] for a in report["aliases"] if a["applied"]]
    stopped = [a for a in report["aliases"] if "stopped before writing" in a["message"]]
    assert applied and stopped and len(applied) + len(stopped) == 30
    for alias in applied:  # what was reported written is really there
        assert get_manifest(registry.url, repo_name, alias)
    rerun = Reconcile(capsys, write_config(tmp_path / "direct.yaml", registry, repo_name, aliases))
    assert rerun().code == 0
    assert rerun().out == "Everything up to date (30 aliases).\n"


def test_timeout_stops_new_work_and_fails_the_run(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    aliases = seed_aliases(registry, repo_name, 8)
    slow = start_proxy(registry.url, latency=0.2)
    try:
        config = {
            "registries": {slow.host: {"insecure": True}},
            "repositories": {f"{slow.host}/{repo_name}": {"aliases": aliases}},
        }
        path = tmp_path / "m.yaml"
        path.write_text(json.dumps(config))
        result = Reconcile(capsys, path)(
            "--timeout", "0.5", "--concurrency", "1", "--output", "json"
        )
    finally:
        slow.stop()
    assert result.code == 1
    assert result.json["error"] == {
        "kind": "timeout",
        "message": "--timeout 0.5s reached: no read or write started after it",
    }
    messages = [a["message"] for a in result.json["aliases"]]
    assert any("stopped before" in m for m in messages)
