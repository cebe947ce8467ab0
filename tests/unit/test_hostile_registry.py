"""Hostile or broken registry answers become a clear per-alias error, never a crash or a write.

Each case is one registry behaviour served by httpx.MockTransport (a unit test of the client
and observe stages; real registries are used in the integration tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from reconciler._errors import (
    AliasError,
    ProtocolError,
    ReconcileError,
    RegistryError,
    TransportError,
)
from reconciler._model.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor, digest_of
from reconciler._pipeline.observe import observe_alias
from reconciler._pipeline.observed import LiveTag, ObservedAlias
from reconciler._pipeline.plan import Action, plan_alias
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient
from reconciler._registry.retry import RetryPolicy

from .factories import target

CONFIG = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
IMAGE = json.dumps({
    "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "digest": digest_of(CONFIG), "size": len(CONFIG)},
    "layers": [],
}).encode()  # fmt: skip


def index(*entries: dict[str, object]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)}
    ).encode()


def entry(
    raw: bytes = IMAGE, platform: dict[str, str] | None = None, **extra: object
) -> dict[str, object]:
    doc: dict[str, object] = {"mediaType": OCI_MANIFEST, "digest": digest_of(raw), "size": len(raw)}
    if platform is not None:
        doc["platform"] = platform
    return {**doc, **extra}


AMD = {"architecture": "amd64", "os": "linux"}


@dataclass
class FakeRegistry:
    """Serves `routes[(method, path-suffix)]`; everything else is 404. Records writes."""

    routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = field(
        default_factory=dict
    )
    writes: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method not in ("GET", "HEAD"):
            self.writes.append(request.url.path)
        for (method, suffix), answer in self.routes.items():
            if request.method == method and request.url.path.endswith(suffix):
                return answer(request)
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})


def body(raw: bytes, media_type: str, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(
        200, content=raw, headers={"content-type": media_type, **headers}
    )


def good_source(fake: FakeRegistry) -> None:
    fake.routes[("GET", "/manifests/src")] = body(IMAGE, DOCKER_MANIFEST)
    fake.routes[("GET", f"/blobs/{digest_of(CONFIG)}")] = body(CONFIG, "application/octet-stream")


NOT_JSON = b"<html>oops</html>"


def case_not_json(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(NOT_JSON, OCI_INDEX)


def case_wrong_content_type(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(b"<html>login</html>", "text/html")


def case_digest_header_mismatch(f: FakeRegistry) -> None:
    lie = "sha256:" + "0" * 64
    f.routes[("GET", "/manifests/src")] = body(
        IMAGE, DOCKER_MANIFEST, **{"docker-content-digest": lie}
    )


def case_too_large(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(b" " * (4 << 20) + b"{}", DOCKER_MANIFEST)


def case_unknown_media_type(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(
        b'{"schemaVersion":2}', "application/vnd.acme.thing+json"
    )


def case_nested_index(f: FakeRegistry) -> None:
    inner = index(entry(platform=AMD))
    nested = index(
        {"mediaType": OCI_INDEX, "digest": digest_of(inner), "size": len(inner), "platform": AMD}
    )
    f.routes[("GET", "/manifests/src")] = body(nested, OCI_INDEX)


def case_entry_without_platform(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(index(entry()), OCI_INDEX)


BAD_DIGEST_INDEX = index(entry(platform=AMD, digest="md5:x"))


def case_entry_with_bad_digest(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(BAD_DIGEST_INDEX, OCI_INDEX)


def case_same_child_twice(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = body(
        index(entry(platform=AMD), entry(platform=AMD)), OCI_INDEX
    )


def case_config_without_platform(f: FakeRegistry) -> None:
    config = b"{}"
    image = IMAGE.replace(digest_of(CONFIG).encode(), digest_of(config).encode())
    f.routes[("GET", "/manifests/src")] = body(image, DOCKER_MANIFEST)
    f.routes[("GET", f"/blobs/{digest_of(config)}")] = body(config, "application/json")


OTHER_CONFIG = b'{"os":"linux"}'


def case_config_digest_mismatch(f: FakeRegistry) -> None:
    good_source(f)
    f.routes[("GET", f"/blobs/{digest_of(CONFIG)}")] = body(OTHER_CONFIG, "application/json")


def case_truncated(f: FakeRegistry) -> None:
    def truncated(_: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

    f.routes[("GET", "/manifests/src")] = truncated


def case_redirect_for_a_manifest(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = lambda _: httpx.Response(
        302, headers={"location": "http://elsewhere.test/x"}
    )


def case_server_error(f: FakeRegistry) -> None:
    f.routes[("GET", "/manifests/src")] = lambda _: httpx.Response(503, text="busy")


THING, THING_TYPE = b'{"schemaVersion":2}', "application/vnd.acme.thing+json"


def case_alias_holds_an_unknown_thing(f: FakeRegistry) -> None:
    good_source(f)
    f.routes[("GET", "/manifests/1")] = body(THING, THING_TYPE)


IMAGE_DIGEST = digest_of(IMAGE)

# The case, the error observe reports (None: the alias was read, the plan finds the fault),
# and the alias's message, exactly.
HOSTILE: list[tuple[Callable[[FakeRegistry], None], type[ReconcileError] | None, str]] = [
    (case_not_json, ProtocolError,
     f"r.test: manifest {digest_of(NOT_JSON)} is not a JSON object"),
    (case_wrong_content_type, AliasError,
     "source 'src' has unsupported media type 'text/html'"),
    (case_digest_header_mismatch, ProtocolError,
     f"r.test: my-image:src: digest mismatch: got {IMAGE_DIGEST}"),
    (case_too_large, ProtocolError,
     "r.test: /v2/my-image/manifests/src: answer larger than 4194304 bytes"),
    (case_unknown_media_type, AliasError,
     "source 'src' has unsupported media type 'application/vnd.acme.thing+json'"),
    (case_nested_index, AliasError,
     "source 'src' is an index that nests another index"),
    (case_entry_without_platform, AliasError,
     f"source 'src' has an entry without a platform: {IMAGE_DIGEST}"),
    (case_entry_with_bad_digest, ProtocolError,
     f"r.test: index {digest_of(BAD_DIGEST_INDEX)} has a malformed entry"),
    (case_same_child_twice, None,
     f"source 'src' lists the image {IMAGE_DIGEST} twice"),
    (case_config_without_platform, AliasError,
     "source 'src': its image config names no os/architecture; set `platform:` for this source"),
    (case_config_digest_mismatch, ProtocolError,
     f"r.test: my-image@{digest_of(CONFIG)}: digest mismatch: got {digest_of(OTHER_CONFIG)}"),
    (case_truncated, TransportError,
     "r.test: GET /v2/my-image/manifests/src: connection broken"
     " (peer closed connection without sending complete message body)"),
    (case_redirect_for_a_manifest, RegistryError, "r.test: my-image:src: HTTP 302"),
    (case_server_error, RegistryError, "r.test: my-image:src: HTTP 503"),
]  # fmt: skip


def observe_hostile(serve: Callable[[FakeRegistry], None]) -> tuple[FakeRegistry, ObservedAlias]:
    fake = FakeRegistry()
    serve(fake)
    settings = ClientSettings(
        "r.test", insecure=True, retry=RetryPolicy(attempts=2, sleep=lambda _: None)
    )
    client = RegistryClient(settings, StaticCredentials(None), transport=httpx.MockTransport(fake))
    return fake, observe_alias(target("1", ["src"]), lambda _: client)


@pytest.mark.parametrize(
    ("serve", "error", "message"), HOSTILE, ids=[c.__name__[5:] for c, _, _ in HOSTILE]
)
def test_hostile_answers_become_a_clear_alias_error(
    serve: Callable[[FakeRegistry], None], error: type[ReconcileError] | None, message: str
) -> None:
    fake, observed = observe_hostile(serve)
    plan = plan_alias(observed)
    assert type(observed.error) is (error or type(None)), observed.error
    assert (plan.action, plan.message) == (Action.ERROR, message)
    assert fake.writes == []


def test_an_alias_tag_holding_an_unknown_thing_is_a_conflict_left_untouched() -> None:
    fake, observed = observe_hostile(case_alias_holds_an_unknown_thing)
    plan = plan_alias(observed)
    held = Descriptor(THING_TYPE, digest_of(THING), len(THING))
    assert observed.live == LiveTag("other", held)
    assert plan.action is Action.CONFLICT
    assert plan.message == (
        f"tag holds something that is not an image, not an index ({THING_TYPE}"
        f" {digest_of(THING)}); use --force to replace it"
    )
    assert fake.writes == []


def test_the_good_case_of_the_table_plans_a_create() -> None:
    fake = FakeRegistry()
    good_source(fake)
    client = RegistryClient(
        ClientSettings("r.test", insecure=True),
        StaticCredentials(None),
        transport=httpx.MockTransport(fake),
    )
    assert plan_alias(observe_alias(target("1", ["src"]), lambda _: client)).action is Action.CREATE
