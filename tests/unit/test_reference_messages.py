"""Messages name a reference as it is written: `app:nope` for a tag, `app@sha256:...` for a
digest, whichever client operation failed and however it was asked (by tag or by digest)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing

import httpx
import pytest

from reconciler._errors import RegistryError
from reconciler._model.names import ImageReference, RepositoryName, reference_text
from reconciler._model.oci import DOCKER_MANIFEST, Manifest
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient

DIGEST = "sha256:" + "ab" * 32
MANIFEST = Manifest(b"{}", DOCKER_MANIFEST, DIGEST)
HUB = RepositoryName("docker.io", "library/nginx")


@pytest.mark.parametrize(
    ("repository", "ref", "written"),
    [
        ("app", "nope", "app:nope"),
        ("app", DIGEST, f"app@{DIGEST}"),
        ("team/app", "1.0", "team/app:1.0"),
        (RepositoryName("localhost:5000", "app"), "10", "localhost:5000/app:10"),
        (RepositoryName("localhost:5000", "app"), DIGEST, f"localhost:5000/app@{DIGEST}"),
        (HUB, "1.25", "docker.io/library/nginx:1.25"),
    ],
)
def test_reference_text_uses_a_colon_for_a_tag_and_an_at_sign_for_a_digest(
    repository: str | RepositoryName, ref: str, written: str
) -> None:
    assert reference_text(repository, ref) == written


@pytest.mark.parametrize(
    ("reference", "written"),
    [
        (ImageReference(HUB, tag="1.25"), "docker.io/library/nginx:1.25"),
        (ImageReference(HUB, digest=DIGEST), f"docker.io/library/nginx@{DIGEST}"),
        (ImageReference(HUB, "1.25", DIGEST), f"docker.io/library/nginx:1.25@{DIGEST}"),
    ],
)
def test_an_image_reference_prints_as_written(reference: ImageReference, written: str) -> None:
    assert str(reference) == written


Call = Callable[[RegistryClient], object]


def client(status: int) -> RegistryClient:
    """A registry that answers every request with `status` (418: not retried, not special)."""
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    return RegistryClient(
        ClientSettings("r.test", insecure=True), StaticCredentials(None), transport=transport
    )


@pytest.mark.parametrize(
    ("status", "call", "message"),
    [
        pytest.param(404, lambda c: c.get_manifest("app", "nope"), "app:nope: not found",
                     id="get-by-tag-missing"),
        pytest.param(404, lambda c: c.get_manifest("app", DIGEST), f"app@{DIGEST}: not found",
                     id="get-by-digest-missing"),
        pytest.param(418, lambda c: c.manifest_at("app", "nope"), "app:nope: HTTP 418",
                     id="read-by-tag"),
        pytest.param(418, lambda c: c.manifest_at("app", DIGEST), f"app@{DIGEST}: HTTP 418",
                     id="read-by-digest"),
        pytest.param(418, lambda c: c.head_manifest("app", "1"), "app:1: HTTP 418",
                     id="head-by-tag"),
        pytest.param(418, lambda c: c.head_manifest("app", DIGEST), f"app@{DIGEST}: HTTP 418",
                     id="head-by-digest"),
        pytest.param(418, lambda c: c.put_manifest("app", "1", MANIFEST), "app:1: HTTP 418",
                     id="put-by-tag"),
        pytest.param(418, lambda c: c.put_manifest("app", DIGEST, MANIFEST),
                     f"app@{DIGEST}: HTTP 418", id="put-by-digest-when-copying"),
        pytest.param(418, lambda c: c._delete_manifest("app", "1"), "app:1: delete: HTTP 418",
                     id="delete-by-tag"),
        pytest.param(418, lambda c: c._delete_manifest("app", DIGEST),
                     f"app@{DIGEST}: delete: HTTP 418", id="delete-by-digest"),
        pytest.param(418, lambda c: c.get_blob("app", DIGEST), f"app@{DIGEST}: HTTP 418",
                     id="blob"),
    ],
)  # fmt: skip
def test_registry_errors_name_the_reference_as_written(
    status: int, call: Call, message: str
) -> None:
    with closing(client(status)) as registry, pytest.raises(RegistryError) as caught:
        call(registry)
    assert str(caught.value) == f"r.test: {message}"
