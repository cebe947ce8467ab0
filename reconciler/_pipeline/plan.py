"""Plan: what each alias needs, by meaning rather than bytes. Pure.

Two indexes are the same alias when a client would see the same thing: the same image digest for
each normalised platform, the same attestations, the same annotations, and the same media type
when the config pins one. So an index written by `docker manifest push` (other whitespace, arm64
spelled `arm64/v8`), or by an earlier version of this tool (arm64 without its `v8`), with the
right children is in sync and is left alone.

Changes name platforms as the index holds them (`linux/arm64/v8`), in the order the index holds
them (source order; what only the live index has comes after); platforms are normalised only
to match live entries with desired ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

from .._config.models import AliasTarget
from .._errors import ReconcileError
from .._model import platforms
from .._model.oci import Descriptor, Platform
from .._model.repository import RepositoryState
from .desired import DesiredIndex, build_index
from .observed import Copy, LiveTag, ObservedAlias, Orphan

__all__ = ["Action", "AliasPlan", "Change", "Plan", "make_plan", "plan_alias", "with_orphans"]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NOOP = "noop"
    CONFLICT = "conflict"
    ERROR = "error"
    DELETE = "delete"  # prune: an alias this tool wrote that the file no longer declares


CHANGES = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the live alias and the desired one."""

    kind: str  # "add", "remove" or "change"
    field: str  # "platform", "attestation", "annotation", "media_type", "tag" or "repository"
    subject: str  # the platform, annotation key, ...
    old: str | None = None
    new: str | None = None
    source: str | None = None  # the source the new value comes from


@dataclass(frozen=True, slots=True)
class AliasPlan:
    target: AliasTarget
    action: Action
    desired: DesiredIndex | None = None
    live: LiveTag | None = None
    changes: tuple[Change, ...] = ()
    message: str = ""
    copies: tuple[Copy, ...] = ()  # manifests to copy into the repository before the index

    @property
    def writes(self) -> bool:
        return self.action in CHANGES


@dataclass(frozen=True)
class Plan:
    aliases: tuple[AliasPlan, ...]


def make_plan(
    observed: Iterable[ObservedAlias], *, force: bool = False, orphans: Iterable[Orphan] = ()
) -> Plan:
    """Every alias's plan, then the deletions of `orphans` (prune)."""
    return with_orphans([plan_alias(o, force=force) for o in observed], orphans)


def with_orphans(aliases: Iterable[AliasPlan], orphans: Iterable[Orphan] = ()) -> Plan:
    """The plan of these aliases (`plan_alias`), then the deletions of `orphans` (prune)."""
    return Plan((*aliases, *(plan_orphan(orphan) for orphan in orphans)))


def plan_orphan(orphan: Orphan) -> AliasPlan:
    """A tag this tool wrote that the file no longer declares: delete it, unless the registry
    can only delete by digest and another tag points at the same index."""
    target = orphan.target
    if orphan.error is not None:
        return AliasPlan(target, Action.ERROR, message=f"prune: {orphan.error}")
    if orphan.blocked_by:
        others = ", ".join(sorted(orphan.blocked_by))
        message = f"not pruned: this registry deletes by digest, which would also remove {others}"
        return AliasPlan(target, Action.CONFLICT, live=orphan.live, message=message)
    gone = Change(
        "remove",
        "tag",
        target.tag,
        orphan.live.descriptor.digest if orphan.live.descriptor else None,
    )
    return AliasPlan(target, Action.DELETE, live=orphan.live, changes=(gone,))


def plan_alias(observed: ObservedAlias, *, force: bool = False) -> AliasPlan:
    """The action for one alias, with the reasons for it, within what the repository allows.
    Of the live tag the plan keeps its kind and descriptor, what is reported and written
    against: its entries and annotations are compared here, and a run holds every alias's
    plan until its report is written."""
    plan = _within_repository_rules(_plan(observed, force), observed.repository)
    live = _reported(plan.live)
    if not plan.writes or plan.desired is None:
        return plan if live is plan.live else replace(plan, live=live)
    wanted = {entry.descriptor.digest for entry in plan.desired.entries}
    copies = tuple(c for c in observed.copies if c.digest in wanted)
    return replace(plan, live=live, copies=copies)


def _reported(live: LiveTag | None) -> LiveTag | None:
    """`live` without its entries and annotations (an index's: the rest has none)."""
    if live is None or (not live.entries and not live.annotations):
        return live
    return LiveTag(live.kind, live.descriptor)


