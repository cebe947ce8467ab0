"""Signatures travel with a child copied from another registry: cosign signs the source with
a legacy `.sig` tag (key A) and an OCI 1.1 referrer (key B); after `reconcile` both verify at
the destination. The tag-schema side runs on the reference registries (`registry`, distribution
2.8 and v3, which have no referrers API), the referrers-API side on go-containerregistry's
registry (`referrers_registry`, zot's stand-in), and each way across."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from reconciler._model.oci import OCI_INDEX, OCI_MANIFEST
from tests.support.cosign import COSIGN_BINARY, Cosign, CosignError
from tests.support.images import PushedImage, push_image
from tests.support.referrersregistry import ReferrersRegistry, start_referrers_registry
from tests.support.registry import LoggedRequest, RegistryProcess, start_registry
from tests.support.tools import requires_tool

from .cli import Reconcile, Run

pytestmark = [pytest.mark.usefixtures("docker_config"), requires_tool(COSIGN_BINARY)]
SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"


class Served(Protocol):
    """What the tests need of either kind of registry process."""

    host: str

    @property
    def url(self) -> str: ...

    def requests(self) -> list[LoggedRequest]: ...

    def clear_log(self) -> None: ...


@dataclass
class Scene:
    """A signed arm64 image in `source` (app:1.0) and the alias `1` of `target`/mirror that
    copies it; `referrer` is the digest of cosign's OCI 1.1 signature."""

    source: Served
    target: Served
    image: PushedImage
    referrer: str
    legacy: str  # the digest the `.sig` tag holds
    run: Reconcile
    legacy_key: Cosign
    oci_key: Cosign

    @property
    def hex(self) -> str:
        return self.image.digest.removeprefix("sha256:")

    def at_target(self) -> str:
        return f"{self.target.host}/mirror@{self.image.digest}"


def write_config(path: Path, source: Served, target: Served, referrers: str | None) -> Path:
    alias: dict[str, object] = {"sources": [f"{source.host}/app:1.0"]}
    if referrers is not None:
        alias["referrers"] = referrers
    path.write_text(json.dumps({
        "registries": {source.host: {"insecure": True}, target.host: {"insecure": True}},
        "repositories": {f"{target.host}/mirror": {"aliases": {"1": alias}}},
    }))  # fmt: skip
    return path


def signed_scene(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: Served, target: Served,
    referrers: str | None = None,
) -> Scene:  # fmt: skip
    image = push_image(source.url, "app", "1.0", platform="linux/arm64")
    pinned = f"{source.host}/app@{image.digest}"
    legacy_key, oci_key = Cosign(tmp_path / "key-a"), Cosign(tmp_path / "key-b")
    legacy_key.sign(pinned)
    oci_key.sign(pinned, oci11=True)
    [referrer] = referrers_of(source, "app", image.digest)
    legacy = manifest_digest(source, "app", f"sha256-{image.digest[7:]}.sig")
    assert legacy is not None
    run = Reconcile(capsys, write_config(tmp_path / "m.yaml", source, target, referrers))
    return Scene(source, target, image, referrer, legacy, run, legacy_key, oci_key)


def referrers_of(registry: Served, repository: str, digest: str) -> list[str]:
    """The referrers of `digest` as the registry lists them: its API, else the tag schema."""
    api = httpx.get(f"{registry.url}/v2/{repository}/referrers/{digest}")
    if api.status_code == 200:
        return [m["digest"] for m in api.json()["manifests"]]
    tag = f"sha256-{digest.removeprefix('sha256:')}"
    index = httpx.get(f"{registry.url}/v2/{repository}/manifests/{tag}",
                      headers={"Accept": OCI_INDEX})  # fmt: skip
    return [m["digest"] for m in index.json()["manifests"]] if index.status_code == 200 else []


def manifest_digest(registry: Served, repository: str, ref: str) -> str | None:
    accept = "application/vnd.oci.image.manifest.v1+json, " + OCI_INDEX
    answer = httpx.head(f"{registry.url}/v2/{repository}/manifests/{ref}",
                        headers={"Accept": accept})  # fmt: skip
    return answer.headers.get("docker-content-digest") if answer.status_code == 200 else None


def referrer_reads(registry: Served) -> list[str]:
    """Requests for referrers: the API, the tag schema's tag or a legacy tag."""
    return [r.path for r in registry.requests() if "/referrers/" in r.path or "/sha256-" in r.path]


def applied(scene: Scene) -> Run:
    result = scene.run()
    assert result.code == 0, result.out + result.err
    return result


def assert_both_signatures_verify_at_the_target(scene: Scene) -> None:
    """Key A's signature is only in the `.sig` tag, key B's only in the OCI 1.1 referrer (a
    verification with OCI 1.1 falls back to the tag, where B's key finds nothing)."""
    [legacy] = scene.legacy_key.verify(scene.at_target())
    [oci] = scene.oci_key.verify(scene.at_target(), oci11=True)
    for payload in (legacy, oci):
        assert payload["critical"]["image"]["docker-manifest-digest"] == scene.image.digest
    with pytest.raises(CosignError, match="no matching signatures"):
        scene.oci_key.verify(scene.at_target())  # not in the legacy tag: B's is the referrer


