"""The repository's GitHub Action: `action.yml` and its run step, `scripts/github_action.py`.

No runner exists here, so the step runs as a runner would run it (inputs in `INPUT_*`, the
job summary and outputs in the files `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT` name), with a
stand-in `reconcile` that records its command line and answers as told; the command lines
themselves are checked with the real CLI's parser. The whole loop against a real registry is
in tests/integration/test_github_action.py."""

from __future__ import annotations

import collections
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler._cli.commands import EXIT_CHANGES, EXIT_FAILED, EXIT_OK
from reconciler._cli.main import parse_args
from reconciler._output.metrics import RunMetrics, render_metrics
from reconciler._pipeline.plan import Action
from scripts import github_action
from scripts.github_action import (
    INPUTS,
    InputError,
    Inputs,
    commands,
    counts_from_metrics,
    fenced,
    result_of,
)
from scripts.github_comment import marker
from tests.support.github_api import GitHubStandIn

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
ACTIONS = [a.value for a in Action]
EXAMPLE_USES = "example-org/manifest-reconciler@"


# -- the step, with a stand-in reconcile ------------------------------------------------------


@dataclass(frozen=True)
class Stub:
    """What the stand-in `reconcile` answers: to `validate`, and to the run or apply."""

    markdown: str = "### Plan: 1 to create, 0 to update, 0 unchanged, 0 conflict(s), 0 error(s).\n"
    exit_code: int = EXIT_CHANGES
    stderr: str = ""
    counts: tuple[tuple[str, int], ...] = (("create", 1), ("update", 0), ("noop", 2))
    validate_exit: int = 0
    validate_stderr: str = ""
    write_metrics: bool = True


STUB = """\
import json, sys
from pathlib import Path
answer = json.loads({answer!r})
argv = sys.argv[1:]
with open({calls!r}, "a") as calls:
    calls.write(json.dumps(argv) + "\\n")
if argv[0] == "validate":
    sys.stderr.write(answer["validate_stderr"])
    sys.exit(answer["validate_exit"])
if "--plan-out" in argv:
    Path(argv[argv.index("--plan-out") + 1]).write_text('{{"schema_version": 1}}')
if answer["write_metrics"]:
    lines = [f'reconcile_last_run_aliases{{{{action="{{a}}"}}}} {{n}}' for a, n in answer["counts"]]
    Path(argv[argv.index("--metrics-file") + 1]).write_text("\\n".join(lines) + "\\n")
sys.stdout.write(answer["markdown"])
sys.stderr.write(answer["stderr"])
sys.exit(answer["exit_code"])
"""


