"""Referrers (signatures, SBOMs, attestations) travel with a copied child: found through the
source's referrers API, else its tag schema, plus cosign's legacy tags (observe, reads only);
written by digest before the child, then the target's tag schema where the target did not list
them itself, and the legacy tags under their names (transfer). Against an in-memory fake."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from reconciler._config.models import AliasTarget
from reconciler._errors import NotFoundError, ProtocolError
from reconciler._model.names import RepositoryName
from reconciler._model.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    Platform,
    digest_of,
    is_digest,
)
from reconciler._model.referrers import (
    artifact_type,
    legacy_tags,
    merge_tag_schema,
    referrer_descriptor,
    subject_of,
    tag_schema_tag,
)
from reconciler._pipeline.observe import find_copies
from reconciler._pipeline.observed import Copy, LiveTag, Referrer, ResolvedSource
from reconciler._pipeline.referrers import find_referrers
from reconciler._pipeline.transfer import CopyOnce, copy_manifest
from reconciler._registry.interface import Registry
from tests.support.fakeregistry import UnusedRegistry

from .factories import digest, parse_dict

SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_TYPE = "application/spdx+json"
CHILD = digest("child")
HEX = CHILD.removeprefix("sha256:")


def manifest_of(doc: dict[str, Any], media_type: str = OCI_MANIFEST) -> Manifest:
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return Manifest(raw, media_type, digest_of(raw))


def blob(seed: str, size: int = 10, media_type: str = "application/octet-stream") -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest(seed), "size": size}


def artifact(
    seed: str,
    *,
    subject: str | None = CHILD,
    config_type: str = "application/vnd.oci.image.config.v1+json",
    declared: str | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """A referrer (or, without subject, a legacy tag's manifest): a config and one layer."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": blob(f"{seed}-config", 2, config_type),
        "layers": [blob(f"{seed}-layer", 30)],
    }
    if declared:
        doc["artifactType"] = declared
    if subject:
        doc["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 500}
    if annotations:
        doc["annotations"] = annotations
    return manifest_of(doc)


def index_of(*entries: dict[str, Any]) -> Manifest:
    return manifest_of({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)},
                       OCI_INDEX)  # fmt: skip


class MemoryRegistry(UnusedRegistry):
    """Manifests and blobs in dicts; `api`: it has the referrers API (and answers a referrer's
    PUT with OCI-Subject). Every call is recorded in order."""

    def __init__(self, host: str, *, api: bool) -> None:
        self.host = host
        self.api = api
        self.manifests: dict[tuple[str, str], Manifest] = {}
        self.blobs: set[tuple[str, str]] = set()
        self.calls: list[str] = []

    def add(self, repository: str, manifest: Manifest, tag: str = "") -> Manifest:
        self.manifests[(repository, manifest.digest)] = manifest
        if tag:
            self.manifests[(repository, tag)] = manifest
        for entry in [manifest.json.get("config"), *manifest.json.get("layers", [])]:
            if entry:
                self.blobs.add((repository, entry["digest"]))
        return manifest

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        self.calls.append(f"read {ref}")
        return self.manifests.get((repository, ref))

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        found = self.manifest_at(repository, ref)
        if found is None:
            raise NotFoundError(self.host, f"{repository}@{ref}: not found")
        return found

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None:
        self.calls.append(f"HEAD {ref}")
        found = self.manifests.get((repository, ref))
        return found.descriptor() if found else None

    def referrers(self, repository: str, digest: str) -> tuple[Descriptor, ...] | None:
        self.calls.append(f"referrers {digest}")
        if not self.api:
            return None
        return tuple(
            m.descriptor()
            for (repo, ref), m in self.manifests.items()
            if repo == repository and is_digest(ref) and subject_of(m) == digest
        )

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        self.calls.append(f"PUT {tag}")
        self.add(repository, manifest, "" if is_digest(tag) else tag)
        return manifest.digest

    def put_referrer(self, repository: str, manifest: Manifest) -> bool:
        self.calls.append(f"PUT referrer {manifest.digest}")
        self.add(repository, manifest)
        return self.api

    def head_blob(self, repository: str, digest: str) -> bool:
        return (repository, digest) in self.blobs

    def start_upload(self, repository: str) -> str:
        return "http://upload.test/session"

    @contextmanager
    def open_blob(self, repository: str, digest: str, size: int) -> Iterator[Iterator[bytes]]:
        yield iter([b"x" * size])

    def finish_upload(
        self, repository: str, location: str, digest: str, chunks: Iterable[bytes], size: int
    ) -> None:
        assert sum(len(c) for c in chunks) == size
        self.calls.append(f"blob {digest}")
        self.blobs.add((repository, digest))


