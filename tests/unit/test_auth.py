"""RegistryAuth, one behaviour at a time, over httpx.MockTransport (no registry involved)."""

from __future__ import annotations

import base64
import json
import os
import ssl
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from reconciler._errors import (
    AuthError,
    CredentialsError,
    RegistryError,
    TlsError,
    TransportError,
)
from reconciler._registry.auth import RegistryAuth, scope_for
from reconciler._registry.challenge import (
    Challenge,
    choose_challenge,
    parse_challenge,
    parse_challenges,
)
from reconciler._registry.credentials import (
    IDENTITY_TOKEN_USER,
    Credentials,
    CredentialSource,
    DockerCredentialStore,
    StaticCredentials,
)
from reconciler._registry.failures import NOT_TLS
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.retry import RetryPolicy
from reconciler._registry.transport import NotTlsError


class RotatingSource:
    """Credentials that change when refreshed, like an ECR token provider."""

    def __init__(self) -> None:
        self.generation = 0

    def __call__(self, *, refresh: bool = False) -> Credentials:
        if refresh:
            self.generation += 1
        return Credentials("AWS", f"token-{self.generation}")


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


Handler = Callable[[httpx.Request], httpx.Response]


def client(
    handler: Handler,
    source: CredentialSource,
    *,
    plain_http: bool = True,
    retry: RetryPolicy | None = None,
) -> httpx.Client:
    tokens = httpx.Client(transport=httpx.MockTransport(handler))
    auth = RegistryAuth(
        "r.test", source, token_client=tokens, allow_plain_http=plain_http, retry=retry
    )
    return httpx.Client(transport=httpx.MockTransport(handler), auth=auth)


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Basic realm="ECR"', "basic", {"realm": "ECR"}),
        (
            'Bearer realm="https://auth.example/token",service="reg",'
            'scope="repository:a/b:pull,push"',
            "bearer",
            {
                "realm": "https://auth.example/token",
                "service": "reg",
                "scope": "repository:a/b:pull,push",
            },
        ),
        ('Bearer realm="http://127.0.0.1:5/t",scope="repository:h:5000/x:pull"', "bearer",
         {"realm": "http://127.0.0.1:5/t", "scope": "repository:h:5000/x:pull"}),
    ],
)  # fmt: skip
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


BEARER = 'Bearer realm="https://auth.test/token",service="reg",scope="repository:a/b:pull,push"'
BEARER_PARAMS = {
    "realm": "https://auth.test/token",
    "service": "reg",
    "scope": "repository:a/b:pull,push",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param([BEARER, 'Basic realm="harbor"'],
                     [("bearer", BEARER_PARAMS), ("basic", {"realm": "harbor"})], id="two-headers"),
        pytest.param(['Basic realm="harbor"', BEARER],
                     [("basic", {"realm": "harbor"}), ("bearer", BEARER_PARAMS)],
                     id="two-headers-basic-first"),
        pytest.param([f'Basic realm="harbor", {BEARER}'],
                     [("basic", {"realm": "harbor"}), ("bearer", BEARER_PARAMS)],
                     id="folded-basic-first"),
        pytest.param([f'{BEARER}, Basic realm="harbor"'],
                     [("bearer", BEARER_PARAMS), ("basic", {"realm": "harbor"})],
                     id="folded-bearer-first"),
        pytest.param(['Bearer realm = "r" , scope="repository:a:pull,push" ,, Basic'],
                     [("bearer", {"realm": "r", "scope": "repository:a:pull,push"}),
                      ("basic", {})], id="spaces-empty-elements-bare-scheme"),
        pytest.param(['Basic realm="say \\"hi\\", ok"'], [("basic", {"realm": 'say "hi", ok'})],
                     id="quoted-pair-and-comma"),
        pytest.param(["bearer realm=r,service=s"], [("bearer", {"realm": "r", "service": "s"})],
                     id="token-values-lowercase-scheme"),
        pytest.param(['realm="orphan", Basic realm="x"'], [("basic", {"realm": "x"})],
                     id="parameter-before-any-scheme"),
        pytest.param(['Bearer realm="first",realm="second"'], [("bearer", {"realm": "first"})],
                     id="repeated-parameter"),
        pytest.param(["Negotiate abc==", "Basic"], [("negotiate", {"abc": "="}), ("basic", {})],
                     id="token68"),
        pytest.param(["", "  "], [], id="empty"),
    ],
)  # fmt: skip
def test_parse_challenges_keeps_each_challenge_and_its_own_parameters(
    headers: list[str], expected: list[tuple[str, dict[str, str]]]
) -> None:
    assert [(c.scheme, c.params) for c in parse_challenges(headers)] == expected


