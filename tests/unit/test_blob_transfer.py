"""Blob transfers, one behaviour at a time over httpx.MockTransport (the registry zoo's storage
profile runs the same paths against real registries):

- credentials go only to the registry's own scheme, host and port (and its token realm): an
  upload `Location` or a redirect anywhere else gets no Authorization, whatever its path;
- a 401 to a streamed upload is not answered by resending the spent stream (the auth flow
  still fetches fresh credentials for the next session);
- a streamed blob is its raw bytes as stored, exactly the descriptor's size of them.
"""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from reconciler._errors import AuthError, ProtocolError
from reconciler._model.oci import digest_of
from reconciler._registry.auth import RegistryAuth
from reconciler._registry.credentials import Credentials, StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient

REGISTRY = "http://r.test:5000"
REALM = "http://auth.test/token"
USER, PASSWORD = "alice", "s3cret-pw"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "token-for-r-test"
BLOB = b"layer bytes " * 100
DIGEST = digest_of(BLOB)


@dataclass
class Sent:
    method: str
    url: str
    authorization: str | None
    cookie: str | None
    body: bytes


@dataclass
class Fake:
    """A registry at REGISTRY (Basic or Bearer auth), its token realm on auth.test, and
    whatever other origins a test routes (`elsewhere`, by scheme://host:port). Records every
    request."""

    scheme: str  # "basic" or "bearer"
    elsewhere: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)
    registry_routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=dict
    )
    sent: list[Sent] = field(default_factory=list)
    tokens_issued: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = request.headers
        self.sent.append(Sent(request.method, str(request.url), headers.get("authorization"),
                              headers.get("cookie"), body))  # fmt: skip
        if request.url.host == "auth.test":
            self.tokens_issued += 1
            return httpx.Response(200, json={"token": TOKEN, "expires_in": 300})
        if origin(request.url) != REGISTRY:
            return self.elsewhere[origin(request.url)](request)
        if headers.get("authorization") != self.accepted:
            return httpx.Response(401, headers={"www-authenticate": self.challenge})
        for (method, path), answer in self.registry_routes.items():
            if request.method == method and request.url.path == path:
                return answer(request)
        return httpx.Response(404)

    @property
    def accepted(self) -> str:
        return BASIC if self.scheme == "basic" else f"Bearer {TOKEN}"

    @property
    def challenge(self) -> str:
        if self.scheme == "basic":
            return 'Basic realm="r.test"'
        return f'Bearer realm="{REALM}",service="r.test"'

    def to(self, where: str) -> list[Sent]:
        return [s for s in self.sent if origin(httpx.URL(s.url)) == where]


def origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


def client(fake: Fake) -> RegistryClient:
    settings = ClientSettings("r.test:5000", insecure=True)
    credentials = StaticCredentials(Credentials(USER, PASSWORD))
    return RegistryClient(settings, credentials, transport=httpx.MockTransport(fake))


