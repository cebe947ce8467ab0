#!/usr/bin/env python3
"""The run step of the repository's GitHub Action (`/action.yml`): runs `reconcile` in one of
two modes and tells the workflow what happened.

- `plan`: `reconcile validate CONFIG`, then
  `reconcile -f CONFIG --dry-run --plan-out PLAN --output markdown --detailed-exitcode ...`;
- `apply`: `reconcile apply PLAN -f CONFIG --output markdown --detailed-exitcode ...`,
  which applies exactly the reviewed plan or, when anything it was made from moved, nothing.

The Markdown report is appended to the job summary and written to a file for the comment step
(`github_comment.py`). The step outputs are `result` (`no-changes`, `changes` or `failed`, from
the tool's documented exit codes), `exit-code`, and the aliases by action (`create`, `update`,
`noop`, `conflict`, `error`, `delete`), read from the metrics file of the same run, so one run
gives the report and the counts.

Inputs come from the environment (`INPUT_MODE`, ...): the action passes its inputs there and
never into the shell script, so no input is ever evaluated as shell. Standard library only.
Exit status: 0 once the outcome is recorded, failed run or not (the action fails in a later
step, after the comment and the upload); 1 when an input is wrong.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INPUTS",
    "InputError",
    "Inputs",
    "Outcome",
    "commands",
    "counts_from_metrics",
    "fenced",
    "main",
    "result_of",
    "truncate",
]

MODES = ("plan", "apply")
INPUTS = ("INPUT_MODE", "INPUT_CONFIG", "INPUT_PLAN_FILE", "INPUT_ARGS")
DEFAULT_CONFIG = "manifests.yaml"
DEFAULT_PLAN_FILE = "reconcile-plan.json"
# The tool's exit codes with --detailed-exitcode (README, "Command line"); any other is a failure.
RESULTS = {0: "no-changes", 2: "changes"}
FAILED = "failed"
# Options the action sets itself: given again in `args`, they would change what it reads back.
# --help and --version print and exit 0 without running: they would read as "no changes".
RESERVED = (
    "--file",
    "--dry-run",
    "--output",
    "--plan-out",
    "--metrics-file",
    "--help",
    "--version",
)
RESERVED_SHORT = ("f", "h")
# GitHub refuses a step summary over 1 MiB; what is cut is still in the log and the artifact.
SUMMARY_LIMIT = 1024 * 1024 - 4096
# A run that failed before printing a report: the end of its stderr says why.
ERROR_TAIL_LINES = 40
_ALIASES = re.compile(r"^reconcile_last_run_aliases\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$", re.M)
_ACTION = re.compile(r'(?:^|,)action="(?P<action>[^"]*)"')


class InputError(Exception):
    """An input of the action is wrong; the message names it."""


@dataclass(frozen=True)
class Inputs:
    mode: str
    config: str = DEFAULT_CONFIG
    plan_file: str = DEFAULT_PLAN_FILE
    args: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        mode = env.get("INPUT_MODE", "").strip()
        if mode not in MODES:
            raise InputError(f"input 'mode' must be 'plan' or 'apply', got {mode!r}")
        try:
            args = tuple(shlex.split(env.get("INPUT_ARGS", "")))
        except ValueError as exc:
            raise InputError(f"input 'args' is not a list of shell words: {exc}") from None
        for arg in args:
            if _is_reserved(arg):
                raise InputError(
                    f"input 'args' may not contain {arg!r}: the action sets -f/--file (input"
                    " 'config'), --dry-run, --output, --plan-out (input 'plan-file') and"
                    " --metrics-file itself, and -h/--help and --version run nothing"
                )
        return cls(
            mode=mode,
            config=env.get("INPUT_CONFIG", "").strip() or DEFAULT_CONFIG,
            plan_file=env.get("INPUT_PLAN_FILE", "").strip() or DEFAULT_PLAN_FILE,
            args=args,
        )


def _is_reserved(arg: str) -> bool:
    """`arg` names an option the action sets, however argparse lets it be spelled: a long
    option by any prefix of three or more characters (`--out`), `-f` alone, with its value
    attached (`-fFILE`) or after other short flags (`-vf`)."""
    if arg.startswith("--"):
        name = arg.split("=", 1)[0]
        return len(name) > 2 and any(option.startswith(name) for option in RESERVED)
    if arg.startswith("-") and len(arg) > 1:
        return any(letter in _short_flags(arg) for letter in RESERVED_SHORT)
    return False


def _short_flags(arg: str) -> str:
    """The flags of a group of short options, up to the first that takes a value: `-vvf`
    is `vvf`, `-fFILE` is `f` (-v is the only short option without a value)."""
    flags = ""
    for letter in arg[1:]:
        flags += letter
        if letter != "v":
            break
    return flags


def commands(inputs: Inputs, reconcile: str, metrics_file: Path) -> list[list[str]]:
    """The command lines a mode runs, in order; each runs only when the one before passed."""
    report = ["--output", "markdown", "--detailed-exitcode", "--metrics-file", str(metrics_file)]
    if inputs.mode == "plan":
        return [
            [reconcile, "validate", inputs.config],
            [reconcile, "-f", inputs.config, "--dry-run", "--plan-out", inputs.plan_file,
             *report, *inputs.args],
        ]  # fmt: skip
    return [[reconcile, "apply", inputs.plan_file, "-f", inputs.config, *report, *inputs.args]]


def result_of(exit_code: int) -> str:
    return RESULTS.get(exit_code, FAILED)


def counts_from_metrics(text: str) -> dict[str, int]:
    """Aliases by action from `reconcile_last_run_aliases{action="..."}` samples (other labels,
    such as `shard`, are ignored)."""
    counts: dict[str, int] = {}
    for sample in _ALIASES.finditer(text):
        action = _ACTION.search(sample["labels"])
        if action:
            counts[action["action"]] = int(float(sample["value"]))
    return counts


def fenced(text: str, info: str = "text") -> str:
    """`text` as a Markdown code block whose fence is longer than any backtick run in it, so
    the text cannot close the block early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}\n"