@dataclass
class Step:
    """One run of the action's run step in a workspace of its own."""

    workspace: Path
    code: int
    err: str

    def outputs(self) -> dict[str, str]:
        text = (self.workspace / "github-output").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())

    def summary(self) -> str:
        return (self.workspace / "step-summary.md").read_text()

    def calls(self) -> list[list[str]]:
        lines = (self.workspace / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def write_stub(directory: Path, stub: Stub, calls: Path) -> Path:
    """An executable `reconcile` in `directory` that answers as `stub` says."""
    directory.mkdir(exist_ok=True)
    script = directory / "reconcile-stub.py"
    script.write_text(STUB.format(answer=json.dumps(stub.__dict__), calls=str(calls)))
    wrapper = directory / "reconcile"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {script} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    def run(stub: Stub = Stub(), **inputs: str) -> Step:
        workspace = tmp_path / "workspace"
        workspace.mkdir(exist_ok=True)
        (tmp_path / "runner-temp").mkdir(exist_ok=True)
        monkeypatch.chdir(workspace)
        wrapper = write_stub(tmp_path / "bin", stub, workspace / "calls.jsonl")
        env = {
            "RECONCILE_COMMAND": str(wrapper),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "GITHUB_OUTPUT": str(workspace / "github-output"),
            "GITHUB_STEP_SUMMARY": str(workspace / "step-summary.md"),
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_RUN_ID": "42",
            **{f"INPUT_{name.upper()}": value for name, value in inputs.items()},
        }
        code = github_action.main(env)
        return Step(workspace, code, capsys.readouterr().err)

    return run


RUN_LINK = "<sub>[workflow run 42](https://github.example/octo/app/actions/runs/42)</sub>"


def test_plan_mode_validates_then_plans_into_the_plan_file_and_reports_the_changes(
    step: Any,
) -> None:
    done = step(mode="plan")
    assert done.code == 0
    (validate, plan) = done.calls()
    assert validate == ["validate", "manifests.yaml"]
    metrics = plan[plan.index("--metrics-file") + 1]
    assert plan == [
        "-f", "manifests.yaml", "--dry-run", "--plan-out", "reconcile-plan.json",
        "--output", "markdown", "--detailed-exitcode", "--metrics-file", metrics,
    ]  # fmt: skip
    outputs = done.outputs()
    report_file = outputs.pop("report-file")
    assert outputs == {
        "result": "changes",
        "exit-code": "2",
        "create": "1",
        "update": "0",
        "noop": "2",
        "plan-file": "reconcile-plan.json",
    }
    expected = (
        "## reconcile plan of `manifests.yaml`\n\n"
        "### Plan: 1 to create, 0 to update, 0 unchanged, 0 conflict(s), 0 error(s).\n\n"
        f"{RUN_LINK}\n"
    )
    assert done.summary() == expected
    assert Path(report_file).read_text() == expected  # what the comment step posts


def test_apply_mode_applies_the_plan_file_with_the_config_and_reports_what_was_done(
    step: Any,
) -> None:
    stub = Stub(markdown="### Applied: 1 created\n", exit_code=EXIT_CHANGES)
    done = step(stub, mode="apply", config="deploy/manifests.yaml", plan_file="plans/p.json")
    (apply,) = done.calls()
    metrics = apply[apply.index("--metrics-file") + 1]
    assert apply == [
        "apply", "plans/p.json", "-f", "deploy/manifests.yaml",
        "--output", "markdown", "--detailed-exitcode", "--metrics-file", metrics,
    ]  # fmt: skip
    outputs = done.outputs()
    assert (outputs["result"], outputs["plan-file"], outputs["create"]) == ("changes", "", "1")
    assert done.summary().startswith(
        "## reconcile apply of `plans/p.json`\n\n### Applied: 1 created\n"
    )


def test_extra_args_come_last_as_shell_words(step: Any) -> None:
    done = step(mode="plan", args="--max-changes 3 --only 'registry.example.com/team/*' -v")
    assert done.calls()[1][-5:] == [
        "--max-changes", "3", "--only", "registry.example.com/team/*", "-v",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("exit_code", "result"),
    [(EXIT_OK, "no-changes"), (EXIT_CHANGES, "changes"), (EXIT_FAILED, "failed"), (130, "failed")],
)
def test_the_result_output_names_the_tools_documented_exit_code(
    step: Any, exit_code: int, result: str
) -> None:
    assert result_of(exit_code) == result
    done = step(Stub(exit_code=exit_code), mode="plan")
    assert (done.outputs()["result"], done.outputs()["exit-code"]) == (result, str(exit_code))
    assert done.code == 0  # the action fails in its last step, after the comment and upload


def test_a_plan_with_conflicts_shows_its_own_report_and_fails(step: Any) -> None:
    table = "### Plan: 0 to create, 0 to update, 0 unchanged, 1 conflict(s), 0 error(s).\n| ... |\n"
    done = step(Stub(markdown=table, exit_code=1, stderr="noise\n", counts=(("conflict", 1),)),
                mode="plan")  # fmt: skip
    assert (done.outputs()["result"], done.outputs()["conflict"]) == ("failed", "1")
    assert table in done.summary() and "noise" not in done.summary()


def test_a_run_that_printed_no_report_shows_the_end_of_its_stderr(step: Any) -> None:
    stderr = "".join(f"log line {n}\n" for n in range(100)) + "reconcile: error: no such file\n"
    done = step(Stub(markdown="", exit_code=1, stderr=stderr, write_metrics=False), mode="apply")
    tail = "".join(f"log line {n}\n" for n in range(61, 100)) + "reconcile: error: no such file\n"
    assert done.summary() == (
        "## reconcile apply of `reconcile-plan.json`\n\n**`reconcile apply reconcile-plan.json"
        " -f manifests.yaml --output markdown --detailed-exitcode` failed (exit 1)**:\n\n"
        f"```text\n{tail}```\n\n{RUN_LINK}\n"
    )
    outputs = done.outputs()
    assert outputs["result"] == "failed"
    assert not set(ACTIONS) & set(outputs)  # no metrics: no counts, rather than zeros


def test_an_invalid_config_stops_before_the_plan(step: Any) -> None:
    problem = "reconcile: error: manifests.yaml:9: ...aliasses: unknown field 'aliasses'\n"
    done = step(Stub(validate_exit=1, validate_stderr=problem), mode="plan")
    assert done.calls() == [["validate", "manifests.yaml"]]
    assert (done.outputs()["result"], done.outputs()["plan-file"]) == ("failed", "")
    assert "**`reconcile validate manifests.yaml` failed (exit 1)**" in done.summary()
    assert fenced(problem) in done.summary()


def test_a_summary_over_githubs_limit_is_cut_and_the_report_file_keeps_it_all(
    step: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_action, "SUMMARY_LIMIT", 2000)
    rows = "".join(f"| `+` | `localhost:5000/app:{n}` | create |\n" for n in range(200))
    done = step(Stub(markdown=rows), mode="plan")
    summary = done.summary()
    assert len(summary.encode()) <= 2000
    assert summary.endswith(
        "\n*The report is cut here (GitHub's summary limit); the job log has all of it.*\n"
    )
    assert rows in Path(done.outputs()["report-file"]).read_text()


@pytest.mark.parametrize(
    "args",
    ["-f other.yaml", "--file=other.yaml", "-fother.yaml", "-vf other.yaml", "--output json",
     "--out=json", "--dry-run", "--dry", "--plan-out x.json", "--metrics-file m.prom",
     "--help", "-h", "--version"],
)  # fmt: skip
def test_args_may_not_set_what_the_action_sets_itself(step: Any, args: str) -> None:
    done = step(mode="plan", args=args)
    assert done.code == 1
    word = shlex.split(args)[0]
    assert done.err.startswith(f"::error::input 'args' may not contain {word!r}: the action sets")
    assert not (done.workspace / "calls.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("--max-changes 3", ("--max-changes", "3")),
        ("--max-changes=3 --force", ("--max-changes=3", "--force")),
        ("-vv --only 'a/*'", ("-vv", "--only", "a/*")),
        ("--concurrency 4 --timeout 600", ("--concurrency", "4", "--timeout", "600")),
        ("", ()),
    ],
)
def test_other_args_are_passed_on(args: str, words: tuple[str, ...]) -> None:
    assert Inputs.from_env({"INPUT_MODE": "plan", "INPUT_ARGS": args}).args == words


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INPUT_MODE": "deploy"}, "input 'mode' must be 'plan' or 'apply', got 'deploy'"),
        ({}, "input 'mode' must be 'plan' or 'apply', got ''"),
        ({"INPUT_MODE": "plan", "INPUT_ARGS": "--only 'a"},
         "input 'args' is not a list of shell words: No closing quotation"),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_with_a_message_naming_the_input(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError) as raised:
        Inputs.from_env(env)
    assert str(raised.value) == message


