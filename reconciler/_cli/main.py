"""The `reconcile` command line: parse arguments, set up logs and terminal, call a command.

`reconcile [-f FILE] [--dry-run] ...` is the main command (plan and apply); `reconcile COMMAND`
runs one of the commands around it: `apply` (a saved plan, with the main command's run
options that fit it), `validate`, `inspect`, `resolve`, `import` or `schema`. No domain logic
lives here: each command is a function in `reconciler._cli.commands`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

from .. import __version__
from .._errors import ReconcileError
from .commands import DEFAULT_CONFIG, EXIT_CHANGES, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from .._config.selection import Pattern, Shard
    from .._model.oci import Platform
    from .commands.run import RunOptions

# Only argparse and constants are loaded up front: `reconcile --help` and usage errors pay for
# nothing else, and each command imports what it needs when it runs (`_dispatch`).

__all__ = [
    "EXIT_CHANGES",
    "EXIT_FAILED",
    "EXIT_OK",
    "build_parser",
    "console",
    "main",
    "parse_args",
]

_USAGE = """\
reconcile [-f FILE] [--dry-run [--plan-out PLAN]] [--output text|json|markdown] [options]
       reconcile apply PLAN [-f FILE] [options]
       reconcile {validate,inspect,resolve,import,schema} ..."""
_DESCRIPTION = """\
Make the alias tags declared in manifests.yaml match the registry: for each alias, build the
multi-platform index of its sources, compare it by meaning with what the tag holds, and write
only the aliases that drifted.
"""
_EPILOG = """\
exit codes:
  0  success: nothing to do, or every change applied
  1  an error or conflict: bad config or arguments, authentication, registry failure, a failed
     alias, a held lock, --max-changes, a stale saved plan (apply), --timeout, a signal
  2  with --detailed-exitcode: changes (planned with --dry-run, made without) and nothing failed
  130  a second SIGINT: stopped at once (the first lets writes in flight finish)

run `reconcile COMMAND --help` for a command's options.
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 (not argparse's 2, which means "changes" under --detailed-exitcode)."""

    # Options of the main command (dest -> flag); given together with a COMMAND, an error,
    # unless that command takes them too (`accepts`: command -> its dests of them).
    main_only: dict[str, str] = {}  # noqa: RUF012 (set per instance by build_parser)
    accepts: dict[str, frozenset[str]] = {}  # noqa: RUF012 (set per instance by build_parser)

    argv: Sequence[str] = ()  # what parse_args was given, to say a usage error as made

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_FAILED, f"{self.prog}: error: {self._as_made(message)}\n")

    def _as_made(self, message: str) -> str:
        """An unknown option ahead of what argparse took for a COMMAND is the mistake; an
        unknown option gets the known one it is close to."""
        from . import mistakes

        actions = self._option_string_actions
        known = {flag: action.nargs != 0 for flag, action in actions.items()}
        invalid = re.match(r"argument COMMAND: invalid choice: '(.*)' \(", message)
        unknown = invalid and mistakes.first_unknown_option(self.argv, known, invalid[1])
        if unknown:
            return f"unrecognized arguments: {unknown}{mistakes.hint_for(unknown, known)}"
        if message.startswith(_UNRECOGNIZED):
            first = message.removeprefix(_UNRECOGNIZED).split(" ", 1)[0]
            return message + mistakes.hint_for(first, known)
        return message


_UNRECOGNIZED = "unrecognized arguments: "


