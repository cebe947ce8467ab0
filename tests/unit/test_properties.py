"""Properties of the pure stages, checked on generated inputs (hypothesis).

- planning an alias against a live index made of its own desired entries is always a noop,
  whatever the spelling of the platforms, the order of the entries or (under `auto`) the
  index media type;
- platform normalisation is idempotent, and `parse(str(p))` gives back a normalised `p`;
- a config that goes through YAML (any style) and back gives the same targets and plan;
- junk text or junk YAML structures make `config.parse` raise `ConfigError`, nothing else;
- the desired index bytes are deterministic and hash to the manifest digest.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from reconciler._config.models import AliasTarget, Config, parse
from reconciler._errors import ConfigError
from reconciler._model import platforms
from reconciler._model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Platform,
    digest_of,
)
from reconciler._pipeline.desired import DesiredIndex, build_index
from reconciler._pipeline.observed import LiveTag, ObservedAlias, ResolvedSource
from reconciler._pipeline.plan import Action, AliasPlan, plan_alias

from .factories import ABSENT, attestation, digest, target

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(SETTINGS, max_examples=50)

# -- platforms ----------------------------------------------------------------------------

OS_SPELLINGS = ["linux", "Linux", "LINUX", "windows", "darwin", "macos", "MacOS", "freebsd"]
ARCH_SPELLINGS = [
    "amd64",
    "AMD64",
    "x86_64",
    "x86-64",
    "arm64",
    "aarch64",
    "ARM64",
    "arm",
    "armhf",
    "armel",
    "386",
    "i386",
    "ppc64le",
    "s390x",
    "riscv64",
    "mips64le",
    "wasm",
]
VARIANT_SPELLINGS = ["", "", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "V8", "8", "7", "v8.0"]
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def spelled_platforms(*, with_os_version: bool = False) -> st.SearchStrategy[Platform]:
    """Platforms as producers write them: aliases, capitals, baseline variants; plus some
    arbitrary names, since normalisation must hold for anything."""
    name = st.text(NAME_CHARS, min_size=1, max_size=8)
    os_version = (
        st.sampled_from(["", "10.0.17763.1879", "10.0.20348"]) if with_os_version else st.just("")
    )
    return st.builds(
        Platform,
        os=st.one_of(st.sampled_from(OS_SPELLINGS), name),
        architecture=st.one_of(st.sampled_from(ARCH_SPELLINGS), name),
        variant=st.one_of(st.sampled_from(VARIANT_SPELLINGS), name),
        os_version=os_version,
    )


def key(p: Platform) -> str:
    return str(platforms.normalize(p))


@SETTINGS
@given(spelled_platforms(with_os_version=True))
def test_normalize_is_idempotent(platform: Platform) -> None:
    once = platforms.normalize(platform)
    assert platforms.normalize(once) == once


@SETTINGS
@given(
    st.builds(
        Platform,
        os=st.text(max_size=6),
        architecture=st.text(max_size=6),
        variant=st.text(max_size=6),
    )
)
def test_normalize_is_idempotent_for_any_text(platform: Platform) -> None:
    once = platforms.normalize(platform)
    assert platforms.normalize(once) == once


@SETTINGS
@given(spelled_platforms())
def test_parse_spells_canonically_and_means_the_same_platform(platform: Platform) -> None:
    normal = platforms.normalize(platform)
    assert platforms.parse(str(normal)) == normal  # a normalised platform is spelled as is
    # parsing any spelling gives its canonical spelling, which normalises to the same key
    written = "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
    spelled = platforms.parse(written)
    assert spelled == platforms.canonical(platform)
    assert platforms.normalize(spelled) == normal


# -- aliases: sources, desired index, live state ------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """An alias and what its sources resolved to."""

    target: AliasTarget
    sources: tuple[ResolvedSource, ...]
    # each source's entries as the producer spelled them (before normalisation)
    written: tuple[tuple[Descriptor, ...], ...]


@st.composite
def scenarios(
    draw: st.DrawFn, media_types: tuple[str | None, ...] = (None, "auto", "oci", "docker")
) -> Scenario:
    """1-4 sources, single images or (buildx-style) indexes with attestations, over distinct
    normalised platforms; the alias's media type, attestation policy and annotations vary."""
    plats = draw(st.lists(spelled_platforms(), min_size=1, max_size=6, unique_by=key))
    cuts = (
        sorted(draw(st.sets(st.integers(1, len(plats) - 1), max_size=3))) if len(plats) > 1 else []
    )
    groups = [plats[a:b] for a, b in zip([0, *cuts], [*cuts, len(plats)], strict=True)]
    chosen = draw(st.sampled_from(media_types))
    docker = chosen == "docker"
    policy = "drop" if docker else draw(st.sampled_from([None, "keep", "drop"]))
    annotations = (
        {}
        if docker
        else draw(
            st.dictionaries(
                st.text("abc.-019", min_size=1, max_size=8), st.text(max_size=8), max_size=3
            )
        )
    )
    t = target(
        "alias",
        [f"src-{i}" for i in range(len(groups))],
        media_type=chosen,
        attestations=policy,
        annotations=annotations,
    )
    resolved: list[ResolvedSource] = []
    written: list[tuple[Descriptor, ...]] = []
    n = 0
    for source, group in zip(t.sources, groups, strict=True):
        images = []
        for plat in group:
            kind = draw(st.sampled_from([DOCKER_MANIFEST, OCI_MANIFEST]))
            images.append(Descriptor(kind, digest(f"image-{n}"), 400 + n, plat))
            n += 1
        is_index = len(group) > 1 or draw(st.booleans())
        proofs = (
            [attestation(img, f"proof-{img.digest}") for img in images if draw(st.booleans())]
            if is_index
            else []
        )
        entries = (*images, *proofs)
        head = (
            Descriptor(OCI_INDEX, digest(f"index-{source.label}"), 900)
            if is_index
            else Descriptor(images[0].media_type, images[0].digest, images[0].size)
        )
        resolved.append(ResolvedSource(source, head, entries))
        written.append(entries)
    return Scenario(t, tuple(resolved), tuple(written))


