"""The main command: load -> select -> observe -> plan -> (apply | show) -> render.

Output goes to stdout in the chosen format; logs, progress and errors go to stderr; with
`metrics_file`, every run (a failed one too) leaves Prometheus metrics behind.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from .. import config
from ..apply import Report, apply, check_max_changes, dry_run
from ..errors import ReconcileError
from ..lock import run_lock
from ..markdown import render_markdown
from ..metrics import RunMetrics, render_metrics, write_metrics
from ..observe import observe
from ..plan import make_plan
from ..progress import Progress
from ..prune import find_orphans
from ..registry import Cache, PullLimits, Registries
from ..registry.cache import default_cache_dir
from ..render import render_json, render_text, summary_text
from ..selection import Pattern, Shard, select
from . import EXIT_CHANGES, EXIT_FAILED, EXIT_OK

__all__ = ["OutputFormat", "RunOptions", "exit_code", "reconcile", "run"]

log = logging.getLogger("reconciler.run")
OutputFormat = Literal["text", "json", "markdown"]


@dataclass(frozen=True)
class RunOptions:
    file: Path = Path("manifests.yaml")
    dry_run: bool = False
    output: OutputFormat = "text"
    force: bool = False
    detailed_exitcode: bool = False
    concurrency: int = 16
    list_unchanged: bool = False
    color: bool = False
    only: tuple[Pattern, ...] = ()
    shard: Shard | None = None
    metrics_file: Path | None = None
    cache_dir: Path | None = None  # None: the default directory
    no_cache: bool = False  # memory only, nothing on disk
    max_changes: int | None = None
    lock_file: Path | None = None
    lock_wait: float = 0.0
    timeout: float | None = None  # seconds for the whole run, then no new work starts


def run(options: RunOptions, *, stdout: TextIO, stderr: TextIO, progress: Progress) -> int:
    """The whole command; returns the exit code."""
    clock = time.monotonic()
    stop = threading.Event()
    limits = PullLimits()
    try:
        with stop_on_signals(stop), stop_after(options.timeout, stop), _locked(options):
            report: Report | None = reconcile(options, progress, stop, limits)
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        report = None
    if stop.is_set():
        print("reconcile: stopped early; aliases not read or written are listed", file=stderr)
    if report is not None:
        stdout.write(render(report, options))
        stdout.flush()
    duration = time.monotonic() - clock
    _log_finish(report, duration)
    for line in limits.described():
        log.info("%s after this run", line)
    wrote = options.metrics_file is None or _write_metrics(
        options, report, duration, stderr, limits
    )
    if report is None or not wrote:
        return EXIT_FAILED
    return exit_code(report, detailed=options.detailed_exitcode)


def reconcile(
    options: RunOptions,
    progress: Progress,
    stop: threading.Event | None = None,
    limits: PullLimits | None = None,
) -> Report:
    """Config errors and selection errors raise before any request; `--max-changes` raises
    before any write. Once `stop` is set, no new read or write starts. `limits` collects
    what registries said of their pull limits."""
    cfg = config.load(options.file)
    every = cfg.targets()
    targets = select(every, options.only, options.shard, repositories=list(cfg.repositories))
    _log_selection(options, len(targets), len(every))
    with Registries(
        cfg, max_connections=options.concurrency, cache=_cache(options), pull_limits=limits
    ) as registries:
        with progress.stage(f"reading {_aliases(len(targets))}"):
            observed = observe(
                targets, registries.client, concurrency=options.concurrency, stop=stop
            )
        orphans = find_orphans(cfg, registries.client, only=options.only, shard=options.shard)
        plan = make_plan(observed, force=options.force, orphans=orphans)
        if options.dry_run:
            return dry_run(plan)
        check_max_changes(plan, options.max_changes)
        writes = sum(1 for alias in plan.aliases if alias.writes)
        with progress.stage(f"writing {_aliases(writes)}"):
            return apply(plan, registries.client, concurrency=options.concurrency, stop=stop)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop`: no new write starts, writes in flight finish, and the
    report says what was and was not done. A second signal is handled the default way."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        log.warning(
            "%s: finishing writes in flight, starting no new ones", signal.Signals(signum).name
        )
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def stop_after(seconds: float | None, stop: threading.Event) -> Iterator[None]:
    """`--timeout`: after `seconds`, behave as if interrupted."""
    if seconds is None:
        yield
        return
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _locked(options: RunOptions) -> AbstractContextManager[None]:
    if options.lock_file is None:
        return nullcontext()
    return run_lock(options.lock_file, wait_s=options.lock_wait)


def _cache(options: RunOptions) -> Cache:
    if options.no_cache:
        return Cache(None)
    return Cache(options.cache_dir or default_cache_dir())


def render(report: Report, options: RunOptions) -> str:
    if options.output == "json":
        return render_json(report)
    if options.output == "markdown":
        return render_markdown(report, verbose=options.list_unchanged)
    return render_text(report, verbose=options.list_unchanged, color=options.color)


def exit_code(report: Report, *, detailed: bool) -> int:
    if report.has_failures:
        return EXIT_FAILED
    if detailed and report.dry_run and report.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _aliases(n: int) -> str:
    return f"{n} alias{'' if n == 1 else 'es'}"


def _log_selection(options: RunOptions, selected: int, total: int) -> None:
    scope = [f"--only {' '.join(p.text for p in options.only)}"] if options.only else []
    scope += [f"shard {options.shard}"] if options.shard else []
    suffix = f" ({', '.join(scope)}: {selected} of {total})" if scope else ""
    log.info(
        "%s %s%s",
        "planning" if options.dry_run else "reconciling",
        _aliases(selected),
        suffix,
        extra={"selected": selected, "total": total, "shard": str(options.shard or "")},
    )


def _log_finish(report: Report | None, duration: float) -> None:
    """One record per run: what a scheduler's log search looks for."""
    if report is None:
        log.info("run failed before planning (%.1fs)", duration, extra=_fields(None, duration))
        return
    log.info("%s (%.1fs)", summary_text(report), duration, extra=_fields(report, duration))


def _fields(report: Report | None, duration: float) -> dict[str, object]:
    return {
        "event": "finished",
        "success": report is not None and not report.has_failures,
        "dry_run": report.dry_run if report else None,
        "summary": report.summary() if report else None,
        "duration_seconds": round(duration, 3),
    }


def _write_metrics(
    options: RunOptions,
    report: Report | None,
    duration: float,
    stderr: TextIO,
    limits: PullLimits,
) -> bool:
    assert options.metrics_file is not None
    labels = {"shard": str(options.shard)} if options.shard else {}
    metrics = RunMetrics(
        time.time(), duration, report, options.dry_run, labels, limits.lowest_remaining()
    )
    try:
        write_metrics(options.metrics_file, render_metrics(metrics))
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        return False
    return True
