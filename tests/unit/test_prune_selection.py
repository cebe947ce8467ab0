"""Which runs prune a repository: only those that select it as a whole (issue 11, defect 8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler._config.selection import (
    Pattern,
    SelectionError,
    Shard,
    repository_shard,
    select,
    selects_repository,
)
from reconciler._model.names import parse_repository

from .test_selection import targets_of

KEY = "localhost:5000/app"
OWN = repository_shard(parse_repository(KEY), 3)  # the shard of KEY among 3
OTHER = (OWN + 1) % 3


@pytest.mark.parametrize(
    ("only", "shard", "prunes"),
    [
        ([], None, True),  # a full run
        ([KEY], None, True),
        (["localhost:5000/*"], None, True),  # a glob naming the repository
        ([f"{KEY}:*"], None, True),  # every alias, removed ones included
        ([f"{KEY}:10"], None, False),  # one alias, even the only one left in the file
        ([f"{KEY}:1*"], None, False),  # some aliases
        (["*:10"], None, False),
        (["localhost:5000/other"], None, False),
        ([f"{KEY}:10", KEY], None, True),  # any pattern naming it is enough
        ([], Shard(OWN, 3), True),
        ([], Shard(OTHER, 3), False),
        ([KEY], Shard(OWN, 3), True),
        ([KEY], Shard(OTHER, 3), False),
        ([f"{KEY}:10"], Shard(OWN, 3), False),
        ([], Shard(0, 1), True),
    ],
)
def test_a_run_prunes_a_repository_only_when_it_selects_all_of_it(
    only: list[str], shard: Shard | None, prunes: bool
) -> None:
    patterns = [Pattern.parse(text) for text in only]
    assert selects_repository(KEY, patterns, shard) is prunes


@given(
    st.from_regex(r"[a-z][a-z0-9]{0,8}(/[a-z][a-z0-9]{0,8})?", fullmatch=True),
    st.integers(min_value=1, max_value=9),
)
def test_exactly_one_shard_prunes_any_repository(name: str, count: int) -> None:
    key = f"localhost:5000/{name}"
    pruning = [i for i in range(count) if selects_repository(key, (), Shard(i, count))]
    assert len(pruning) == 1
    # ... the very shard that handles the repository's aliases
    [target] = targets_of({key: ["a"]})
    assert select([target], shard=Shard(pruning[0], count)) == [target]


def test_a_pattern_naming_a_repository_without_aliases_is_not_a_typo() -> None:
    targets = targets_of({"localhost:5000/app": ["10"]})
    keys = ["localhost:5000/app", "localhost:5000/emptied"]
    emptied = [Pattern.parse("localhost:5000/emptied")]
    assert select(targets, emptied, repositories=keys) == []
    with pytest.raises(SelectionError, match="'localhost:5000/emptied:10' matches no alias"):
        select(targets, [Pattern.parse("localhost:5000/emptied:10")], repositories=keys)
    with pytest.raises(SelectionError, match="'localhost:5000/emptied' matches no alias"):
        select(targets, emptied)  # not a key of this file