def test_a_realm_of_one_challenge_never_leaks_into_another() -> None:
    """Joined as one value (what `headers.get` gives), the old parser read Basic's realm as the
    Bearer realm; parsed per challenge, Bearer keeps its own."""
    joined = f'{BEARER}, Basic realm="harbor"'
    chosen = choose_challenge(parse_challenges([joined]))
    assert chosen == Challenge("bearer", BEARER_PARAMS)


BASIC = Challenge("basic", {"realm": "r"})
BEARER_C = Challenge("bearer", {"realm": "https://auth.test/token"})


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ([BASIC, BEARER_C], BEARER_C),
        ([BEARER_C, BASIC], BEARER_C),
        ([BASIC], BASIC),
        ([Challenge("bearer", {"service": "s"}), BASIC], BASIC),  # no realm: cannot be answered
        ([Challenge("negotiate", {})], None),
        ([], None),
    ],
)
def test_choose_challenge_prefers_bearer_over_basic(
    offered: list[Challenge], chosen: Challenge | None
) -> None:
    assert choose_challenge(offered) == chosen


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/a/b/manifests/1", "repository:a/b:pull"),
        ("HEAD", "/v2/x/blobs/sha256:1", "repository:x:pull"),
        ("PUT", "/v2/x/manifests/1", "repository:x:pull,push"),
        ("GET", "/v2/", None),
        ("GET", "/v2/_catalog", None),
        # Names whose components are `tags`, `blobs` or `manifests`: the last segment decides.
        ("GET", "/v2/org/tags/app/tags/list", "repository:org/tags/app:pull"),
        ("HEAD", "/v2/org/tags/app/manifests/latest", "repository:org/tags/app:pull"),
        ("GET", "/v2/team/blobs/x/blobs/sha256:1", "repository:team/blobs/x:pull"),
        ("POST", "/v2/team/blobs/x/blobs/uploads/", "repository:team/blobs/x:pull,push"),
        ("PATCH", "/v2/team/blobs/x/blobs/uploads/5e1d-77", "repository:team/blobs/x:pull,push"),
        ("PUT", "/v2/a/manifests/b/manifests/10", "repository:a/manifests/b:pull,push"),
        ("GET", "/v2/a/manifests/b/tags/list", "repository:a/manifests/b:pull"),
        ("GET", "/v2/a/blobs/uploads/blobs/sha256:1", "repository:a/blobs/uploads:pull"),
        ("GET", "/v2/a/manifests/tags", "repository:a:pull"),  # a tag named `tags`
        ("GET", "/v2/x/referrers/sha256:1", "repository:x:pull"),
        ("GET", "/v2/x/tags/other", None),  # not an API path
    ],
)
def test_scope_for(method: str, path: str, scope: str | None) -> None:
    assert scope_for(httpx.Request(method, "http://r.test" + path)) == scope


