"""The `reconcile` command: parse arguments, wire the stages, map outcomes to exit codes.

No domain logic lives here; each stage is a function in its own module.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, config
from .apply import Report, apply, dry_run
from .errors import ReconcileError
from .observe import observe
from .plan import make_plan
from .registry import Registries
from .render import render_json, render_text

__all__ = ["EXIT_CHANGES", "EXIT_FAILED", "EXIT_OK", "main"]

EXIT_OK, EXIT_FAILED, EXIT_CHANGES = 0, 1, 2

_DESCRIPTION = """\
Make the alias tags declared in manifests.yaml match the registry: for each alias, build the
multi-platform index of its sources, compare it by meaning with what the tag holds, and write
only the aliases that drifted.
"""
_EPILOG = """\
exit codes:
  0  success: nothing to do, or every change applied
  1  an error or conflict: bad config, authentication, registry failure, a failed alias
  2  with --dry-run --detailed-exitcode: the plan has changes and nothing failed
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconcile",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "-f",
        "--file",
        type=Path,
        default=Path("manifests.yaml"),
        help="the config file (default: ./manifests.yaml)",
    )
    add("--dry-run", action="store_true", help="show the plan; write nothing")
    add("--output", choices=("text", "json"), default="text", help="report format (default: text)")
    add(
        "--force",
        action="store_true",
        help="replace a single-platform image found at an alias tag (otherwise a conflict)",
    )
    add(
        "--detailed-exitcode",
        action="store_true",
        help="with --dry-run: exit 2 when the plan has changes and nothing failed",
    )
    add(
        "--concurrency",
        type=_positive,
        default=16,
        metavar="N",
        help="aliases and requests in flight per registry (default: 16)",
    )
    add(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: show unchanged aliases and progress; -vv: every registry request",
    )
    add("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        report = run(args)
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("reconcile: interrupted", file=sys.stderr)
        return 130
    if args.output == "json":
        sys.stdout.write(render_json(report))
    else:
        sys.stdout.write(render_text(report, verbose=args.verbose > 0))
    return exit_code(report, detailed=args.detailed_exitcode)


def run(args: argparse.Namespace) -> Report:
    """load -> observe -> plan -> (apply | show). Config errors raise before any request."""
    cfg = config.load(args.file)
    with Registries(cfg, max_connections=args.concurrency) as registries:
        observed = observe(cfg.targets(), registries.client, concurrency=args.concurrency)
        plan = make_plan(observed, force=args.force)
        if args.dry_run:
            return dry_run(plan)
        return apply(plan, registries.client, concurrency=args.concurrency)


def exit_code(report: Report, *, detailed: bool) -> int:
    if report.has_failures:
        return EXIT_FAILED
    if detailed and report.dry_run and report.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("reconcile: %(message)s"))
    root = logging.getLogger("reconciler")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


if __name__ == "__main__":
    raise SystemExit(main())