_: Registry = MemoryRegistry("r.test", api=True)


# -- names, descriptors and the tag schema's merge (pure) -----------------------------------


def test_the_tag_schema_and_legacy_tags_are_named_after_the_subject() -> None:
    assert tag_schema_tag(CHILD) == f"sha256-{HEX}"
    assert legacy_tags(CHILD) == (f"sha256-{HEX}.sig", f"sha256-{HEX}.att", f"sha256-{HEX}.sbom")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (artifact("a", declared=SBOM_TYPE, config_type=SIG_TYPE), SBOM_TYPE),
        (artifact("b", config_type=SIG_TYPE), SIG_TYPE),
        (manifest_of({"schemaVersion": 2, "layers": []}), ""),
    ],
    ids=["artifactType wins", "else the config's media type", "neither"],
)
def test_the_artifact_type_is_what_the_referrers_api_would_report(
    manifest: Manifest, expected: str
) -> None:
    assert artifact_type(manifest) == expected


def test_a_referrers_descriptor_carries_artifact_type_and_annotations() -> None:
    signed = artifact("s", config_type=SIG_TYPE, annotations={"org.example": "x"})
    assert referrer_descriptor(signed) == {
        "mediaType": OCI_MANIFEST,
        "digest": signed.digest,
        "size": len(signed.raw),
        "artifactType": SIG_TYPE,
        "annotations": {"org.example": "x"},
    }


OTHER = {"mediaType": OCI_MANIFEST, "digest": digest("someone-else"), "size": 7, "x-kept": True}
NEW = {"mediaType": OCI_MANIFEST, "digest": digest("new"), "size": 9}
MERGES = [
    ("no index yet: one is created", None, [NEW], [NEW]),
    ("entries of other writers are kept, ours appended", index_of(OTHER), [NEW], [OTHER, NEW]),
    ("an entry listed already is not added twice", index_of(OTHER), [OTHER, NEW], [OTHER, NEW]),
    ("everything listed already: nothing to write", index_of(OTHER, NEW), [NEW], None),
]


@pytest.mark.parametrize(
    ("case", "existing", "additions", "expected"), MERGES, ids=[m[0] for m in MERGES]
)
def test_the_tag_schema_index_is_merged_never_dropping_entries(
    case: str,
    existing: Manifest | None,
    additions: list[dict[str, Any]],
    expected: list[dict[str, Any]] | None,
) -> None:
    merged = merge_tag_schema(existing, additions, host="r.test", tag="sha256-x")
    if expected is None:
        assert merged is None
        return
    assert merged is not None
    assert json.loads(merged) == {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": expected,
    }


def test_a_tag_schema_tag_holding_an_image_is_not_overwritten() -> None:
    with pytest.raises(ProtocolError) as caught:
        merge_tag_schema(artifact("img"), [NEW], host="r.test", tag=f"sha256-{HEX}")
    assert str(caught.value) == (
        f"r.test: tag sha256-{HEX} holds {OCI_MANIFEST}, not the image index of the referrers"
        " tag schema; not overwritten"
    )


# -- discovery (observe) ---------------------------------------------------------------------


def source_with_child(*, api: bool) -> MemoryRegistry:
    origin = MemoryRegistry("src.test", api=api)
    child = manifest_of({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                         "config": blob("child-config", 5)})  # fmt: skip
    origin.manifests[("app", CHILD)] = child  # stored under the name the tests use
    origin.blobs.add(("app", digest("child-config")))
    return origin


def test_the_referrers_api_lists_what_is_copied() -> None:
    origin = source_with_child(api=True)
    signature = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    found = find_referrers(origin, "app", CHILD)
    assert found == (
        Referrer(
            signature.digest,
            OCI_MANIFEST,
            SIG_TYPE,
            len(signature.raw),
            ((digest("sig-config"), 2), (digest("sig-layer"), 30)),
            "referrers-api",
        ),
    )
    assert f"read sha256-{HEX}" not in origin.calls  # the API answered: no tag schema read


def test_without_the_api_the_tag_schema_index_lists_them() -> None:
    origin = source_with_child(api=False)
    sbom = origin.add("app", artifact("sbom", declared=SBOM_TYPE))
    origin.add("app", index_of(referrer_descriptor(sbom)), tag=tag_schema_tag(CHILD))
    [found] = find_referrers(origin, "app", CHILD)
    assert (found.digest, found.artifact_type, found.found, found.tag) == (
        sbom.digest, SBOM_TYPE, "tag-schema", "",
    )  # fmt: skip