def challenging(token_answers: list[httpx.Response], seen: list[httpx.Request]) -> Handler:
    """A registry whose 401s offer `www-authenticate` Bearer and Basic as separate headers, and
    a token service answering `token_answers` in turn (the last one from then on)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "auth.test":
            return token_answers.pop(0) if len(token_answers) > 1 else token_answers[0]
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200)
        challenges = [
            ("www-authenticate", 'Basic realm="harbor"'),
            ("www-authenticate", f'Bearer realm="http://auth.test/token",service="reg",'
                                 f'scope="{scope_for(request)}"'),
        ]  # fmt: skip
        return httpx.Response(401, headers=challenges)

    return handler


def token_answer(status: int = 200, **headers: str) -> httpx.Response:
    body = {"token": "T", "expires_in": 300} if status == 200 else {"errors": []}
    return httpx.Response(status, json=body, headers=headers)


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def test_the_bearer_challenge_is_answered_when_basic_is_offered_first() -> None:
    seen: list[httpx.Request] = []
    source = StaticCredentials(Credentials("u", "pw"))
    with client(challenging([token_answer()], seen), source) as c:
        assert c.get("http://r.test/v2/org/tags/app/tags/list").status_code == 200
    token_request = seen[1]
    assert token_request.url.host == "auth.test"
    assert token_request.url.params["scope"] == "repository:org/tags/app:pull"
    assert token_request.headers["authorization"] == basic("u", "pw")  # only to the realm
    assert seen[2].headers["authorization"] == "Bearer T"


def test_the_token_service_is_retried_on_503_and_429_honouring_retry_after() -> None:
    seen: list[httpx.Request] = []
    sleeps = Sleeps()
    answers = [token_answer(503), token_answer(429, **{"Retry-After": "2"}), token_answer()]
    retry = RetryPolicy(sleep=sleeps)
    with client(challenging(answers, seen), StaticCredentials(None), retry=retry) as c:
        assert c.get("http://r.test/v2/x/manifests/1").status_code == 200
    assert [r.url.host for r in seen] == ["r.test", *["auth.test"] * 3, "r.test"]
    assert len(sleeps.seconds) == 2 and sleeps.seconds[1] == 2.0


def test_a_token_service_that_stays_unavailable_is_one_error_naming_it() -> None:
    seen: list[httpx.Request] = []
    retry = RetryPolicy(sleep=Sleeps(), attempts=3)
    handler = challenging([token_answer(503)], seen)
    with (
        client(handler, StaticCredentials(None), retry=retry) as c,
        pytest.raises(RegistryError) as caught,
    ):
        c.get("http://r.test/v2/x/manifests/1")
    assert str(caught.value) == "r.test: token service auth.test unavailable: HTTP 503"
    assert caught.value.status is None  # nothing above retries it again
    assert [r.url.host for r in seen] == ["r.test", *["auth.test"] * 3]


def test_connection_errors_to_the_token_service_are_retried_then_final() -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            attempts.append(request.method)
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(
            401, headers={"www-authenticate": 'Bearer realm="http://auth.test/t"'}
        )

    retry = RetryPolicy(sleep=Sleeps(), attempts=3)
    with (
        client(handler, StaticCredentials(None), retry=retry) as c,
        pytest.raises(TransportError) as caught,
    ):
        c.get("http://r.test/v2/x/manifests/1")
    assert attempts == ["GET"] * 3
    assert str(caught.value) == (
        "r.test: token service auth.test: cannot connect ([Errno 111] Connection refused)"
    )  # worded as a failed registry request is: one translation serves both
    assert caught.value.transient is False  # the registry request around it is not retried


def _refused_certificate(request: httpx.Request) -> httpx.ConnectError:
    """As httpx's own transport reports it: the ssl error in the chain of causes."""
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed")
    except ssl.SSLError as exc:
        error = httpx.ConnectError(str(exc), request=request)
        error.__cause__ = exc
        return error


def _plain_http(request: httpx.Request) -> httpx.ConnectError:
    """The realm's server answered the TLS handshake in plain HTTP (as our transport says)."""
    return NotTlsError("[SSL: WRONG_VERSION_NUMBER] wrong version number", request=request)


TLS_FAILURES = [
    pytest.param(
        _refused_certificate,
        "TLS certificate not accepted (certificate verify failed)",
        id="certificate-refused",
    ),
    pytest.param(
        _plain_http,
        f"{NOT_TLS} ([SSL: WRONG_VERSION_NUMBER] wrong version number)",
        id="plain-http-realm",  # the same hint as for the registry itself
    ),
]


@pytest.mark.parametrize(("failure", "said"), TLS_FAILURES)
def test_a_tls_failure_at_the_token_service_is_not_retried_and_says_why(
    failure: Callable[[httpx.Request], httpx.ConnectError], said: str
) -> None:
    # Asking again cannot mend a certificate or a plain-HTTP server: one attempt.
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            attempts.append(request.method)
            raise failure(request)
        return httpx.Response(
            401, headers={"www-authenticate": 'Bearer realm="https://auth.test/t"'}
        )

    retry = RetryPolicy(sleep=Sleeps(), attempts=3)
    with (
        client(handler, StaticCredentials(None), retry=retry) as c,
        pytest.raises(TlsError) as caught,
    ):
        c.get("https://r.test/v2/x/manifests/1")
    assert attempts == ["GET"]
    assert str(caught.value) == f"r.test: token service auth.test: {said}"


