"""The per-alias settings added for guards, referrers and hooks: `require_platforms`,
`monotonic` and `referrers` in defaults, on a repository or on an alias; `hooks` in defaults
or on a repository. The nearest setting wins whole: lists are not merged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reconciler._config.models import AliasTarget, Hooks, parse
from reconciler._errors import ConfigError


def target(defaults: dict[str, Any], repository: dict[str, Any], alias: dict[str, Any]) -> Any:
    doc = {
        "defaults": defaults,
        "repositories": {
            "r.test/app": {**repository, "aliases": {"10": {"track": "10.*", **alias}}}
        },
    }
    targets = parse(yaml.safe_dump(doc)).targets()
    assert len(targets) == 1
    return targets[0]


NEAREST: list[tuple[str, Any, Any, Any, Any]] = [
    # field, defaults, repository, alias, effective
    ("require_platforms", None, None, None, ()),
    ("require_platforms", ["linux/amd64"], None, None, ("linux/amd64",)),
    ("require_platforms", ["linux/amd64"], ["linux/arm64"], None, ("linux/arm64",)),
    ("require_platforms", ["linux/amd64", "linux/arm64"], ["linux/s390x"], [], ()),
    ("monotonic", None, None, None, False),
    ("monotonic", True, None, None, True),
    ("monotonic", True, False, None, False),
    ("monotonic", False, True, False, False),
    ("referrers", None, None, None, "copy"),
    ("referrers", "skip", None, None, "skip"),
    ("referrers", "skip", "copy", None, "copy"),
    ("referrers", "copy", None, "skip", "skip"),
]


@pytest.mark.parametrize(("field", "defaults", "repository", "alias", "effective"), NEAREST)
def test_the_nearest_setting_wins_whole(
    field: str, defaults: Any, repository: Any, alias: Any, effective: Any
) -> None:
    def given(value: Any) -> dict[str, Any]:
        return {} if value is None else {field: value}

    found = target(given(defaults), given(repository), given(alias))
    assert getattr(found, field) == effective


def test_hooks_come_from_the_repository_else_the_defaults() -> None:
    everywhere = {"after_write": ["notify", "all"]}
    mine = {"after_write": ["sign"], "timeout": 5}
    assert target({"hooks": everywhere}, {}, {}).hooks == Hooks(after_write=["notify", "all"])
    assert target({"hooks": everywhere}, {"hooks": mine}, {}).hooks == Hooks(
        after_write=["sign"], timeout=5
    )
    assert target({}, {}, {}).hooks is None


def test_an_alias_without_the_new_keys_gets_the_old_defaults() -> None:
    plain = parse("repositories:\n  r.test/app:\n    aliases:\n      '10': ['10.1']\n").targets()
    assert plain[0] == AliasTarget(
        key="r.test/app",
        repository=plain[0].repository,
        tag="10",
        sources=plain[0].sources,
        media_type="auto",
        annotations=(),
        attestations="keep",
    )


BAD = [
    (
        "defaults:\n  require_platforms: [linux/amd64, 'linux//arm64']\n",
        2,
        "defaults.require_platforms[1]",
    ),
    (
        "repositories:\n  r.test/app:\n    aliases:\n"
        "      '10': {sources: ['10.1'], monotonic: true}\n",
        4,
        "repositories.r.test/app.aliases.10.monotonic",
    ),
    (
        "defaults:\n  hooks: {after_write: []}\n",
        2,
        "defaults.hooks.after_write",
    ),
    (
        "repositories:\n  r.test/app:\n    hooks: {after_write: [sign], timeout: 0}\n"
        "    aliases: {'10': ['10.1']}\n",
        3,
        "repositories.r.test/app.hooks.timeout",
    ),
    (
        "repositories:\n  r.test/app:\n    aliases:\n"
        "      '10': {sources: ['10.1'], hooks: {after_write: [sign]}}\n",
        4,
        "repositories.r.test/app.aliases.10.hooks",
    ),
    (
        "defaults:\n  referrers: always\n",
        2,
        "defaults.referrers",
    ),
]


@pytest.mark.parametrize(("text", "line", "field"), BAD)
def test_a_wrong_setting_names_its_line_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text, "m.yaml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert str(caught.value).startswith(f"m.yaml:{line}: {field}: ")
