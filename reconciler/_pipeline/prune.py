"""Prune: find alias tags this tool wrote that the file no longer declares, and delete them.

`find_orphans` only reads (it is part of the plan, `--dry-run` included); `delete_alias` is the
one write here, and only `apply` calls it, for each planned `delete`.

How the tool recognises its own aliases: in a repository with `prune: true`, every index it
writes carries the annotation `vnd.reconciler.alias: <tag>`. A tag is pruned only when it
holds an index whose annotation names that very tag, so an index someone re-tagged by hand
(`latest` pointing at the index of `10`) is never taken for an alias of ours. Annotations need
an OCI image index, so aliases in such repositories are written as OCI indexes (a Docker
manifest list cannot carry them; `media_type: docker` with `prune: true` is a config error).

Deleting is the registry's `delete_tag`. Where it removes the tag alone
(`deletes_tags_alone`: ECR's BatchDeleteImage), other tags of the same index keep it (no
conflict there); on ECR, when the alias tag was the index's last tag, the index itself goes
(never the images it lists). Other registries are asked to delete the tag (OCI distribution
1.1); one that only deletes by digest (the reference registry) removes every tag of that
digest, so such a delete happens only when no other tag points at the same index, and is
otherwise reported as a conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._config.models import MANAGED_ANNOTATION, AliasTarget, Config
from .._config.selection import Pattern, Shard, selects_repository
from .._errors import ReconcileError
from .._model.names import RepositoryName, parse_repository
from .._registry.interface import ReaderFor, Registry
from .observe import read_live
from .observed import LiveTag, Orphan

__all__ = [
    "MANAGED_ANNOTATION",
    "Orphan",
    "PruneScope",
    "delete_alias",
    "find_orphans",
    "orphans_in",
    "prune_scopes",
]


@dataclass(frozen=True)
class PruneScope:
    """A `prune: true` repository the run prunes, and the aliases the file declares there."""

    key: str
    declared: frozenset[str]


def prune_scopes(
    config: Config, *, only: Sequence[Pattern] = (), shard: Shard | None = None
) -> list[PruneScope]:
    """Every `prune: true` repository the run selects as a whole: with `--only`, a pattern
    must name the repository, not only some of its aliases; with `--shard`, only the
    repository's own shard prunes it (see `selection.selects_repository`). A repository
    whose aliases were all removed from the file is thus pruned by one run, not by each.
    Taken before the aliases are read, so that a run need not hold the config meanwhile."""
    return [
        PruneScope(key, frozenset(repository.aliases))
        for key, repository in config.repositories.items()
        if repository.prune and selects_repository(key, only, shard)
    ]


def find_orphans(
    config: Config,
    client_for: ReaderFor,
    *,
    only: Sequence[Pattern] = (),
    shard: Shard | None = None,
) -> list[Orphan]:
    """Orphans of every repository `prune_scopes` gives."""
    return orphans_in(prune_scopes(config, only=only, shard=shard), client_for)


def orphans_in(scopes: Sequence[PruneScope], client_for: ReaderFor) -> list[Orphan]:
    orphans: list[Orphan] = []
    for scope in scopes:
        name = parse_repository(scope.key)
        try:
            orphans.extend(_orphans_of(scope.key, name, scope.declared, client_for))
        except ReconcileError as exc:  # reported like a failed alias; the rest goes on
            orphans.append(Orphan(_target(scope.key, name, "*"), LiveTag("absent"), error=exc))
    return orphans


def _target(key: str, repository: RepositoryName, tag: str) -> AliasTarget:
    return AliasTarget(key, repository, tag, (), "oci", (), "keep")


def _orphans_of(
    key: str, repository: RepositoryName, declared: frozenset[str], client_for: ReaderFor
) -> list[Orphan]:
    client = client_for(repository.registry)
    tags = client.list_tags(repository.name)
    lives = {tag: read_live(client, repository.name, tag) for tag in tags}
    digests = {tag: live.descriptor.digest for tag, live in lives.items() if live.descriptor}
    orphans = []
    for tag, live in sorted(lives.items()):
        if tag in declared or live.annotations.get(MANAGED_ANNOTATION) != tag:
            continue
        sharing = tuple(t for t, d in digests.items() if d == digests.get(tag) and t != tag)
        blocked = () if client.deletes_tags_alone else sharing
        orphans.append(Orphan(_target(key, repository, tag), live, blocked))
    return orphans


def delete_alias(client: Registry, target: AliasTarget, live: LiveTag) -> None:
    """Remove an orphan's tag; `apply` calls this only for planned deletions, which the plan
    made only when no other tag shares the digest (or the registry deletes tags alone)."""
    digest = live.descriptor.digest if live.descriptor else ""
    client.delete_tag(target.repository.name, target.tag, digest)
