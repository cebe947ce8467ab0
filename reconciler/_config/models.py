"""`manifests.yaml`, version 1: pydantic models, loading with line numbers, defaults applied once.

`load(path)` either returns a `Config` or raises `ConfigError` listing every problem with its
file, line and field. It never touches the network.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from .._errors import ConfigError
from .._model import platforms
from .._model.names import (
    ImageReference,
    RepositoryName,
    canonical_host,
    check_tag,
    parse_ecr_host,
    parse_reference,
    parse_repository,
)
from .._model.oci import Platform, is_digest
from .._model.track import Track, TrackScheme
from .._model.track import check as check_track
from .._registry.settings import AuthMode, HostSettings, SettingsByHost, entry_for
from . import yamlsource

__all__ = [
    "AliasTarget",
    "Config",
    "RegistrySettings",
    "Source",
    "load",
    "load_unless_empty",
    "parse",
]

CONFIG_VERSION = 1
MANAGED_ANNOTATION = "vnd.reconciler.alias"  # marks indexes of `prune: true` repositories
MediaTypeChoice = Literal["auto", "oci", "docker"]
AttestationPolicy = Literal["keep", "drop"]
ReferrersPolicy = Literal["copy", "skip"]


def _check_repository(text: str) -> str:
    parse_repository(text)
    return text


def _check_platform(text: str) -> str:
    platforms.parse(text)
    return text


def _check_endpoint(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError("endpoint must be a base URL starting with http:// or https://")
    return text.rstrip("/")


TagText = Annotated[str, AfterValidator(check_tag)]
PlatformText = Annotated[str, AfterValidator(_check_platform)]
RepositoryKey = Annotated[str, AfterValidator(_check_repository)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# A config holds an alias and its sources per line or two of the file: those are slotted
# dataclasses, not models, about 100 bytes each instead of 500 (a model's __dict__ and
# fields-set), which a run with 20,000 aliases holds for its whole length.
_PER_ALIAS = ConfigDict(extra="forbid", defer_build=True)


_HOST = HostSettings()  # the registry layer's defaults are the file's


class RegistrySettings(_Model):
    """How to reach one registry host."""

    insecure: bool = Field(_HOST.insecure, description="plain HTTP instead of HTTPS")
    endpoint: Annotated[str, AfterValidator(_check_endpoint)] | None = Field(
        _HOST.endpoint, description="base URL to talk to instead of https://<host>"
    )
    ca_file: Path | None = Field(
        _HOST.ca_file,
        description="PEM bundle to verify the registry's TLS; relative to the config file",
    )
    timeout: float = Field(_HOST.timeout, gt=0, description="seconds allowed for one request")
    concurrency: int | None = Field(
        _HOST.concurrency,
        ge=1,
        description="requests in flight to this registry (default: --concurrency)",
    )
    auth: AuthMode = Field(
        _HOST.auth,
        description="auto: ECR auth for ECR hosts, docker credentials otherwise; ecr forces "
        "ECR auth (proxies, tests); docker opts out",
    )
    aws_profile: str | None = Field(
        _HOST.aws_profile, description="AWS profile for ECR (default chain)"
    )
    region: str | None = Field(
        _HOST.region, description="AWS region for ECR (default: from the host)"
    )
    create_repository: bool = Field(
        _HOST.create_repository,
        description="ECR: create a missing repository instead of failing its aliases",
    )

    def host_settings(self) -> HostSettings:
        """This entry as the registry layer takes it (the class docstring is the schema's)."""
        return HostSettings(
            insecure=self.insecure,
            endpoint=self.endpoint,
            ca_file=self.ca_file,
            timeout=self.timeout,
            concurrency=self.concurrency,
            auth=self.auth,
            aws_profile=self.aws_profile,
            region=self.region,
            create_repository=self.create_repository,
        )


def _check_reference(text: str) -> str:
    parse_reference(text)
    return text


@pydantic_dataclass(config=_PER_ALIAS, frozen=True, slots=True)
class Source:
    """One source of an alias: a tag or digest in the alias's repository, or a full reference
    to another repository or registry (its images are copied into the alias's repository)."""

    tag: TagText | None = None
    digest: str | None = None
    ref: Annotated[str, AfterValidator(_check_reference)] | None = Field(
        default=None, description="[registry/]repository[:tag][@digest] in another repository"
    )
    platform: Annotated[str, AfterValidator(_check_platform)] | None = Field(
        default=None, description="override the platform read from the image config"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if "/" in value or "@" in value:  # tags have neither: a full reference
                return {"ref": value}
            return {"digest": value} if value.startswith("sha256:") else {"tag": value}
        return value

    @model_validator(mode="after")
    def _one_reference(self) -> Source:
        given = [f for f in (self.tag, self.digest, self.ref) if f is not None]
        if len(given) != 1:
            raise ValueError("a source needs exactly one of tag, digest or ref")
        if self.digest is not None and not is_digest(self.digest):
            raise ValueError(f"invalid digest {self.digest!r}: expected sha256:<64 hex digits>")
        return self

    def locate(self, home: RepositoryName) -> ImageReference:
        """Where this source lives: `home` (the alias's repository) unless `ref` says else."""
        if self.ref is not None:
            return parse_reference(self.ref)
        return ImageReference(home, self.tag or "", self.digest or "")

    @property
    def label(self) -> str:
        """How plans and errors name this source: the tag, a short digest, or the reference."""
        return self.tag or self.ref or (self.digest or "")[:19]

    @property
    def platform_override(self) -> Platform | None:
        return platforms.parse(self.platform) if self.platform else None


_REQUIRE_PLATFORMS = (
    "platforms the alias's index must hold; one missing makes the alias a conflict and"
    " nothing is written for it, --force or not"
)
_MONOTONIC = (
    "floating aliases: a platform never moves to an older version than the one it holds now"
)
_REFERRERS = (
    "copy: a child copied from another repository brings its signatures, SBOMs and"
    " attestations (OCI referrers, and cosign's .sig/.att/.sbom tags); skip: it does not"
)


class Hooks(_Model):
    """Commands run after this tool wrote an alias (never on a dry run or a noop)."""

    after_write: list[str] = Field(
        min_length=1,
        description="the command and its arguments, run once per alias written, with"
        " RECONCILE_ALIAS, RECONCILE_DIGEST and RECONCILE_ACTION in its environment",
    )
    timeout: float = Field(60, gt=0, description="seconds before the command is killed")


@pydantic_dataclass(config=_PER_ALIAS, frozen=True, slots=True)
class Alias:
    """The long form of an alias; a bare list is shorthand for `{sources: [...]}`. An alias
    either lists its sources or tracks the newest tag matching a pattern, per platform."""

    sources: list[Source] | None = Field(default=None, min_length=1)
    track: str | None = Field(
        default=None,
        min_length=1,
        description="follow, per platform, the newest tag matching this glob (`10.*`) or, with"
        " scheme semver, this range (`~10`, `^1.2`, `>=1.0 <2`)",
    )
    scheme: TrackScheme = Field(default="glob", description="how `track` matches and orders tags")
    prereleases: bool = Field(default=False, description="let `track` pick pre-release versions")
    media_type: MediaTypeChoice | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    attestations: AttestationPolicy | None = None
    require_platforms: list[PlatformText] | None = Field(
        default=None, description=_REQUIRE_PLATFORMS
    )
    monotonic: bool | None = Field(default=None, description=_MONOTONIC)
    referrers: ReferrersPolicy | None = Field(default=None, description=_REFERRERS)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"sources": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _sources_or_track(self) -> Alias:
        if (self.sources is None) == (self.track is None):
            raise ValueError("an alias needs either `sources` or `track`")
        return self


class Repository(_Model):
    aliases: dict[TagText, Alias]
    prune: bool = Field(
        False,
        description="delete alias tags this tool created that are no longer in the file",
    )
    require_platforms: list[PlatformText] | None = Field(None, description=_REQUIRE_PLATFORMS)
    monotonic: bool | None = Field(None, description=_MONOTONIC)
    referrers: ReferrersPolicy | None = Field(None, description=_REFERRERS)
    hooks: Hooks | None = None


class Defaults(_Model):
    """Settings of every alias; a repository's or an alias's own setting wins whole (lists
    are not merged)."""

    media_type: MediaTypeChoice = "auto"
    attestations: AttestationPolicy = "keep"
    require_platforms: list[PlatformText] = Field(
        default_factory=list, description=_REQUIRE_PLATFORMS
    )
    monotonic: bool = Field(False, description=_MONOTONIC)
    referrers: ReferrersPolicy = Field("copy", description=_REFERRERS)
    hooks: Hooks | None = None


class Config(_Model):
    """The whole file. Use `targets()` for aliases with defaults applied."""

    version: int = CONFIG_VERSION
    registries: dict[str, RegistrySettings] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    # Optional: a file of registry settings alone is what `import`, `inspect` and `resolve`
    # read before any alias exists.
    repositories: dict[RepositoryKey, Repository] = Field(
        default_factory=dict,
        description="repositories and their aliases; without any, the file plans nothing",
    )

    def registry(self, host: str) -> RegistrySettings:
        """The settings of `host`: its own entry, or the entry of another spelling of the same
        registry (`docker.io`, `index.docker.io` and `registry-1.docker.io` are one), or the
        defaults."""
        found = entry_for(self.registries, host)
        return found if found is not None else RegistrySettings()

    def registry_settings(self) -> SettingsByHost:
        """The `registries:` section as the registry layer takes it (`Registries(...)`)."""
        return SettingsByHost({h: s.host_settings() for h, s in self.registries.items()})

    def targets(self) -> list[AliasTarget]:
        return [
            AliasTarget.build(key, tag, alias, self.defaults, repository)
            for key, repository in self.repositories.items()
            for tag, alias in repository.aliases.items()
        ]


@dataclass(frozen=True, slots=True)  # one per alias, held until the report is written
class AliasTarget:
    """One alias with the defaults applied: everything the later stages need to know."""

    key: str  # the repository key as written in the file
    repository: RepositoryName
    tag: str
    sources: tuple[Source, ...]
    media_type: MediaTypeChoice
    annotations: tuple[tuple[str, str], ...]
    attestations: AttestationPolicy
    track: Track | None = None
    require_platforms: tuple[str, ...] = ()  # as written: "linux/arm64", "linux/arm/v7"
    monotonic: bool = False  # only floating aliases are held back
    referrers: ReferrersPolicy = "copy"
    hooks: Hooks | None = None

    @property
    def name(self) -> str:
        """How output names the alias: repository key as written, ':', tag."""
        return f"{self.key}:{self.tag}"

    @classmethod
    def build(
        cls, key: str, tag: str, alias: Alias, defaults: Defaults, repository: Repository
    ) -> AliasTarget:
        """The alias's settings: its own, else its repository's, else the defaults (the
        nearest wins whole). A pruning repository's indexes say which alias they are."""
        annotations = dict(alias.annotations)
        if repository.prune:
            annotations[MANAGED_ANNOTATION] = tag
        required = _nearest(
            alias.require_platforms, repository.require_platforms, defaults.require_platforms
        )
        track = Track(alias.track, alias.scheme, alias.prereleases) if alias.track else None
        return cls(
            key=key,
            repository=parse_repository(key),
            tag=tag,
            sources=tuple(alias.sources or ()),
            track=track,
            media_type=alias.media_type or defaults.media_type,
            annotations=tuple(sorted(annotations.items())),
            attestations=alias.attestations or defaults.attestations,
            require_platforms=tuple(required),
            monotonic=_nearest(alias.monotonic, repository.monotonic, defaults.monotonic),
            referrers=_nearest(alias.referrers, repository.referrers, defaults.referrers),
            hooks=repository.hooks or defaults.hooks,
        )


T = TypeVar("T")


def _nearest(alias: T | None, repository: T | None, default: T) -> T:
    """The nearest setting, whole: an alias's own `[]` or `false` counts."""
    return alias if alias is not None else repository if repository is not None else default


def load(path: Path | str) -> Config:
    """Read and validate a config file. Raises ConfigError; never touches the network."""
    return _relative_to(parse(_read(path), str(path)), Path(path).parent)


def load_unless_empty(path: Path | str) -> Config | None:
    """`load`, except that a file holding nothing (empty, blank or only comments) is None: a
    default file the user did not name may be one the shell has just emptied
    (`reconcile import REF > manifests.yaml`), and counts as absent."""
    text = _read(path)
    if _holds_nothing(text):
        return None
    return _relative_to(parse(text, str(path)), Path(path).parent)


def _read(path: Path | str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "cannot read file: not UTF-8 text") from None


def _holds_nothing(text: str) -> bool:
    try:
        return yamlsource.load(text).data is None
    except yamlsource.YamlIssue:
        return False  # something is there; `parse` says what is wrong with it


def _relative_to(config: Config, base: Path) -> Config:
    """Relative paths in a file (a registry's `ca_file`) are relative to that file, wherever
    the command runs from: a CronJob's working directory is rarely the repository's."""
    registries = {
        host: settings.model_copy(update={"ca_file": base / settings.ca_file})
        if settings.ca_file is not None and not settings.ca_file.is_absolute()
        else settings
        for host, settings in config.registries.items()
    }
    return config.model_copy(update={"registries": registries})


def parse(text: str, name: str = "<config>") -> Config:
    """Validate config text; `name` is how errors refer to the file."""
    try:
        located = yamlsource.load(text)
    except yamlsource.YamlIssue as issue:
        column = f", column {issue.column}" if issue.column else ""
        raise ConfigError(name, f"{issue.message}{column}", line=issue.line) from None
    if not isinstance(located.data, dict):
        raise ConfigError(
            name,
            "expected a mapping with `repositories:` and/or `registries:` at the top level,"
            f" got {_shown(located.data)}",
            line=1,
        )
    _check_version(located, name)
    try:
        config = Config.model_validate(located.data)
    except ValidationError as exc:
        raise _config_error(name, located, exc) from None
    problems = list(_semantic_problems(config))
    if problems:
        raise _issues_error(name, located, problems)
    return config


def _check_version(located: yamlsource.Located, name: str) -> None:
    version = located.data.get("version", CONFIG_VERSION)
    # Only plain ASCII digits (str.isdigit() also accepts '²'); anything else is pydantic's.
    if re.fullmatch(r"[0-9]{1,9}", str(version)) and int(version) > CONFIG_VERSION:
        raise ConfigError(
            name,
            f"config version {version} is newer than this reconciler understands"
            f" (it reads version {CONFIG_VERSION}); upgrade the tool",
            line=located.line_of(("version",)),
            field="version",
        )


def _semantic_problems(config: Config) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Rules that span fields, reported at the exact path they are about."""
    yield from _spelling_problems(config.registries)
    yield from _repository_spelling_problems(config.repositories)
    for host, registry in config.registries.items():
        if registry.auth == "ecr" and not registry.region and not parse_ecr_host(host):
            yield ("registries", host, "auth"), "auth: ecr on a non-ECR host needs `region:`"
    for key, repository in config.repositories.items():
        for tag, alias in repository.aliases.items():
            path: tuple[str | int, ...] = ("repositories", key, "aliases", tag)
            for i, source in enumerate(alias.sources or ()):
                if source.tag == tag:
                    yield (*path, i), f"alias {tag!r} lists itself as a source"
            yield from _duplicate_sources(path, parse_repository(key), alias.sources or [])
            yield from _track_problems(path, alias)
            media = alias.media_type or config.defaults.media_type
            if alias.annotations and media == "docker":
                yield (*path, "annotations"), "annotations need media_type oci (or auto)"
            if repository.prune and media == "docker":
                yield (
                    (*path, "media_type"),
                    "prune: true marks aliases with an annotation, which needs an OCI index",
                )


def _spelling_problems(
    registries: dict[str, RegistrySettings],
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Two entries for one registry (`docker.io` and `index.docker.io`): which one applies
    would be an accident of order."""
    first: dict[str, str] = {}
    for host in registries:
        earlier = first.setdefault(canonical_host(host), host)
        if earlier != host:
            yield (
                ("registries", host),
                f"{host!r} and {earlier!r} are the same registry ({canonical_host(host)});"
                " keep one entry",
            )


def _repository_spelling_problems(
    repositories: dict[str, Repository],
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Two keys for one repository (`nginx` and `docker.io/library/nginx`): their aliases
    would be planned twice, and the same tag written by both."""
    first: dict[str, str] = {}
    for key in repositories:
        name = str(parse_repository(key))
        earlier = first.setdefault(name, key)
        if earlier != key:
            yield (
                ("repositories", key),
                f"{key!r} and {earlier!r} are the same repository ({name}); keep one entry",
            )


def _duplicate_sources(
    path: tuple[str | int, ...], home: RepositoryName, sources: list[Source]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """The same source twice in one alias, however written (`10.10`, `{tag: 10.10}`, a `ref:`
    to the alias's own repository): the same tag, or the same digest, of the same repository.
    It can only be a slip (the second was meant to be another image), and it would put one
    image in the index twice."""
    seen: dict[ImageReference, int] = {}
    for i, source in enumerate(sources):
        where = source.locate(home)
        # A reference with a digest names the digest; its tag is only a reminder.
        key = ImageReference(where.repository, "" if where.digest else where.tag, where.digest)
        first = seen.setdefault(key, i)
        if first == i:
            continue
        earlier = sources[first].label
        yield (
            (*path, "sources", i),
            f"source {source.label!r} is listed twice (also sources[{first}])"
            if source.label == earlier
            else f"source {source.label!r} is sources[{first}] ({earlier!r}) again:"
            f" both name {key}",
        )


def _track_problems(
    path: tuple[str | int, ...], alias: Alias
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if alias.track is None:  # defaults are harmless (a dumped config spells them out)
        if alias.monotonic:
            yield (*path, "monotonic"), "`monotonic` only applies to an alias with `track`"
        if alias.scheme != "glob":
            yield (*path, "scheme"), "`scheme` only applies to an alias with `track`"
        if alias.prereleases:
            yield (*path, "prereleases"), "`prereleases` only applies to an alias with `track`"
        return
    try:
        check_track(Track(alias.track, alias.scheme, alias.prereleases))
    except ValueError as exc:
        yield (*path, "track"), str(exc)


def _config_error(name: str, located: yamlsource.Located, exc: ValidationError) -> ConfigError:
    # A misspelt key also makes the real one "missing": the unknown key is the useful report.
    errors = sorted(exc.errors(), key=lambda err: err["type"] != "extra_forbidden")
    problems = [(tuple(err["loc"]), _describe(err)) for err in errors]
    return _issues_error(name, located, problems)


def _issues_error(
    name: str, located: yamlsource.Located, problems: list[tuple[tuple[str | int, ...], str]]
) -> ConfigError:
    """One ConfigError: the first problem gives line and field, the message lists them all."""
    rendered = [(_line(located, loc), _field_name(loc), message) for loc, message in problems]
    line, field, message = rendered[0]
    error = ConfigError(name, message, line=line, field=field)
    if len(rendered) > 1:
        extra = [ConfigError(name, m, line=ln, field=f) for ln, f, m in rendered[1:]]
        error.args = ("\n".join([str(error), *map(str, extra)]),)
    return error


def _line(located: yamlsource.Located, loc: tuple[str | int, ...]) -> int | None:
    """The YAML line of a pydantic location. Pydantic adds `[key]` for dict keys, and an alias
    written as a bare list has no `sources` key in the file, so both are tried without."""
    path = tuple(part for part in loc if part != "[key]")
    return located.line_of(path, tuple(part for part in path if part != "sources"))


def _field_name(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Pydantic's messages name Python types ("Input should be a valid dictionary or instance of
# Alias"); a user reads what the file should hold there instead, and what it holds.
_SHAPES = {  # by model: what an entry of the file must be
    "Alias": "a list of sources, or a mapping with `sources` or `track`",
    "Source": "a tag, a digest, a reference, or a mapping with `tag`, `digest` or `ref`",
    "Repository": "a mapping with `aliases`",
    "RegistrySettings": "a mapping of registry settings (`insecure`, `endpoint`, `ca_file`, ...)",
    "Defaults": "a mapping with `media_type`, `attestations`, `require_platforms`, ...",
    "Hooks": "a mapping with `after_write` (a command as a list) and `timeout`",
}
_MAPPINGS = {  # by field: what a mapping maps
    "repositories": "a mapping of repositories to their aliases",
    "registries": "a mapping of registry hosts to their settings",
    "aliases": "a mapping of alias tags to their sources",
    "annotations": "a mapping of annotation keys to text",
}
_SCALARS = {  # by pydantic error type
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "path_type": "a file path",
}


def _describe(err: Any) -> str:
    kind, loc, ctx = str(err["type"]), err["loc"], err.get("ctx") or {}
    field = loc[-1] if loc else ""
    got = _shown(err.get("input"))
    if kind in ("value_error", "assertion_error"):  # raised by this tool's own validators
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's, a dataclass's
        return _unknown_field(str(field))
    if kind == "missing":
        return "required field is missing"
    if kind == "too_short" and field == "sources":
        return "alias has no sources"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt', 0):g}, got {got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge', 0):g}, got {got}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'one of the documented values')}, got {got}"
    if kind in ("model_type", "model_attributes_type", "dataclass_type"):
        expected = _SHAPES.get(str(ctx.get("class_name")), "a mapping")
        hint = ""
        if ctx.get("class_name") == "Alias" and isinstance(err.get("input"), str):
            hint = f" (one source is written [{err['input']!r}])"
        return f"expected {expected}, got {got}{hint}"
    if kind == "dict_type":
        return f"expected {_MAPPINGS.get(str(field), 'a mapping')}, got {got}"
    if kind == "list_type":
        return f"expected {'a list of sources' if field == 'sources' else 'a list'}, got {got}"
    if kind in _SCALARS:
        return f"expected {_SCALARS[kind]}, got {got}"
    return f"invalid value: {got}"  # never pydantic's wording, whatever it adds later


def _shown(value: Any) -> str:
    """A value from the file as an error shows it: scalars as written, containers by kind."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)
    if re.fullmatch(r"[-+]?[0-9][0-9._]*", text):
        return text  # a number (kept as text by the loader) reads best unquoted
    return repr(text if len(text) <= 60 else text[:57] + "...")


_KNOWN_FIELDS = sorted(
    {
        name
        for model in (Config, RegistrySettings, Repository, Defaults)
        for name in model.model_fields
    }
    | {field.name for dataclass in (Source, Alias) for field in fields(dataclass)}
)


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {name!r}{hint}"
