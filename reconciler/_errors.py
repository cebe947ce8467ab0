"""Every expected failure is a `ReconcileError`; its `str()` is what a user reads.

The trees hold every exception class of the package, each under its base class, with
`(module)` where it is not defined in this module; tests/unit/test_errors.py checks them
against the code, so a new exception class needs its line here.

```
ReconcileError
├── ConfigError              the file is wrong: names the file, line and field
├── CredentialsError         a credential store or helper could not be read
├── SelectionError           (_config/selection.py) --only or --shard malformed, or matches nothing
├── InvalidReference         (_model/refs.py) a reference typed on the command line is malformed
├── RegistryError            something a registry said or failed to say, naming the registry
│   ├── AuthError            401/403: credentials missing, wrong or not allowed
│   ├── NotFoundError        the repository, manifest or blob does not exist
│   ├── TransportError       connection, TLS or timeout: nothing usable came back
│   │   ├── TlsError         the certificate was refused, or plain HTTP answered TLS
│   │   └── _TokenServiceUnreachable  (_registry/auth.py) no token service, after retries
│   ├── ProtocolError        an answer that breaks the spec: bad digest, bad JSON, too large
│   └── EcrError             (_registry/ecr.py) an ECR API call failed
├── AliasError               the alias cannot be built from what its sources hold
├── HookError                (_pipeline/hooks.py) an after_write hook failed; the alias was written
├── PlanFileError            (_output/planfile.py) a plan file unreadable, not a plan, or newer
├── GuardError               a safety limit refused the run (--max-changes, --lock-file)
│   ├── LockHeld             (_cli/lock.py) another run holds --lock-file
│   ├── StalePlan            (_cli/commands/apply.py) a saved plan's config or tags changed since
│   └── Refused              (_cli/commands/run.py) --max-changes refused the plan, which it holds
└── Interrupted              stopped (SIGINT, SIGTERM, --timeout) before this work started
```

A `RegistryError` carries `registry`, `message` (its `str()` is `registry: message`, except an
`EcrError`'s, whose message names the ECR call and region itself), the HTTP `status` when an
answer came, and `code`: the registry's name for the failure, or None when it gave none. That
is the `code` of the first entry of a distribution error body (`{"errors": [{"code":
"MANIFEST_UNKNOWN", "message": ..., "detail": ...}]}`), or the ECR API's error code
(`AccessDeniedException`). Code that tells failures apart compares `code`, never the
message's text. `transient` is the one decision of whether the same request may succeed when
sent again, for the retry layer and for blob copies alike.

Internal exceptions, caught inside the package and reported as another (named last) or
not at all:

```
Exception
└── YamlIssue                (_config/yamlsource.py) YAML syntax error or duplicate key: ConfigError
ValueError
└── MalformedTagList         (_registry/taglist.py) a tag-list page that is not one: ProtocolError
httpx.ConnectError
├── CertificateError         (_registry/transport.py) certificate not verified: TlsError
└── NotTlsError              (_registry/transport.py) plain HTTP answered TLS: TlsError
BrokenPipeError
└── _EarlyAnswer             (_registry/transport.py) answered before the body was all sent
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
    """A registry request failed. `registry` is the host as written in the config; `status`
    the HTTP status of the answer, if one came; `code` the registry's own name for the failure
    (`MANIFEST_UNKNOWN`, `TAG_INVALID`; see the module's docstring), if it gave one."""

    def __init__(
        self,
        registry: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.registry, self.status, self.message, self.code = registry, status, message, code
        super().__init__(f"{registry}: {message}")

    @property
    def transient(self) -> bool:
        """Whether the same request may succeed when sent again: a 429 or any 5xx answer.
        Failures without an answer decide for themselves (TransportError and its subclasses
        set it as a class attribute). Retries and blob copies both ask this."""
        return self.status == 429 or (self.status or 0) >= 500


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
