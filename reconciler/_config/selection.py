"""Selection: which aliases of a config one run handles (`--only`, `--shard`). Pure.

Selection happens on the config's targets, before anything is observed, so a limited run sends
no request about the aliases it leaves out.

- `--only PATTERN` (repeatable; an alias matching any pattern is kept): a glob on the repository
  key as written in the file, or on `repository:alias`. Registry hosts may contain `:` too, so a
  pattern is split at its last `:` only when no `/` follows it (tags never contain `/`).
- `--shard I/N` keeps the repositories whose stable hash is I modulo N, counting I from 0 (as
  Kubernetes' `JOB_COMPLETION_INDEX` does). Every alias of a repository lands in one shard, so
  shards never write to the same repository, and the assignment depends only on the repository's
  name: adding or removing other repositories never moves it.

Pruning (`prune: true`) deletes tags of aliases no longer in the file, which no pattern on
aliases can name: a run prunes a repository only when it selects the repository as a whole
(`selects_repository`), so that a repository is pruned by one run of a sharded schedule, and
never by a run narrowed to some of its aliases.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ReconcileError
from .._model.names import RepositoryName, parse_repository
from .models import AliasTarget

__all__ = [
    "Pattern",
    "SelectionError",
    "Shard",
    "repository_shard",
    "select",
    "selects_repository",
    "shard_of",
]


class SelectionError(ReconcileError):
    """`--only` or `--shard` is malformed, or a pattern matches no alias of the file."""


@dataclass(frozen=True)
class Pattern:
    """One `--only` pattern: a repository glob and, optionally, an alias glob."""

    text: str
    repository: str
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> Pattern:
        text = text.strip()
        if not text:
            raise SelectionError("empty pattern: expected REPOSITORY or REPOSITORY:ALIAS")
        head, sep, tail = text.rpartition(":")
        if sep and head and tail and "/" not in tail:
            return cls(text, head, tail)
        return cls(text, text)

    def matches(self, target: AliasTarget) -> bool:
        if not fnmatch.fnmatchcase(target.key, self.repository):
            return False
        return self.alias is None or fnmatch.fnmatchcase(target.tag, self.alias)

    def matches_repository(self, key: str) -> bool:
        """Whether this pattern names the repository itself (no alias part, or `:*`), and so
        every tag in it, aliases removed from the file included."""
        return self.alias in (None, "*") and fnmatch.fnmatchcase(key, self.repository)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`, 0 <= index < count."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise SelectionError(f"{text!r}: expected I/N, for example 0/4")
        shard = cls(int(index), int(count))
        if shard.count < 1 or shard.index >= shard.count:
            raise SelectionError(f"{text!r}: I counts from 0 and must be below N")
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, target: AliasTarget) -> bool:
        return repository_shard(target.repository, self.count) == self.index


def shard_of(target: AliasTarget, count: int) -> int:
    """The shard of the alias's repository (see `repository_shard`)."""
    return repository_shard(target.repository, count)


def repository_shard(repository: RepositoryName, count: int) -> int:
    """sha256 of `registry/name` (so two spellings of one repository agree), the same on every
    machine and Python version, unlike `hash()`."""
    digest = hashlib.sha256(str(repository).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def select(
    targets: Sequence[AliasTarget],
    only: Sequence[Pattern] = (),
    shard: Shard | None = None,
    *,
    repositories: Sequence[str] = (),
) -> list[AliasTarget]:
    """The targets this run handles, in file order.

    A pattern that matches no alias of the file, nor one of its `repositories` keys as a
    whole (a repository left without aliases, to prune), is an error (it is almost always a
    typo); a shard that holds no alias is not (small configs split across many jobs).
    """
    if only:
        unmatched = [
            p.text
            for p in only
            if not any(p.matches(t) for t in targets)
            and not any(p.matches_repository(key) for key in repositories)
        ]
        if unmatched:
            listed = ", ".join(repr(text) for text in unmatched)
            raise SelectionError(f"--only {listed} matches no alias in the file")
        targets = [t for t in targets if any(p.matches(t) for p in only)]
    if shard is not None:
        targets = [t for t in targets if shard.holds(t)]
    return list(targets)


def selects_repository(key: str, only: Sequence[Pattern] = (), shard: Shard | None = None) -> bool:
    """Whether a run selects the repository `key` (as written in the file) as a whole, the
    tags of aliases it no longer declares included: the condition for pruning it. With
    `--only`, a pattern must name the repository itself, not only some of its aliases; with
    `--shard`, only the repository's own shard selects it, so that of N shards exactly one
    prunes it, whether or not it still has aliases."""
    if only and not any(p.matches_repository(key) for p in only):
        return False
    return shard is None or repository_shard(parse_repository(key), shard.count) == shard.index