def live_from(
    desired: DesiredIndex, entries: tuple[Descriptor, ...], media_type: str | None = None
) -> LiveTag:
    head = Descriptor(media_type or desired.media_type, digest("someone-else's-bytes"), 1234)
    return LiveTag("index", head, entries, dict(desired.annotations))


def written_entries(s: Scenario, rng: random.Random) -> tuple[Descriptor, ...]:
    """The alias as another tool would have written it: the producers' spellings, attestations
    dropped when the policy says so, entries in any order."""
    entries = [e for group in s.written for e in group]
    if s.target.attestations == "drop":
        entries = [e for e in entries if e.attestation_of is None]
    rng.shuffle(entries)
    return tuple(entries)


def other_index_type(media_type: str) -> str:
    return OCI_INDEX if media_type == DOCKER_LIST else DOCKER_LIST


def plan_against(s: Scenario, live: LiveTag) -> AliasPlan:
    return plan_alias(ObservedAlias(s.target, live, s.sources))


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_a_live_index_of_the_desired_entries_plans_a_noop(s: Scenario, rng: random.Random) -> None:
    desired = build_index(s.target, s.sources)
    own = tuple(e.descriptor for e in desired.entries)
    theirs = written_entries(s, rng)
    for live in (live_from(desired, own), live_from(desired, theirs)):
        plan = plan_against(s, live)
        assert (plan.action, plan.changes) == (Action.NOOP, ()), plan
    other = other_index_type(desired.media_type)
    if s.target.media_type == "auto":  # the other index type with the same children is in sync
        assert plan_against(s, live_from(desired, theirs, other)).action is Action.NOOP
    else:  # a pinned type is compared, and it is the only difference
        changed = plan_against(s, live_from(desired, theirs, other))
        assert changed.action is Action.UPDATE
        assert [c.field for c in changed.changes] == ["media_type"]


