"""Every expected failure is a `ReconcileError`; its `str()` is what a user reads.

```
ReconcileError
├── ConfigError            the file is wrong: names the file, line and field
├── CredentialsError       a credential store or helper could not be read
├── RegistryError          something a registry said or failed to say, naming the registry
│   ├── AuthError          401/403: credentials missing, wrong or not allowed
│   ├── NotFoundError      the repository, manifest or blob does not exist
│   ├── TransportError     connection, TLS or timeout: nothing usable came back
│   └── ProtocolError      an answer that breaks the spec: bad digest, bad JSON, too large
├── AliasError             the alias cannot be built from what its sources hold
├── GuardError             a safety limit refused the run (--max-changes, --lock-file)
└── Interrupted            stopped (SIGINT, SIGTERM, --timeout) before this work started
```

Messages never contain credentials: nothing in this module ever receives one.
"""

from __future__ import annotations

__all__ = [
    "AliasError",
    "AuthError",
    "ConfigError",
    "CredentialsError",
    "GuardError",
    "Interrupted",
    "NotFoundError",
    "ProtocolError",
    "ReconcileError",
    "RegistryError",
    "TlsError",
    "TransportError",
]


class ReconcileError(Exception):
    """Base of every failure the tool expects and reports without a traceback."""


class ConfigError(ReconcileError):
    """The configuration file is unreadable or invalid."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, field: str = ""
    ) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class CredentialsError(ReconcileError):
    """Docker credentials (config.json or a credential helper) could not be read."""


class RegistryError(ReconcileError):
    """A registry request failed. `registry` is the host as written in the config."""

    def __init__(self, registry: str, message: str, *, status: int | None = None) -> None:
        self.registry, self.status, self.message = registry, status, message
        super().__init__(f"{registry}: {message}")


class AuthError(RegistryError):
    """The registry refused the credentials, or there were none where some are needed."""


class NotFoundError(RegistryError):
    """The registry says the repository, manifest or blob does not exist."""


class TransportError(RegistryError):
    """No usable answer: connection refused or reset, TLS failure, timeout."""

    transient = True  # worth retrying: the next attempt may get through


class TlsError(TransportError):
    """The registry's certificate was not accepted: retrying cannot change that."""

    transient = False


class ProtocolError(RegistryError):
    """The registry answered something that breaks the distribution or image spec."""


class AliasError(ReconcileError):
    """An alias cannot be built, for example two sources share a platform."""


class GuardError(ReconcileError):
    """A safety limit refused the whole run before any write."""


class Interrupted(ReconcileError):
    """The run was stopped before this alias's work started; nothing was written for it."""
