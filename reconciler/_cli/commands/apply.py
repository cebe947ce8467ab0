"""Saved plans on disk: `reconcile --dry-run --plan-out FILE` writes one, `reconcile apply FILE`
reads it back. The run itself (lock, registries, recheck, apply, report) is `run.py`'s; this
module holds the file's side of it: writing the plan atomically, reading it, checking that the
config file is the one the plan was made from, and giving the stored aliases back their
config targets.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..._config import models as config
from ..._config.models import AliasTarget, Config
from ..._errors import ConfigError, GuardError
from ..._model.names import parse_repository
from ..._output.planfile import PlanFileError, read_plan, render_plan
from ..._pipeline.plan import AliasPlan, Plan
from ..._pipeline.report import Report
from ..._pipeline.saved import SavedAlias, SavedPlan, restore, sha256_hex

__all__ = [
    "ApplyPlan",
    "StalePlan",
    "load_config",
    "read_config_bytes",
    "read_saved",
    "restore_plan",
    "write_plan",
]


@dataclass(frozen=True)
class ApplyPlan:
    """`reconcile apply PLAN [-f FILE]`: the saved plan, and the config file given with -f
    (None: the file the plan names)."""

    plan: Path
    config: Path | None = None


class StalePlan(GuardError):
    """`reconcile apply` refused a plan whose config file or registry tags changed since it
    was made; `report` is that plan, none of it applied (None when the config changed)."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report


def write_plan(path: Path, plan: SavedPlan) -> None:
    """Replace `path` with the plan in one step (beside it, then renamed): a reader never sees
    half a plan, and a failed write leaves the old file."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(render_plan(plan))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


def read_saved(path: Path) -> SavedPlan:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read the plan: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{path}: not a plan file: not UTF-8 text") from None
    return read_plan(text, str(path))


def read_config_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read file: {exc.strerror or exc}") from None


def load_config(saved: SavedPlan, given: Path | None) -> Config:
    """The config the plan was made from: `given` (-f), else the path in the plan, refused
    (StalePlan) unless its bytes still have the plan's hash."""
    path = given or Path(saved.config.path)
    try:
        now = sha256_hex(read_config_bytes(path))
    except ConfigError as exc:
        if given is not None:
            raise
        hint = "the config file the plan names; give it with -f FILE when it is elsewhere"
        raise ConfigError(str(path), f"{exc.message} ({hint})") from None
    if now != saved.config.sha256:
        raise StalePlan(
            f"config file changed since the plan: {path} has sha256 {now[:12]}, the plan was"
            f" made from {saved.config.sha256[:12]}; nothing was written (plan again)"
        )
    return config.load(path)


def restore_plan(saved: SavedPlan, cfg: Config, where: Path) -> Plan:
    """The stored aliases as the `Plan` apply writes, each with its config target, in plan
    order. PlanFileError when an alias does not fit the config (a hand-edited plan)."""
    targets = {target.name: target for target in cfg.targets()}
    aliases: list[AliasPlan] = []
    for stored in saved.aliases:
        target = targets.get(stored.target) or _pruned(stored, cfg, where)
        try:
            aliases.append(restore(stored, target))
        except ValueError as exc:
            raise PlanFileError(f"{where}: not a valid plan file: {exc}") from None
    return Plan(tuple(aliases))


def _pruned(stored: SavedAlias, cfg: Config, where: Path) -> AliasTarget:
    """An alias the file does not declare: prune's delete, or a repository-wide prune error,
    in a repository of the file; anything else is not this config's plan."""
    if stored.repository not in cfg.repositories or (stored.writes and stored.delete is None):
        raise PlanFileError(f"{where}: {stored.target} is not an alias of the config file")
    return AliasTarget(
        stored.repository, parse_repository(stored.repository), stored.alias, (), "oci", (), "keep"
    )
