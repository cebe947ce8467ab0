"""The GitHub Action's steps as a runner would run them, against a real registry and the real
`reconcile`: plan on a pull request (summary, comment on a stand-in GitHub API, plan file),
then apply exactly that plan, or nothing when a source moved after the review."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts import github_action, github_comment
from scripts.github_comment import marker
from tests.support.github_api import GitHubStandIn
from tests.support.images import push_image
from tests.support.registry import RegistryProcess

from .cli import write_config

pytestmark = pytest.mark.usefixtures("docker_config")

TOKEN = "ghs_standin-secret-token"
PR = 3
RECONCILE = str(Path(sys.executable).parent / "reconcile")


@dataclass
class Runner:
    """A job's workspace and the files a runner hands each step."""

    workspace: Path
    temp: Path
    github: GitHubStandIn
    step: int = 0

    def run(self, **inputs: str) -> dict[str, str]:
        """The action's run step; returns its outputs."""
        self.step += 1
        output = self.temp / f"output-{self.step}"
        env = {
            "RECONCILE_COMMAND": RECONCILE,
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(self.temp / f"summary-{self.step}.md"),
            **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
        }
        assert github_action.main(env) == 0
        return dict(line.split("=", 1) for line in output.read_text().splitlines())

    def summary(self) -> str:
        return (self.temp / f"summary-{self.step}.md").read_text()

    def comment(self, report_file: str) -> int:
        """The action's comment step, on pull request PR."""
        event = self.temp / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": PR}}))
        env = {
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_API_URL": self.github.url,
            "GITHUB_EVENT_PATH": str(event),
        }
        return github_comment.main(["--body-file", report_file, "--key", "manifests.yaml"], env)


@pytest.fixture
def runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: RegistryProcess, repo_name: str
) -> Iterator[Runner]:
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    workspace.mkdir()
    temp.mkdir()
    monkeypatch.chdir(workspace)
    write_config(workspace / "manifests.yaml", registry, repo_name, {"10": ["10.10", "10.20"]})
    github = GitHubStandIn(token=TOKEN).start()
    yield Runner(workspace, temp, github)
    github.stop()


def test_a_reviewed_plan_is_commented_once_then_applied(
    runner: Runner, registry: RegistryProcess, repo_name: str
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    registry.clear_log()

    planned = runner.run(mode="plan")
    counts = {a: planned[a] for a in ("create", "update", "noop", "conflict", "error", "delete")}
    assert (planned["result"], planned["exit-code"]) == ("changes", "2")
    assert counts == {"create": "1", "update": "0", "noop": "0", "conflict": "0", "error": "0",
                      "delete": "0"}  # fmt: skip
    assert planned["plan-file"] == "reconcile-plan.json"
    assert json.loads((runner.workspace / "reconcile-plan.json").read_text())["schema_version"]
    assert runner.summary().startswith(
        "## reconcile plan of `manifests.yaml`\n\n### Plan: 1 to create, 0 to update,"
    )
    assert registry.writes() == []

    assert runner.comment(planned["report-file"]) == 0
    (comment,) = runner.github.comments[PR]
    assert comment["body"] == marker("manifests.yaml") + "\n" + runner.summary()

    applied = runner.run(mode="apply")
    assert (applied["result"], applied["create"], applied["plan-file"]) == ("changes", "1", "")
    assert runner.summary().startswith("## reconcile apply of `reconcile-plan.json`\n\n")
    assert [(w.method, w.path) for w in registry.writes()] == [
        ("PUT", f"/v2/{repo_name}/manifests/10")
    ]

    again = runner.run(mode="plan")
    assert (again["result"], again["noop"], again["create"]) == ("no-changes", "1", "0")
    assert runner.comment(again["report-file"]) == 0
    (comment,) = runner.github.comments[PR]  # the same comment, edited
    assert comment["body"] == (
        "<!-- reconcile-plan: manifests.yaml -->\n## reconcile plan of `manifests.yaml`\n\n"
        "### Everything up to date (1 alias).\n"
    )


def test_apply_writes_nothing_and_fails_when_a_source_moved_after_the_review(
    runner: Runner, registry: RegistryProcess, repo_name: str
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    reviewed = push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    assert runner.run(mode="plan")["result"] == "changes"
    moved = push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8", seed="new")
    registry.clear_log()

    applied = runner.run(mode="apply")
    assert (applied["result"], applied["exit-code"]) == ("failed", "1")
    assert registry.writes() == []
    # What moved is named where the approver looks: the job summary.
    summary = runner.summary()
    assert summary.startswith(
        "## reconcile apply of `reconcile-plan.json`\n\n**`reconcile apply reconcile-plan.json"
        " -f manifests.yaml --output markdown --detailed-exitcode` failed (exit 1)**:\n"
    )
    (line,) = [line for line in summary.splitlines() if "source 10.20" in line]
    assert f"{reviewed.digest[:19]} -> {moved.digest[:19]}" in line
