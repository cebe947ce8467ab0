"""`reconcile import REF...`: print the `manifests.yaml` entries that reproduce indexes pushed by
hand, so a team can adopt the aliases it already has.

For each REF (an index, by tag): its repository's tags are listed and read (a HEAD each; the
entries of index tags from the cache or one GET), `adopt.choose_sources` names the sources,
then the real pipeline checks the result: a source whose image config names another platform
than the index gets `platform:`, a media type `auto` would not pick is pinned, annotations are
copied. Last, the printed text itself is loaded as a config and planned against the registry:
every alias must come out `noop`. What cannot be reproduced is said on stderr and as a comment
in the output, and the exit code is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import TypeAdapter

from ..._config.models import Alias, AliasTarget, Config, Defaults, Repository, parse
from ..._errors import ReconcileError
from ..._model import platforms
from ..._model.names import ImageReference, RepositoryName
from ..._model.oci import DOCKER_LIST, OCI_INDEX, Descriptor, Platform, index_annotations
from ..._model.refs import parse_reference
from ..._output.render import describe_change
from ..._pipeline.desired import DesiredEntry, build_index
from ..._pipeline.observe import observe_alias
from ..._pipeline.plan import Action, AliasPlan, plan_alias
from ..._registry.interface import ReaderFor, RegistryReader
from ..._registry.registries import Registries
from ..adopt import Adoption, Choice, TagInfo, choose_sources
from ..lookup import entries_of, is_index
from . import EXIT_FAILED, EXIT_OK
from .remote import registry_config

__all__ = ["import_command"]

_READERS = 8  # tags read at once


@dataclass
class _Adopted:
    reference: ImageReference
    alias: dict[str, Any]  # the alias as written in the file
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.reference.repository)


def import_command(
    references: Sequence[str], *, file: Path | None, insecure: bool, stdout: TextIO, stderr: TextIO
) -> int:
    refs = [_alias_reference(text) for text in references]
    hosts = sorted({ref.repository.registry for ref in refs})
    cfg = _settings(file, hosts, insecure)
    adopted: list[_Adopted] = []
    failed = 0
    with Registries(cfg.registry_settings(), max_connections=_READERS) as registries:
        for repository, group in _by_repository(refs).items():
            try:
                client = registries.client(repository.registry)
                tags = read_tags(client, repository.name, exclude={ref.tag for ref in group})
            except ReconcileError as exc:
                print(f"reconcile: error: {repository}: {exc}", file=stderr)
                failed += len(group)
                continue
            for ref in group:
                try:
                    adopted.append(_adopt(registries.client, ref, tags))
                except ReconcileError as exc:
                    print(f"reconcile: error: {ref}: {exc}", file=stderr)
                    failed += 1
        text = render(cfg, hosts, adopted, references)
        _check_round_trip(text, adopted, registries.client)
    problems = [f"{a.key}:{a.reference.tag}: {p}" for a in adopted for p in a.problems]
    for problem in problems:
        print(f"reconcile: warning: {problem}", file=stderr)
    if adopted:
        stdout.write(render(cfg, hosts, adopted, references))
    return EXIT_FAILED if failed or problems else EXIT_OK


def _alias_reference(text: str) -> ImageReference:
    ref = parse_reference(text)
    if not ref.tag:
        raise ReconcileError(f"{text!r}: name the alias tag to adopt (REPOSITORY:TAG[@DIGEST])")
    return ref


def _settings(file: Path | None, hosts: Sequence[str], insecure: bool) -> Config:
    """Registry settings from the file (or ./manifests.yaml), `--insecure` on every host."""
    cfg = registry_config(file, hosts[0], insecure=insecure)
    for host in hosts[1:]:
        more = registry_config(file, host, insecure=insecure)
        cfg = cfg.model_copy(update={"registries": {**cfg.registries, **more.registries}})
    return cfg


def _by_repository(
    refs: Sequence[ImageReference],
) -> dict[RepositoryName, list[ImageReference]]:
    groups: dict[RepositoryName, list[ImageReference]] = {}
    for ref in refs:
        group = groups.setdefault(ref.repository, [])
        if all(other.tag != ref.tag for other in group):
            group.append(ref)
    return groups


def read_tags(client: RegistryReader, repository: str, *, exclude: set[str]) -> list[TagInfo]:
    """Every tag but `exclude` with what it points at (a HEAD each) and, for an index, its
    entries (from the cache, else one GET by digest)."""
    names = [tag for tag in client.list_tags(repository) if tag not in exclude]

    def read(tag: str) -> TagInfo | None:
        head = client.head_manifest(repository, tag)
        if head is None:
            return None  # deleted since it was listed
        if head.is_index:
            manifest = client.get_manifest(repository, head.digest)
            return TagInfo(tag, head, entries_of(manifest, client.host))
        return TagInfo(tag, head)

    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        return [info for info in pool.map(read, names) if info is not None]


def _adopt(client_for: ReaderFor, ref: ImageReference, tags: list[TagInfo]) -> _Adopted:
    client = client_for(ref.repository.registry)
    manifest = client.manifest_at(ref.repository.name, ref.ref)
    if manifest is None:
        raise ReconcileError(f"{ref} not found")  # as written: REPOSITORY:TAG[@DIGEST]
    if not is_index(manifest):
        raise ReconcileError("a single image, not an index: nothing to adopt (make it a source)")
    entries = entries_of(manifest, client.host)
    adoption = choose_sources(entries, tags)
    adopted = _Adopted(ref, {}, list(adoption.problems))
    annotations = index_annotations(manifest, client.host)
    adopted.alias = _alias_doc(adoption, {}, "", annotations)
    _fit_to(adopted, adoption, entries, manifest.media_type, client_for)
    return adopted


def _alias_doc(
    adoption: Adoption,
    platforms_by_source: dict[str, str],
    media_type: str,
    annotations: dict[str, str],
) -> dict[str, Any]:
    sources: list[Any] = []
    for choice in adoption.sources:
        name = choice.tag or choice.digest
        platform = platforms_by_source.get(name)
        if platform is None:
            sources.append(name)
        else:
            sources.append({"tag" if choice.tag else "digest": name, "platform": platform})
    alias: dict[str, Any] = {"sources": sources}
    if media_type:
        alias["media_type"] = media_type
    if annotations:
        alias["annotations"] = annotations
    if adoption.drop_attestations:
        alias["attestations"] = "drop"
    return alias


def _fit_to(
    adopted: _Adopted,
    adoption: Adoption,
    entries: Sequence[Descriptor],
    media_type: str,
    client_for: ReaderFor,
) -> None:
    """Resolve the sources as a run would; pin what differs from the adopted index: platforms
    that image configs spell otherwise, and a media type `auto` would not pick."""
    observed = observe_alias(_target(adopted), client_for)
    if observed.error is not None:
        adopted.problems.append(f"its sources cannot be read: {observed.error}")
        return
    try:
        desired = build_index(observed.target, observed.sources)
    except ReconcileError as exc:
        adopted.problems.append(f"its sources do not form an index: {exc}")
        return
    wanted = {e.digest: e.platform for e in entries if e.platform is not None}
    overrides: dict[str, str] = {}
    for entry in desired.entries:
        platform = wanted.get(entry.descriptor.digest)
        if entry.attestation_of is None and platform is not None:
            _override(adopted, adoption, entry, platform, overrides)
    pin = "" if desired.media_type == media_type else _pin(media_type)
    adopted.alias = _alias_doc(adoption, overrides, pin, adopted.alias.get("annotations", {}))


def _override(
    adopted: _Adopted,
    adoption: Adoption,
    entry: DesiredEntry,
    platform: Platform,
    overrides: dict[str, str],
) -> None:
    # Spelling aside (the index may say arm64/v8 where the config says arm64): same meaning,
    # nothing to override; a different platform is written as the index holds it.
    want, got = platforms.canonical(platform), entry.descriptor.platform
    if got is not None and platforms.same(want, got):
        return
    choice = _covering(adoption, entry.descriptor.digest)
    if choice is None or choice.is_index or want.os_version or want.os_features:
        adopted.problems.append(f"{entry.descriptor.digest} is {want} in the index, {got} here")
        return
    overrides[choice.tag or choice.digest] = "/".join(
        [want.os, want.architecture, *([want.variant] if want.variant else [])]
    )


def _covering(adoption: Adoption, digest: str) -> Choice | None:
    return next((c for c in adoption.sources if digest in c.covers), None)


def _pin(media_type: str) -> str:
    return {OCI_INDEX: "oci", DOCKER_LIST: "docker"}.get(media_type, "")


def _target(adopted: _Adopted) -> AliasTarget:
    alias = TypeAdapter(Alias).validate_python(adopted.alias)
    repository = Repository(aliases={adopted.reference.tag: alias})
    return AliasTarget.build(adopted.key, adopted.reference.tag, alias, Defaults(), repository)


def _check_round_trip(text: str, adopted: list[_Adopted], client_for: ReaderFor) -> None:
    """Load the printed text as a run would and plan it: every alias must be `noop`."""
    if not adopted:
        return
    try:
        targets = {t.name: t for t in parse(text, "import").targets()}
    except ReconcileError as exc:  # a bug here, never the user's: say so plainly
        adopted[0].problems.append(f"the output does not load as a config: {exc}")
        return
    for one in adopted:
        target = targets[f"{one.key}:{one.reference.tag}"]
        plan = plan_alias(observe_alias(target, client_for))
        if plan.action is not Action.NOOP:
            one.problems.append(f"reconcile would {plan.action.value} it: {_why(plan)}")


def _why(plan: AliasPlan) -> str:
    if plan.message:
        return plan.message
    said = [describe_change(c) for c in plan.changes]
    return "; ".join(f"{c.symbol} {c.subject} {c.detail}".strip() for c in said)


def render(
    cfg: Config, hosts: Sequence[str], adopted: Sequence[_Adopted], references: Sequence[str]
) -> str:
    """The YAML: registry settings that differ from the defaults, then one entry per
    repository with its adopted aliases; problems as comments above it."""
    doc: dict[str, Any] = {}
    settings = {h: cfg.registry(h).model_dump(mode="json", exclude_defaults=True) for h in hosts}
    if any(settings.values()):
        doc["registries"] = {h: s for h, s in settings.items() if s}
    repositories: dict[str, Any] = {}
    for one in adopted:
        aliases = repositories.setdefault(one.key, {"aliases": {}})["aliases"]
        aliases[one.reference.tag] = _shorthand(one.alias)
    doc["repositories"] = repositories
    head = [f"# reconcile import {' '.join(references)}"]
    head += [
        f"# NOT REPRODUCED {a.key}:{a.reference.tag}: {p}" for a in adopted for p in a.problems
    ]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    return "\n".join(head) + "\n" + body


def _shorthand(alias: dict[str, Any]) -> Any:
    """A bare list of sources when there is nothing else to say."""
    return alias["sources"] if list(alias) == ["sources"] else alias
