"""Bulk reads on ECR: BatchGetImage chunking and verification, DescribeImages listings with
bodies from the cache; moto in-process and botocore's Stubber (no network at all)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from reconciler._model.oci import DOCKER_MANIFEST
from reconciler._registry.ecr import BATCH_GET_LIMIT, EcrRepositories, EcrSession


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[EcrSession]:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with mock_aws():
        yield EcrSession("eu-west-1")


def manifest(n: int) -> str:
    layer = {"mediaType": "x", "digest": "sha256:" + f"{n:064x}", "size": 1}
    return json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": [layer]})


def test_many_refs_are_read_100_per_call_and_verified(session: EcrSession) -> None:
    client = session.client
    client.create_repository(repositoryName="app")
    for n in range(250):
        raw = manifest(n)
        digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
        client.put_image(repositoryName="app", imageManifest=raw, imageTag=f"t{n}",
                         imageDigest=digest)  # fmt: skip
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.ecr.*", lambda model, **_: calls.update([model.name]))
    repos = EcrRepositories(session, None, create_missing=False)
    found = repos.batch_get("app", [f"t{n}" for n in range(250)] + ["missing", "t0"])
    assert calls == Counter({"BatchGetImage": 3})
    assert BATCH_GET_LIMIT == 100
    assert sorted(found) == sorted(f"t{n}" for n in range(250))  # the missing tag is left out
    assert found["t7"].raw.decode() == manifest(7)


def test_answers_whose_bytes_do_not_match_their_digest_are_dropped(session: EcrSession) -> None:
    client = session.client
    client.create_repository(repositoryName="app")
    client.put_image(repositoryName="app", imageManifest=manifest(1), imageTag="t")  # moto's
    # own digest for this manifest is not sha256 of its bytes: it must not be believed.
    assert EcrRepositories(session, None, create_missing=False).batch_get("app", ["t"]) == {}


def test_a_failing_call_falls_back_to_per_tag_reads(session: EcrSession) -> None:
    repos = EcrRepositories(session, None, create_missing=False)
    assert repos.batch_get("no-such-repository", ["t"]) == {}


# -- DescribeImages: which digest each tag has, bodies from the cache ----------------------


def seeded(session: EcrSession, count: int) -> dict[str, bytes]:
    """`count` images tagged t0..t{count-1}, pushed with their true digests: tag -> bytes."""
    client = session.client
    client.create_repository(repositoryName="app")
    images = {}
    for n in range(count):
        raw = manifest(n)
        digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
        client.put_image(repositoryName="app", imageManifest=raw, imageTag=f"t{n}",
                         imageDigest=digest)  # fmt: skip
        images[f"t{n}"] = raw.encode()
    return images


def counted(session: EcrSession) -> Counter[str]:
    calls: Counter[str] = Counter()
    session.client.meta.events.register(
        "before-call.ecr.*", lambda model, **_: calls.update([model.name])
    )
    return calls


def cache_of(images: dict[str, bytes], keep: int | None = None) -> dict[str, bytes]:
    """digest -> bytes, for the first `keep` images (all by default)."""
    items = list(images.values())[:keep]
    return {"sha256:" + hashlib.sha256(raw).hexdigest(): raw for raw in items}


@pytest.mark.parametrize(
    ("warm", "cached", "expected"),
    [
        # cold: BatchGetImage alone, 100 refs a call
        (False, None, Counter({"BatchGetImage": 3})),
        # warm, everything cached: one listing, no manifest read at all
        (True, 250, Counter({"DescribeImages": 1})),
        # warm, 30 manifests not cached: the listing, then one BatchGetImage for those 30
        (True, 220, Counter({"DescribeImages": 1, "BatchGetImage": 1})),
    ],
)
def test_many_refs_cost_the_fewest_calls_the_cache_allows(
    session: EcrSession, warm: bool, cached: int | None, expected: Counter[str]
) -> None:
    images = seeded(session, 250)
    cache = cache_of(images, cached) if cached else {}
    calls = counted(session)
    repos = EcrRepositories(session, None, create_missing=False)
    found = repos.read_many("app", [*images, "missing"], cache.get, warm=warm)
    assert calls == expected
    assert sorted(found) == sorted(images)  # the missing tag is left to the per-tag path
    assert all(found[tag].raw == raw for tag, raw in images.items())


def test_few_refs_are_one_batch_call_even_with_a_warm_cache(session: EcrSession) -> None:
    images = seeded(session, 40)
    calls = counted(session)
    repos = EcrRepositories(session, None, create_missing=False)
    found = repos.read_many("app", list(images), cache_of(images).get, warm=True)
    assert calls == Counter({"BatchGetImage": 1}) and len(found) == 40


def page(tags_digests: list[tuple[str, str]], token: str | None) -> dict[str, Any]:
    details = [
        {"imageDigest": d, "imageTags": [t], "imageManifestMediaType": DOCKER_MANIFEST}
        for t, d in tags_digests
    ]
    return {"imageDetails": details, **({"nextToken": token} if token else {})}


def test_the_listing_follows_pages_and_stops_when_it_would_cost_more(
    session: EcrSession,
) -> None:
    repos = EcrRepositories(session, None, create_missing=False)
    digests = [(f"t{n}", "sha256:" + f"{n:064x}") for n in range(3)]
    with Stubber(session.client) as stub:
        for n, token in enumerate(["p2", "p3", None]):
            expected = {"repositoryName": "app", "maxResults": 1000,
                        "filter": {"tagStatus": "TAGGED"}}  # fmt: skip
            if n:
                expected["nextToken"] = f"p{n + 1}"
            stub.add_response("describe_images", page([digests[n]], token), expected)
        listing = repos.tag_digests("app", max_pages=3)
        stub.assert_no_pending_responses()
    assert listing == {t: (d, DOCKER_MANIFEST) for t, d in digests}
    with Stubber(session.client) as stub:
        stub.add_response("describe_images", page([digests[0]], "p2"))
        stub.add_response("describe_images", page([digests[1]], "p3"))
        assert repos.tag_digests("app", max_pages=2) is None  # a third page: not worth it


def test_a_failing_listing_falls_back_to_batch_reads(session: EcrSession) -> None:
    images = seeded(session, 150)
    repos = EcrRepositories(session, None, create_missing=False)
    with Stubber(session.client) as stub:
        stub.add_client_error("describe_images", "AccessDeniedException")
        for _ in range(2):  # 150 refs: two BatchGetImage calls, as without the listing
            stub.add_response("batch_get_image", {"images": [], "failures": []})
        found = repos.read_many("app", list(images), cache_of(images).get, warm=True)
        stub.assert_no_pending_responses()
    assert found == {}