def _within_repository_rules(plan: AliasPlan, repository: RepositoryState | None) -> AliasPlan:
    """ECR facts: a missing repository is created first; an immutable tag cannot be updated
    (ECR refuses even identical content), so such an update is a conflict and nothing is
    written. Creating a new tag in an immutable repository is fine."""
    if repository is None or not plan.writes:
        return plan
    if not repository.exists:
        name = plan.target.repository.name
        created = Change("add", "repository", name, None, name)
        return replace(plan, changes=(created, *plan.changes))
    if plan.action is Action.UPDATE and repository.tag_immutable:
        tag, name = plan.target.tag, plan.target.repository.name
        message = (
            f"tag {tag!r} is immutable in ECR repository {name!r} (imageTagMutability"
            f" {repository.mutability}), so the alias cannot be updated; make the repository"
            f" MUTABLE or add an exclusion filter matching {tag!r}, or alias a new tag"
        )
        return replace(plan, action=Action.CONFLICT, message=message)
    return plan


def _plan(observed: ObservedAlias, force: bool) -> AliasPlan:
    target, live = observed.target, observed.live
    if observed.error is not None or live is None:
        return AliasPlan(target, Action.ERROR, message=str(observed.error))
    try:
        desired = build_index(target, observed.sources)
    except ReconcileError as exc:
        return AliasPlan(target, Action.ERROR, live=live, message=str(exc))
    missing = _missing_platforms(target.require_platforms, desired)
    if missing:  # before the live tag is looked at: neither a create nor --force may pass
        message = _missing_message(target.require_platforms, missing, desired)
        return AliasPlan(target, Action.CONFLICT, desired, live, message=message)
    if live.kind == "absent":
        changes = _diff(_view((), None, target), _desired_view(desired, target), desired)
        return AliasPlan(target, Action.CREATE, desired, live, changes)
    if live.kind != "index":
        return _foreign(target, desired, live, force)
    live_view = _view(live.entries, live, target)
    changes = _diff(live_view, _desired_view(desired, target), desired, live.entries)
    action = Action.UPDATE if changes else Action.NOOP
    return AliasPlan(target, action, desired, live, changes)


def _missing_platforms(required: Sequence[str], desired: DesiredIndex) -> list[str]:
    """The required platforms (as the file spells them) that no runnable entry of `desired`
    provides. Matching is by meaning, as everywhere: `linux/arm64` is `linux/arm64/v8` and
    `linux/aarch64`, `linux/arm` is `linux/arm/v7`. A required platform names os, architecture
    and variant only, so any `os.version` of a Windows image satisfies it."""
    held = {
        _machine(e.descriptor.platform)
        for e in desired.entries
        if e.attestation_of is None and e.descriptor.platform is not None
    }
    return [text for text in required if _machine(platforms.parse(text)) not in held]


def _machine(platform: Platform) -> tuple[str, str, str]:
    """The normalised os, architecture and variant: what a required platform can name."""
    key = platforms.normalize(platform)
    return (key.os, key.architecture, key.variant)


def _missing_message(required: Sequence[str], missing: Sequence[str], desired: DesiredIndex) -> str:
    """`the index would lack the required platform linux/arm64 (require_platforms: ...; it
    would hold linux/amd64); nothing is written`: what is missing, what was asked, and what the
    sources gave instead, so that the reader sees which source lost a platform."""
    noun = "platform" if len(missing) == 1 else "platforms"
    holds = [
        str(e.descriptor.platform)
        for e in desired.entries
        if e.attestation_of is None and e.descriptor.platform is not None
    ]
    return (
        f"the index would lack the required {noun} {', '.join(missing)} (require_platforms:"
        f" {', '.join(required)}; it would hold {', '.join(holds) or 'no platform'});"
        " nothing is written"
    )


def _foreign(target: AliasTarget, desired: DesiredIndex, live: LiveTag, force: bool) -> AliasPlan:
    """The tag holds something that is not an index: someone else's image, or an artifact.
    Never overwrite it silently; `--force` turns the conflict into an update."""
    assert live.descriptor is not None
    held = f"{live.descriptor.media_type} {live.descriptor.digest}"
    replace = Change("change", "tag", target.tag, live.descriptor.digest, desired.manifest.digest)
    if force:
        fresh = _diff(_view((), None, target), _desired_view(desired, target), desired)
        changes = (replace, *fresh)
        return AliasPlan(target, Action.UPDATE, desired, live, changes, f"replacing {held}")
    what = "a single image" if live.kind == "image" else "something that is not an image"
    message = f"tag holds {what}, not an index ({held}); use --force to replace it"
    return AliasPlan(target, Action.CONFLICT, desired, live, message=message)


def _desired_view(desired: DesiredIndex, target: AliasTarget) -> dict[str, Any]:
    return _view([e.descriptor for e in desired.entries], desired, target)


class _Index(Protocol):
    @property
    def media_type(self) -> str: ...
    @property
    def annotations(self) -> Mapping[str, str]: ...