def test_legacy_cosign_tags_are_found_beside_oci_referrers() -> None:
    origin = source_with_child(api=True)
    oci = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    sig = origin.add("app", artifact("legacy-sig", subject=None), tag=f"sha256-{HEX}.sig")
    sbom = origin.add("app", artifact("legacy-sbom", subject=None), tag=f"sha256-{HEX}.sbom")
    found = find_referrers(origin, "app", CHILD)
    assert [(r.digest, r.found, r.tag, r.kind) for r in found] == [
        (oci.digest, "referrers-api", "", SIG_TYPE),
        (sig.digest, "legacy-tag", f"sha256-{HEX}.sig", "legacy .sig tag"),
        (sbom.digest, "legacy-tag", f"sha256-{HEX}.sbom", "legacy .sbom tag"),
    ]


def test_nothing_attached_costs_five_reads() -> None:
    origin = source_with_child(api=False)
    assert find_referrers(origin, "app", CHILD) == ()
    assert origin.calls == [
        f"referrers {CHILD}",
        f"read sha256-{HEX}",
        *(f"read {tag}" for tag in legacy_tags(CHILD)),
    ]


def test_entries_that_cannot_be_copied_as_they_are_are_left_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    origin = source_with_child(api=False)
    stale = origin.add("app", artifact("stale", subject=digest("another-image")))
    nested = origin.add("app", index_of(), "")
    origin.add("app", index_of(referrer_descriptor(stale), referrer_descriptor(nested)),
               tag=tag_schema_tag(CHILD))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="reconciler.observe"):
        assert find_referrers(origin, "app", CHILD) == ()
    assert [r.getMessage() for r in caplog.records] == [
        f"src.test/app: referrer {stale.digest[:19]} not copied: its subject is"
        f" {digest('another-image')}, not {CHILD}",
        f"src.test/app: referrer {nested.digest[:19]} not copied: a {OCI_INDEX}, not an image"
        " manifest",
    ]


def alias_copying_from(origin: str, referrers: str | None) -> AliasTarget:
    alias: dict[str, object] = {"sources": [f"{origin}/app:1"]}
    if referrers:
        alias["referrers"] = referrers
    config = parse_dict({"repositories": {"home.test/app": {"aliases": {"1": alias}}}})
    return config.targets()[0]


@pytest.mark.parametrize(
    ("setting", "expected"), [(None, 1), ("copy", 1), ("skip", 0)], ids=["default", "copy", "skip"]
)
def test_the_referrers_setting_decides_whether_a_copy_brings_its_referrers(
    setting: str | None, expected: int
) -> None:
    origin = source_with_child(api=True)
    origin.add("app", artifact("sig", config_type=SIG_TYPE))
    home = MemoryRegistry("home.test", api=True)
    target = alias_copying_from("src.test", setting)
    entry = Descriptor(OCI_MANIFEST, CHILD, 500, Platform("linux", "arm64"))
    source = ResolvedSource(target.sources[0], entry, (entry,), RepositoryName("src.test", "app"))
    clients = {"src.test": origin, "home.test": home}
    [copy] = find_copies(home, clients.__getitem__, target, LiveTag("absent"), (source,))
    assert (copy.platform, len(copy.referrers)) == ("linux/arm64", expected)
    asked = [call for call in origin.calls if call.startswith("referrers")]
    assert asked == ([f"referrers {CHILD}"] if expected else [])


# -- writing (transfer) ----------------------------------------------------------------------


def copy_into(home: MemoryRegistry, origin: MemoryRegistry) -> None:
    referrers = find_referrers(origin, "app", CHILD)
    copy = Copy(CHILD, OCI_MANIFEST, RepositoryName("src.test", "app"), "app:1",
                ((digest("child-config"), 5),), "linux/arm64", referrers)  # fmt: skip
    origin.calls.clear()
    home.calls.clear()
    clients = {"src.test": origin, "home.test": home}
    copy_manifest(clients.__getitem__, RepositoryName("home.test", "app"), copy)


def test_a_target_with_the_api_gets_each_referrer_by_digest_and_no_tag_schema() -> None:
    origin = source_with_child(api=True)
    signature = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    home = MemoryRegistry("home.test", api=True)
    copy_into(home, origin)
    assert home.calls == [
        f"blob {digest('child-config')}",
        f"blob {digest('sig-config')}",
        f"blob {digest('sig-layer')}",
        f"PUT referrer {signature.digest}",
        f"PUT {CHILD}",  # the child after what is attached to it
    ]
    assert home.manifests[("app", signature.digest)].raw == signature.raw  # the same bytes


