"""The command line: the main command's options keep working, the commands around it parse,
usage errors exit 1, and `validate` and `schema` never touch the network."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler._cli.main import build_parser, main, parse_args
from reconciler._config.schema import config_schema
from reconciler._config.selection import Pattern, Shard
from reconciler._output.jsonreport import report_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_main_command_keeps_its_options() -> None:
    argv = "-f m.yaml --dry-run --output json --force --detailed-exitcode --concurrency 4 -vv"
    args = parse_args(argv.split())
    assert args.command is None
    assert (args.file, args.dry_run, args.output) == (Path("m.yaml"), True, "json")
    assert args.force
    assert (args.detailed_exitcode, args.concurrency, args.verbose) == (True, 4, 2)


def test_main_command_defaults() -> None:
    args = parse_args([])
    assert (args.command, args.file, args.output, args.only, args.shard) == (
        None,
        None,  # ./manifests.yaml, resolved by the command
        "text",
        [],
        None,
    )
    assert (args.color, args.log_format, args.metrics_file) == ("auto", "text", None)


def test_selection_and_schedule_options() -> None:
    args = parse_args(
        [
            *("--only", "localhost:5000/*", "--only", "*:10", "--shard", "1/3"),
            *("--metrics-file", "/tmp/r.prom", "--log-format", "json", "--output", "markdown"),
        ]
    )
    assert args.only == [Pattern.parse("localhost:5000/*"), Pattern.parse("*:10")]
    assert args.shard == Shard(1, 3)
    assert args.metrics_file == Path("/tmp/r.prom")
    assert (args.log_format, args.output) == ("json", "markdown")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["validate"], {"command": "validate", "file": None, "files": []}),
        (["validate", "-f", "a.yaml"], {"file": Path("a.yaml"), "files": []}),
        (["validate", "a.yaml", "b/c.yaml"], {"files": [Path("a.yaml"), Path("b/c.yaml")]}),
        (["-f", "a.yaml", "validate"], {"file": Path("a.yaml")}),  # before the command works too
        (["inspect", "localhost:5000/x:1"], {"reference": "localhost:5000/x:1", "raw": False}),
        (["inspect", "--raw", "--insecure", "x"], {"raw": True, "insecure": True}),
        (
            ["resolve", "x:10", "--platform", "linux/arm64/v8"],
            {"reference": "x:10", "format": "text", "insecure": False},
        ),
        (["resolve", "x", "--platform", "linux/arm", "--output", "json"], {"format": "json"}),
        (["schema"], {"name": "config"}),
        (["schema", "report"], {"name": "report"}),
        (["validate", "-v", "--log-format", "json"], {"verbose": 1, "log_format": "json"}),
        (["-vv", "schema"], {"verbose": 2}),
    ],
)
def test_commands_parse(argv: list[str], expected: dict[str, Any]) -> None:
    args = vars(parse_args(argv))
    assert {key: args[key] for key in expected} == expected


def test_resolve_normalises_the_platform() -> None:
    args = parse_args(["resolve", "x", "--platform", "linux/aarch64"])
    assert str(args.platform) == "linux/arm64"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dry-run", "validate"], "--dry-run belongs to the main command, not to `validate`"),
        (["--output", "json", "schema"], "--output belongs to the main command"),
        (["--shard", "0/2", "inspect", "x"], "--shard belongs to the main command"),
        (["--shard", "2/2"], "argument --shard: '2/2': I counts from 0 and must be below N"),
        (["--shard", "x"], "expected I/N"),
        (["--only", ""], "empty pattern"),
        (["--concurrency", "0"], "must be at least 1"),
        (["--output", "yaml"], "invalid choice: 'yaml'"),
        (["resolve", "x"], "the following arguments are required: --platform"),
        (["resolve", "x", "--platform", "linux"], "invalid platform 'linux'"),
        (["inspect"], "the following arguments are required: REF"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["--lock-wait", "5"], "--lock-wait needs --lock-file"),
        (["--lock-wait", "0", "--dry-run"], "--lock-wait needs --lock-file"),
    ],
)
def test_usage_errors_exit_1_saying_why(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not argparse's 2: under --detailed-exitcode, 2 means "the plan has changes"."""
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("usage: reconcile")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # argparse would say "invalid choice: 'm.yaml'" for the COMMAND it expected next.
        (["-c", "m.yaml"], "unrecognized arguments: -c (the config file is -f FILE)"),
        (["--config", "m.yaml", "--dry-run"],
         "unrecognized arguments: --config (the config file is --file FILE)"),
        (["-f", "m.yaml", "-c", "m.yaml"],
         "unrecognized arguments: -c (the config file is -f FILE)"),
        (["--concurency", "4"],
         "unrecognized arguments: --concurency, did you mean --concurrency?"),
        (["--dryrun"], "unrecognized arguments: --dryrun, did you mean --dry-run?"),
        (["validate", "--config", "m.yaml"],  # validate takes m.yaml as one of its FILEs
         "unrecognized arguments: --config (the config file is --file FILE)"),
        (["--only", "x", "frobnicate"], "argument COMMAND: invalid choice: 'frobnicate' (choose "
         "from 'apply', 'validate', 'inspect', 'resolve', 'import', 'schema')"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)  # fmt: skip