def _view(
    entries: Sequence[Descriptor], index: _Index | None, target: AliasTarget
) -> dict[str, Any]:
    """What a client sees of an index, normalised so that equal meaning gives equal views.
    `index=None` is the view of an absent tag: every section present and empty."""
    view: dict[str, Any] = {
        "platform": _by_key(_runnable_keys(entries)),
        "attestation": _by_key(_attestation_keys(entries)),
        "annotation": dict(index.annotations) if index else {},
    }
    if target.media_type != "auto":
        view["media_type"] = {"index": index.media_type} if index else {}
    return view


def _runnable_keys(entries: Sequence[Descriptor]) -> list[tuple[str, str]]:
    return [(_platform_key(e), e.digest) for e in entries if e.attestation_of is None]


def _attestation_keys(entries: Sequence[Descriptor]) -> list[tuple[str, str]]:
    """Attestations are keyed by the platform of the image they describe."""
    described = {e.digest: _platform_key(e) for e in entries if e.attestation_of is None}
    return [
        (described.get(e.attestation_of or "", e.attestation_of or ""), e.digest)
        for e in entries
        if e.attestation_of is not None
    ]


def _platform_key(entry: Descriptor) -> str:
    """The comparison key: the normalised platform (`linux/arm64/v8` is `linux/arm64`)."""
    if entry.platform is None:
        return "(no platform)"
    return str(platforms.normalize(entry.platform))


@dataclass(frozen=True)
class _Layout:
    """For each comparison key: how the index shows that platform, and where it stands."""

    labels: Mapping[str, str]
    positions: Mapping[str, int]

    @classmethod
    def of(cls, desired: Sequence[Descriptor], live: Sequence[Descriptor]) -> _Layout:
        """Desired entries first, in index order, then those only the live index has."""
        labels: dict[str, str] = {}
        positions: dict[str, int] = {}
        for entry in (*desired, *live):
            if entry.attestation_of is None:
                key = _platform_key(entry)
                labels.setdefault(key, str(entry.platform) if entry.platform else key)
                positions.setdefault(key, len(positions))
        return cls(labels, positions)

    def shown(self, change: Change) -> Change:
        if change.field not in ("platform", "attestation"):
            return change
        return replace(change, subject=self.labels.get(change.subject, change.subject))

    def rank(self, change: Change) -> tuple[str, int, str, str]:
        position = self.positions.get(change.subject, len(self.positions))
        if change.field not in ("platform", "attestation"):
            position = 0  # annotations and the rest: by name
        return (change.field, position, change.subject, change.kind)


def _by_key(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A mapping; a key seen twice (a hand-made index with two amd64 entries) gets a suffix so
    that it shows up as a difference instead of silently collapsing."""
    out: dict[str, str] = {}
    for key, digest in pairs:
        unique, n = key, 1
        while unique in out:
            n += 1
            unique = f"{key} (#{n})"
        out[unique] = digest
    return out


def _diff(
    live: Mapping[str, Any],
    desired: Mapping[str, Any],
    index: DesiredIndex,
    live_entries: Sequence[Descriptor] = (),
) -> tuple[Change, ...]:
    """Structural diff of two views (DeepDiff finds where they differ); one Change per
    differing key, platforms in index order and named as the index holds them."""
    if live == desired:  # the steady state: equal views need no structural diff
        return ()
    from deepdiff import DeepDiff  # imported on first drift: a steady-state run skips its cost

    sources = {e.descriptor.digest: e.source for e in index.entries}
    tree = DeepDiff(dict(live), dict(desired), view="tree")
    changes = [
        change
        for levels in tree.values()
        for level in levels
        for change in _changes_at(level.path(output_format="list"), live, desired, sources)
    ]
    layout = _Layout.of([e.descriptor for e in index.entries], live_entries)
    return tuple(layout.shown(c) for c in sorted(changes, key=layout.rank))


def _changes_at(
    path: list[Any], live: Mapping[str, Any], desired: Mapping[str, Any], sources: Mapping[str, str]
) -> list[Change]:
    old, new = _lookup(live, path), _lookup(desired, path)
    if len(path) == 1:  # DeepDiff reports a section that was or became empty as one value
        before, after = old or {}, new or {}
        keys = sorted(set(before) | set(after))
        return [
            _change(path[0], k, before.get(k), after.get(k), sources)
            for k in keys
            if before.get(k) != after.get(k)
        ]
    return [_change(path[0], path[1], old, new, sources)]


def _change(
    field: Any, subject: Any, old: str | None, new: str | None, sources: Mapping[str, str]
) -> Change:
    kind = "add" if old is None else "remove" if new is None else "change"
    return Change(kind, str(field), str(subject), old, new, sources.get(new or ""))


def _lookup(view: Mapping[str, Any], path: list[Any]) -> Any:
    node: Any = view
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
