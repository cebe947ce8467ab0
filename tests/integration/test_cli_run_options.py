"""The main command's new options against a real registry: --only, --shard, --output markdown,
--metrics-file, --log-format json, --color; and `validate`, which never sends a request."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile, Run

pytestmark = pytest.mark.usefixtures("docker_config")

REPOSITORIES = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]


def write_multi_config(path: Path, registry: RegistryProcess, base: str) -> Path:
    """Six repositories, each with the image `1` (linux/amd64) and the aliases `a` and `b`."""
    doc = {
        "registries": {registry.host: {"insecure": True}},
        "repositories": {
            f"{registry.host}/{base}/{name}": {"aliases": {"a": ["1"], "b": ["1"]}}
            for name in REPOSITORIES
        },
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


@pytest.fixture
def multi(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> Reconcile:
    for name in REPOSITORIES:
        push_image(registry.url, f"{repo_name}/{name}", "1", seed=name)
    return Reconcile(capsys, write_multi_config(tmp_path / "manifests.yaml", registry, repo_name))


def targets(run: Run) -> list[str]:
    assert run.code in (0, 2), run.err
    return [alias["target"] for alias in run.json["aliases"]]


def repositories_touched(registry: RegistryProcess, base: str) -> set[str]:
    prefix = f"/v2/{base}/"
    return {
        r.path[len(prefix) :].split("/")[0]
        for r in registry.requests()
        if r.path.startswith(prefix)
    }


def test_only_limits_the_run_and_its_requests(
    multi: Reconcile, registry: RegistryProcess, repo_name: str
) -> None:
    registry.clear_log()
    run = multi("--dry-run", "--output", "json", "--only", f"*/{repo_name}/beta")
    assert targets(run) == [
        f"{registry.host}/{repo_name}/beta:a",
        f"{registry.host}/{repo_name}/beta:b",
    ]
    assert repositories_touched(registry, repo_name) == {"beta"}

    one = multi("--output", "json", "--only", f"*/{repo_name}/gamma:b", "--only", "*/delta:a")
    assert targets(one) == [
        f"{registry.host}/{repo_name}/gamma:b",
        f"{registry.host}/{repo_name}/delta:a",
    ]
    assert one.code == 0 and all(a["applied"] for a in one.json["aliases"])
    left = multi("--dry-run", "--output", "json")
    actions = {a["target"].rsplit("/", 1)[1]: a["action"] for a in left.json["aliases"]}
    assert actions["gamma:b"] == actions["delta:a"] == "noop"
    assert actions["gamma:a"] == "create"


def test_only_matching_nothing_fails_before_any_request(
    multi: Reconcile, registry: RegistryProcess
) -> None:
    registry.clear_log()
    run = multi("--dry-run", "--only", "*/omega")
    assert run.code == 1 and run.out == ""
    assert run.err == "reconcile: error: --only '*/omega' matches no alias in the file\n"
    assert registry.requests() == []


def test_shards_partition_the_config_and_never_share_a_repository(
    multi: Reconcile, registry: RegistryProcess, repo_name: str
) -> None:
    every = targets(multi("--dry-run", "--output", "json"))
    assert len(every) == 12
    seen: list[str] = []
    touched: list[set[str]] = []
    for index in range(3):
        registry.clear_log()
        run = multi("--shard", f"{index}/3", "--output", "json")
        seen += targets(run)
        touched.append(repositories_touched(registry, repo_name))
        assert {t.rsplit("/", 1)[1].split(":")[0] for t in targets(run)} == touched[-1]
    assert sorted(seen) == sorted(every)  # every alias in exactly one shard
    assert sum(len(t) for t in touched) == len(set().union(*touched)) == 6
    after = multi("--dry-run", "--output", "json")
    assert {a["action"] for a in after.json["aliases"]} == {"noop"}


def metrics(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            key = sample.labels.get("action")
            if key:
                values.setdefault(sample.name, {})[key] = sample.value
            else:
                values[sample.name] = sample.value
    return values


def test_metrics_file_after_each_kind_of_run(
    multi: Reconcile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "textfile" / "reconcile.prom"
    path.parent.mkdir()
    assert multi("--metrics-file", str(path), "--only", "*/alpha").code == 0
    first = metrics(path)
    assert first["reconcile_last_run_success"] == 1
    assert first["reconcile_last_run_errors"] == 0
    assert first["reconcile_last_run_aliases"] == {
        "create": 2, "update": 0, "noop": 0, "conflict": 0, "error": 0, "delete": 0,
    }  # fmt: skip
    assert first["reconcile_last_run_duration_seconds"] > 0
    assert first["reconcile_last_run_timestamp_seconds"] > 1.7e9

    assert multi("--metrics-file", str(path), "--dry-run").code == 0
    assert metrics(path)["reconcile_last_run_aliases"]["noop"] == 2
    assert metrics(path)["reconcile_last_run_dry_run"] == 1

    broken = tmp_path / "broken.yaml"
    broken.write_text("repositories: {x: {aliasses: {}}}\n")
    failed = Reconcile(capsys, broken)("--metrics-file", str(path))
    assert failed.code == 1 and "did you mean 'aliases'" in failed.err
    assert metrics(path)["reconcile_last_run_success"] == 0
    assert metrics(path)["reconcile_last_run_errors"] == 1


def test_metrics_of_a_shard_carry_its_label(multi: Reconcile, tmp_path: Path) -> None:
    path = tmp_path / "shard.prom"
    assert multi("--dry-run", "--shard", "1/2", "--metrics-file", str(path)).code == 0
    for family in text_string_to_metric_families(path.read_text()):
        assert all(s.labels["shard"] == "1/2" for s in family.samples)


def test_an_unwritable_metrics_file_fails_the_run(multi: Reconcile, tmp_path: Path) -> None:
    run = multi("--dry-run", "--metrics-file", str(tmp_path / "no" / "such" / "dir.prom"))
    assert run.code == 1
    assert "cannot write metrics file" in run.err
    assert run.out.startswith("+ ")  # the plan itself was still shown


def test_detailed_exitcode_on_apply_says_whether_something_changed(multi: Reconcile) -> None:
    """A cron job that alerts on change: 2 when the run wrote something, 0 when not."""
    changed = multi("--detailed-exitcode", "--only", "*/alpha:a")
    assert (changed.code, changed.out.splitlines()[-1]) == (
        2,
        "Applied: 1 created, 0 updated, 0 unchanged, 0 conflict(s), 0 error(s).",
    )
    assert multi("--detailed-exitcode", "--only", "*/alpha:a").code == 0
    assert multi("--only", "*/alpha:b").code == 0  # without the flag, a change is a success


def test_markdown_output_of_a_real_plan(
    multi: Reconcile, registry: RegistryProcess, repo_name: str
) -> None:
    run = multi("--dry-run", "--output", "markdown", "--only", "*/alpha:a", "--detailed-exitcode")
    assert run.code == 2
    lines = run.out.splitlines()
    assert lines[0] == "### Plan: 1 to create, 0 to update, 0 unchanged, 0 conflict(s), 0 error(s)."
    row = next(line for line in lines if line.startswith("| `+` |"))
    assert f"`{registry.host}/{repo_name}/alpha:a` | create | Docker manifest list" in row
    assert "`+` linux/amd64 `sha256:" in row and "from `1`" in row


def test_json_logs_for_schedulers(multi: Reconcile) -> None:
    run = multi("--log-format", "json", "-v", "--only", "*/beta")
    assert run.code == 0
    records = [json.loads(line) for line in run.err.splitlines()]
    assert records[0]["message"] == "reconciling 2 aliases (--only */beta: 2 of 12)"
    finished = records[-1]
    assert finished["event"] == "finished" and finished["success"] is True
    assert finished["summary"]["create"] == 2
    assert any(r["logger"] == "reconciler.apply" for r in records)


def test_colour_only_when_asked_or_on_a_terminal(multi: Reconcile) -> None:
    plain = multi("--dry-run", "--only", "*/alpha")
    assert "\x1b[" not in plain.out  # captured output is not a terminal
    coloured = multi("--dry-run", "--only", "*/alpha", "--color", "always")
    assert "\x1b[32m+\x1b[0m" in coloured.out


def test_validate_sends_no_request(
    multi: Reconcile, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.clear_log()
    run = Reconcile(capsys)("validate", "-f", str(multi.config))
    assert run.code == 0 and run.out == f"{multi.config}: valid (6 repositories, 12 aliases)\n"
    assert registry.requests() == []


def test_progress_stays_off_when_stderr_is_not_a_terminal(multi: Reconcile) -> None:
    run = multi("--dry-run", "--only", "*/alpha")
    assert run.err == ""


def test_request_logs_name_the_registry_host(multi: Reconcile, registry: RegistryProcess) -> None:
    run = multi("--dry-run", "-vv", "--only", "*/alpha:a")
    requests = [line for line in run.err.splitlines() if " -> " in line]
    assert requests, run.err
    for line in requests:  # `reconcile: GET 127.0.0.1:5000/v2/.../manifests/1 -> 200`
        assert re.fullmatch(
            rf"reconcile: (GET|HEAD) {re.escape(registry.host)}/v2/\S+ -> \d+", line
        )


def test_the_finish_line_is_one_sentence(multi: Reconcile) -> None:
    run = multi("-v", "--only", "*/alpha:a")
    assert run.code == 0, run.err
    finish = run.err.splitlines()[-1]
    assert re.fullmatch(
        r"reconcile: Applied: 1 created, 0 updated, 0 unchanged, 0 conflict\(s\), 0 error\(s\)"
        r" in \d+\.\ds\.",
        finish,
    ), finish