def rebuilt(s: Scenario) -> tuple[ResolvedSource, ...]:
    """Equal sources made of fresh objects, annotations inserted in the opposite order."""

    def fresh(d: Descriptor) -> Descriptor:
        plat = None if d.platform is None else replace(d.platform)  # a fresh, equal object
        notes = dict(reversed(list(d.annotations.items())))
        return Descriptor(d.media_type, d.digest, d.size, plat, notes)

    return tuple(
        ResolvedSource(r.source, fresh(r.descriptor), tuple(fresh(e) for e in r.entries))
        for r in s.sources
    )


@SETTINGS
@given(scenarios())
def test_desired_bytes_are_deterministic_and_hash_to_the_digest(s: Scenario) -> None:
    first = build_index(s.target, s.sources)
    raw = first.manifest.raw
    assert build_index(s.target, rebuilt(s)).manifest.raw == raw
    assert first.manifest.digest == digest_of(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()
    doc = json.loads(raw)
    assert doc["mediaType"] == first.media_type == first.manifest.media_type
    listed = [m["digest"] for m in doc["manifests"]]
    assert listed == [e.descriptor.digest for e in first.entries]
    assert len(set(listed)) == len(listed)  # some registries reject a child listed twice
    # runnable entries in source order, platforms as written; then attestations in that order
    runnable = [e for group in s.written for e in group if e.attestation_of is None]
    assert listed[: len(runnable)] == [e.digest for e in runnable]
    for entry, image in zip(doc["manifests"], runnable, strict=False):
        assert image.platform is not None
        assert Platform.from_json(entry["platform"]) == image.platform
    described = [e.descriptor.attestation_of for e in first.entries[len(runnable) :]]
    assert all(d is not None for d in described)
    order = [e.digest for e in runnable]
    assert [order.index(d or "") for d in described] == sorted(
        order.index(d or "") for d in described
    )
    if s.target.attestations == "drop":
        assert described == []


# -- config round trips through YAML --------------------------------------------------------

TRICKY_TAGS = [
    "10",
    "10.10",
    "10.20",
    "1e3",
    "1.0e-3",
    "0x1F",
    "010",
    "1_000",
    "true",
    "False",
    "yes",
    "no",
    "on",
    "null",
    "NULL",
    "Infinity",
    "2001-12-14",
    "latest",
]
TAG_FIRST = "abcxyzABCXYZ0123456789_"
TAG_REST = TAG_FIRST + "._-"
tags = st.one_of(
    st.sampled_from(TRICKY_TAGS),
    st.builds(str.__add__, st.sampled_from(TAG_FIRST), st.text(TAG_REST, max_size=12)),
)
HOSTS = ["localhost:5000", "127.0.0.1:5000", "registry.example.com", "ghcr.io"]
component = st.builds(
    lambda a, sep, b: a + (sep + b if b else ""),
    st.text("abz019", min_size=1, max_size=5),
    st.sampled_from([".", "_", "__", "-", "--"]),
    st.text("abz019", max_size=4),
)
repo_names = st.lists(component, min_size=1, max_size=3).map("/".join)
digests = st.integers(0, 10**6).map(lambda n: digest(f"d{n}"))
override = st.sampled_from(["linux/amd64", "linux/aarch64", "linux/arm/v7", "windows/amd64"])


def _source_name(source: Any) -> str:
    """The tag or digest a drawn source names, however it is written."""
    return str(source["tag"]) if isinstance(source, dict) else str(source)


@st.composite
def alias_values(draw: st.DrawFn, tag: str, media_default: str) -> Any:
    def source() -> Any:
        form = draw(st.sampled_from(["tag", "digest", "long"]))
        if form == "tag":
            return draw(tags.filter(lambda t: t != tag))
        if form == "digest":
            return draw(digests)
        doc: dict[str, str] = {"tag": draw(tags.filter(lambda t: t != tag))}
        if draw(st.booleans()):
            doc["platform"] = draw(override)
        return doc

    sources: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        drawn = source()
        if _source_name(drawn) not in {_source_name(s) for s in sources}:
            sources.append(drawn)  # the same source twice in one alias is a config error
    if draw(st.booleans()):
        return sources
    long: dict[str, Any] = {"sources": sources}
    media = draw(st.sampled_from([None, "auto", "oci", "docker"]))
    if media:
        long["media_type"] = media
    if (media or media_default) != "docker" and draw(st.booleans()):
        long["annotations"] = draw(
            st.dictionaries(
                st.sampled_from(["team", "org.example.a"]),
                st.sampled_from(["infra", "10.1", "yes"]),
            )
        )
    if draw(st.booleans()):
        long["attestations"] = draw(st.sampled_from(["keep", "drop"]))
    return long


@st.composite
def config_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["version"] = 1
    media_default = draw(st.sampled_from(["auto", "oci", "docker"]))
    if media_default != "auto" or draw(st.booleans()):
        doc["defaults"] = {
            "media_type": media_default,
            "attestations": draw(st.sampled_from(["keep", "drop"])),
        }
    hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        doc["registries"] = {
            host: {"insecure": draw(st.booleans()), "timeout": draw(st.sampled_from([1, 2.5, 30]))}
            for host in hosts
        }
    repositories: dict[str, Any] = {}
    for host in hosts:
        for name in draw(st.lists(repo_names, min_size=1, max_size=2, unique=True)):
            alias_tags = draw(st.lists(tags, min_size=1, max_size=3, unique=True))
            repositories[f"{host}/{name}"] = {
                "aliases": {t: draw(alias_values(t, media_default)) for t in alias_tags}
            }
    doc["repositories"] = repositories
    return doc


DUMPERS: list[Callable[[Any], str]] = [
    lambda d: yaml.safe_dump(d, sort_keys=False),
    lambda d: yaml.safe_dump(d, default_flow_style=True),
    lambda d: yaml.safe_dump(d, default_style='"'),  # every scalar quoted
    lambda d: json.dumps(d, indent=1),  # JSON is YAML
]


def observed_for(targets: list[AliasTarget]) -> list[ObservedAlias]:
    """A registry where every source resolves to one image, its platform picked by its name."""
    pool = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le"]
    out = []
    for t in targets:
        resolved = []
        for source in t.sources:
            label = source.tag or source.digest or ""
            plat = source.platform_override or platforms.parse(
                pool[int(hashlib.sha256(label.encode()).hexdigest(), 16) % len(pool)]
            )
            image = Descriptor(DOCKER_MANIFEST, digest(f"{t.key}:{label}"), 500, plat)
            resolved.append(ResolvedSource(source, image, (image,)))
        out.append(ObservedAlias(t, ABSENT, tuple(resolved)))
    return out


def by_name(t: AliasTarget) -> str:
    return t.name


def plan_view(config: Config) -> list[tuple[Any, ...]]:
    plans = [plan_alias(o) for o in observed_for(config.targets())]
    return [
        (
            p.target.name,
            p.action,
            p.desired.manifest.raw if p.desired else None,
            p.changes,
            p.message,
        )
        for p in plans
    ]


@FEWER
@given(config_docs(), st.sampled_from(range(len(DUMPERS))), st.sampled_from(range(len(DUMPERS))))
def test_a_config_round_trips_through_yaml_to_the_same_targets_and_plan(
    doc: dict[str, Any], first: int, second: int
) -> None:
    config = parse(DUMPERS[first](doc))
    assert sorted(t.name for t in config.targets()) == sorted(
        f"{key}:{tag}" for key, repo in doc["repositories"].items() for tag in repo["aliases"]
    )
    dumped = config.model_dump(mode="json", exclude_none=True)
    again = parse(DUMPERS[second](dumped))
    # A dumper that sorts keys changes the order of aliases in the file, nothing else.
    assert sorted(again.targets(), key=by_name) == sorted(config.targets(), key=by_name)
    assert sorted(plan_view(again)) == sorted(plan_view(config))


# -- junk never escapes as anything but ConfigError ----------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "~", "sha256:", "linux/", "-1", "1e999", "10.10", "\x00", "²"]),
    st.binary(max_size=8),
    st.dates(),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.integers(), st.booleans()), inner, max_size=4
        ),
    ),
    max_leaves=20,
)
VALID_REPO = {"localhost:5000/app": {"aliases": {"1": ["1.1", "1.2"]}}}


