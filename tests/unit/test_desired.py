"""Building the desired index from observed sources."""

import json

import pytest

from reconciler._errors import AliasError
from reconciler._model.oci import DOCKER_LIST, OCI_INDEX, OCI_MANIFEST
from reconciler._pipeline.desired import build_index

from .factories import attestation, image, resolved, target


def test_entries_keep_source_order_with_platforms_as_the_sources_declare_them() -> None:
    # As `docker manifest create` writes them: the seed's arm64 image declares variant v8.
    t = target(sources=["10.20", "10.10"])
    index = build_index(t, resolved(t, (image("linux/arm64/v8"),), (image("linux/amd64"),)))
    assert [str(e.descriptor.platform) for e in index.entries] == ["linux/arm64/v8", "linux/amd64"]
    assert [e.source for e in index.entries] == ["10.20", "10.10"]
    doc = json.loads(index.manifest.raw)
    assert doc["manifests"][0]["platform"] == {
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
    }
    assert doc["manifests"][1]["platform"] == {"architecture": "amd64", "os": "linux"}


def test_an_unusual_spelling_in_a_config_is_written_unchanged() -> None:
    t = target(sources=["a"])
    [entry] = build_index(t, resolved(t, (image("linux/aarch64"),))).entries
    assert str(entry.descriptor.platform) == "linux/aarch64"


@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        (
            "linux/arm64",
            "linux/arm64/v8",
            "linux/arm64 (declared as linux/arm64 and linux/arm64/v8)",
        ),
        ("linux/amd64", "linux/x86_64", "linux/amd64 (declared as linux/amd64 and linux/x86_64)"),
        ("linux/arm64/v8", "linux/arm64/v8", "linux/arm64/v8;"),
    ],
)
def test_two_spellings_of_one_platform_are_one_platform(
    first: str, second: str, named: str
) -> None:
    t = target(sources=["a", "b"])
    sources = resolved(t, (image(first, "a"),), (image(second, "b"),))
    with pytest.raises(AliasError) as raised:
        build_index(t, sources)
    assert f"sources 'a' and 'b' both provide {named}" in str(raised.value)


def test_same_inputs_give_the_same_bytes() -> None:
    t = target()
    sources = resolved(t, (image("linux/amd64"),), (image("linux/arm64/v8"),))
    assert build_index(t, sources).manifest == build_index(t, sources).manifest


@pytest.mark.parametrize(
    ("media_type", "children", "annotations", "expected"),
    [
        ("auto", ["docker", "docker"], None, DOCKER_LIST),
        ("auto", ["docker", "oci"], None, OCI_INDEX),
        ("auto", ["oci", "oci"], None, OCI_INDEX),
        ("auto", ["docker", "docker"], {"a": "b"}, OCI_INDEX),
        ("oci", ["docker", "docker"], None, OCI_INDEX),
        ("docker", ["oci", "oci"], None, DOCKER_LIST),
    ],
)
def test_media_type_choice(
    media_type: str, children: list[str], annotations: dict[str, str] | None, expected: str
) -> None:
    t = target(media_type=media_type, annotations=annotations)
    kinds = {"docker": "application/vnd.docker.distribution.manifest.v2+json", "oci": OCI_MANIFEST}
    amd = image("linux/amd64", media_type=kinds[children[0]])
    arm = image("linux/arm64", media_type=kinds[children[1]])
    index = build_index(t, resolved(t, (amd,), (arm,)))
    assert index.media_type == expected
    assert json.loads(index.manifest.raw)["mediaType"] == expected


def test_two_sources_with_one_platform_is_an_error_naming_both() -> None:
    t = target(sources=["10.10", "10.11"])
    sources = resolved(t, (image("linux/amd64", "a"),), (image("linux/x86_64", "b"),))
    with pytest.raises(AliasError, match=r"'10.10' and '10.11' both provide linux/amd64"):
        build_index(t, sources)


def test_the_same_image_twice_is_an_error() -> None:
    t = target(sources=["10.10", "sha256:" + "a" * 64])
    same = image("linux/amd64", "a")
    with pytest.raises(AliasError, match="same image"):
        build_index(t, resolved(t, (same,), (same,)))


def test_index_sources_are_flattened_with_attestations_after_runnable_entries() -> None:
    t = target(sources=["multi", "10.30"])
    amd, arm = image("linux/amd64", "a", OCI_MANIFEST), image("linux/arm64", "b", OCI_MANIFEST)
    s390 = image("linux/s390x", "c", OCI_MANIFEST)
    multi = (amd, arm, attestation(amd), attestation(arm))
    index = build_index(t, resolved(t, multi, (s390,)))
    labels = [
        f"att:{e.attestation_of[:12]}" if e.attestation_of else str(e.descriptor.platform)
        for e in index.entries
    ]
    attested = [f"att:{amd.digest[:12]}", f"att:{arm.digest[:12]}"]
    assert labels == ["linux/amd64", "linux/arm64", "linux/s390x", *attested]
    assert index.media_type == OCI_INDEX
    att = json.loads(index.manifest.raw)["manifests"][3]
    assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
    assert att["annotations"]["vnd.docker.reference.digest"] == amd.digest


def test_attestations_drop_removes_them() -> None:
    t = target(sources=["multi"], attestations="drop")
    amd = image("linux/amd64", "a", OCI_MANIFEST)
    index = build_index(t, resolved(t, (amd, attestation(amd))))
    assert [e.descriptor.digest for e in index.entries] == [amd.digest]


def test_docker_list_cannot_carry_attestations() -> None:
    t = target(sources=["multi"], media_type="docker")
    amd = image("linux/amd64", "a", OCI_MANIFEST)
    with pytest.raises(AliasError, match="attestations: drop"):
        build_index(t, resolved(t, (amd, attestation(amd))))