def build_parser() -> _Parser:
    parser = _Parser(
        prog="reconcile",
        usage=_USAGE,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_file(parser, None)
    parser.main_only = _add_run_options(parser)
    _add_common(parser, top=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    parser.accepts = {"apply": frozenset(_add_apply(commands))}
    _add_validate(commands)
    _add_inspect(commands)
    _add_resolve(commands)
    _add_import(commands)
    _add_schema(commands)
    return parser


def _add_file(parser: argparse.ArgumentParser, default: Any, help_text: str = "") -> None:
    parser.add_argument(
        "-f",
        "--file",
        type=Path,
        default=default,
        metavar="FILE",
        help=help_text or f"the config file (default: ./{DEFAULT_CONFIG})",
    )


def _add_common(parser: argparse.ArgumentParser, *, top: bool, offline: bool = False) -> None:
    """Options every command takes, before or after its name (`SUPPRESS` keeps the value given
    before the command when it is not repeated after). `offline`: the command never connects,
    so its help must not promise request logs."""
    add = parser.add_argument
    if offline:
        verbose = "-v, -vv: more detail in the logs (this command works offline)"
    elif top:
        verbose = "-v: list unchanged aliases, log progress; -vv: log every registry request"
    else:
        verbose = "-v: log progress; -vv: log every registry request"
    add(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help=verbose,
    )
    add(
        "--log-format",
        choices=("text", "json"),
        default="text" if top else argparse.SUPPRESS,
        help="logs on stderr as text, or one JSON object per line for schedulers",
    )


class _Add(Protocol):
    """`parser.add_argument` for the main command's options (recording each as main-only)."""

    def __call__(self, *flags: str, **kwargs: Any) -> None: ...


def _add_run_options(parser: argparse.ArgumentParser, *, saved: bool = False) -> dict[str, str]:
    """The main command's options, by theme, in the order `--help` lists them; returns them
    as dest -> flag. `saved`: those of `reconcile apply`, where the plan decides what is
    written (no --dry-run, --force, --only, --shard), added after the command's name without
    defaults of their own (`SUPPRESS`), so that the main parser's defaults hold."""
    main_only: dict[str, str] = {}

    def add(*flags: str, **kwargs: Any) -> None:
        if saved:
            kwargs["default"] = argparse.SUPPRESS
        action = parser.add_argument(*flags, **kwargs)
        main_only[action.dest] = flags[-1]

    _add_mode_options(add, saved=saved)
    _add_selection_options(add, saved=saved)
    _add_metrics_option(add)
    _add_cache_options(add)
    _add_guard_options(add)
    _add_color_option(add)
    return main_only


def _add_mode_options(add: _Add, *, saved: bool) -> None:
    """What a run does, and how it reports it."""
    if not saved:
        add("--dry-run", action="store_true", help="show the plan; write nothing")
        add(
            "--plan-out",
            type=Path,
            default=None,
            metavar="PLAN",
            help="with --dry-run: also save the plan, with what it was made from, to PLAN (JSON:"
            " `reconcile schema plan`), for `reconcile apply PLAN`",
        )
    add(
        "--output",
        choices=("text", "json", "markdown"),
        default="text",
        help="report format: text, json (one document for every run, a failed one too; schema:"
        " `reconcile schema report`) or markdown",
    )
    if not saved:
        add(
            "--force",
            action="store_true",
            help="replace a single-platform image found at an alias tag (otherwise a conflict)",
        )
    add(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes (planned with --dry-run, made without) and nothing"
        " failed; 0 when there are none, 1 on any failure",
    )


def _add_selection_options(add: _Add, *, saved: bool) -> None:
    """How many aliases a run handles at once, and which (a saved plan's are its own)."""
    add(
        "--concurrency",
        type=_positive,
        default=16,
        metavar="N",
        help="aliases and requests in flight per registry (default: 16)",
    )
    if saved:
        return
    add(
        "--only",
        action="append",
        type=_pattern,
        default=[],
        metavar="PATTERN",
        help="only aliases whose REPOSITORY or REPOSITORY:ALIAS matches this glob (repeatable)",
    )
    add(
        "--shard",
        type=_shard,
        default=None,
        metavar="I/N",
        help="only repositories in shard I of N (I from 0), by a stable hash of the repository",
    )


def _add_metrics_option(add: _Add) -> None:
    add(
        "--metrics-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="write Prometheus metrics of this run to PATH (node_exporter textfile collector)",
    )


def _add_cache_options(add: _Add) -> None:
    add(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep content read by digest here between runs (default: ~/.cache/reconciler)",
    )
    add("--no-cache", action="store_true", help="keep content in memory for this run only")


def _add_guard_options(add: _Add) -> None:
    """Safety guards: a cap on changes, a lock against concurrent runs, a time limit."""
    add(
        "--max-changes",
        type=_non_negative,
        default=None,
        metavar="N",
        help="refuse to apply a plan that creates, updates or deletes more than N aliases"
        " (write nothing, exit 1)",
    )
    add(
        "--lock-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="hold an exclusive lock on PATH for the run; a second run exits (or waits)",
    )
    add(
        "--lock-wait",
        type=float,
        default=None,  # not 0: given without --lock-file, even as 0, it is a usage error
        metavar="SECONDS",
        help="with --lock-file: wait up to SECONDS for the lock before giving up (default: 0)",
    )
    add(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="after SECONDS start no new reads or writes; report what was not done, exit 1",
    )


def _add_color_option(add: _Add) -> None:
    add(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text plan: auto (a terminal and NO_COLOR unset), always, never",
    )


def _add_apply(commands: Any) -> dict[str, str]:
    """`reconcile apply PLAN`; returns the main command's options it takes (dest -> flag)."""
    parser = commands.add_parser(
        "apply",
        prog="reconcile apply",
        help="apply a plan saved with --dry-run --plan-out, unless what it read has changed",
        description="Apply the plan saved in PLAN by `reconcile --dry-run --plan-out PLAN`,"
        " exactly as reviewed: its index bytes, copies and deletes, never a new plan. Before"
        " any write, the config file must still have the plan's hash and every tag the plan's"
        " writes read must hold what it held (HEAD requests; for floating aliases the tag list"
        " too). When anything moved, nothing is written, what moved is named, and the exit"
        " code is 1.",
    )
    parser.add_argument("plan", type=Path, metavar="PLAN", help="the saved plan (JSON)")
    _add_file(
        parser,
        argparse.SUPPRESS,
        "the config file (default: the one the plan names); it must be the file the plan was"
        " made from, byte for byte",
    )
    accepted = _add_run_options(parser, saved=True)
    _add_common(parser, top=False)
    return accepted


def _add_validate(commands: Any) -> None:
    parser = commands.add_parser(
        "validate",
        prog="reconcile validate",
        help="check config files offline (no network), for pre-commit and CI",
        description="Check config files as a run would, without any network access.",
    )
    _add_file(parser, argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="more files to check")
    _add_common(parser, top=False, offline=True)


def _add_reference_options(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    if many:
        parser.add_argument(
            "references", nargs="+", metavar="REF", help="[registry/]repository:tag[@digest]"
        )
    else:
        parser.add_argument("reference", metavar="REF", help="[registry/]repository[:tag][@digest]")
    _add_file(
        parser,
        argparse.SUPPRESS,
        f"registry settings from this config (default: ./{DEFAULT_CONFIG} if present)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="talk plain HTTP to the reference's registry (a local registry)",
    )
    _add_common(parser, top=False)


def _add_inspect(commands: Any) -> None:
    parser = commands.add_parser(
        "inspect",
        prog="reconcile inspect",
        help="show the manifest at a reference, as `docker manifest inspect` does",
        description="Show the manifest at REF as `docker manifest inspect` lays it out.",
    )
    _add_reference_options(parser)
    parser.add_argument("--raw", action="store_true", help="the exact bytes the registry holds")


def _add_resolve(commands: Any) -> None:
    parser = commands.add_parser(
        "resolve",
        prog="reconcile resolve",
        help="which child a machine of a platform pulls (containerd's rules)",
        description="Which image a machine of PLATFORM pulls from REF, by containerd's"
        " matching rules (arm64 machines fall back to arm/v8, v7, ...; amd64 to 386). Exit 1"
        " when nothing matches.",
    )
    _add_reference_options(parser)
    parser.add_argument(
        "--platform",
        required=True,
        type=_platform,
        metavar="OS/ARCH[/VARIANT]",
        help="the machine's platform, e.g. linux/arm64 or linux/arm/v7",
    )
    parser.add_argument(
        "--output",
        dest="format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), or JSON for scripts",
    )


def _add_import(commands: Any) -> None:
    parser = commands.add_parser(
        "import",
        prog="reconcile import",
        help="print the manifests.yaml entries that reproduce existing indexes (adopt them)",
        description="Print, as manifests.yaml, the aliases that reproduce the indexes at REF...:"
        " sources named by tag where a tag points at the image, by digest otherwise. Each is"
        " checked: reconciling the output changes nothing. Exit 1 when something cannot be"
        " reproduced (said on stderr and in the output).",
    )
    _add_reference_options(parser, many=True)


def _add_schema(commands: Any) -> None:
    parser = commands.add_parser(
        "schema",
        prog="reconcile schema",
        help="print the JSON Schema of manifests.yaml (or of the JSON report, or the plan file)",
        description="Print a JSON Schema: of manifests.yaml (default), of the JSON report, or of"
        " a saved plan.",
    )
    parser.add_argument(
        "name",
        nargs="?",
        choices=("config", "report", "plan"),
        default="config",
        help="config: manifests.yaml (the default), for editors and CI; report: the document of"
        " `reconcile --output json`; plan: a saved plan (--plan-out)",
    )
    _add_common(parser, top=False, offline=True)


T = TypeVar("T")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def convert(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return convert


_positive, _non_negative = _at_least(1), _at_least(0)


def _pattern(text: str) -> Pattern:
    from .._config.selection import Pattern

    return _selection(Pattern.parse, text)


def _shard(text: str) -> Shard:
    from .._config.selection import Shard

    return _selection(Shard.parse, text)


def _selection(parse: Callable[[str], T], text: str) -> T:
    from .._config.selection import SelectionError

    try:
        return parse(text)
    except SelectionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _platform(text: str) -> Platform:
    from .._model import platforms

    try:
        return platforms.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; exits (status 1) on a usage error, like every argparse parser."""
    parser = build_parser()
    parser.argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is not None:
        taken = parser.accepts.get(args.command, frozenset())
        for dest, flag in parser.main_only.items():
            if dest not in taken and getattr(args, dest) != parser.get_default(dest):
                parser.error(f"{flag} belongs to the main command, not to `{args.command}`")
    if args.command in (None, "apply") and args.lock_wait is not None and args.lock_file is None:
        parser.error("--lock-wait needs --lock-file (there is no lock to wait for)")
    if args.plan_out is not None and not args.dry_run:
        parser.error("--plan-out needs --dry-run (a saved plan is applied by `reconcile apply`)")
    return args


# Commands whose modules log nothing: they skip loading `logging` (issue 16, start-up).
_LOGLESS_COMMANDS = frozenset({"validate", "schema"})


def console() -> NoReturn:
    """The `reconcile` command (`python -m reconciler` too): `main`, then out of the process
    without the interpreter's teardown, which frees every object of the run one by one
    (about 0.05 s of a 1.4 s, 200-alias run: `make bench`). What teardown would still do
    is done first: the log handlers closed, the output streams flushed. Where a thread other
    than this one and the daemons is still alive, the interpreter exits as usual (it waits
    for such a thread)."""
    code = _flushed(main())
    this = threading.current_thread()
    if any(t.is_alive() and not t.daemon and t is not this for t in threading.enumerate()):
        sys.exit(code)
    os._exit(code)


def _flushed(code: int) -> int:
    """`code`, or EXIT_FAILED when the output could not all be delivered (its reader went
    away before it was all written: `| head -1` on a long report); a stream that failed is
    pointed at /dev/null, so that the interpreter's own exit has nothing left to fail on."""
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            code = code or EXIT_FAILED
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_FAILED
    if args.command not in _LOGLESS_COMMANDS:
        from . import logs

        logs.configure(args.verbose, args.log_format)
    try:
        return _dispatch(args)
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("reconcile: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of the output went away: nobody is left to tell
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command `args` names, importing its module only now."""
    out = sys.stdout
    if args.command == "validate":
        from .commands.validate import validate

        paths = ([args.file] if args.file else []) + list(args.files)
        return validate(paths or [DEFAULT_CONFIG], stdout=out, stderr=sys.stderr)
    if args.command == "inspect":
        from .commands.inspect import inspect

        return inspect(
            args.reference, file=args.file, insecure=args.insecure, raw=args.raw, stdout=out
        )
    if args.command == "resolve":
        from .commands.resolve import resolve_command

        return resolve_command(
            args.reference,
            args.platform,
            file=args.file,
            insecure=args.insecure,
            output=args.format,
            stdout=out,
        )
    if args.command == "import":
        from .commands.import_ import import_command

        return import_command(
            args.references, file=args.file, insecure=args.insecure, stdout=out, stderr=sys.stderr
        )
    if args.command == "schema":
        from .commands.schema import print_schema

        return print_schema(args.name, stdout=out)
    # The main command, or `apply`: the same run, of a saved plan.
    from .arenas import limit_malloc_arenas
    from .commands.run import run
    from .progress import Progress

    limit_malloc_arenas()  # before the run starts its threads

    quiet = args.verbose > 0 or args.log_format == "json"
    progress = Progress.for_terminal(sys.stderr, quiet=quiet)
    return run(_run_options(args), stdout=out, stderr=sys.stderr, progress=progress)


def _run_options(args: argparse.Namespace) -> RunOptions:
    from .commands.apply import ApplyPlan
    from .commands.run import RunOptions
    from .terminal import wants_color

    return RunOptions(
        file=args.file or DEFAULT_CONFIG,
        dry_run=args.dry_run,
        output=args.output,
        force=args.force,
        detailed_exitcode=args.detailed_exitcode,
        concurrency=args.concurrency,
        list_unchanged=args.verbose > 0,
        color=wants_color(args.color, sys.stdout, os.environ),
        only=tuple(args.only),
        shard=args.shard,
        metrics_file=args.metrics_file,
        cache_dir=args.cache_dir,
        no_cache=args.no_cache,
        max_changes=args.max_changes,
        lock_file=args.lock_file,
        lock_wait=args.lock_wait or 0.0,
        timeout=args.timeout,
        plan_out=args.plan_out,
        apply=ApplyPlan(args.plan, args.file) if args.command == "apply" else None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
