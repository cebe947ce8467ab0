"""BatchGetImage chunking and verification, with moto in-process (no network at all)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from reconciler.registry.ecr import BATCH_GET_LIMIT, EcrRepositories, EcrSession
from reconciler.types import DOCKER_MANIFEST


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
