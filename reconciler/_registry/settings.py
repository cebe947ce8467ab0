"""What the registry layer is told about each registry host: plain values, no file format.

The config file's `registries:` entries (reconciler._config.models) are built into these;
the registry layer reads nothing of the config file itself, so it depends on nothing above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from .._model.names import canonical_host

__all__ = ["AuthMode", "HostSettings", "SettingsByHost", "entry_for"]

AuthMode = Literal["auto", "docker", "ecr"]
"""auto: ECR auth for ECR hosts, docker credentials otherwise; ecr forces ECR auth; docker
opts out of it."""

_Entry = TypeVar("_Entry")


@dataclass(frozen=True)
class HostSettings:
    """How to reach one registry host. The defaults are those of a host the file omits."""

    insecure: bool = False  # plain HTTP instead of HTTPS
    endpoint: str | None = None  # base URL to talk to instead of https://<host>
    ca_file: Path | None = None  # PEM bundle to verify the registry's TLS
    timeout: float = 30.0  # seconds allowed for one request
    concurrency: int | None = None  # requests in flight to this host (None: the run's)
    auth: AuthMode = "auto"
    aws_profile: str | None = None  # AWS profile for ECR (None: the default chain)
    region: str | None = None  # AWS region for ECR (None: from the host)
    create_repository: bool = False  # ECR: create a missing repository


@dataclass(frozen=True)
class SettingsByHost:
    """The settings of every host a run may reach; hosts not listed get the defaults."""

    hosts: Mapping[str, HostSettings] = field(default_factory=dict)

    def for_host(self, host: str) -> HostSettings:
        found = entry_for(self.hosts, host)
        return found if found is not None else HostSettings()


def entry_for(entries: Mapping[str, _Entry], host: str) -> _Entry | None:
    """The entry of `host`: its own, or the entry of another spelling of the same registry
    (`docker.io`, `index.docker.io` and `registry-1.docker.io` are one), or None."""
    if host in entries:
        return entries[host]
    wanted = canonical_host(host)
    return next((e for key, e in entries.items() if canonical_host(key) == wanted), None)
