"""The main command: load -> select -> observe -> plan -> (apply | show) -> render.

Output goes to stdout in the chosen format; logs, progress and errors go to stderr. Every run
(a failed one too) prints one document under `--output json`, whose `error` says why the run
failed as a whole, and with `metrics_file` leaves Prometheus metrics behind.

`reconcile apply PLAN` is the same run with another middle: read the saved plan -> check the
config file's hash -> recheck what the plan read -> apply the stored plan (`apply.py` holds
the file's side).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, TextIO

from ... import __version__
from ..._config import models as config
from ..._config.models import AliasTarget
from ..._config.selection import Pattern, SelectionError, Shard, select
from ..._errors import ConfigError, CredentialsError, GuardError, ReconcileError
from ..._output.markdown import render_markdown
from ..._output.metrics import RunMetrics, render_metrics, write_metrics
from ..._output.planfile import PlanFileError
from ..._output.render import finish_json, json_writer, listed, render_text, summary_text
from ..._output.runerror import ErrorKind, RunError
from ..._pipeline.apply import apply, check_max_changes
from ..._pipeline.observe import observe_and_plan
from ..._pipeline.observed import ObservedAlias
from ..._pipeline.plan import Plan, plan_orphan
from ..._pipeline.prune import PruneScope, orphans_in, prune_scopes
from ..._pipeline.recheck import recheck
from ..._pipeline.report import Outcome, Report
from ..._pipeline.saved import save
from ..._registry.cache import Cache, default_cache_dir
from ..._registry.ratelimit import PullLimits
from ..._registry.registries import Registries
from ..._registry.settings import SettingsByHost
from ..lock import LockHeld, run_lock
from ..outcomes import Outcomes
from ..progress import Progress
from . import EXIT_CHANGES, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from .apply import (
    ApplyPlan,
    StalePlan,
    load_config,
    read_config_bytes,
    read_saved,
    restore_plan,
    write_plan,
)

__all__ = ["OutputFormat", "Refused", "RunOptions", "Stop", "exit_code", "reconcile", "run"]

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
    plan_out: Path | None = None  # with dry_run: save the plan there (`reconcile apply`)
    apply: ApplyPlan | None = None  # `reconcile apply`: the saved plan, not the file's aliases


def run(options: RunOptions, *, stdout: TextIO, stderr: TextIO, progress: Progress) -> int:
    """The whole command; returns the exit code. Whatever happens past argument parsing,
    `--output json` prints one document, its `error` saying why the run failed as a whole."""
    clock = time.monotonic()
    stop = Stop()
    limits = PullLimits()
    writer = json_writer(stdout, options.dry_run) if options.output == "json" else None
    outcomes = Outcomes(
        dry_run=options.dry_run,
        writer=writer,  # the JSON report is written as the run goes
        listed=partial(listed, verbose=options.list_unchanged),
        keep_plans=options.plan_out is not None,
    )
    report, error = _attempt(options, progress, stop, limits, stderr, outcomes)
    if stop.is_set():
        print("reconcile: stopped early; aliases not read or written are listed", file=stderr)
    error = error or stop.cause
    if writer is not None:
        # A run that failed part way has written some aliases: the document counts them.
        finish_json(writer, report or outcomes.report(), error, stdout)
    else:
        write_report(report, options, error, stdout)
    stdout.flush()
    duration = time.monotonic() - clock
    _log_finish(report, error, duration)
    for line in limits.described():
        log.info("%s after this run", line)
    wrote = options.metrics_file is None or _write_metrics(
        options, report, error, duration, stderr, limits
    )
    if error == _AT_ONCE:
        return EXIT_INTERRUPTED
    if error is not None or report is None or not wrote:
        return EXIT_FAILED
    return exit_code(report, detailed=options.detailed_exitcode)


# A second SIGINT (the first only sets the stop flag) stops the run where it is.
_AT_ONCE = RunError("interrupted", "interrupted: stopped at once")


def _attempt(
    options: RunOptions,
    progress: Progress,
    stop: Stop,
    limits: PullLimits,
    stderr: TextIO,
    outcomes: Outcomes,
) -> tuple[Report | None, RunError | None]:
    """The run, and why it failed as a whole (said on stderr too); a refused plan is
    returned as the report."""
    try:
        with stop_on_signals(stop), stop_after(options.timeout, stop), _locked(options):
            return reconcile(options, progress, stop, limits, outcomes), None
    except Refused as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        return exc.report, RunError("max_changes", str(exc))
    except StalePlan as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        return exc.report, RunError("stale", str(exc))
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        return None, RunError(_kind(exc), str(exc))
    except KeyboardInterrupt:
        print("reconcile: interrupted", file=stderr)
        return None, _AT_ONCE
    except BrokenPipeError:
        raise  # the report's reader left (`| head`): the console's quiet exit 1, no report
    except Exception as exc:  # a bug: the report still says so, and stderr has the details
        message = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=stderr)
        print(f"reconcile: internal error: {message}", file=stderr)
        return None, RunError("internal", message)


def _kind(exc: ReconcileError) -> ErrorKind:
    if isinstance(exc, LockHeld):
        return "lock"
    if isinstance(exc, PlanFileError):
        return "plan"
    if isinstance(exc, ConfigError | SelectionError | CredentialsError):
        return "config"
    return "internal"  # every other failure is an alias's, reported with it


class Refused(GuardError):
    """`--max-changes` refused the plan; `report` is that plan, none of it applied."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class Stop(threading.Event):
    """The stop flag of a run (no new read or write once set), and why it was first set."""

    def __init__(self) -> None:
        super().__init__()
        self.cause: RunError | None = None

    def because(self, cause: RunError) -> None:
        if self.cause is None:  # a timeout then a signal: the timeout stopped the run
            self.cause = cause
        self.set()


