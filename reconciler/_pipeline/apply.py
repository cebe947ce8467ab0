"""Apply: the only stage that writes, and only what the plan says, `concurrency` aliases at a
time. Per alias:

- `create` / `update`: first the repository when the plan creates it (ECR with
  `create_repository: true`); then the sources' manifests that live in other repositories
  (copy.py: their blobs, then each child manifest by digest); last, one PUT of the index,
  whose digest the registry confirms is checked against the bytes sent; then the alias's
  after_write hook, if any (hooks.py): when it fails, the alias is an error that was written;
- `delete` (prune): the alias tag is removed (prune.delete_alias).

One alias failing never stops the others. Once `stop` is set (a signal, `--timeout`) no new
alias is started; writes in flight finish and the rest are reported as not written.
`check_max_changes` is the `--max-changes` guard, checked before anything is written."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .._errors import GuardError, Interrupted, ReconcileError, RegistryError
from .._model.oci import Manifest
from .._registry.interface import ClientFor, Registry
from .hooks import HookError, after_write
from .plan import Action, AliasPlan, Plan
from .prune import delete_alias
from .report import Outcome, Report
from .transfer import CopyOnce

__all__ = ["apply", "check_max_changes"]

log = logging.getLogger("reconciler.apply")


def check_max_changes(plan: Plan, limit: int | None) -> None:
    """`--max-changes`: refuse a plan that would rewrite more aliases than expected (a config
    mistake can otherwise retarget hundreds of tags other systems pull)."""
    changes = sum(1 for alias in plan.aliases if alias.writes)
    if limit is not None and changes > limit:
        raise GuardError(
            f"the plan creates, updates or deletes {changes} aliases, more than --max-changes"
            f" {limit};"
            " nothing was written (review with --dry-run, then raise the limit)"
        )


def apply(
    plan: Plan,
    client_for: ClientFor,
    *,
    concurrency: int = 16,
    stop: threading.Event | None = None,
    on_done: Callable[[], None] | None = None,
) -> Report:
    """Write every create/update in `plan`, `concurrency` at a time; results keep plan order.
    Once `stop` is set (SIGINT, SIGTERM, --timeout), no new write starts; writes in flight
    finish, and the aliases not written are reported as such. `on_done` is called (from a
    worker thread) after each alias written or failed, not for those without a write."""
    stop = stop or threading.Event()
    copier = CopyOnce(client_for)

    def one(alias: AliasPlan) -> Outcome:
        outcome = apply_alias(alias, client_for, stop, copier)
        attempted = alias.writes and not isinstance(outcome.error, Interrupted)
        if on_done is not None and attempted:
            on_done()
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        outcomes = tuple(pool.map(one, plan.aliases))
    return Report(outcomes, dry_run=False)


def apply_alias(
    alias: AliasPlan,
    client_for: ClientFor,
    stop: threading.Event,
    copier: CopyOnce | None = None,
) -> Outcome:
    if not alias.writes:
        return Outcome(alias)
    if stop.is_set():
        return Outcome(alias, error=Interrupted(f"{alias.target.name}: stopped before writing"))
    target = alias.target
    try:
        client = client_for(target.repository.registry)
        if alias.action is Action.DELETE:
            assert alias.live is not None
            delete_alias(client, target, alias.live)
            log.info("%s: deleted (pruned)", target.name)
            return Outcome(alias, applied=True)
        if any(c.field == "repository" for c in alias.changes):
            client.create_repository(target.repository.name)
        assert alias.desired is not None
        copier = copier or CopyOnce(client_for)
        for copy in alias.copies:  # children first, the index last
            copier(target.repository, copy)
        written = _put_index(client, alias)
    except ReconcileError as exc:
        log.warning("%s: %s failed: %s", target.name, alias.action.value, exc)
        return Outcome(alias, error=exc)
    log.info("%s: %s %s", target.name, alias.action.value, written.digest)
    try:
        after_write(alias, stop)
    except HookError as exc:  # the index stays written: an error that was applied
        log.warning("%s: %s", target.name, exc)
        return Outcome(alias, applied=True, error=exc)
    return Outcome(alias, applied=True)


# The error codes of an index PUT whose children the registry does not see yet.
_SETTLING = frozenset({"MANIFEST_BLOB_UNKNOWN", "DIGEST_INVALID"})


def _put_index(client: Registry, alias: AliasPlan) -> Manifest:
    """PUT the alias's index. Right after its children were copied, some registries do not
    see them yet (Nexus; the reference registry while another run copies the same child):
    that answer is retried a few times with backoff instead of failing the alias."""
    assert alias.desired is not None
    target = alias.target
    index = alias.desired.manifest  # serialized on each use (see DesiredIndex): once here
    for attempt in range(_INDEX_ATTEMPTS - 1):
        try:
            client.put_manifest(target.repository.name, target.tag, index)
            return index
        except RegistryError as exc:
            settling = exc.status == 400 and exc.code in _SETTLING
            if not (alias.copies and settling):
                raise
            log.info("%s: retrying the index after %s (attempt %d)", target.name, exc, attempt + 2)
            time.sleep(0.2 * 2**attempt)
    client.put_manifest(target.repository.name, target.tag, index)  # the last: its answer stands
    return index


_INDEX_ATTEMPTS = 4