def test_empty_inputs_take_the_defaults() -> None:
    inputs = Inputs.from_env({"INPUT_MODE": "apply", "INPUT_CONFIG": "", "INPUT_PLAN_FILE": " "})
    assert inputs == Inputs("apply", "manifests.yaml", "reconcile-plan.json", ())


# -- what the step reads and runs, against the real tool --------------------------------------


def test_counts_are_read_from_the_metrics_the_tool_writes_whatever_other_labels() -> None:
    rendered = render_metrics(RunMetrics(0.0, 0.0, report=None, labels={"shard": "1/2"}))
    assert counts_from_metrics(rendered) == dict.fromkeys(ACTIONS, 0)
    text = 'reconcile_last_run_aliases{shard="0/2",action="update"} 3\n'
    text += 'reconcile_last_run_planned{action="update"} 9\n'  # a refused plan: not done
    assert counts_from_metrics(text) == {"update": 3}


@pytest.mark.parametrize("mode", ["plan", "apply"])
def test_every_command_the_step_runs_is_a_valid_command_line_of_this_reconcile(mode: str) -> None:
    inputs = Inputs(mode, "deploy/manifests.yaml", "out/plan.json", ("--max-changes", "5"))
    parsed = [parse_args(argv[1:]) for argv in commands(inputs, "reconcile", Path("m.prom"))]
    *checks, last = parsed
    if mode == "plan":
        assert [(a.command, a.files) for a in checks] == [
            ("validate", [Path("deploy/manifests.yaml")])
        ]
        assert (last.command, last.dry_run, str(last.plan_out)) == (None, True, "out/plan.json")
    else:
        assert (last.command, str(last.plan)) == ("apply", "out/plan.json")
    assert (last.file, last.output, last.detailed_exitcode) == (
        Path("deploy/manifests.yaml"), "markdown", True
    )  # fmt: skip
    assert (last.metrics_file, last.max_changes) == (Path("m.prom"), 5)


