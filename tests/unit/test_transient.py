"""Which failures are worth another attempt: one decision, used by the retry layer (a request
that got no usable answer) and by blob copies (a whole upload session). The table pins what
each of them does with every kind of failure, counted in attempts."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, cast

import pytest

from reconciler._errors import (
    AuthError,
    CredentialsError,
    NotFoundError,
    ProtocolError,
    ReconcileError,
    RegistryError,
    TlsError,
    TransportError,
)
from reconciler._model.names import RepositoryName
from reconciler._pipeline.transfer import _BLOB_ATTEMPTS, _BlobCopy
from reconciler._registry.auth import _TokenServiceUnreachable
from reconciler._registry.http import RegistryClient
from reconciler._registry.ratelimit import PullLimit
from reconciler._registry.retry import RetryPolicy

HOST = "r.test"
_RETRY_ATTEMPTS = 4


def _ecr_error() -> ReconcileError:
    """An ECR API failure, made as the ECR code makes it (an unreadable token)."""
    from reconciler._registry.ecr import _decode_token

    try:
        _decode_token("not base64!", "ECR GetAuthorizationToken in eu-west-1")
    except ReconcileError as exc:
        return exc
    raise AssertionError("the token was accepted")


# (case, the failure, `transient`, attempts by the retry layer, attempts by a blob copy).
# The retry layer sees only failures without an answer (TransportError): one with a status
# was made from an answer it has judged already. A copy's 401 is tried again once, with fresh
# credentials, whatever `transient` says.
CASES: list[tuple[str, Callable[[], Exception], bool, int, int]] = [
    ("no answer", lambda: TransportError(HOST, "GET x: connection broken"), True, 4, 3),
    ("timeout", lambda: TransportError(HOST, "GET x: timed out"), True, 4, 3),
    ("certificate refused", lambda: TlsError(HOST, "GET x: TLS certificate"), False, 1, 1),
    ("token service gone", lambda: _TokenServiceUnreachable(HOST, "token: down"), False, 1, 1),
    ("HTTP 429", lambda: RegistryError(HOST, "x: rate limited (HTTP 429)", status=429), True, 1, 3),
    ("pull limit spent", lambda: PullLimit(HOST).error("GET x"), True, 1, 3),
    ("HTTP 500", lambda: RegistryError(HOST, "x: HTTP 500", status=500), True, 1, 3),
    ("HTTP 501", lambda: RegistryError(HOST, "x: HTTP 501", status=501), True, 1, 3),
    ("HTTP 502", lambda: RegistryError(HOST, "x: HTTP 502", status=502), True, 1, 3),
    ("HTTP 503", lambda: RegistryError(HOST, "x: HTTP 503", status=503), True, 1, 3),
    ("HTTP 504", lambda: RegistryError(HOST, "x: HTTP 504", status=504), True, 1, 3),
    ("HTTP 505", lambda: RegistryError(HOST, "x: HTTP 505", status=505), True, 1, 3),
    ("HTTP 400", lambda: RegistryError(HOST, "x: HTTP 400", status=400), False, 1, 1),
    ("HTTP 409", lambda: RegistryError(HOST, "x: HTTP 409", status=409), False, 1, 1),
    ("HTTP 499", lambda: RegistryError(HOST, "x: HTTP 499", status=499), False, 1, 1),
    ("no status", lambda: RegistryError(HOST, "token service unavailable: HTTP 503"), False, 1, 1),
    ("not found", lambda: NotFoundError(HOST, "x: not found", status=404), False, 1, 1),
    ("protocol", lambda: ProtocolError(HOST, "x: digest mismatch"), False, 1, 1),
    ("HTTP 401", lambda: AuthError(HOST, "x: rejected (HTTP 401)", status=401), False, 1, 2),
    ("HTTP 403", lambda: AuthError(HOST, "x: access denied (HTTP 403)", status=403), False, 1, 1),
    ("plain HTTP refused", lambda: AuthError(HOST, "refusing to send credentials"), False, 1, 1),
    ("credentials", lambda: CredentialsError("docker-credential-x failed"), False, 1, 1),
    ("ECR API", _ecr_error, False, 1, 1),
]
IDS = [case[0] for case in CASES]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def retry_attempts(error: Exception) -> int:
    """How many times the retry layer calls a request that fails with `error`."""
    clock = _Clock()
    policy = RetryPolicy(
        attempts=_RETRY_ATTEMPTS, sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(1)
    )
    calls: list[int] = []

    def call() -> Any:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        policy.run("GET x", call)
    return len(calls)


class _Target:
    """A registry whose mounts fail with `error`, every time."""

    host = HOST

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None:
        self.calls += 1
        raise self.error


def copy_attempts(error: Exception) -> int:
    """How many upload sessions a blob copy opens when each fails with `error`."""
    target = _Target(error)
    home, source = RepositoryName(HOST, "app"), RepositoryName(HOST, "base")
    client = cast(RegistryClient, target)
    copy = _BlobCopy(client, home, client, source, "sha256:" + "a" * 64, 10)
    with pytest.raises(type(error)):
        copy.run()
    return target.calls


@pytest.mark.parametrize(("case", "error", "transient", "by_retry", "by_copy"), CASES, ids=IDS)
def test_attempts_per_failure(
    case: str, error: Callable[[], Exception], transient: bool, by_retry: int, by_copy: int
) -> None:
    assert (retry_attempts(error()), copy_attempts(error())) == (by_retry, by_copy)


@pytest.mark.parametrize(("case", "error", "transient", "by_retry", "by_copy"), CASES, ids=IDS)
def test_transient_is_the_one_decision(
    case: str, error: Callable[[], Exception], transient: bool, by_retry: int, by_copy: int
) -> None:
    """The attempts above follow from `transient` (and, for copies, the 401 rule)."""
    exc = error()
    assert (isinstance(exc, RegistryError) and exc.transient) is transient
    no_answer = isinstance(exc, TransportError)
    assert by_retry == (_RETRY_ATTEMPTS if transient and no_answer else 1)
    refused = isinstance(exc, AuthError) and exc.status == 401
    assert by_copy == (_BLOB_ATTEMPTS if transient else 2 if refused else 1)


def test_the_table_counts_whole_budgets() -> None:
    assert _BLOB_ATTEMPTS == 3  # the copy column's 3 is every attempt a copy makes


def test_an_ecr_failure_is_a_registry_error_and_not_transient() -> None:
    exc = _ecr_error()
    assert isinstance(exc, RegistryError) and exc.status is None and not exc.transient