def test_a_realm_that_is_no_url_is_a_protocol_error_without_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"www-authenticate": 'Bearer realm="harbor"'})

    with client(handler, StaticCredentials(None)) as c, pytest.raises(RegistryError) as caught:
        c.get("http://r.test/v2/x/manifests/1")
    assert str(caught.value) == "r.test: the Bearer challenge names no usable token realm"


def test_an_identity_token_is_a_refresh_token_grant() -> None:
    seen: list[httpx.Request] = []
    source = StaticCredentials(Credentials(IDENTITY_TOKEN_USER, "refresh-me"))
    with client(challenging([token_answer()], seen), source) as c:
        assert c.put("http://r.test/v2/x/manifests/1").status_code == 200
    token_request = seen[1]
    assert token_request.method == "POST"
    assert "authorization" not in token_request.headers
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v for k, [v] in parse_qs(token_request.content.decode()).items()}
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-me",
        "client_id": "reconciler",
        "service": "reg",
        "scope": "repository:x:pull,push",
    }


def test_a_refused_refresh_token_is_an_auth_error_without_the_token() -> None:
    seen: list[httpx.Request] = []
    refused = httpx.Response(400, json={"error": "invalid_grant"})
    source = StaticCredentials(Credentials(IDENTITY_TOKEN_USER, "stale-refresh-token"))
    with client(challenging([refused], seen), source) as c, pytest.raises(AuthError) as caught:
        c.get("http://r.test/v2/x/manifests/1")
    assert str(caught.value) == (
        "r.test: the token service at auth.test refused the identity token (HTTP 400)"
    )


def test_a_pull_token_is_found_for_a_repository_named_pull() -> None:
    token_requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            token_requests.append(request.url.params["scope"])
            return httpx.Response(200, json={"token": "T", "expires_in": 300})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200)
        challenge = f'Bearer realm="http://r.test/token",scope="{scope_for(request)}"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    with client(handler, StaticCredentials(None)) as c:
        assert c.put("http://r.test/v2/pull/manifests/1").status_code == 200
        assert c.get("http://r.test/v2/pull/manifests/1").status_code == 200
    assert token_requests == ["repository:pull:pull,push"]  # the push token serves the pull


def test_refused_basic_credentials_are_refreshed_once() -> None:
    source = RotatingSource()
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == basic("AWS", "token-1"):
            return httpx.Response(200)
        return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})

    with client(handler, source) as c:
        assert c.get("http://r.test/v2/x/manifests/1").status_code == 200
        assert c.get("http://r.test/v2/x/manifests/2").status_code == 200
    # anonymous -> stale token refused -> fresh token accepted; then sent pre-emptively.
    assert seen == [None, basic("AWS", "token-0"), basic("AWS", "token-1"), basic("AWS", "token-1")]


def test_static_credentials_refused_give_up_after_one_try() -> None:
    calls: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("authorization"))
        return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})

    source = StaticCredentials(Credentials("u", "pw"))
    with client(handler, source) as c:
        assert c.get("http://r.test/v2/x/manifests/1").status_code == 401
    assert calls == [None, basic("u", "pw")]


def test_bearer_tokens_are_cached_per_scope() -> None:
    token_requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            token_requests.append(request.url.params["scope"])
            return httpx.Response(200, json={"token": "T", "expires_in": 300})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(200)
        scope = scope_for(request)
        challenge = f'Bearer realm="http://r.test/token",service="s",scope="{scope}"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    with client(handler, StaticCredentials(None)) as c:
        for ref in ("1", "2", "3"):
            assert c.get(f"http://r.test/v2/x/manifests/{ref}").status_code == 200
        assert c.put("http://r.test/v2/x/manifests/1").status_code == 200
    assert token_requests == ["repository:x:pull", "repository:x:pull,push"]


