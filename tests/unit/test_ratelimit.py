"""Docker Hub's pull rate limit: headers read, the lowest remaining kept, and a refused pull
neither retried nor followed by other manifest GETs to that registry (HEADs go on).

The client cases are served by httpx.MockTransport (one behaviour each); the same behaviour
against a real registry is in tests/integration/test_zoo_dockerhub.py."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import httpx
import pytest

from reconciler._errors import RegistryError
from reconciler._model.oci import DOCKER_MANIFEST, digest_of
from reconciler._registry.answer import Answer
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.ratelimit import PullLimit, PullLimits, Quota, parse_quota
from reconciler._registry.retry import RetryPolicy

TAGS = "/v2/library/nginx/manifests/"
MANIFEST = f"{TAGS}1.25"
LIMIT = "100;w=21600"
TOOMANY = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate"}]}


def answer(status: int = 200, method: str = "GET", path: str = MANIFEST, **headers: str) -> Answer:
    url = httpx.URL(f"https://registry-1.docker.io{path}")
    headers = {k.replace("_", "-"): v for k, v in headers.items()}
    return Answer(method, status, httpx.Headers(headers), b"", url)


@pytest.mark.parametrize(
    ("value", "quota"),
    [
        ("100;w=21600", Quota(100, 21600)),
        ("76;w=21600", Quota(76, 21600)),
        ("0;w=3600", Quota(0, 3600)),
        ("100", Quota(100, None)),
        (" 5 ; W = 60", Quota(5, 60)),
        ("", None),
        (None, None),
        ("lots", None),
    ],
)
def test_quota_headers(value: str | None, quota: Quota | None) -> None:
    assert parse_quota(value) == quota


def test_the_lowest_remaining_is_kept() -> None:
    limit = PullLimit("docker.io")
    for left in ("40;w=21600", "38;w=21600", "39;w=21600"):  # answers arrive out of order
        limit.read(answer(ratelimit_remaining=left, ratelimit_limit=LIMIT))
    assert limit.lowest_remaining == 38
    assert limit.describe() == "docker.io: pull rate limit 100 (window 21600 s = 6 h), 38 left"


def test_no_headers_means_no_limit() -> None:
    limits = PullLimits()
    limits.for_host("registry.example.com").read(answer())
    assert limits.lowest_remaining() == {}


@pytest.mark.parametrize(
    ("host", "seen", "refused", "expected"),
    [
        ("docker.io", None, answer(429), True),
        ("docker.io", None, answer(429, retry_after="30"), False),  # throttling: retried
        ("docker.io", None, answer(429, method="HEAD"), False),  # HEADs are not pulls
        ("docker.io", None, answer(429, path="/v2/library/nginx/blobs/sha256:ab"), False),
        ("docker.io", None, answer(503), False),
        ("docker.io", None, answer(200), False),
        # Another registry: only once it announced a limit (ECR throttles with bare 429s).
        ("registry.example.com", None, answer(429), False),
        ("registry.example.com", answer(ratelimit_limit=LIMIT), answer(429), True),
        ("registry.example.com", None, answer(429, ratelimit_remaining="0;w=60"), True),
    ],
)
def test_what_counts_as_a_refused_pull(
    host: str, seen: Answer | None, refused: Answer, expected: bool
) -> None:
    limit = PullLimit(host)
    if seen is not None:
        limit.read(seen)
    limit.read(refused)
    assert limit.refuses(refused) is expected
    assert (limit.lowest_remaining == 0) is expected


def test_a_final_answer_is_not_retried() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def call() -> Answer:
        calls.append(1)
        return answer(429)

    policy = RetryPolicy(sleep=sleeps.append, rng=random.Random(1))
    assert policy.run("GET x", call, final=lambda a: a.status == 429).status == 429
    assert (len(calls), sleeps) == (1, [])


# -- the client ------------------------------------------------------------------------------

IMAGE = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": []}).encode()


class Hub:
    """Serves one image under any tag; manifest GETs are refused once `pulls` are spent."""

    def __init__(self, pulls: int) -> None:
        self.pulls = pulls
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        headers = {"ratelimit-limit": LIMIT}
        if request.method == "GET" and self.pulls == 0:
            return httpx.Response(429, json=TOOMANY)
        self.pulls -= request.method == "GET"
        headers["ratelimit-remaining"] = f"{self.pulls};w=21600"
        info = {"docker-content-digest": digest_of(IMAGE), "content-type": DOCKER_MANIFEST}
        return httpx.Response(200, headers={**headers, **info}, content=IMAGE)


def client(hub: Callable[[httpx.Request], httpx.Response]) -> RegistryClient:
    settings = ClientSettings(
        host="docker.io", retry=RetryPolicy(sleep=lambda _: None, rng=random.Random(1))
    )
    return RegistryClient(settings, StaticCredentials(None), transport=httpx.MockTransport(hub))


def test_a_refused_pull_is_not_retried_and_no_other_get_follows() -> None:
    hub = Hub(pulls=1)
    registry = client(hub)
    assert registry.manifest_at("library/nginx", "a") is not None  # the last pull
    with pytest.raises(RegistryError) as refused:
        registry.manifest_at("library/nginx", "b")
    with pytest.raises(RegistryError) as later:
        registry.manifest_at("library/nginx", "c")
    assert hub.seen == [f"GET {TAGS}a", f"GET {TAGS}b"]
    spent = "pull rate limit of docker.io spent (window 21600 s = 6 h)"
    assert str(refused.value).startswith(f"docker.io: library/nginx:b: {spent}; ")
    assert str(later.value).startswith(f"docker.io: library/nginx:c: {spent}; ")
    # HEADs are not pulls: they still go out (a warm cache needs nothing else).
    assert registry.head_manifest("library/nginx", "a") is not None
    assert hub.seen[-1] == f"HEAD {TAGS}a"


def test_other_429s_are_still_retried() -> None:
    hub = Hub(pulls=5)
    calls: list[int] = []

    def throttled_once(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "0"}, json=TOOMANY)
        return hub(request)

    assert client(throttled_once).manifest_at("library/nginx", "a") is not None
    assert len(calls) == 2