def truncate(text: str, limit: int, note: str) -> str:
    """`text` cut at a line boundary so that it and `note` fit in `limit` UTF-8 bytes."""
    if len(text.encode()) <= limit:
        return text
    budget = limit - len(note.encode()) - 1
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        budget -= len(line.encode())
        if budget < 0:
            break
        kept.append(line)
    return "".join(kept) + "\n" + note


@dataclass(frozen=True)
class Outcome:
    """What the action reports of a run: the last command's exit code and report."""

    exit_code: int
    markdown: str
    counts: Mapping[str, int]

    @property
    def result(self) -> str:
        return result_of(self.exit_code)


def run(inputs: Inputs, reconcile: str, workdir: Path) -> Outcome:
    """Runs the mode's commands in order until one fails (validate before plan); the outcome
    is that of the last one run."""
    metrics_file = workdir / "reconcile.prom"
    for argv in commands(inputs, reconcile, metrics_file):
        print(f"$ {shlex.join(argv)}", file=sys.stderr, flush=True)
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        sys.stdout.write(done.stdout)
        sys.stdout.flush()
        sys.stderr.write(done.stderr)
        sys.stderr.flush()
        if result_of(done.returncode) == FAILED:
            return Outcome(done.returncode, _failure(argv, done), _read_counts(metrics_file))
    return Outcome(done.returncode, done.stdout, _read_counts(metrics_file))


def _failure(argv: Sequence[str], done: subprocess.CompletedProcess[str]) -> str:
    """The report of a command that failed: its own Markdown report when it printed one (a
    plan with conflicts), else the end of its stderr."""
    if done.stdout.strip():
        return done.stdout
    tail = "\n".join(done.stderr.splitlines()[-ERROR_TAIL_LINES:]) or "(no output)"
    command = shlex.join(["reconcile", *_without_metrics_file(argv[1:])])
    return f"**`{command}` failed (exit {done.returncode})**:\n\n{fenced(tail)}"


def _without_metrics_file(args: Sequence[str]) -> list[str]:
    """The command as a reader needs it: the action's temporary metrics file is noise."""
    if "--metrics-file" not in args:
        return list(args)
    at = list(args).index("--metrics-file")
    return [*args[:at], *args[at + 2 :]]


def _read_counts(metrics_file: Path) -> dict[str, int]:
    try:
        return counts_from_metrics(metrics_file.read_text())
    except FileNotFoundError:  # the run stopped before it could write them (a usage error)
        return {}


def report(inputs: Inputs, outcome: Outcome, env: Mapping[str, str]) -> str:
    """The Markdown for the job summary and the pull-request comment."""
    if inputs.mode == "plan":
        title = f"## reconcile plan of `{_code(inputs.config)}`"
    else:
        title = f"## reconcile apply of `{_code(inputs.plan_file)}`"
    lines = [title, "", outcome.markdown.rstrip(), ""]
    link = _run_link(env)
    if link:
        lines += [f"<sub>{link}</sub>", ""]
    return "\n".join(lines)


def _code(text: str) -> str:
    return text.replace("`", "'")  # a path with a backtick would end the code span


def _run_link(env: Mapping[str, str]) -> str:
    server, repository, run_id = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    if not (server and repository and run_id):
        return ""
    return f"[workflow run {run_id}]({server}/{repository}/actions/runs/{run_id})"


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    with path.open("a", encoding="utf-8") as file:
        for name, value in outputs.items():
            assert "\n" not in value, (name, value)  # one line each: no delimiter needed
            file.write(f"{name}={value}\n")


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        inputs = Inputs.from_env(env)
    except InputError as exc:
        print(f"::error::{exc}", file=sys.stderr)
        return 1
    reconcile = env.get("RECONCILE_COMMAND", "reconcile")
    workdir = Path(tempfile.mkdtemp(prefix="reconcile-", dir=env.get("RUNNER_TEMP") or None))
    outcome = run(inputs, reconcile, workdir)
    markdown = report(inputs, outcome, env)
    report_file = workdir / "report.md"
    report_file.write_text(markdown, encoding="utf-8")
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        note = "*The report is cut here (GitHub's summary limit); the job log has all of it.*\n"
        with open(summary, "a", encoding="utf-8") as file:
            file.write(truncate(markdown, SUMMARY_LIMIT, note))
    plan_written = inputs.mode == "plan" and Path(inputs.plan_file).is_file()
    outputs = {
        "result": outcome.result,
        "exit-code": str(outcome.exit_code),
        **{action: str(count) for action, count in outcome.counts.items()},
        "plan-file": inputs.plan_file if plan_written else "",
        "report-file": str(report_file),
    }
    if env.get("GITHUB_OUTPUT"):
        write_outputs(Path(env["GITHUB_OUTPUT"]), outputs)
    print(f"result: {outcome.result} (exit {outcome.exit_code})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
