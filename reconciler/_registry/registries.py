"""The clients of one run: a client per registry, created on first use."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from .._model.names import parse_ecr_host
from .cache import Cache, default_cache_dir
from .credentials import DockerCredentialStore, StaticCredentials
from .http import ClientSettings, RegistryClient
from .ratelimit import PullLimits
from .settings import HostSettings, SettingsByHost

if TYPE_CHECKING:
    from .ecr import EcrRepositories, EcrSession

__all__ = ["Registries"]


class Registries:
    """Clients for the registries of one run: one connection pool and token cache per host."""

    def __init__(
        self,
        settings: SettingsByHost,
        credentials: DockerCredentialStore | None = None,
        *,
        max_connections: int = 16,
        cache: Cache | None = None,
        pull_limits: PullLimits | None = None,
    ) -> None:
        """`settings`: how to reach each host (`Config.registry_settings()` from a file).
        `pull_limits` collects what each registry says of its pull limit (for metrics)."""
        self._settings = settings
        self.pull_limits = pull_limits if pull_limits is not None else PullLimits()
        self.cache = cache if cache is not None else Cache(default_cache_dir())
        self._credentials = credentials or DockerCredentialStore()
        self._max_connections = max_connections
        self._clients: dict[str, RegistryClient] = {}
        # One boto3 session per (profile, region): a token serves every registry it reaches.
        self._ecr_sessions: dict[tuple[str | None, str], EcrSession] = {}
        self._lock = threading.Lock()

    def client(self, host: str) -> RegistryClient:
        with self._lock:
            if host not in self._clients:
                self._clients[host] = self._create(host)
            return self._clients[host]

    def _create(self, host: str) -> RegistryClient:
        registry = self._settings.for_host(host)
        ecr = self._ecr_for(host, registry)
        settings = ClientSettings(
            host=host,
            endpoint=registry.endpoint,
            insecure=registry.insecure,
            ca_file=str(registry.ca_file) if registry.ca_file else None,
            timeout_s=registry.timeout,
            max_connections=registry.concurrency or self._max_connections,
        )
        limit = self.pull_limits.for_host(host)
        if ecr is None:
            credentials = self._credentials.source(host)
            if parse_ecr_host(host) is not None and credentials.credentials is None:
                # An ECR host reaches here only under `auth: docker`: say that ECR was not asked.
                searched = f"{credentials.searched}, and `auth: docker` turns ECR login off for it"
                credentials = StaticCredentials(None, searched)
            return RegistryClient(settings, credentials, cache=self.cache, pull_limit=limit)
        from .ecr import EcrCredentials  # boto3 is loaded only when a registry is ECR

        return RegistryClient(
            settings, EcrCredentials(ecr.session), ecr=ecr, cache=self.cache, pull_limit=limit
        )

    def _ecr_for(self, host: str, registry: HostSettings) -> EcrRepositories | None:
        """ECR hosts use ECR auth and repository facts unless `auth: docker` opts out;
        `auth: ecr` forces them for other hosts (proxies, tests)."""
        parsed = parse_ecr_host(host)
        if registry.auth == "docker" or (registry.auth == "auto" and parsed is None):
            return None
        from .ecr import EcrRepositories, EcrSession  # boto3 takes a quarter second to import

        region = registry.region or (parsed.region if parsed else "")
        key = (registry.aws_profile, region)
        if key not in self._ecr_sessions:  # callers hold self._lock
            self._ecr_sessions[key] = EcrSession(region, registry.aws_profile)
        account = parsed.account if parsed else None
        return EcrRepositories(self._ecr_sessions[key], account, registry.create_repository)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.cache.close()

    def __enter__(self) -> Registries:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
