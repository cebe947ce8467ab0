"""RegistryAuth, one behaviour at a time, over httpx.MockTransport (no registry involved)."""

from __future__ import annotations

import base64

import httpx
import pytest

from reconciler.errors import AuthError
from reconciler.registry.auth import RegistryAuth, parse_challenge, scope_for
from reconciler.registry.credentials import Credentials, StaticCredentials


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


def client(handler: object, source: object, *, plain_http: bool = True) -> httpx.Client:
    tokens = httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    auth = RegistryAuth("r.test", source, token_client=tokens, allow_plain_http=plain_http)  # type: ignore[arg-type]
    return httpx.Client(transport=httpx.MockTransport(handler), auth=auth)  # type: ignore[arg-type]


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


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/a/b/manifests/1", "repository:a/b:pull"),
        ("HEAD", "/v2/x/blobs/sha256:1", "repository:x:pull"),
        ("PUT", "/v2/x/manifests/1", "repository:x:pull,push"),
        ("GET", "/v2/", None),
    ],
)
def test_scope_for(method: str, path: str, scope: str | None) -> None:
    assert scope_for(httpx.Request(method, "http://r.test" + path)) == scope


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