def test_an_unknown_option_is_named_as_the_mistake_with_the_option_meant(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"reconcile: error: {said}"


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("validate", "inspect", "resolve", "schema"):
        assert command in text
    for option in ("--only", "--shard", "--metrics-file", "--log-format", "--color"):
        assert option in text
    assert main(["resolve", "--help"]) == 0
    assert "--platform" in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_lock_wait_goes_with_lock_file() -> None:
    args = parse_args(["--lock-file", "/run/r.lock", "--lock-wait", "30"])
    assert (args.lock_file, args.lock_wait) == (Path("/run/r.lock"), 30.0)
    assert parse_args(["--lock-file", "/run/r.lock"]).lock_wait is None  # the run waits 0 s


def help_of(command: str | None, dest: str) -> str:
    """The help text of one option or argument, as `--help` prints it (unwrapped)."""
    parser: Any = build_parser()
    if command is not None:
        subparsers = next(a for a in parser._actions if a.dest == "command")
        parser = subparsers.choices[command]
    action = next(a for a in parser._actions if a.dest == dest)
    return " ".join(str(action.help).split())


@pytest.mark.parametrize(
    ("command", "connects"),
    [
        (None, True),
        ("inspect", True),
        ("resolve", True),
        ("import", True),
        ("validate", False),  # offline: no registry is ever asked anything
        ("schema", False),
    ],
)
def test_verbose_help_speaks_of_requests_only_where_the_command_sends_them(
    command: str | None, connects: bool
) -> None:
    text = help_of(command, "verbose")
    assert ("-vv: log every registry request" in text) is connects, text
    assert ("registry" in text or "request" in text) is connects, text


def test_schema_explains_its_argument() -> None:
    text = help_of("schema", "name")
    assert "config: manifests.yaml (the default)" in text
    assert "report: the document of `reconcile --output json`" in text


@pytest.mark.parametrize(
    ("dest", "says"),
    [
        ("max_changes", "refuse to apply a plan that creates, updates or deletes more than N"),
        (
            "detailed_exitcode",
            "exit 2 when there are changes (planned with --dry-run, made without) and nothing"
            " failed",
        ),
    ],
)
def test_main_option_help_is_true(dest: str, says: str) -> None:
    assert says in help_of(None, dest)


def test_the_exit_codes_in_help_cover_apply(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    epilog = capsys.readouterr().out.split("exit codes:")[1]
    assert "2  with --detailed-exitcode: changes (planned with --dry-run, made without)" in epilog
    assert "and nothing failed" in epilog


def test_every_command_has_help() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(subparsers.choices, dict)
    for name, parser in subparsers.choices.items():
        assert parser.format_help(), name


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any connection, name lookup or child process (a credential helper) is recorded and
    refused."""
    attempts: list[str] = []

    def refuse(what: str) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            attempts.append(what)
            raise OSError(f"test: {what} is not allowed here")

        return refused

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("subprocess"))
    return attempts


@pytest.mark.parametrize("config", ["manifests.yaml", "examples/manifests.yaml"])
def test_validate_makes_no_network_call(
    config: str, no_network: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(ROOT / config)]) == 0
    assert capsys.readouterr().out.startswith(f"{ROOT / config}: valid (")
    assert no_network == []


def test_validate_reports_every_file(
    tmp_path: Path, no_network: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    good = ROOT / "manifests.yaml"
    bad = tmp_path / "manifests.yaml"
    bad.write_text('repositories:\n  localhost:5000/x:\n    aliasses:\n      "1": [a]\n')
    assert main(["validate", "-f", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{good}: valid (1 repository, 1 alias)\n"
    assert err.startswith(
        f"reconcile: error: {bad}:3: repositories.localhost:5000/x.aliasses: unknown field"
        " 'aliasses'; did you mean 'aliases'?\n"
    )
    assert no_network == []


def test_validate_defaults_to_manifests_yaml_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert "manifests.yaml: cannot read file" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "schema"), [([], config_schema()), (["report"], report_schema())])
def test_schema_prints_json_schema(
    argv: list[str],
    schema: dict[str, Any],
    no_network: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", *argv]) == 0
    assert json.loads(capsys.readouterr().out) == schema
    assert no_network == []