def test_fences_are_longer_than_any_backtick_run_in_the_text() -> None:
    assert fenced("a ```` b") == "`````text\na ```` b\n`````\n"
    assert fenced("plain") == "```text\nplain\n```\n"


# -- action.yml ---------------------------------------------------------------------------------


def action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return loaded


def test_the_action_is_composite_and_runs_the_scripts_of_this_repository() -> None:
    steps = action()["runs"]["steps"]
    assert action()["runs"]["using"] == "composite"
    scripts = re.findall(r'"\$GITHUB_ACTION_PATH/(scripts/\w+\.py)"', str(steps))
    assert scripts == ["scripts/github_action.py", "scripts/github_comment.py"]
    assert all((ROOT / script).is_file() for script in scripts)


def test_no_input_or_expression_is_ever_pasted_into_a_shell_script() -> None:
    """Inputs reach the scripts as environment variables: `${{ }}` in a `run:` is expanded
    into the script text before the shell reads it, so an input could run as a command."""
    runs = [s["run"] for s in action()["runs"]["steps"] if "run" in s]
    assert len(runs) == 4
    assert [r for r in runs if "${{" in r] == []


def test_the_run_step_is_given_every_input_the_script_reads() -> None:
    (run,) = [s for s in action()["runs"]["steps"] if s.get("id") == "run"]
    assert set(run["env"]) == set(INPUTS)
    declared = set(action()["inputs"])
    used = set(re.findall(r"inputs\.([\w-]+)", ACTION.read_text()))
    assert used == declared  # every input used, none undeclared


def test_the_outputs_are_the_result_and_the_count_of_every_action() -> None:
    outputs = action()["outputs"]
    assert list(outputs) == ["result", "exit-code", *ACTIONS, "plan-file", "comment-url"]
    for name, output in outputs.items():
        step = "comment" if name == "comment-url" else "run"
        assert output["value"] == f"${{{{ steps.{step}.outputs.{name} }}}}"