def test_basic_credentials_are_never_sent_over_plain_http_unless_insecure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})

    source = StaticCredentials(Credentials("u", "secret-pw"))
    with client(handler, source, plain_http=False) as c, pytest.raises(AuthError) as caught:
        c.get("http://r.test/v2/x/manifests/1")
    assert "plain HTTP" in str(caught.value) and "secret-pw" not in str(caught.value)


def test_credentials_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))
    assert "hunter2" not in repr(StaticCredentials(Credentials("u", "hunter2")))


# -- docker's config.json shapes -----------------------------------------------------------------


def store_with(tmp_path: Path, entry: object, host: str = "reg.test:5000") -> DockerCredentialStore:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    return DockerCredentialStore(tmp_path)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param({"auth": b64("alice:pw:with:colons")}, Credentials("alice", "pw:with:colons"),
                     id="auth"),
        pytest.param({"username": "alice", "password": "pw"}, Credentials("alice", "pw"),
                     id="username-password"),
        pytest.param({"username": "robot$ci", "password": ""}, Credentials("robot$ci", ""),
                     id="empty-password"),
        pytest.param({"auth": b64("alice:from-auth"), "username": "bob", "password": "x"},
                     Credentials("alice", "from-auth"), id="auth-wins-as-in-docker"),
        pytest.param({"auth": "", "username": "bob", "password": "x"}, Credentials("bob", "x"),
                     id="empty-auth-then-fields"),
        pytest.param({"auth": b64("alice:"), "identitytoken": "refresh-me"},
                     Credentials(IDENTITY_TOKEN_USER, "refresh-me"), id="identitytoken"),
        pytest.param({"identitytoken": "refresh-me"},
                     Credentials(IDENTITY_TOKEN_USER, "refresh-me"), id="identitytoken-alone"),
        pytest.param({}, None, id="empty-entry"),
        pytest.param({"email": "a@example.test"}, None, id="no-credential-fields"),
    ],
)  # fmt: skip
def test_docker_config_entry_shapes(
    tmp_path: Path, entry: dict[str, str], expected: Credentials | None
) -> None:
    assert store_with(tmp_path, entry).lookup("reg.test:5000") == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"username": "alice"}, "the entry for reg.test:5000 has no usable `password`"),
        ({"password": "Secret-Pw-1"}, "the entry for reg.test:5000 has no usable `username`"),
        ({"username": "alice", "password": 12},
         "the entry for reg.test:5000 has no usable `password`"),
        ({"auth": "bm8tY29sb24="}, "the `auth` entry for reg.test:5000 is not base64 user:pass"),
        ({"auth": 42}, "the `auth` entry for reg.test:5000 is not base64 user:pass"),
        ({"identitytoken": ["x"]}, "the entry for reg.test:5000 has no usable `identitytoken`"),
        ("alice:Secret-Pw-1", "the `auths` entry for reg.test:5000 is not an object"),
    ],
)  # fmt: skip
def test_malformed_docker_config_entries_name_the_field_never_the_value(
    tmp_path: Path, entry: object, message: str
) -> None:
    with pytest.raises(CredentialsError) as caught:
        store_with(tmp_path, entry).lookup("reg.test:5000")
    assert str(caught.value) == f"docker config: {message}"
    assert "Secret-Pw-1" not in str(caught.value)


def test_where_credentials_came_from_never_makes_them_different() -> None:
    assert Credentials("u", "pw", origin="/a/config.json") == Credentials("u", "pw")
    assert "pw" not in repr(Credentials("u", "pw", origin="/a/config.json"))


# -- where credentials come from, or where none were found ---------------------------------------

HOST = "reg.test:5000"