def upload_session(location: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(202, headers={"location": location})


def stored(status: int = 201) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(status, headers={"docker-content-digest": DIGEST})


# -- credentials stay with the registry ---------------------------------------------------------


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
@pytest.mark.parametrize(
    "location",
    [
        "http://storage.test/v2/app/blobs/uploads/abc?X-Amz-Signature=sig",  # plain HTTP
        "https://storage.test/bucket/uploads/abc?upload_id=xyz",
        "https://r.test:5000/v2/app/blobs/uploads/abc",  # same host, other scheme
        "http://r.test:5001/v2/app/blobs/uploads/abc",  # same host, other port
        "http://r.test/v2/app/blobs/uploads/abc",  # same host, default port
    ],
)
def test_an_upload_location_elsewhere_gets_no_credentials(scheme: str, location: str) -> None:
    fake = Fake(scheme)
    storage = origin(httpx.URL(location))
    fake.elsewhere[storage] = stored()  # r.test on another port or scheme is another place
    fake.registry_routes[("POST", "/v2/app/blobs/uploads/")] = upload_session(location)
    registry = client(fake)
    session = registry.start_upload("app")
    assert session == location
    registry.finish_upload("app", session, DIGEST, iter([BLOB[:500], BLOB[500:]]), len(BLOB))
    [put] = fake.to(storage)
    assert put.method == "PUT" and httpx.URL(put.url).params["digest"] == DIGEST
    assert (put.authorization, put.cookie, put.body) == (None, None, BLOB)
    # ... while the registry itself was authenticated, and the realm asked at most once
    assert fake.sent[-2].authorization == fake.accepted and fake.tokens_issued <= 1


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_an_upload_location_on_the_registry_gets_its_credentials(scheme: str) -> None:
    fake = Fake(scheme)
    location = f"{REGISTRY}/v2/app/blobs/uploads/abc?_state=s"
    relative = "/v2/app/blobs/uploads/abc?_state=s"
    fake.registry_routes[("POST", "/v2/app/blobs/uploads/")] = upload_session(relative)
    fake.registry_routes[("PUT", "/v2/app/blobs/uploads/abc")] = stored()
    registry = client(fake)
    session = registry.start_upload("app")
    assert session == location  # a relative Location, resolved against the registry
    registry.finish_upload("app", session, DIGEST, iter([BLOB]), len(BLOB))
    [put] = [s for s in fake.sent if s.method == "PUT"]
    assert (put.authorization, put.body) == (fake.accepted, BLOB)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_a_challenge_from_another_host_is_not_answered(scheme: str) -> None:
    """Storage answering 401 with a challenge of its own gets no credentials in reply: the
    session fails (the copy starts a new one), and no token is asked for it."""
    fake = Fake(scheme)
    location = "http://storage.test/v2/app/blobs/uploads/abc"
    fake.elsewhere["http://storage.test"] = lambda _: httpx.Response(
        401, headers={"www-authenticate": f'Bearer realm="{REALM}",service="storage"'}
    )
    registry = client(fake)
    with pytest.raises(AuthError) as refused:
        registry.finish_upload("app", location, DIGEST, iter([BLOB]), len(BLOB))
    assert refused.value.status == 401
    assert [(s.method, s.authorization) for s in fake.to("http://storage.test")] == [("PUT", None)]
    assert fake.tokens_issued == 0


@pytest.mark.parametrize(
    ("url", "registry"),
    [
        ("http://r.test:5000/v2/a/blobs/uploads/1", True),
        ("http://R.TEST:5000/v2/a/manifests/1", True),
        ("http://storage.test/v2/a/blobs/uploads/1", False),
        ("https://r.test:5000/v2/a/blobs/uploads/1", False),
        ("http://r.test:5001/v2/a/blobs/uploads/1", False),
        ("http://r.test/v2/a/blobs/uploads/1", False),
        ("http://sub.r.test:5000/v2/a/blobs/uploads/1", False),
    ],
)
def test_the_rule_is_the_base_urls_scheme_host_and_port(url: str, registry: bool) -> None:
    auth = RegistryAuth("r.test:5000", StaticCredentials(None), token_client=httpx.Client(),
                        allow_plain_http=True, origin=REGISTRY)  # fmt: skip
    assert auth.is_registry(httpx.URL(url)) is registry
    https = RegistryAuth("r.test", StaticCredentials(None), token_client=httpx.Client(),
                         allow_plain_http=False, origin="https://r.test")  # fmt: skip
    assert https.is_registry(httpx.URL("https://r.test:443/v2/")) is True


def test_a_blob_redirected_elsewhere_is_fetched_without_credentials() -> None:
    fake = Fake("bearer")
    fake.registry_routes[("GET", f"/v2/app/blobs/{DIGEST}")] = lambda _: httpx.Response(
        307, headers={"location": f"http://storage.test/v2/app/blobs/{DIGEST}?sig=1"}
    )
    fake.elsewhere["http://storage.test"] = lambda _: streamed(BLOB)
    registry = client(fake)
    with registry.open_blob("app", DIGEST, len(BLOB)) as chunks:
        assert b"".join(chunks) == BLOB
    assert registry.get_blob("app", DIGEST) == BLOB
    assert [s.authorization for s in fake.to("http://storage.test")] == [None, None]


# -- a 401 to a streamed upload ------------------------------------------------------------------


def test_a_401_to_a_streamed_upload_is_not_resent_and_fetches_a_fresh_token() -> None:
    """The stream is spent: resending it raised httpx.StreamConsumed out of the auth flow.
    Now the 401 stands (the copy opens a new session) and the flow has a new token ready."""
    fake = Fake("bearer")
    location = f"{REGISTRY}/v2/app/blobs/uploads/abc"
    puts = Counter[str]()

    def expired_then_fine(request: httpx.Request) -> httpx.Response:
        puts["n"] += 1
        if puts["n"] == 1:  # the token the session started with has just expired
            return httpx.Response(401, headers={"www-authenticate": fake.challenge})
        return stored()(request)

    fake.registry_routes[("POST", "/v2/app/blobs/uploads/")] = upload_session(location)
    fake.registry_routes[("PUT", "/v2/app/blobs/uploads/abc")] = expired_then_fine
    registry = client(fake)
    assert registry.start_upload("app") == location
    assert fake.tokens_issued == 1
    with pytest.raises(AuthError) as refused:
        registry.finish_upload("app", location, DIGEST, iter([BLOB]), len(BLOB))
    assert refused.value.status == 401 and "upload" in str(refused.value)
    assert fake.tokens_issued == 2  # the challenge to the PUT was answered: a fresh token
    registry.finish_upload("app", location, DIGEST, iter([BLOB]), len(BLOB))
    assert fake.tokens_issued == 2  # ... which the next session used as it was
    assert [s.body for s in fake.sent if s.method == "PUT"] == [BLOB, BLOB]  # once each


# -- raw bytes, descriptor sizes ---------------------------------------------------------------


LAYER = gzip.compress(b"a tar of a layer\n" * 200, mtime=0)  # a layer blob is gzip data
LAYER_DIGEST = digest_of(LAYER)


def streamed(data: bytes, **headers: str) -> httpx.Response:
    """An answer whose body is still to be read, as a network transport gives it (httpx
    reads `content=` at once, and then only iter_bytes works)."""
    return httpx.Response(200, stream=httpx.ByteStream(data), headers=headers)


def serving(answer: Callable[[httpx.Request], httpx.Response]) -> RegistryClient:
    fake = Fake("basic")
    fake.registry_routes[("GET", f"/v2/app/blobs/{LAYER_DIGEST}")] = answer
    return client(fake)


def read_layer(registry: RegistryClient, size: int = len(LAYER)) -> bytes:
    with registry.open_blob("app", LAYER_DIGEST, size) as chunks:
        return b"".join(chunks)


def test_a_layer_labelled_content_encoding_gzip_is_copied_as_stored() -> None:
    """Object storage serves a .tar.gz uploaded with `Content-Encoding: gzip` metadata with
    that header: decoding it (httpx's iter_bytes) gave the tar, whose digest is not the
    layer's."""
    registry = serving(
        lambda _: streamed(LAYER, **{"content-encoding": "gzip", "content-length": str(len(LAYER))})
    )
    data = read_layer(registry)
    assert digest_of(data) == LAYER_DIGEST and len(data) == len(LAYER)


def test_bytes_are_asked_for_without_compression() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding"))
        return streamed(LAYER)

    read_layer(serving(answer))
    assert seen == ["identity"]


def test_an_answer_without_content_length_is_read_to_the_descriptor_size() -> None:
    def chunked(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([LAYER[:100], LAYER[100:]]))

    response = chunked(httpx.Request("GET", REGISTRY))
    assert "content-length" not in response.headers  # really chunked
    assert read_layer(serving(chunked)) == LAYER


@pytest.mark.parametrize("served", [LAYER + b"extra", LAYER[:-1]], ids=["longer", "shorter"])
def test_an_answer_of_another_size_than_the_descriptor_is_refused(served: bytes) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([served]))  # no Content-Length to compare

    with pytest.raises(ProtocolError, match=r"^r\.test:5000: app@sha256:\w+: "):
        read_layer(serving(answer))