def test_plan_mode_uploads_the_plan_file_the_step_wrote() -> None:
    (upload,) = [s for s in action()["runs"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"]["path"] == "${{ steps.run.outputs.plan-file }}"
    assert upload["with"]["if-no-files-found"] == "error"
    assert "inputs.mode == 'plan'" in upload["if"]


def test_the_action_fails_last_when_the_result_is_failed() -> None:
    *_, last = action()["runs"]["steps"]
    assert last["if"] == "steps.run.outputs.result == 'failed'"
    assert last["run"].rstrip().endswith("exit 1")


# -- the example workflows that use it ----------------------------------------------------------


def uses_of_the_action() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workflow, job, step) for every step of examples/github/ that uses this action."""
    found = []
    for path in sorted((ROOT / "examples" / "github").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith(EXAMPLE_USES):
                    found.append((path.name, job, step))
    return found


def test_example_workflows_give_the_action_only_inputs_it_declares() -> None:
    inputs = action()["inputs"]
    required = {name for name, spec in inputs.items() if spec.get("required")}
    uses = uses_of_the_action()
    assert sorted({name for name, _, _ in uses}) == ["reconcile-apply.yml", "reconcile-plan.yml"]
    for _, _, step in uses:
        given = step["with"]
        assert required <= set(given) <= set(inputs), given
        assert given["mode"] in github_action.MODES
        Inputs.from_env({f"INPUT_{k.upper().replace('-', '_')}": str(v) for k, v in given.items()
                         if f"INPUT_{k.upper().replace('-', '_')}" in INPUTS})  # fmt: skip


def test_the_apply_workflow_applies_the_reviewed_plan_behind_an_environment() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "reconcile-apply.yml").read_text())
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    (plan_step,) = [s for s in plan["steps"] if s.get("uses", "").startswith(EXAMPLE_USES)]
    (apply_step,) = [s for s in apply["steps"] if s.get("uses", "").startswith(EXAMPLE_USES)]
    assert plan_step["with"]["mode"] == "plan" and apply_step["with"]["mode"] == "apply"
    assert plan["outputs"]["result"] == f"${{{{ steps.{plan_step['id']}.outputs.result }}}}"
    assert apply["needs"] == "plan"
    assert apply["if"] == "needs.plan.outputs.result == 'changes'"
    assert apply["environment"]  # required reviewers are set on the environment
    (download,) = [s for s in apply["steps"] if "download-artifact" in s.get("uses", "")]
    assert download["with"]["name"] == plan_step["with"]["artifact-name"]
    assert "path" not in download["with"]  # into the workspace, under the file's own name
    default_plan = action()["inputs"]["plan-file"]["default"]
    assert apply_step["with"]["plan-file"] == plan_step["with"].get("plan-file", default_plan)
    steps = [s.get("uses", "").split("@")[0] for s in apply["steps"]]
    assert steps.index("actions/download-artifact") < steps.index(EXAMPLE_USES[:-1])
    assert triggers(workflow)["push"]["branches"] == ["main"]


def test_the_pull_request_workflow_plans_and_may_comment() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "reconcile-plan.yml").read_text())
    assert list(triggers(workflow)) == ["pull_request"]
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    ((_, _, step),) = [u for u in uses_of_the_action() if u[0] == "reconcile-plan.yml"]
    assert step["with"] == {"mode": "plan"}  # comment defaults to true
    assert action()["inputs"]["comment"]["default"] == "true"


def triggers(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


# -- the composite action's steps, run as a runner runs them -------------------------------------

TOKEN = "ghs_standin-secret-token"
PR = 5


def evaluate(source: str, context: dict[str, str]) -> str:
    """`${{ NAME }}` expressions, from `context` (an unknown name fails the test)."""
    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: context[m[1]], source)


def text(value: object) -> str:
    """A YAML value as the runner passes it: `true`, not Python's `True`."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def condition(source: str, context: dict[str, str]) -> bool:
    """The `if:` forms action.yml uses: `NAME == 'v'` and `NAME != 'v'` joined by `&&`."""
    results = []
    for term in source.split("&&"):
        found = re.fullmatch(r"\s*([\w.-]+)\s*(==|!=)\s*'([^']*)'\s*", term)
        assert found, f"unsupported condition: {term!r}"
        name, operator, value = found.groups()
        results.append((context[name] == value) == (operator == "=="))
    return all(results)


@dataclass
class LocalRunner:
    """Runs action.yml's steps in order with bash, as GitHub's runner does: inputs with their
    defaults, `if:`, `env:`, outputs through GITHUB_OUTPUT, the first failing step ends the
    job. `uses:` steps are recorded, not run; the install step (pip from PyPI) is skipped and
    a stand-in `reconcile` is on PATH instead."""

    workspace: Path
    temp: Path
    github: GitHubStandIn
    stub: Stub

    def run(self, **inputs: str) -> tuple[int, dict[str, str], list[tuple[str, dict[str, str]]]]:
        """Returns the job's status (that of its last step run), the action's outputs and the
        `uses:` steps taken with their `with:`."""
        spec = action()
        context = {"github.token": TOKEN}
        for name, declared in spec["inputs"].items():
            value = inputs.get(name.replace("-", "_"), str(declared.get("default", "")))
            context[f"inputs.{name}"] = evaluate(value, context)
        bin_dir = write_stub(self.temp / "bin", self.stub, self.workspace / "calls.jsonl").parent
        event = self.temp / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": PR}}))
        base = {
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_STEP_SUMMARY": str(self.temp / "summary.md"),
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "octo/app",
            "GITHUB_API_URL": self.github.url,
        }
        used: list[tuple[str, dict[str, str]]] = []
        status = 0
        for number, step in enumerate(spec["runs"]["steps"]):
            if "if" in step and not condition(step["if"], context):
                continue
            if "uses" in step:
                given = {k: evaluate(text(v), context) for k, v in step.get("with", {}).items()}
                used.append((step["uses"], given))
                continue
            if step.get("name") == "Install reconcile":
                continue
            output = self.temp / f"output-{number}"
            output.touch()
            env = {k: evaluate(text(v), context) for k, v in step.get("env", {}).items()}
            argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]]
            env = {**base, **env, "GITHUB_OUTPUT": str(output)}
            done = subprocess.run(
                argv, cwd=self.workspace, env=env, capture_output=True, text=True, check=False
            )
            status = done.returncode
            if "id" in step:
                for line in output.read_text().splitlines():
                    key, value = line.split("=", 1)
                    context[f"steps.{step['id']}.outputs.{key}"] = value
            if status != 0:
                break
        outputs = {name: evaluate(o["value"], collections.defaultdict(str, context))
                   for name, o in spec["outputs"].items()}  # fmt: skip
        return status, outputs, used


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Any]:
    github = GitHubStandIn(token=TOKEN).start()

    def make(stub: Stub = Stub()) -> LocalRunner:
        workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
        workspace.mkdir(exist_ok=True)
        temp.mkdir(exist_ok=True)
        return LocalRunner(workspace, temp, github, stub)

    yield make
    github.stop()