def test_signatures_travel_between_registries_without_the_referrers_api(
    tmp_path: Path, registry: RegistryProcess, registry_implementation: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    target = start_registry(tmp_path, implementation=registry_implementation)
    try:
        scene = signed_scene(tmp_path, capsys, registry, target)
        plan = scene.run("--dry-run").out.splitlines()
        assert plan[2].startswith(f"    + copy {scene.image.digest[:19]} (")
        assert plan[3:5] == [
            f"    + referrer {scene.referrer[:19]} ({SIG_TYPE}) of linux/arm64",
            f"    + referrer {scene.legacy[:19]} (legacy .sig tag) of linux/arm64",
        ]
        applied(scene)
        assert_both_signatures_verify_at_the_target(scene)
        # The tag schema was written at the target, listing the referrer copied by digest.
        assert referrers_of(target, "mirror", scene.image.digest) == [scene.referrer]
        assert manifest_digest(target, "mirror", scene.referrer) == scene.referrer
        assert manifest_digest(target, "mirror", f"sha256-{scene.hex}.sig") == scene.legacy
    finally:
        target.stop()


def test_signatures_travel_between_registries_with_the_referrers_api(
    tmp_path: Path, referrers_registry: ReferrersRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    target = start_referrers_registry(tmp_path)
    try:
        scene = signed_scene(tmp_path, capsys, referrers_registry, target)
        plan = scene.run("--dry-run", "--output", "json").json["aliases"][0]
        assert [(r["digest"], r["found"]) for r in plan["copies"][0]["referrers"]] == [
            (scene.referrer, "referrers-api"),
            (scene.legacy, "legacy-tag"),
        ]
        target.clear_log()
        applied(scene)
        assert_both_signatures_verify_at_the_target(scene)
        assert referrers_of(target, "mirror", scene.image.digest) == [scene.referrer]
        # The target listed the referrer itself (OCI-Subject): no tag schema was written.
        puts = [r.path for r in target.writes() if "/manifests/" in r.path]
        assert f"/v2/mirror/manifests/sha256-{scene.hex}" not in puts
        assert manifest_digest(target, "mirror", f"sha256-{scene.hex}") is None
    finally:
        target.stop()


@pytest.mark.parametrize("direction", ["api to tag schema", "tag schema to api"])
def test_signatures_travel_across_the_two_kinds_of_registry(
    tmp_path: Path, registry: RegistryProcess, referrers_registry: ReferrersRegistry,
    capsys: pytest.CaptureFixture[str], direction: str,
) -> None:  # fmt: skip
    source, target = (
        (referrers_registry, registry)
        if direction == "api to tag schema"
        else (registry, referrers_registry)
    )
    scene = signed_scene(tmp_path, capsys, source, target)
    applied(scene)
    assert_both_signatures_verify_at_the_target(scene)
    assert referrers_of(target, "mirror", scene.image.digest) == [scene.referrer]
    has_tag_schema = manifest_digest(target, "mirror", f"sha256-{scene.hex}") is not None
    assert has_tag_schema is (target is registry)


def test_referrers_skip_copies_the_child_alone_and_reads_no_referrers(
    tmp_path: Path, registry: RegistryProcess, referrers_registry: ReferrersRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    scene = signed_scene(tmp_path, capsys, referrers_registry, registry, referrers="skip")
    referrers_registry.clear_log()
    plan = scene.run("--dry-run").out
    assert "referrer" not in plan and f"+ copy {scene.image.digest[:19]}" in plan
    applied(scene)
    assert referrer_reads(referrers_registry) == []
    assert manifest_digest(registry, "mirror", scene.image.digest) == scene.image.digest
    assert referrers_of(registry, "mirror", scene.image.digest) == []
    assert manifest_digest(registry, "mirror", f"sha256-{scene.hex}.sig") is None
    with pytest.raises(CosignError, match="no signatures found"):
        scene.legacy_key.verify(scene.at_target())


def test_an_alias_whose_children_need_no_copy_makes_no_referrer_requests(
    tmp_path: Path, registry: RegistryProcess, referrers_registry: ReferrersRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    scene = signed_scene(tmp_path, capsys, referrers_registry, registry)
    applied(scene)
    referrers_registry.clear_log()
    registry.clear_log()
    assert scene.run().out == "Everything up to date (1 alias).\n"
    assert referrer_reads(referrers_registry) == []
    assert referrer_reads(registry) == []
    assert registry.writes() == []


def test_the_referrers_registry_answers_the_api_and_oci_subject(
    referrers_registry: ReferrersRegistry,
) -> None:
    image = push_image(referrers_registry.url, "app", "1.0", platform="linux/arm64")
    empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # {}
    referrer = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty},
        "layers": [],
        "subject": {"mediaType": image.media_type, "digest": image.digest, "size": image.size},
    }
    url = referrers_registry.url
    assert httpx.post(f"{url}/v2/app/blobs/uploads/?digest={empty}", content=b"{}").is_success
    put = httpx.put(f"{url}/v2/app/manifests/signature", content=json.dumps(referrer).encode(),
                    headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
    assert (put.status_code, put.headers.get("oci-subject")) == (201, image.digest)
    assert referrers_of(referrers_registry, "app", image.digest) == [
        put.headers["docker-content-digest"]
    ]
    assert [(r.method, r.status) for r in referrers_registry.requests()][-2:] == [
        ("PUT", 201),
        ("GET", 200),
    ]
