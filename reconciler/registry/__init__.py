"""The one seam to the outside world: a client per registry, created on first use."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING
from .credentials import Credentials, DockerCredentialStore, StaticCredentials
from .http import ClientSettings, RegistryClient

if TYPE_CHECKING:  # config imports registry.ecr for host parsing; avoid the import cycle
    from ..config import Config

__all__ = ["ClientSettings", "Credentials", "DockerCredentialStore", "Registries", "RegistryClient"]


class Registries:
    """Clients for the registries of one run: one connection pool and token cache per host."""

    def __init__(
        self,
        config: Config,
        credentials: DockerCredentialStore | None = None,
        *,
        max_connections: int = 16,
    ) -> None:
        self._config = config
        self._credentials = credentials or DockerCredentialStore()
        self._max_connections = max_connections
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def client(self, host: str) -> RegistryClient:
        with self._lock:
            if host not in self._clients:
                self._clients[host] = self._create(host)
            return self._clients[host]

    def _create(self, host: str) -> RegistryClient:
        registry = self._config.registry(host)
        settings = ClientSettings(
            host=host,
            endpoint=registry.endpoint,
            insecure=registry.insecure,
            ca_file=str(registry.ca_file) if registry.ca_file else None,
            timeout_s=registry.timeout,
            max_connections=registry.concurrency or self._max_connections,
        )
        return RegistryClient(settings, StaticCredentials(self._credentials.lookup(host)))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Registries:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