def test_plan_mode_runs_the_plan_comments_once_and_uploads_the_plan_file(runner: Any) -> None:
    local = runner()
    status, outputs, used = local.run(mode="plan")
    assert status == 0
    assert (outputs["result"], outputs["create"], outputs["noop"]) == ("changes", "1", "2")
    (comment,) = local.github.comments[PR]
    summary = (local.temp / "summary.md").read_text()
    assert comment["body"] == marker("manifests.yaml") + "\n" + summary
    assert outputs["comment-url"] == comment["html_url"]
    assert [uses for uses, _ in used] == ["actions/setup-python@v5", "actions/upload-artifact@v4"]
    upload = used[1][1]
    assert upload == {"name": "reconcile-plan", "path": "reconcile-plan.json",
                      "if-no-files-found": "error", "overwrite": "true"}  # fmt: skip
    assert (local.workspace / upload["path"]).is_file()

    status, _, _ = local.run(mode="plan")  # the next push
    assert status == 0
    assert len(local.github.comments[PR]) == 1


def test_a_failed_plan_is_commented_and_uploaded_before_the_action_fails(runner: Any) -> None:
    local = runner(Stub(markdown="### Plan: ... 1 conflict(s)\n", exit_code=1))
    status, outputs, used = local.run(mode="plan")
    assert (status, outputs["result"], outputs["exit-code"]) == (1, "failed", "1")
    assert len(local.github.comments[PR]) == 1
    assert [uses for uses, _ in used] == ["actions/setup-python@v5", "actions/upload-artifact@v4"]


def test_apply_mode_neither_comments_nor_uploads(runner: Any) -> None:
    local = runner(Stub(markdown="### Applied\n"))
    (local.workspace / "reconcile-plan.json").write_text("{}")
    status, outputs, used = local.run(mode="apply")
    assert (status, outputs["result"], outputs["comment-url"]) == (0, "changes", "")
    assert [uses for uses, _ in used] == ["actions/setup-python@v5"]
    assert local.github.requests == []
    assert json.loads((local.workspace / "calls.jsonl").read_text())[:2] == [
        "apply", "reconcile-plan.json",
    ]  # fmt: skip


def test_inputs_are_passed_through_to_the_tool_and_the_comment(runner: Any) -> None:
    local = runner()
    status, _, used = local.run(
        mode="plan", config="deploy/manifests.yaml", plan_file="out.json",
        args="--max-changes 4", artifact_name="", comment="true",
    )  # fmt: skip
    assert status == 0
    validate, plan = [json.loads(line) for line in (local.workspace / "calls.jsonl").open()]
    assert validate == ["validate", "deploy/manifests.yaml"]
    assert plan[:5] == ["-f", "deploy/manifests.yaml", "--dry-run", "--plan-out", "out.json"]
    assert plan[-2:] == ["--max-changes", "4"]
    assert [uses for uses, _ in used] == ["actions/setup-python@v5"]  # no artifact name
    (comment,) = local.github.comments[PR]
    assert comment["body"].startswith(marker("deploy/manifests.yaml") + "\n")


def test_a_plan_that_never_ran_uploads_nothing_and_fails(runner: Any) -> None:
    local = runner(Stub(validate_exit=1, validate_stderr="reconcile: error: manifests.yaml:3\n"))
    status, outputs, used = local.run(mode="plan")
    assert (status, outputs["result"], outputs["plan-file"]) == (1, "failed", "")
    assert [uses for uses, _ in used] == ["actions/setup-python@v5"]
    assert "reconcile: error: manifests.yaml:3" in local.github.comments[PR][0]["body"]
