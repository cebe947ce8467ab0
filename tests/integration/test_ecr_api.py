"""`EcrSession` against a moto server on loopback: tokens, caching, repositories, failures.

Nothing here reaches AWS: `aws_env` routes every AWS endpoint to moto (or a local fake),
replaces the machine's AWS configuration with empty files and disables instance metadata.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import pytest
from botocore.config import Config

from reconciler._registry import ecr
from reconciler._registry.credentials import Credentials
from reconciler._registry.ecr import EcrError, EcrSession, RepositoryFacts
from tests.support.motoserver import (
    MOTO_ACCOUNT,
    MOTO_PASSWORD,
    MOTO_TOKEN_EXPIRY,
    MotoServer,
    aws_env,
)
from tests.support.registry import free_port

if TYPE_CHECKING:
    from mypy_boto3_ecr.client import ECRClient

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
HOUR = 3600.0


class FakeClock:
    """A settable wall clock; starts 12 hours before moto's fixed token expiry."""

    def __init__(self) -> None:
        self.now = MOTO_TOKEN_EXPIRY - 12 * HOUR

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    moto_server.reset()
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION)
    return moto_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def raw_ecr() -> ECRClient:
    """A plain boto3 client, to set up and check state independently of the code under test."""
    return boto3.Session(region_name=REGION).client("ecr")


def count_calls(session: EcrSession, operation: str, delay: float = 0.0) -> list[str]:
    """Record (and optionally slow down) every `operation` call the session's client makes."""
    calls: list[str] = []

    def record(**_: Any) -> None:
        calls.append(operation)
        time.sleep(delay)

    session.client.meta.events.register(f"before-call.ecr.{operation}", record)
    return calls