def in_aliases(value: Any) -> Any:
    return {"repositories": {"localhost:5000/app": {"aliases": value}}}


def as_key(value: Any, wrap: Callable[[Any], Any]) -> Any:
    """`value` used as a mapping key where it can be one, else in place of the mapping."""
    return wrap({value: ["2"]}) if isinstance(value, str | int | bool) else wrap(value)


# Valid documents with one place replaced by junk: each reaches a different validator.
TEMPLATES: list[Callable[[Any], Any]] = [
    lambda j: j,
    lambda j: {"repositories": j},
    lambda j: {"repositories": {"localhost:5000/app": j}},
    in_aliases,
    lambda j: in_aliases({"1": j}),
    lambda j: in_aliases({"1": [j]}),
    lambda j: in_aliases({"1": [{"tag": "2", "platform": j}]}),
    lambda j: in_aliases({"1": {"sources": ["2"], "annotations": j}}),
    lambda j: in_aliases({"1": {"sources": ["2"], "media_type": j}}),
    lambda j: as_key(j, in_aliases),
    lambda j: as_key(
        j,
        lambda m: (
            {"repositories": {k: {"aliases": {"1": v}} for k, v in m.items()}}
            if isinstance(m, dict)
            else {"repositories": m}
        ),
    ),
    lambda j: {"registries": j, "repositories": VALID_REPO},
    lambda j: {"registries": {"localhost:5000": j}, "repositories": VALID_REPO},
    lambda j: {"registries": {"localhost:5000": {"timeout": j}}, "repositories": VALID_REPO},
    lambda j: {"registries": {"localhost:5000": {"endpoint": j}}, "repositories": VALID_REPO},
    lambda j: {"defaults": j, "repositories": VALID_REPO},
    lambda j: {"version": j, "repositories": VALID_REPO},
    lambda j: {"repositories": VALID_REPO, "extra": j},
]