def reconcile(
    options: RunOptions,
    progress: Progress,
    stop: threading.Event | None = None,
    limits: PullLimits | None = None,
    outcomes: Outcomes | None = None,
) -> Report:
    """Config errors and selection errors raise before any request; `--max-changes` raises
    before any write. Once `stop` is set, no new read or write starts. `limits` collects
    what registries said of their pull limits. Each outcome goes to `outcomes` as soon as
    it is final (by default every one is kept for the report)."""
    outcomes = outcomes or Outcomes(
        dry_run=options.dry_run, keep_plans=options.plan_out is not None
    )
    if options.apply is not None:
        return reconcile_saved(options, options.apply, progress, outcomes, stop, limits)
    config_bytes = read_config_bytes(options.file) if options.plan_out else b""
    targets, settings, scopes = _selected(options)
    with Registries(
        settings,
        max_connections=options.concurrency,
        cache=_cache(options),
        pull_limits=limits,
    ) as registries:
        with progress.stage("reading aliases", total=len(targets)) as reading:
            # Each alias planned as soon as it is read (what was read is then let go), and
            # handed on in the file's order.
            _, observed = observe_and_plan(
                targets,
                registries.client,
                force=options.force,
                keep_observed=options.plan_out is not None,  # a saved plan records it
                concurrency=options.concurrency,
                stop=stop,
                on_done=reading.advance,
                emit=outcomes.planned,
            )
        for orphan in orphans_in(scopes, registries.client):
            outcomes.planned(plan_orphan(orphan))
        if options.dry_run:
            if options.plan_out is not None:
                plan = outcomes.plan()
                _save_plan(options, options.plan_out, plan, observed, config_bytes, stop)
            return outcomes.report()
        return _apply(options, outcomes.to_apply(), registries, progress, stop, outcomes)


def _selected(options: RunOptions) -> tuple[list[AliasTarget], SettingsByHost, list[PruneScope]]:
    """What a run needs of the file: the aliases it selects, the registries' settings and
    what it prunes. The config itself is let go (with 20,000 aliases, 10 MB)."""
    cfg = config.load(options.file)
    every = cfg.targets()
    targets = select(every, options.only, options.shard, repositories=list(cfg.repositories))
    _log_selection(options, len(targets), len(every))
    scopes = prune_scopes(cfg, only=options.only, shard=options.shard)
    return targets, cfg.registry_settings(), scopes


def _apply(
    options: RunOptions,
    plan: Plan,
    registries: Registries,
    progress: Progress,
    stop: threading.Event | None,
    outcomes: Outcomes,
) -> Report:
    """`--max-changes`, then the writes: of a plan just made, or of a saved one."""
    try:
        check_max_changes(plan, options.max_changes)
    except GuardError as exc:
        for alias in plan.aliases:
            outcomes.add(Outcome(alias))
        raise Refused(str(exc), outcomes.report()) from None
    writes = sum(1 for alias in plan.aliases if alias.writes)
    with progress.stage("writing aliases", total=writes) as writing:
        done = apply(
            plan,
            registries.client,
            concurrency=options.concurrency,
            stop=stop,
            on_done=writing.advance,
        )
    for outcome in done.outcomes:
        outcomes.add(outcome)
    return outcomes.report()


def _refused(plan: Plan) -> Report:
    return Report(tuple(Outcome(alias) for alias in plan.aliases), dry_run=False)


def _save_plan(
    options: RunOptions,
    path: Path,
    plan: Plan,
    observed: list[ObservedAlias],
    config_bytes: bytes,
    stop: threading.Event | None,
) -> None:
    """`--plan-out`: the plan with what it was made from. A stopped run read only part of
    what it needed: its plan is not one to apply, so none is written."""
    if stop is not None and stop.is_set():
        log.warning("no plan written to %s: the run was stopped before it was complete", path)
        return
    saved = save(
        plan.aliases,
        observed,
        tool_version=__version__,
        config_path=str(options.file.resolve()),
        config_bytes=config_bytes,
        only=options.only,
        shard=options.shard,
    )
    write_plan(path, saved)
    log.info("plan written to %s", path)


