"""Registry errors carry the registry's own name for the failure, `code`: the first entry of a
distribution error body, or the ECR API's error code; None when there is none. Messages stay
as they were: the code is read beside them, never out of them."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from reconciler._errors import AuthError, NotFoundError, ProtocolError, RegistryError
from reconciler._model.names import RepositoryName
from reconciler._model.oci import OCI_INDEX, OCI_MANIFEST
from reconciler._pipeline.apply import _put_index
from reconciler._pipeline.desired import DesiredIndex
from reconciler._pipeline.observed import Copy
from reconciler._pipeline.plan import Action, AliasPlan
from reconciler._registry.answer import error_code
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.ecr import EcrError, EcrSession, describe_aws_error
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.retry import RetryPolicy

from .factories import digest, target

# The module, not the function `reconciler._pipeline.apply` that the package's API exports.
APPLY = importlib.import_module("reconciler._pipeline.apply")


def errors(*entries: object) -> bytes:
    return json.dumps({"errors": list(entries)}).encode()


ECR_TAG = "The image tag '10' already exists in the 'app' repository and cannot be overwritten"

# (case, body, code)
BODIES: list[tuple[str, bytes, str | None]] = [
    ("empty", b"", None),
    ("one error", errors({"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}),
     "MANIFEST_UNKNOWN"),
    ("with detail", errors({"code": "BLOB_UNKNOWN", "message": "blob unknown",
                            "detail": {"digest": digest("x")}}), "BLOB_UNKNOWN"),
    ("ecr's immutable tag", errors({"code": "TAG_INVALID", "message": ECR_TAG}), "TAG_INVALID"),
    ("several: the first", errors({"code": "DENIED"}, {"code": "NAME_UNKNOWN"}), "DENIED"),
    ("the first has none", errors({"message": "no code"}, {"code": "DENIED"}), None),
    ("code only", errors({"code": "UNSUPPORTED"}), "UNSUPPORTED"),
    ("a code of another registry", errors({"code": "TOOMANYREQUESTS"}), "TOOMANYREQUESTS"),
    ("empty code", errors({"code": ""}), None),
    ("code not a string", errors({"code": 400}), None),
    ("code null", errors({"code": None}), None),
    ("code an object", errors({"code": {"name": "DENIED"}}), None),
    ("entry not an object", errors("DENIED"), None),
    ("no errors", errors(), None),
    ("errors null", b'{"errors": null}', None),
    ("errors an object", b'{"errors": {"code": "DENIED"}}', None),
    ("errors a string", b'{"errors": "DENIED"}', None),
    ("another document", b'{"error": "invalid_grant"}', None),
    ("a list", b'[{"code": "DENIED"}]', None),
    ("a string", b'"DENIED"', None),
    ("html", b"<html><body>502 Bad Gateway</body></html>", None),
    ("text that names a code", b"MANIFEST_UNKNOWN: not found", None),
    ("truncated json", errors({"code": "DENIED"})[:-3], None),
    ("not utf-8", b"\xff\xfe\x00{", None),
    ("nested beyond the parser", b'{"errors": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "code"), BODIES, ids=[c for c, _, _ in BODIES])
def test_the_code_of_an_error_body(case: str, body: bytes, code: str | None) -> None:
    assert error_code(body) == code


HOST = "r.test"
UPLOAD = "app: start upload"

# (case, answer to POST /v2/app/blobs/uploads/, error class, status, code, str())
ANSWERS: list[tuple[str, httpx.Response, type[RegistryError], int | None, str | None, str]] = [
    ("400 with a body",
     httpx.Response(400, content=errors({"code": "TAG_INVALID", "message": ECR_TAG})),
     RegistryError, 400, "TAG_INVALID", f"{HOST}: {UPLOAD}: HTTP 400: TAG_INVALID {ECR_TAG}"),
    ("400 with several",
     httpx.Response(400, content=errors({"code": "NAME_INVALID", "message": "bad name"},
                                        {"code": "DENIED", "message": "no"})),
     RegistryError, 400, "NAME_INVALID", f"{HOST}: {UPLOAD}: HTTP 400: NAME_INVALID bad name"),
    ("400 without a body", httpx.Response(400), RegistryError, 400, None,
     f"{HOST}: {UPLOAD}: HTTP 400"),
    ("500 in html", httpx.Response(500, content=b"<html>oops</html>"), RegistryError, 500, None,
     f"{HOST}: {UPLOAD}: HTTP 500"),
    ("404", httpx.Response(404, content=errors({"code": "NAME_UNKNOWN", "message": "unknown"})),
     NotFoundError, 404, "NAME_UNKNOWN", f"{HOST}: {UPLOAD}: not found: NAME_UNKNOWN unknown"),
    ("401", httpx.Response(401, content=errors({"code": "UNAUTHORIZED", "message": "auth"})),
     AuthError, 401, "UNAUTHORIZED",
     f"{HOST}: {UPLOAD}: no credentials found for {HOST} (HTTP 401): UNAUTHORIZED auth"),
    ("403", httpx.Response(403, content=errors({"code": "DENIED", "message": "denied"})),
     AuthError, 403, "DENIED",
     f"{HOST}: {UPLOAD}: access denied without credentials: no credentials found for {HOST}"
     " (HTTP 403): DENIED denied"),
    ("429", httpx.Response(429, content=errors({"code": "TOOMANYREQUESTS", "message": "slow"})),
     RegistryError, 429, "TOOMANYREQUESTS",
     f"{HOST}: {UPLOAD}: rate limited (HTTP 429): TOOMANYREQUESTS slow"),
    ("a body over the cap",
     httpx.Response(400, content=errors({"code": "DENIED", "message": "x" * (64 << 10)})),
     ProtocolError, None, None,
     f"{HOST}: /v2/app/blobs/uploads/: answer larger than {64 << 10} bytes"),
]  # fmt: skip


def client(answer: Callable[[httpx.Request], httpx.Response], host: str = HOST) -> RegistryClient:
    settings = ClientSettings(host, insecure=True, retry=RetryPolicy(attempts=1))
    return RegistryClient(settings, StaticCredentials(None), transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("case", "answer", "kind", "status", "code", "text"), ANSWERS, ids=[a[0] for a in ANSWERS]
)
def test_an_error_answer_becomes_an_error_with_its_code(
    case: str,
    answer: httpx.Response,
    kind: type[RegistryError],
    status: int | None,
    code: str | None,
    text: str,
) -> None:
    with pytest.raises(RegistryError) as caught:
        client(lambda _: answer).start_upload("app")
    error = caught.value
    assert (type(error), error.status, error.code, str(error)) == (kind, status, code, text)


def test_a_refused_pull_keeps_the_code_of_its_answer() -> None:
    refusal = httpx.Response(429, content=errors({"code": "TOOMANYREQUESTS", "message": "x"}))
    with pytest.raises(RegistryError) as caught:
        client(lambda _: refusal, host="docker.io").get_manifest("library/app", "latest")
    assert (caught.value.status, caught.value.code) == (429, "TOOMANYREQUESTS")
    assert "pull rate limit of docker.io spent" in str(caught.value)


# -- the index PUT after copies: retried while the registry does not see the children yet --


def alias_plan(*, copies: bool = True) -> AliasPlan:
    copy = Copy(digest("child"), OCI_MANIFEST, RepositoryName("r.test", "base"), "base:1", ())
    return AliasPlan(
        target("10"),
        Action.UPDATE,
        desired=DesiredIndex(OCI_INDEX, ()),
        copies=(copy,) if copies else (),
    )


class _Puts:
    """A registry whose index PUTs fail with `error` the first `failures` times."""

    def __init__(self, error: RegistryError, failures: int = 99) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def put_manifest(self, repository: str, tag: str, manifest: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return str(manifest.digest)


def put_error(status: int, code: str | None, text: str = "") -> RegistryError:
    return RegistryError(HOST, f"my-image:10: HTTP {status}{text}", status=status, code=code)


# (case, error of the PUT, copies made, PUTs sent when every one fails)
SETTLING: list[tuple[str, RegistryError, bool, int]] = [
    ("children not seen yet", put_error(400, "MANIFEST_BLOB_UNKNOWN"), True, 4),
    ("children being rewritten", put_error(400, "DIGEST_INVALID"), True, 4),
    ("another 400", put_error(400, "MANIFEST_INVALID"), True, 1),
    ("no code", put_error(400, None), True, 1),
    ("a code only in the text", put_error(400, None, ": DIGEST_INVALID"), True, 1),
    ("another status", put_error(409, "DIGEST_INVALID"), True, 1),
    ("nothing was copied", put_error(400, "MANIFEST_BLOB_UNKNOWN"), False, 1),
]


@pytest.mark.parametrize(
    ("case", "error", "copies", "puts"), SETTLING, ids=[s[0] for s in SETTLING]
)
def test_which_index_put_failures_are_waited_out(
    case: str, error: RegistryError, copies: bool, puts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(APPLY.time, "sleep", lambda _: None)
    registry = _Puts(error)
    with pytest.raises(RegistryError) as caught:
        _put_index(registry, alias_plan(copies=copies))  # type: ignore[arg-type]
    assert caught.value is error and registry.calls == puts


def test_an_index_put_that_settles_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APPLY.time, "sleep", lambda _: None)
    registry = _Puts(put_error(400, "MANIFEST_BLOB_UNKNOWN"), failures=2)
    _put_index(registry, alias_plan())  # type: ignore[arg-type]
    assert registry.calls == 3


# -- ECR: the API's error code ------------------------------------------------------------

ACTION = "ECR DescribeRepositories app in eu-west-1"


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeRepositories")


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (client_error("AccessDeniedException", "User: x is not authorized"),
         "AccessDeniedException"),
        (client_error("RepositoryNotFoundException", "no such repository"),
         "RepositoryNotFoundException"),
        (client_error("ThrottlingException"), "ThrottlingException"),
        (ClientError({"Error": {}}, "DescribeRepositories"), None),
        (NoCredentialsError(), None),
    ],
    ids=["denied", "not found", "throttled", "no code", "no answer"],
)  # fmt: skip
def test_an_ecr_error_carries_the_api_code_and_the_same_message(
    failure: Exception, code: str | None
) -> None:
    error = EcrSession("eu-west-1")._error(failure, ACTION)
    assert isinstance(error, RegistryError) and isinstance(error, EcrError)
    assert (error.registry, error.status, error.code) == ("eu-west-1", None, code)
    assert str(error) == error.message == describe_aws_error(failure, ACTION)