def parse_only_config_errors(text: str) -> None:
    try:
        parse(text, "junk.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("junk.yaml")


# Everything YAML accepts as text (control characters have their own test below).
yaml_text = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"),
        st.sampled_from("\t\n\r:-[]{}&*!|>'\"%@`#,?"),
    ),
    max_size=300,
)


@SETTINGS
@given(yaml_text)
@example("repositories: [")
@example("? [a, b]\n: c\n")
@example("a: b\na: c\n")
@example("repositories: !!python/object/apply:os.system ['true']\n")
@example("\t- x")
@example("%YAML 1.1\n%YAML 1.1\n---\n")
@example("--- a\n--- b\n")
def test_junk_text_gives_a_config_error(text: str) -> None:
    parse_only_config_errors(text)


@SETTINGS
@given(st.sampled_from(range(len(TEMPLATES))), junk, st.sampled_from(range(len(DUMPERS))))
def test_junk_structures_give_a_config_error(template: int, value: Any, dumper: int) -> None:
    doc = TEMPLATES[template](value)
    try:
        text = DUMPERS[dumper](doc)
    except (TypeError, ValueError, yaml.YAMLError):
        reject()  # e.g. JSON cannot hold bytes or dates
    parse_only_config_errors(text)


@pytest.mark.parametrize("version", ["²", "1" * 5000], ids=["superscript", "5000-digits"])
# Found by the properties above: str.isdigit() accepts text int() refuses ('²', or more than
# 4300 digits); self-referencing YAML aliases recursed forever; control characters escaped
# as the reader's own exception. Each is now a ConfigError.
def test_a_strange_version_is_a_config_error(version: str) -> None:
    with pytest.raises(ConfigError, match="version"):
        parse(f"version: {version}\nrepositories: {{}}\n")


def test_a_recursive_yaml_anchor_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse("repositories: &loop\n  localhost:5000/app: *loop\n")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufffe"])
def test_a_control_character_is_a_config_error(char: str) -> None:
    with pytest.raises(ConfigError):
        parse(f"repositories: {{}}{char}\n")
