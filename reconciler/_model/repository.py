"""What a registry says of a repository, as a value the pure stages can read."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RepositoryState"]


@dataclass(frozen=True)
class RepositoryState:
    """What a registry says of an alias's repository before anything is planned. A registry
    without such settings (the distribution API has none) says the defaults: the repository
    exists (a push creates it), and its tags may move."""

    exists: bool = True
    tag_immutable: bool = False  # the alias tag cannot be pointed at other content
    mutability: str = ""  # the registry's name for its tag mutability setting