def helper_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker-credential-has` knows every host; `docker-credential-empty` none, as helpers say
    it (a "not found" message, exit 1)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "has": 'echo \'{"Username": "u", "Secret": "Helper-Secret-3"}\'',
        "empty": "echo 'credentials not found in native keychain'; exit 1",
    }
    for name, body in scripts.items():
        program = bin_dir / f"docker-credential-{name}"
        program.write_text(f"#!/bin/sh\nread host\n{body}\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("config", "found", "where"),
    [
        pytest.param(None, False, "{config}, which does not exist", id="no-config-file"),
        pytest.param({"auths": {"other.test": {"auth": b64("u:pw")}}}, False, "{config}",
                     id="no-entry-for-the-host"),
        pytest.param({"auths": {HOST: {}}}, False, "{config}", id="empty-entry"),
        pytest.param({"auths": {HOST: {"auth": b64("u:pw")}}}, True, "{config}",
                     id="auths-entry"),
        pytest.param({"auths": {f"https://{HOST}/v1/": {"username": "u", "password": "pw"}}},
                     True, "{config}", id="auths-entry-as-url"),
        pytest.param({"credHelpers": {HOST: "has"}}, True,
                     "the credential helper docker-credential-has", id="helper"),
        pytest.param({"credHelpers": {HOST: "empty"}, "auths": {HOST: {"auth": b64("u:pw")}}},
                     False, "the credential helper docker-credential-empty that {config} names"
                     " for it", id="helper-without-them-wins-over-auths"),
        pytest.param({"credsStore": "has"}, True, "the credential store docker-credential-has",
                     id="store"),
        pytest.param({"credsStore": "empty"}, False,
                     "{config} or its credsStore docker-credential-empty", id="store-without"),
    ],
)  # fmt: skip
def test_the_source_says_where_credentials_came_from_or_where_none_were_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, object] | None,
    found: bool, where: str,
) -> None:  # fmt: skip
    helper_programs(tmp_path, monkeypatch)
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    source = DockerCredentialStore(tmp_path).source(HOST)
    where = where.format(config=tmp_path / "config.json")
    if found:
        assert source.credentials is not None and source.searched == ""
        assert source.credentials.origin == where
    else:
        assert source == StaticCredentials(None, where)


# -- what a refusal says was tried ---------------------------------------------------------------

CONFIG = "/home/ci/.docker/config.json"
NOTHING = StaticCredentials(None, CONFIG)
FROM_CONFIG = StaticCredentials(Credentials("u", "Wrong-Secret-8", origin=CONFIG))
FROM_HELPER = StaticCredentials(
    Credentials("u", "Wrong-Secret-8", origin="the credential helper docker-credential-pass")
)
FROM_ECR = StaticCredentials(
    Credentials("AWS", "Wrong-Secret-8", origin="ECR GetAuthorizationToken in eu-west-1")
)
IDENTITY = StaticCredentials(Credentials(IDENTITY_TOKEN_USER, "Wrong-Secret-8", origin=CONFIG))
UNNAMED = StaticCredentials(Credentials("u", "Wrong-Secret-8"))
UNAUTHORIZED = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}


def refusing_basic(request: httpx.Request) -> httpx.Response:
    """A registry that refuses everyone, with a Basic challenge and an error body."""
    return httpx.Response(401, json=UNAUTHORIZED, headers={"www-authenticate": 'Basic realm="r"'})


def token_auth(*, service_grants: bool, registry_status: int = 401) -> Handler:
    """A Bearer registry whose token service grants a token to anyone (`service_grants`) or
    refuses everyone; the registry answers `registry_status` to every token it gets."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return token_answer() if service_grants else httpx.Response(401, json={})
        if request.headers.get("authorization") == "Bearer T":
            return httpx.Response(registry_status)
        challenge = 'Bearer realm="http://auth.test/token",service="reg"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    return handler


def denying_with_basic(request: httpx.Request) -> httpx.Response:
    """A Basic registry that takes any credentials, then denies access; without any, 401."""
    if request.headers.get("authorization", "").startswith("Basic "):
        return httpx.Response(403)
    return httpx.Response(401, headers={"www-authenticate": 'Basic realm="r"'})


def denying(request: httpx.Request) -> httpx.Response:
    """A registry that denies access without asking for credentials."""
    return httpx.Response(403)


def no_challenge(request: httpx.Request) -> httpx.Response:
    return httpx.Response(401, headers={"www-authenticate": 'Negotiate realm="kerberos"'})


@pytest.mark.parametrize(
    ("handler", "source", "message"),
    [
        pytest.param(refusing_basic, NOTHING,
                     f"app:1: no credentials found for r.test in {CONFIG} (HTTP 401):"
                     " UNAUTHORIZED authentication required", id="basic-none-found"),
        pytest.param(refusing_basic, FROM_CONFIG,
                     f"app:1: credentials from {CONFIG} were rejected by r.test (HTTP 401):"
                     " UNAUTHORIZED authentication required", id="basic-rejected"),
        pytest.param(refusing_basic, FROM_HELPER,
                     "app:1: credentials from the credential helper docker-credential-pass were"
                     " rejected by r.test (HTTP 401): UNAUTHORIZED authentication required",
                     id="basic-helper-rejected"),
        pytest.param(refusing_basic, FROM_ECR,
                     "app:1: credentials from ECR GetAuthorizationToken in eu-west-1 were"
                     " rejected by r.test (HTTP 401): UNAUTHORIZED authentication required",
                     id="basic-ecr-rejected"),
        pytest.param(refusing_basic, UNNAMED,
                     "app:1: the configured credentials were rejected by r.test (HTTP 401):"
                     " UNAUTHORIZED authentication required", id="basic-rejected-origin-unknown"),
        pytest.param(token_auth(service_grants=False), NOTHING,
                     f"no credentials found for r.test in {CONFIG}, and the token service at"
                     " auth.test refused anonymous access (HTTP 401)",
                     id="token-service-anonymous"),
        pytest.param(token_auth(service_grants=False), FROM_CONFIG,
                     f"the token service at auth.test refused credentials from {CONFIG}"
                     " (HTTP 401)", id="token-service-rejected"),
        pytest.param(token_auth(service_grants=True), NOTHING,
                     f"app:1: no credentials found for r.test in {CONFIG} (HTTP 401)",
                     id="anonymous-token-refused-by-registry"),
        pytest.param(token_auth(service_grants=True), FROM_HELPER,
                     "app:1: credentials from the credential helper docker-credential-pass were"
                     " rejected by r.test (HTTP 401)", id="token-refused-by-registry"),
        pytest.param(token_auth(service_grants=True, registry_status=403), FROM_CONFIG,
                     f"app:1: access denied to credentials from {CONFIG} (HTTP 403)",
                     id="token-denied"),
        pytest.param(denying_with_basic, FROM_CONFIG,
                     f"app:1: access denied to credentials from {CONFIG} (HTTP 403)",
                     id="basic-denied"),
        pytest.param(denying, NOTHING,
                     f"app:1: access denied without credentials: no credentials found for"
                     f" r.test in {CONFIG} (HTTP 403)", id="anonymous-denied"),
        pytest.param(denying, FROM_CONFIG, "app:1: access denied (HTTP 403)",
                     id="denied-before-credentials-were-asked-for"),
        pytest.param(no_challenge, FROM_CONFIG,
                     f"app:1: r.test offered no Basic or Bearer challenge; credentials from"
                     f" {CONFIG} were not sent (HTTP 401)", id="no-usable-challenge"),
    ],
)  # fmt: skip
def test_an_auth_error_says_what_was_tried_never_the_secret(
    handler: Handler, source: StaticCredentials, message: str
) -> None:
    transport = httpx.MockTransport(handler)
    settings = ClientSettings("r.test", insecure=True)
    with (
        closing(RegistryClient(settings, source, transport=transport)) as registry,
        pytest.raises(AuthError) as caught,
    ):
        registry.manifest_at("app", "1")
    assert str(caught.value) == f"r.test: {message}"
    assert "Wrong-Secret-8" not in str(caught.value)


@pytest.mark.parametrize(
    ("source", "refused"),
    [
        pytest.param(IDENTITY, f"the identity token from {CONFIG}", id="with-origin"),
        pytest.param(StaticCredentials(Credentials(IDENTITY_TOKEN_USER, "Wrong-Secret-8")),
                     "the identity token", id="origin-unknown"),
    ],
)  # fmt: skip
def test_a_refused_identity_token_names_where_it_came_from(
    source: StaticCredentials, refused: str
) -> None:
    seen: list[httpx.Request] = []
    grant_refused = httpx.Response(400, json={"error": "invalid_grant"})
    with client(challenging([grant_refused], seen), source) as c, pytest.raises(AuthError) as e:
        c.get("http://r.test/v2/x/manifests/1")
    assert str(e.value) == f"r.test: the token service at auth.test refused {refused} (HTTP 400)"
