"""The registry client's two referrer calls: `referrers` reads the referrers API (None when the
registry answers 404, as one without it does; pages followed like tag lists), and
`put_referrer` says whether the registry listed the manifest itself (`OCI-Subject`)."""

from __future__ import annotations

import json

import httpx
import pytest

from reconciler._errors import ProtocolError
from reconciler._model.oci import OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest, digest_of
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.retry import RetryPolicy

from .factories import digest

SUBJECT = digest("subject")
SIG = {"mediaType": OCI_MANIFEST, "digest": digest("sig"), "size": 803,
       "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"}  # fmt: skip
SBOM = {"mediaType": OCI_MANIFEST, "digest": digest("sbom"), "size": 90}


def client(handler: object) -> RegistryClient:
    transport = httpx.MockTransport(handler)  # type: ignore[arg-type]
    settings = ClientSettings("r.test", insecure=True, retry=RetryPolicy(attempts=1))
    return RegistryClient(settings, StaticCredentials(None), transport=transport)


def listing(*entries: dict[str, object], link: str | None = None) -> httpx.Response:
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)}
    headers = {"content-type": OCI_INDEX, **({"link": link} if link else {})}
    return httpx.Response(200, json=body, headers=headers)


def test_the_referrers_api_answer_is_the_list_of_descriptors() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path} {request.headers['accept']}")
        return listing(SIG, SBOM)

    found = client(handler).referrers("app", SUBJECT)
    assert found == (
        Descriptor(OCI_MANIFEST, digest("sig"), 803),
        Descriptor(OCI_MANIFEST, digest("sbom"), 90),
    )
    assert asked == [f"GET /v2/app/referrers/{SUBJECT} {OCI_INDEX}"]


def test_a_registry_answering_404_has_no_referrers_api() -> None:
    assert client(lambda _: httpx.Response(404)).referrers("app", SUBJECT) is None


def test_referrer_pages_are_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return listing(SBOM)
        return listing(SIG, link=f'</v2/app/referrers/{SUBJECT}?page=2>; rel="next"')

    found = client(handler).referrers("app", SUBJECT)
    assert found is not None
    assert [d.digest for d in found] == [digest("sig"), digest("sbom")]


def test_a_referrers_answer_that_is_not_an_index_is_an_error() -> None:
    with pytest.raises(ProtocolError) as caught:
        client(lambda _: httpx.Response(200, json={"tags": []})).referrers("app", SUBJECT)
    assert str(caught.value).endswith("has no `manifests` list")


@pytest.mark.parametrize(
    ("headers", "listed"),
    [({"oci-subject": SUBJECT}, True), ({}, False)],
    ids=["OCI-Subject: listed by the registry", "no header: the writer keeps the tag schema"],
)
def test_a_referrer_put_says_whether_the_registry_processed_its_subject(
    headers: dict[str, str], listed: bool
) -> None:
    raw = json.dumps({"schemaVersion": 2, "subject": {"digest": SUBJECT}}).encode()
    manifest = Manifest(raw, OCI_MANIFEST, digest_of(raw))
    puts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        puts.append(f"{request.method} {request.url.path}")
        return httpx.Response(201, headers={"docker-content-digest": manifest.digest, **headers})

    assert client(handler).put_referrer("app", manifest) is listed
    assert puts == [f"PUT /v2/app/manifests/{manifest.digest}"]