def run_concurrently(count: int, work: Callable[[], object]) -> list[object]:
    """Run `work` in `count` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return results


# --- credentials -------------------------------------------------------------------------


def test_client_uses_the_endpoint_from_the_environment_and_standard_retries(
    moto: MotoServer,
) -> None:
    client = EcrSession(REGION).client
    assert client.meta.endpoint_url == moto.url
    assert client.meta.region_name == REGION
    # botocore-stubs do not declare Config.retries; it is a plain attribute at runtime.
    retries = vars(client.meta.config)["retries"]
    assert retries["mode"] == "standard"
    assert retries["total_max_attempts"] == 5


def test_credentials_are_the_decoded_token(moto: MotoServer, clock: FakeClock) -> None:
    credentials = EcrSession(REGION, clock=clock).credentials()
    assert credentials == Credentials("AWS", MOTO_PASSWORD)
    assert MOTO_PASSWORD not in repr(credentials)


def test_credentials_are_cached_until_the_refresh_margin(
    moto: MotoServer, clock: FakeClock
) -> None:
    session = EcrSession(REGION, clock=clock, refresh_margin_s=HOUR)
    fetches = count_calls(session, "GetAuthorizationToken")
    for _ in range(3):
        session.credentials()
    assert len(fetches) == 1
    clock.now = MOTO_TOKEN_EXPIRY - HOUR - 1
    session.credentials()
    assert len(fetches) == 1
    clock.now = MOTO_TOKEN_EXPIRY - HOUR  # the margin reached: refresh before AWS expires it
    assert session.credentials() == Credentials("AWS", MOTO_PASSWORD)
    assert len(fetches) == 2


def test_force_refresh_fetches_a_new_token(moto: MotoServer, clock: FakeClock) -> None:
    session = EcrSession(REGION, clock=clock)
    fetches = count_calls(session, "GetAuthorizationToken")
    session.credentials()
    session.credentials(force_refresh=True)
    session.credentials()
    assert len(fetches) == 2


def test_short_lived_token_is_refreshed_halfway(moto: MotoServer, clock: FakeClock) -> None:
    clock.now = MOTO_TOKEN_EXPIRY - HOUR  # only an hour left: the margin would leave nothing
    session = EcrSession(REGION, clock=clock, refresh_margin_s=HOUR)
    fetches = count_calls(session, "GetAuthorizationToken")
    session.credentials()
    clock.now += 29 * 60
    session.credentials()
    assert len(fetches) == 1
    clock.now += 60
    session.credentials()
    assert len(fetches) == 2


def test_token_already_expired_by_our_clock_is_not_cached(moto: MotoServer) -> None:
    # moto's expiresAt is in 2015: with the real clock, every call asks again.
    session = EcrSession(REGION)
    fetches = count_calls(session, "GetAuthorizationToken")
    session.credentials()
    session.credentials()
    assert len(fetches) == 2


def test_concurrent_callers_share_one_fetch(moto: MotoServer, clock: FakeClock) -> None:
    session = EcrSession(REGION, clock=clock)
    fetches = count_calls(session, "GetAuthorizationToken", delay=0.3)
    results = run_concurrently(8, session.credentials)
    assert results == [Credentials("AWS", MOTO_PASSWORD)] * 8
    assert len(fetches) == 1


def test_a_burst_of_forced_refreshes_fetches_once(moto: MotoServer, clock: FakeClock) -> None:
    session = EcrSession(REGION, clock=clock)
    session.credentials()
    fetches = count_calls(session, "GetAuthorizationToken", delay=0.5)
    run_concurrently(8, lambda: session.credentials(force_refresh=True))
    assert len(fetches) == 1


# --- repositories ------------------------------------------------------------------------


def test_missing_repository_is_none(moto: MotoServer) -> None:
    assert EcrSession(REGION).repository("does/not-exist") is None


@pytest.mark.parametrize(
    ("mode", "filters", "tag_expectations"),
    [
        ("MUTABLE", (), {"latest": False, "v1": False}),
        ("IMMUTABLE", (), {"latest": True, "v1": True}),
        (
            "IMMUTABLE_WITH_EXCLUSION",
            ("latest", "dev-*"),
            {"latest": False, "dev-7": False, "v1": True},
        ),
        ("MUTABLE_WITH_EXCLUSION", ("v*",), {"latest": False, "v1.2": True}),
    ],
)
def test_existing_repository_facts_are_read_back(
    moto: MotoServer, mode: str, filters: tuple[str, ...], tag_expectations: dict[str, bool]
) -> None:
    extra: dict[str, Any] = {}
    if filters:
        extra["imageTagMutabilityExclusionFilters"] = [
            {"filterType": "WILDCARD", "filter": f} for f in filters
        ]
    raw_ecr().create_repository(repositoryName="team/app", imageTagMutability=mode, **extra)  # type: ignore[arg-type]

    facts = EcrSession(REGION).repository("team/app")

    assert facts == RepositoryFacts(
        name="team/app",
        uri=f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/app",
        tag_mutability=mode,
        exclusion_filters=filters,
    )
    assert {tag: facts.tag_is_immutable(tag) for tag in tag_expectations} == tag_expectations


def test_repository_answers_are_cached(moto: MotoServer) -> None:
    raw_ecr().create_repository(repositoryName="app")
    session = EcrSession(REGION)
    describes = count_calls(session, "DescribeRepositories")
    assert session.repository("app") == session.repository("app")
    assert session.repository("gone") is None
    assert session.repository("gone") is None
    assert len(describes) == 2


def test_concurrent_repository_lookups_share_one_call(moto: MotoServer) -> None:
    raw_ecr().create_repository(repositoryName="app")
    session = EcrSession(REGION)
    describes = count_calls(session, "DescribeRepositories", delay=0.3)
    results = run_concurrently(6, lambda: session.repository("app"))
    assert len({id(r) for r in results}) == 1
    assert len(describes) == 1


def test_registry_id_selects_the_account(moto: MotoServer) -> None:
    raw_ecr().create_repository(repositoryName="app")
    session = EcrSession(REGION)
    facts = session.repository("app", registry_id=MOTO_ACCOUNT)
    assert facts is not None and facts.name == "app"


def test_create_repository(moto: MotoServer) -> None:
    session = EcrSession(REGION)
    assert session.repository("new/app") is None
    describes = count_calls(session, "DescribeRepositories")

    facts = session.create_repository("new/app")

    assert facts == RepositoryFacts(
        "new/app", f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/new/app", "MUTABLE", ()
    )
    # The cached "missing" answer is replaced, without asking AWS again.
    assert session.repository("new/app") == facts
    assert describes == []
    described = raw_ecr().describe_repositories(repositoryNames=["new/app"])["repositories"]
    assert described[0].get("imageTagMutability") == "MUTABLE"


def test_creating_an_existing_repository_returns_it_unchanged(moto: MotoServer) -> None:
    raw_ecr().create_repository(repositoryName="app", imageTagMutability="IMMUTABLE")
    facts = EcrSession(REGION).create_repository("app")
    assert facts.tag_mutability == "IMMUTABLE"


def test_invalid_repository_name_is_one_line(moto: MotoServer) -> None:
    with pytest.raises(EcrError) as caught:
        EcrSession(REGION).create_repository("Bad Name")
    message = str(caught.value)
    assert message.startswith(f"ECR CreateRepository Bad Name in {REGION}: ")
    assert "\n" not in message


# --- failures ----------------------------------------------------------------------------


def test_no_credentials_at_all(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION, credentials=False)
    with pytest.raises(EcrError) as caught:
        EcrSession(REGION).credentials()
    assert str(caught.value).startswith(
        f"ECR GetAuthorizationToken in {REGION}: no AWS credentials found "
        "(environment, ~/.aws, SSO, web identity or instance role); "
    )


def test_expired_sso_session(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = aws_env(monkeypatch, moto_server.url, tmp=tmp_path, region=REGION, credentials=False)
    # An SSO profile whose token cache (~/.aws/sso/cache under the fake HOME) is empty:
    # botocore fails while loading the token, before any request.
    (home / "config").write_text(
        "[profile sso-dev]\n"
        "sso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\n"
        f"sso_account_id = {MOTO_ACCOUNT}\n"
        "sso_role_name = Developer\n"
    )
    with pytest.raises(EcrError) as caught:
        EcrSession(REGION, "sso-dev").credentials()
    assert str(caught.value) == (
        f"ECR GetAuthorizationToken in {REGION} with AWS profile sso-dev: "
        "AWS SSO session expired: run `aws sso login --profile sso-dev`"
    )


def test_unknown_profile(moto: MotoServer) -> None:
    with pytest.raises(EcrError) as caught:
        EcrSession(REGION, "nope").repository("app")
    assert "AWS profile 'nope' not found in " in str(caught.value)
    assert str(caught.value).startswith(f"ECR client for {REGION} with AWS profile nope: ")


def test_unreachable_endpoint_names_it(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", dead)
    # One attempt: the backoff between five would only make this test slow.
    monkeypatch.setattr(ecr, "_BOTO_CONFIG", Config(retries={"max_attempts": 1}))
    with pytest.raises(EcrError) as caught:
        EcrSession(REGION).credentials()
    assert f"cannot connect to {dead}/" in str(caught.value)


# --- throttling --------------------------------------------------------------------------


class ThrottlingEcr(BaseHTTPRequestHandler):
    """Answers GetAuthorizationToken: first with the configured throttling reply, then OK."""

    replies: ClassVar[list[tuple[int, dict[str, str] | None]]] = []
    requests: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).requests.append(self.headers.get("X-Amz-Target", ""))
        status, body = self.replies.pop(0) if self.replies else (200, _token_answer())
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def _token_answer() -> dict[str, Any]:
    token = base64.b64encode(b"AWS:fake-password").decode()
    data = {"authorizationToken": token, "expiresAt": time.time() + 12 * HOUR}
    return {"authorizationData": [data]}


@pytest.fixture
def throttling_ecr(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ThrottlingEcr)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    ThrottlingEcr.requests.clear()
    ThrottlingEcr.replies.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", f"http://127.0.0.1:{server.server_port}")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "reply",
    [
        (400, {"__type": "ThrottlingException", "message": "Rate exceeded"}),
        (400, {"__type": "LimitExceededException", "message": "Too many requests"}),
        (429, None),
    ],
    ids=["ThrottlingException", "LimitExceededException", "429"],
)
def test_throttling_is_retried(
    throttling_ecr: str, reply: tuple[int, dict[str, str] | None]
) -> None:
    ThrottlingEcr.replies.append(reply)
    credentials = EcrSession(REGION).credentials()
    assert credentials == Credentials("AWS", "fake-password")
    assert len(ThrottlingEcr.requests) == 2
