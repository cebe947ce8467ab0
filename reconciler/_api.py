"""The public Python API: the command line's run, for tooling that calls it without a shell.

    import reconciler

    config = reconciler.load_config("manifests.yaml")   # ConfigError before any request
    plan = reconciler._pipeline.plan(config, only=["localhost:5000/my-image:10"])  # reads only
    for alias in plan.aliases:
        print(alias.target, alias.action)               # "host/repo:10", "create" | ...
    report = reconciler._pipeline.apply(plan)                     # writes only what drifted

`plan` reads and closes its connections before it returns; `apply` opens its own and writes
what the plan says, nothing it did not show. Like every module of the package, this one prints
nothing, installs no logging handler (the `reconciler.*` loggers are there to be configured by
the caller) and no signal handler.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._config import models as _config
from ._config.models import Config
from ._config.selection import Pattern, Shard, select
from ._pipeline import apply as _apply
from ._pipeline.observe import observe
from ._pipeline.plan import CHANGES, Action, make_plan
from ._pipeline.plan import Plan as _StagePlan
from ._pipeline.prune import find_orphans
from ._pipeline.report import Outcome, dry_run
from ._registry.cache import Cache, default_cache_dir
from ._registry.registries import Registries

__all__ = ["AliasResult", "Plan", "Report", "apply", "load_config", "plan"]

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class AliasResult:
    """One alias in a plan or a report, as the CLI's JSON report names it."""

    target: str  # "registry/repository:tag", the report's `target`
    action: Action  # a str enum: compares equal to "create", "update", "noop", ...
    message: str = ""  # why, for a conflict or an error
    applied: bool = False  # written (in a report); never in a plan


@dataclass(frozen=True)
class Plan:
    """What `apply` would do, alias by alias (prune deletions included)."""

    config: Config
    aliases: tuple[AliasResult, ...]
    _stages: _StagePlan = field(repr=False, compare=False)
    _cache_dir: Path | None = field(default=None, repr=False)  # None: memory only

    @property
    def has_changes(self) -> bool:
        return any(alias.action in CHANGES for alias in self.aliases)


@dataclass(frozen=True)
class Report:
    """What `apply` did, alias by alias."""

    aliases: tuple[AliasResult, ...]

    def summary(self) -> dict[str, int]:
        """Aliases per action, every action present: the JSON report's `summary`."""
        counts = Counter(alias.action for alias in self.aliases)
        return {action.value: counts.get(action, 0) for action in Action}

    @property
    def has_failures(self) -> bool:
        return any(alias.action in (Action.CONFLICT, Action.ERROR) for alias in self.aliases)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a manifests.yaml; raises ConfigError (file, line, field) on a bad
    file, before any request."""
    return _config.load(Path(path))


def plan(
    config: Config,
    *,
    only: Sequence[str] = (),
    shard: str | None = None,
    force: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    cache_dir: str | os.PathLike[str] | None = None,
    no_cache: bool = False,
) -> Plan:
    """Read the registries and plan every selected alias, as `reconcile --dry-run` does:
    `only` takes `--only` patterns, `shard` an `I/N` text. Reads only. A pattern or shard
    that does not parse raises SelectionError (a ReconcileError) before any request."""
    patterns = [Pattern.parse(text) for text in only]
    part = Shard.parse(shard) if shard is not None else None
    targets = select(config.targets(), patterns, part, repositories=list(config.repositories))
    directory = None if no_cache else Path(cache_dir) if cache_dir else default_cache_dir()
    with Registries(
        config.registry_settings(), max_connections=concurrency, cache=Cache(directory)
    ) as registries:
        observed = observe(targets, registries.client, concurrency=concurrency)
        orphans = find_orphans(config, registries.client, only=patterns, shard=part)
        stages = make_plan(observed, force=force, orphans=orphans)
    aliases = tuple(_result(outcome) for outcome in dry_run(stages).outcomes)
    return Plan(config, aliases, stages, directory)


def apply(
    plan: Plan, *, max_changes: int | None = None, concurrency: int = DEFAULT_CONCURRENCY
) -> Report:
    """Write what `plan` says and nothing else; raises GuardError when it would change more
    than `max_changes` aliases (nothing written then). A failing alias is reported in the
    report, the others proceed."""
    _apply.check_max_changes(plan._stages, max_changes)
    cache = Cache(plan._cache_dir)
    with Registries(
        plan.config.registry_settings(), max_connections=concurrency, cache=cache
    ) as registries:
        done = _apply.apply(plan._stages, registries.client, concurrency=concurrency)
    return Report(tuple(_result(outcome) for outcome in done.outcomes))


def _result(outcome: Outcome) -> AliasResult:
    return AliasResult(outcome.plan.target.name, outcome.action, outcome.message, outcome.applied)
