"""--only and --shard: a pure function over the config's targets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler._config.models import AliasTarget
from reconciler._config.selection import Pattern, SelectionError, Shard, select, shard_of

from .factories import parse_dict


def targets_of(repositories: dict[str, list[str]]) -> list[AliasTarget]:
    doc = {
        "repositories": {
            repo: {"aliases": {tag: [f"{tag}-src"] for tag in tags}}
            for repo, tags in repositories.items()
        }
    }
    return parse_dict(doc).targets()  # type: ignore[arg-type]


TARGETS = targets_of(
    {
        "localhost:5000/my-image": ["10", "11", "latest"],
        "localhost:5000/team/tool": ["1", "2"],
        "registry.example.com/base": ["10"],
        "alpine-mirror": ["3"],
    }
)


def names(targets: list[AliasTarget]) -> list[str]:
    return [t.name for t in targets]


@pytest.mark.parametrize(
    ("text", "repository", "alias"),
    [
        ("localhost:5000/my-image", "localhost:5000/my-image", None),
        ("localhost:5000/my-image:10", "localhost:5000/my-image", "10"),
        ("localhost:5000/*:1*", "localhost:5000/*", "1*"),
        ("*:latest", "*", "latest"),
        ("*", "*", None),
        ("alpine-mirror:3", "alpine-mirror", "3"),
        ("localhost:5000/*", "localhost:5000/*", None),
    ],
)
def test_patterns_split_at_the_last_colon_only_before_a_tag(
    text: str, repository: str, alias: str | None
) -> None:
    assert Pattern.parse(text) == Pattern(text, repository, alias)


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["localhost:5000/my-image"], ["10", "11", "latest"]),
        (["localhost:5000/my-image:1?"], ["10", "11"]),
        (["localhost:5000/*"], ["10", "11", "latest", "1", "2"]),
        (["*:10"], ["10", "10"]),
        (["*/team/*:2", "alpine-mirror"], ["3", "2"]),  # any pattern keeps an alias
        (["*"], ["3", "10", "11", "latest", "1", "2", "10"]),
    ],
)
def test_only_keeps_matching_aliases_in_file_order(  # (the factory sorts the file's keys)
    patterns: list[str], expected: list[str]
) -> None:
    selected = select(TARGETS, [Pattern.parse(p) for p in patterns])
    assert [t.tag for t in selected] == expected


def test_only_is_case_sensitive_and_matches_the_key_as_written() -> None:
    with pytest.raises(SelectionError, match="'LOCALHOST:5000/my-image' matches no alias"):
        select(TARGETS, [Pattern.parse("LOCALHOST:5000/my-image")])


def test_a_pattern_matching_nothing_is_an_error_naming_it() -> None:
    patterns = [Pattern.parse("localhost:5000/my-image"), Pattern.parse("my-imgae:10")]
    with pytest.raises(SelectionError, match="--only 'my-imgae:10' matches no alias"):
        select(TARGETS, patterns)


@pytest.mark.parametrize(
    ("text", "index", "count"), [("0/1", 0, 1), ("3/4", 3, 4), ("0/12", 0, 12)]
)
def test_shard_parses_i_of_n(text: str, index: int, count: int) -> None:
    assert Shard.parse(text) == Shard(index, count)
    assert str(Shard.parse(text)) == text


@pytest.mark.parametrize("text", ["1", "4/4", "5/4", "-1/4", "a/4", "0/0", "1/", "/2", "1/2/3"])
def test_shard_rejects_malformed_values(text: str) -> None:
    with pytest.raises(SelectionError):
        Shard.parse(text)


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_shards_partition_the_aliases(count: int) -> None:
    shards = [select(TARGETS, shard=Shard(i, count)) for i in range(count)]
    every = [name for shard in shards for name in names(shard)]
    assert sorted(every) == sorted(names(TARGETS))  # each alias in exactly one shard


@given(
    st.lists(
        st.from_regex(r"[a-z][a-z0-9]{0,8}(/[a-z][a-z0-9]{0,8})?", fullmatch=True),
        min_size=1,
        max_size=25,
        unique=True,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_any_config_is_partitioned_by_repository(repos: list[str], count: int) -> None:
    targets = targets_of({f"localhost:5000/{r}": ["a", "b"] for r in repos})
    shards = [select(targets, shard=Shard(i, count)) for i in range(count)]
    every = [name for shard in shards for name in names(shard)]
    assert sorted(every) == sorted(names(targets))
    for shard in shards:  # both aliases of a repository travel together
        assert len({t.key for t in shard}) * 2 == len(shard)


def test_the_shard_of_a_repository_is_stable() -> None:
    """Pinned values: the hash must not change between versions, or a new release of the tool
    would move repositories between jobs (sha256 of `registry/name`, first 8 bytes, mod N)."""
    by_key = {t.key: shard_of(t, 4) for t in TARGETS}
    assert by_key == {
        "alpine-mirror": 1,
        "localhost:5000/my-image": 2,
        "localhost:5000/team/tool": 2,
        "registry.example.com/base": 2,
    }


@pytest.mark.parametrize("spelling", ["alpine-mirror", "docker.io/alpine-mirror"])
def test_the_hash_uses_the_normalised_repository(spelling: str) -> None:
    [short] = targets_of({spelling: ["3"]})
    [full] = targets_of({"docker.io/library/alpine-mirror": ["3"]})
    assert shard_of(short, 97) == shard_of(full, 97)


def test_only_then_shard() -> None:
    only = [Pattern.parse("localhost:5000/*")]
    shards = [select(TARGETS, only, Shard(i, 2)) for i in range(2)]
    assert sorted(n for s in shards for n in names(s)) == sorted(names(select(TARGETS, only)))
