"""Prometheus metrics of one run, in the text exposition format, for node_exporter's textfile
collector (`--metrics-file PATH`).

The file describes the last run only and is replaced atomically (written beside the target,
then renamed), so the collector never reads half a file. Alert on a stale or failed run:

    time() - reconcile_last_run_timestamp_seconds > 3 * 3600 or reconcile_last_run_success == 0
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import ReconcileError
from .._pipeline.plan import Action
from .._pipeline.report import Report
from .runerror import RunError

__all__ = ["RunMetrics", "render_metrics", "write_metrics"]


@dataclass(frozen=True)
class RunMetrics:
    """What a run reports: its report, or none when it stopped first (bad config, ...)."""

    finished_at: float  # seconds since the epoch
    duration_s: float
    report: Report | None
    dry_run: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    # registry host -> the fewest pulls left it reported (`ratelimit-remaining`) in the run
    ratelimit_remaining: Mapping[str, int] = field(default_factory=dict)
    error: RunError | None = None  # why the run failed as a whole (`report` may still be set)

    @property
    def success(self) -> bool:
        return self.error is None and self.report is not None and not self.report.has_failures

    @property
    def refused(self) -> bool:
        """`--max-changes`, or `reconcile apply` finding the plan stale, refused the plan:
        `report` is the plan, none of it applied."""
        return self.error is not None and self.error.kind in ("max_changes", "stale")

    @property
    def errors(self) -> int:
        """Aliases in error or conflict; a run that stopped before planning counts as one."""
        if self.report is None:
            return 1
        summary = self.report.summary()
        return summary[Action.ERROR.value] + summary[Action.CONFLICT.value]


_HELP = {
    "reconcile_last_run_timestamp_seconds": "When the last run finished (Unix time).",
    "reconcile_last_run_success": (
        "1 when the last run had no error and no conflict and was neither stopped nor refused,"
        " else 0."
    ),
    "reconcile_last_run_duration_seconds": "How long the last run took, in seconds.",
    "reconcile_last_run_dry_run": "1 when the last run only planned (--dry-run), else 0.",
    "reconcile_last_run_aliases": "Aliases of the last run by action (after apply: the outcome).",
    "reconcile_refused": (
        "1 when --max-changes, or a stale saved plan, refused the last run's plan (nothing"
        " written)."
    ),
    "reconcile_last_run_planned": "Aliases by action of the refused plan; only after a refusal.",
    "reconcile_last_run_errors": (
        "Aliases in error or conflict in the last run; 1 when it stopped before planning"
        " (config, credentials)."
    ),
    "reconcile_registry_ratelimit_remaining": (
        "Fewest pulls left (ratelimit-remaining) a registry reported in the last run; 0 when"
        " it refused a pull. Only registries that announce a pull limit (Docker Hub)."
    ),
}


def render_metrics(run: RunMetrics) -> str:
    """The exposition text: one gauge per fact, `reconcile_last_run_aliases` by action."""
    nothing = {a.value: 0 for a in Action}
    planned = run.report.summary() if run.report else nothing
    # A refused plan was not applied: its counts go under their own name, never as outcomes.
    summary, refused = (nothing, planned) if run.refused else (planned, {})
    samples: dict[str, list[tuple[dict[str, str], str]]] = {
        "reconcile_last_run_timestamp_seconds": [({}, f"{run.finished_at:.3f}")],
        "reconcile_last_run_success": [({}, str(int(run.success)))],
        "reconcile_last_run_duration_seconds": [({}, f"{run.duration_s:.3f}")],
        "reconcile_last_run_dry_run": [({}, str(int(run.dry_run)))],
        "reconcile_last_run_aliases": [({"action": a}, str(n)) for a, n in summary.items()],
        "reconcile_refused": [({}, str(int(run.refused)))],
        "reconcile_last_run_planned": [({"action": a}, str(n)) for a, n in refused.items()],
        "reconcile_last_run_errors": [({}, str(run.errors))],
        "reconcile_registry_ratelimit_remaining": [
            ({"registry": host}, str(n)) for host, n in sorted(run.ratelimit_remaining.items())
        ],
    }
    lines: list[str] = []
    for name, values in samples.items():
        if not values:
            continue  # a family without samples says nothing (no registry announced a limit)
        lines += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels({**run.labels, **extra})} {value}" for extra, value in values]
    return "\n".join(lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def write_metrics(path: Path, text: str) -> None:
    """Replace `path` atomically; raises ReconcileError naming the path when it cannot."""
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, 0o644)  # the collector often runs as another user
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReconcileError(f"cannot write metrics file {path}: {exc.strerror or exc}") from None