def test_a_target_without_the_api_gets_the_tag_schema_index_merged() -> None:
    origin = source_with_child(api=False)
    signature = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    sbom = origin.add("app", artifact("sbom", declared=SBOM_TYPE))
    origin.add("app", index_of(referrer_descriptor(signature), referrer_descriptor(sbom)),
               tag=tag_schema_tag(CHILD))  # fmt: skip
    home = MemoryRegistry("home.test", api=False)
    home.add("app", index_of(OTHER), tag=tag_schema_tag(CHILD))  # someone signed here already
    copy_into(home, origin)
    writes = [call for call in home.calls if call.startswith("PUT")]
    assert writes == [
        f"PUT referrer {signature.digest}",
        f"PUT referrer {sbom.digest}",
        f"PUT sha256-{HEX}",
        f"PUT {CHILD}",
    ]
    listed = home.manifests[("app", tag_schema_tag(CHILD))].json["manifests"]
    assert listed == [OTHER, referrer_descriptor(signature), referrer_descriptor(sbom)]


def test_a_tag_schema_listing_every_referrer_already_is_not_rewritten() -> None:
    origin = source_with_child(api=False)
    signature = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    origin.add("app", index_of(referrer_descriptor(signature)), tag=tag_schema_tag(CHILD))
    home = MemoryRegistry("home.test", api=False)
    home.add("app", index_of(referrer_descriptor(signature)), tag=tag_schema_tag(CHILD))
    copy_into(home, origin)
    assert [c for c in home.calls if c.startswith("PUT")] == [
        f"PUT referrer {signature.digest}",
        f"PUT {CHILD}",
    ]


LEGACY = [
    ("absent at the target: written under its name", None, [f"PUT sha256-{HEX}.sig"], []),
    ("the same manifest there: nothing to write", "same", [], []),
    ("another manifest there: kept, with a warning", "other", [], ["kept, not replaced"]),
]


@pytest.mark.parametrize(("case", "there", "puts", "warnings"), LEGACY, ids=[c[0] for c in LEGACY])
def test_a_legacy_tag_is_written_under_its_name_and_never_replaces_another(
    case: str,
    there: str | None,
    puts: list[str],
    warnings: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    origin = source_with_child(api=False)
    sig = origin.add("app", artifact("legacy-sig", subject=None), tag=f"sha256-{HEX}.sig")
    home = MemoryRegistry("home.test", api=False)
    held = sig if there != "other" else artifact("signed-here", subject=None)
    if there is not None:
        home.add("app", held, tag=f"sha256-{HEX}.sig")
    with caplog.at_level(logging.WARNING, logger="reconciler.copy"):
        copy_into(home, origin)
    writes = [c for c in home.calls if c.startswith("PUT") and c != f"PUT {CHILD}"]
    assert writes == puts
    assert [w for w in warnings if any(w in r.getMessage() for r in caplog.records)] == warnings
    assert len(caplog.records) == len(warnings)
    assert home.manifests[("app", f"sha256-{HEX}.sig")] == held


def test_a_child_shared_by_an_alias_that_skips_referrers_still_brings_them_to_one_that_copies(
) -> None:  # fmt: skip
    """Two aliases copy the same child in one run, the first with `referrers: skip`: the
    child is written once, and the second alias's referrers are copied all the same (later
    runs would never copy them: the child is there)."""
    origin = source_with_child(api=True)
    signature = origin.add("app", artifact("sig", config_type=SIG_TYPE))
    home = MemoryRegistry("home.test", api=True)
    found = find_referrers(origin, "app", CHILD)
    bare = Copy(CHILD, OCI_MANIFEST, RepositoryName("src.test", "app"), "app:1",
                ((digest("child-config"), 5),), "linux/arm64")  # fmt: skip
    clients = {"src.test": origin, "home.test": home}
    copier = CopyOnce(clients.__getitem__)
    where = RepositoryName("home.test", "app")
    copier(where, bare)
    copier(where, dataclasses.replace(bare, referrers=found))
    copier(where, dataclasses.replace(bare, referrers=found))
    assert [c for c in home.calls if c.startswith("PUT")] == [
        f"PUT {CHILD}",
        f"PUT referrer {signature.digest}",
    ]
