"""The OCI distribution grammar for repository names and tags, and registry host parsing."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .oci import is_digest

__all__ = [
    "COMPONENT_PATTERN",
    "DOCKER_HUB",
    "DOCKER_HUB_HOSTS",
    "ECR_HOST",
    "TAG_PATTERN",
    "EcrHost",
    "ImageReference",
    "RepositoryName",
    "canonical_host",
    "check_tag",
    "parse_ecr_host",
    "parse_reference",
    "parse_repository",
    "reference_text",
    "split_reference",
]

DOCKER_HUB = "docker.io"
# Every host that means Docker Hub: docker's own name, the legacy index (still the key of Hub
# credentials in docker's config, `https://index.docker.io/v1/`) and the API host.
DOCKER_HUB_HOSTS = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
# The grammar, also used as JSON Schema (ECMA-262) patterns by schema.py.
COMPONENT_PATTERN = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
TAG_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$"
_NAME = re.compile(rf"^{COMPONENT_PATTERN}(?:/{COMPONENT_PATTERN})*$")
_TAG = re.compile(TAG_PATTERN)
_HOST = re.compile(r"^[a-zA-Z0-9.-]+(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True, order=True)
class RepositoryName:
    """A repository on a registry: `registry` is the host as written (`localhost:5000`), except
    that Docker Hub is always `docker.io`."""

    registry: str
    name: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.name}"


def reference_text(repository: str | RepositoryName, ref: str) -> str:
    """A repository and a tag or digest as docker writes them, for every message that names
    one: `app:1.0` for a tag, `app@sha256:...` for a digest."""
    return f"{repository}@{ref}" if is_digest(ref) else f"{repository}:{ref}"


def canonical_host(host: str) -> str:
    """`docker.io` for any of Docker Hub's hosts, so that each spelling finds the same
    settings, credentials and cache; any other host as written."""
    return DOCKER_HUB if host in DOCKER_HUB_HOSTS else host


def check_tag(tag: str) -> str:
    """Return `tag` if it is a valid tag, else raise ValueError saying why."""
    if not _TAG.match(tag):
        raise ValueError(
            f"invalid tag {tag!r}: tags are 1-128 characters of letters, digits, '_', '.', '-'"
            " and must not start with '.' or '-'"
        )
    return tag


# A file names a few repositories for thousands of aliases: each key is one value.
@functools.lru_cache(maxsize=1024)
def parse_repository(text: str) -> RepositoryName:
    """Split `[registry/]name` the way docker does: the first component is a registry host when
    it contains '.' or ':' or is `localhost`; otherwise the repository is on Docker Hub. Docker
    Hub is `docker.io` however written (`index.docker.io`, `registry-1.docker.io`), and a
    one-component name there is an official image: `nginx` is `docker.io/library/nginx`."""
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, name = canonical_host(first), rest
        if not _HOST.match(registry):
            raise ValueError(f"invalid registry host {registry!r}")
    else:
        registry, name = DOCKER_HUB, text
    if registry == DOCKER_HUB and name and "/" not in name:
        name = f"library/{name}"
    if "@" in name or ":" in name:
        raise ValueError(f"{text!r}: a repository key names a repository, without tag or digest")
    if not _NAME.match(name):
        raise ValueError(
            f"invalid repository name {name!r}: use lowercase letters and digits, separated by"
            " '.', '_', '__', '-' or '/'"
        )
    return RepositoryName(registry, name)


@dataclass(frozen=True)
class ImageReference:
    """`[registry/]repository[:tag][@digest]`; the digest, when given, is what is used."""

    repository: RepositoryName
    tag: str = ""
    digest: str = ""

    @property
    def ref(self) -> str:
        return self.digest or self.tag

    def __str__(self) -> str:
        text = reference_text(self.repository, self.tag) if self.tag else str(self.repository)
        return reference_text(text, self.digest) if self.digest else text


def split_reference(text: str) -> tuple[RepositoryName, str, str]:
    """`[registry/]repository[:tag][@digest]` as (repository, tag, digest), either of the last
    two possibly empty; ValueError says what is wrong."""
    rest, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise ValueError(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    name, tag = rest, ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:  # a ':' after the last '/' starts the tag (not a registry port)
        name, tag = rest[:colon], check_tag(rest[colon + 1 :])
    return parse_repository(name), tag, digest


def parse_reference(text: str) -> ImageReference:
    """Parse a full image reference, as a `ref:` source is written: it needs a tag or a
    digest (the command line's `refs.parse_reference` defaults to `:latest` instead)."""
    repository, tag, digest = split_reference(text)
    if not tag and not digest:
        raise ValueError(f"reference {text!r} needs a tag or a digest")
    return ImageReference(repository, tag, digest)


# `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]` or the dual-stack
# `<account>.dkr-ecr[-fips].<region>.on.aws`. The conditional `(?(dual)...)` ties the domain to
# the spelling, so that `dkr-ecr` under amazonaws.com or `dkr.ecr` under on.aws is rejected.
# `\Z`, not `$`: `$` would also accept a trailing newline.
ECR_HOST = re.compile(
    r"^(?P<account>\d{12})"
    r"\.dkr(?:(?P<dual>-)|\.)ecr(?:-fips)?"
    r"\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2})"
    r"\.(?(dual)on\.aws|amazonaws\.com(?:\.cn)?)\Z"
)


@dataclass(frozen=True)
class EcrHost:
    """The AWS account (registry id) and region an ECR registry host belongs to."""

    account: str
    region: str


def parse_ecr_host(host: str) -> EcrHost | None:
    """`123456789012.dkr.ecr.eu-west-1.amazonaws.com` -> EcrHost; None for any other host.

    ECR Public (`public.ecr.aws`) is None too: it has no private-registry API or token.
    """
    match = ECR_HOST.match(host.strip().lower())
    if match is None:
        return None
    return EcrHost(account=match["account"], region=match["region"])