def reconcile_saved(
    options: RunOptions,
    saved_run: ApplyPlan,
    progress: Progress,
    outcomes: Outcomes,
    stop: threading.Event | None = None,
    limits: PullLimits | None = None,
) -> Report:
    """`reconcile apply PLAN`: nothing is written unless the config file has the plan's hash
    and every tag the plan's writes depend on still holds what it held (else StalePlan);
    then the stored plan is written as it is, through the same guards and apply."""
    saved = read_saved(saved_run.plan)
    cfg = load_config(saved, saved_run.config)
    plan = restore_plan(saved, cfg, saved_run.plan)
    writes = sum(1 for alias in plan.aliases if alias.writes)
    log.info("applying %s: %s", saved_run.plan, _aliases(writes) + " to write")
    with Registries(
        cfg.registry_settings(),
        max_connections=options.concurrency,
        cache=_cache(options),
        pull_limits=limits,
    ) as registries:
        pairs = [(s, a.target) for s, a in zip(saved.aliases, plan.aliases, strict=True)]
        with progress.stage("checking the plan"):
            moved = recheck(pairs, registries.client, concurrency=options.concurrency, stop=stop)
        if moved:
            listed = "".join(f"\n  {m}" for m in moved)
            message = f"the plan is stale, nothing was written; moved since it was made:{listed}"
            raise StalePlan(message, _refused(plan))
        return _apply(options, plan, registries, progress, stop, outcomes)


@contextmanager
def stop_on_signals(stop: Stop) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop`: no new write starts, writes in flight finish, and the
    report says what was and was not done. A second signal is handled the default way."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        log.warning("%s: finishing writes in flight, starting no new ones", name)
        stop.because(
            RunError("interrupted", f"stopped by {name}: no read or write started after it")
        )
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
def stop_after(seconds: float | None, stop: Stop) -> Iterator[None]:
    """`--timeout`: after `seconds`, behave as if interrupted."""
    if seconds is None:
        yield
        return
    cause = RunError(
        "timeout", f"--timeout {seconds:g}s reached: no read or write started after it"
    )
    timer = threading.Timer(seconds, stop.because, [cause])
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


def write_report(
    report: Report | None, options: RunOptions, error: RunError | None, stdout: TextIO
) -> None:
    """Text and Markdown, only for a plan that was shown or applied, in part or whole (JSON,
    for every run, a failed one too, is written as the run goes: `run`)."""
    if report is None or (error is not None and error.kind in _REFUSALS):
        pass  # the error on stderr says it all; the refused plan is in --dry-run
    elif options.output == "markdown":
        stdout.write(render_markdown(report, verbose=options.list_unchanged))
    else:
        stdout.write(render_text(report, verbose=options.list_unchanged, color=options.color))


# Run errors that hold the plan refused as the report, none of it applied.
_REFUSALS = ("max_changes", "stale")


def exit_code(report: Report, *, detailed: bool) -> int:
    """1 on any failure; with `detailed`, 2 when something changed: planned under --dry-run,
    written (created, updated or deleted) otherwise; else 0."""
    if report.has_failures:
        return EXIT_FAILED
    changed = report.has_changes if report.dry_run else report.tally.applied > 0
    return EXIT_CHANGES if detailed and changed else EXIT_OK


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


def _log_finish(report: Report | None, error: RunError | None, duration: float) -> None:
    """One record per run, one sentence: what a scheduler's log search looks for."""
    fields = _fields(report, error, duration)
    if error is not None or report is None:
        kind = error.kind if error else "internal"
        log.info("run failed (%s) in %.1fs.", kind, duration, extra=fields)
        return
    summary = summary_text(report).removesuffix(".")
    log.info("%s in %.1fs.", summary, duration, extra=fields)


def _fields(report: Report | None, error: RunError | None, duration: float) -> dict[str, object]:
    counted = report is not None and (error is None or error.kind not in _REFUSALS)
    return {
        "event": "finished",
        "success": error is None and report is not None and not report.has_failures,
        "error": error.kind if error else None,
        "dry_run": report.dry_run if report else None,
        "summary": report.summary() if report and counted else None,  # a refused plan: none
        "duration_seconds": round(duration, 3),
    }


def _write_metrics(
    options: RunOptions,
    report: Report | None,
    error: RunError | None,
    duration: float,
    stderr: TextIO,
    limits: PullLimits,
) -> bool:
    assert options.metrics_file is not None
    labels = {"shard": str(options.shard)} if options.shard else {}
    metrics = RunMetrics(
        time.time(), duration, report, options.dry_run, labels, limits.lowest_remaining(), error
    )
    try:
        write_metrics(options.metrics_file, render_metrics(metrics))
    except ReconcileError as exc:
        print(f"reconcile: error: {exc}", file=stderr)
        return False
    return True
