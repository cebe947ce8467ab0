"""`reconcile resolve`: which child a machine pulls, by containerd's platform matching.

The table follows containerd's rules (platforms.Only / platformVector): an amd64/vN machine
takes vN down to v1, then 386; an arm64 machine takes arm64, then 32-bit arm v8, v7, v6, v5;
an arm/vN machine takes vN down to v5; variants are normalised first (aarch64 = arm64 =
arm64/v8, arm = arm/v7); the best candidate wins over index order, index order breaks ties;
entries without a platform are a last resort and attestation entries are never pulled.
"""

from __future__ import annotations

import json

import pytest

from reconciler._cli.commands.resolve import render_resolution, render_resolution_json
from reconciler._cli.lookup import entries_of, resolve
from reconciler._model import platforms
from reconciler._model.oci import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Manifest,
    digest_of,
)
from reconciler._model.oci import Platform as P
from reconciler._model.refs import parse_reference

from .factories import digest


def entry(platform: str | None, seed: str = "", **annotations: str) -> dict[str, object]:
    doc: dict[str, object] = {
        "mediaType": OCI_MANIFEST,
        "digest": digest(seed or str(platform)),
        "size": 500,
    }
    if platform is not None:
        parts = platform.split("/")
        doc["platform"] = {"os": parts[0], "architecture": parts[1]}
        if len(parts) > 2:
            doc["platform"]["variant"] = parts[2]  # type: ignore[index]
    if annotations:
        doc["annotations"] = annotations
    return doc


def index(*entries: dict[str, object], media_type: str = OCI_INDEX) -> Manifest:
    raw = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()
    return Manifest(raw, media_type, digest_of(raw))


ATTESTATION = entry(
    "unknown/unknown",
    "att",
    **{
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": digest("linux/amd64"),
    },
)
FULL = index(
    entry("linux/amd64"),
    entry("linux/amd64/v3"),
    entry("linux/arm64/v8"),
    entry("linux/arm/v7"),
    entry("linux/arm/v6"),
    entry("linux/386"),
    entry("linux/s390x"),
    entry("linux/riscv64"),
    entry("windows/amd64"),
    ATTESTATION,
)
ARM32 = index(entry("linux/amd64"), entry("linux/arm/v7"), entry("linux/arm/v6"))
ONLY = {
    "arm/v5": index(entry("linux/arm/v5")),
    "386": index(entry("linux/386")),
    "amd64/v2": index(entry("linux/amd64/v2")),
    "arm64 spelt aarch64": index(entry("linux/aarch64"), media_type=DOCKER_LIST),
    "arm without variant": index(entry("linux/arm")),
    "no platform": index(entry("linux/amd64"), entry(None, "bare")),
    "arm/v7 listed first": index(entry("linux/arm/v7"), entry("linux/arm64")),
    "two amd64": index(entry("linux/amd64", "first"), entry("linux/x86_64", "second")),
}

CASES = [
    # (index, machine, the entry it pulls: its seed, or None when the pull fails)
    (FULL, "linux/amd64", "linux/amd64"),
    (FULL, "linux/x86_64", "linux/amd64"),
    (FULL, "linux/amd64/v2", "linux/amd64"),  # v3 needs a v3 machine
    (FULL, "linux/amd64/v3", "linux/amd64/v3"),
    (FULL, "linux/amd64/v4", "linux/amd64/v3"),
    (FULL, "linux/arm64", "linux/arm64/v8"),
    (FULL, "linux/arm64/v8", "linux/arm64/v8"),
    (FULL, "linux/aarch64", "linux/arm64/v8"),
    (FULL, "linux/arm/v7", "linux/arm/v7"),
    (FULL, "linux/arm", "linux/arm/v7"),  # arm means arm/v7
    (FULL, "linux/armhf", "linux/arm/v7"),
    (FULL, "linux/arm/v8", "linux/arm/v7"),
    (FULL, "linux/arm/v6", "linux/arm/v6"),
    (FULL, "linux/armel", "linux/arm/v6"),
    (FULL, "linux/arm/v5", None),  # never a newer variant
    (FULL, "linux/386", "linux/386"),
    (FULL, "linux/i386", "linux/386"),
    (FULL, "linux/s390x", "linux/s390x"),
    (FULL, "linux/riscv64", "linux/riscv64"),
    (FULL, "linux/ppc64le", None),
    (FULL, "windows/amd64", "windows/amd64"),
    (FULL, "darwin/arm64", None),  # another OS never matches
    (FULL, "unknown/unknown", None),  # attestations are not images
    (ARM32, "linux/arm64", "linux/arm/v7"),  # the arm64 -> arm/v7 fallback
    (ARM32, "linux/arm64/v8", "linux/arm/v7"),
    (ARM32, "linux/arm/v7", "linux/arm/v7"),
    (ARM32, "linux/arm/v6", "linux/arm/v6"),
    (ONLY["arm/v5"], "linux/arm64", "linux/arm/v5"),
    (ONLY["arm/v5"], "linux/arm/v7", "linux/arm/v5"),
    (ONLY["386"], "linux/amd64", "linux/386"),
    (ONLY["386"], "linux/arm64", None),
    (ONLY["amd64/v2"], "linux/amd64", None),
    (ONLY["amd64/v2"], "linux/amd64/v2", "linux/amd64/v2"),
    (ONLY["arm64 spelt aarch64"], "linux/arm64/v8", "linux/aarch64"),
    (ONLY["arm without variant"], "linux/arm/v7", "linux/arm"),
    (ONLY["arm without variant"], "linux/arm/v6", None),
    (ONLY["no platform"], "linux/amd64", "linux/amd64"),
    (ONLY["no platform"], "linux/s390x", "bare"),  # last resort
    (ONLY["arm/v7 listed first"], "linux/arm64", "linux/arm64"),  # best match beats order
    (ONLY["two amd64"], "linux/amd64", "first"),  # index order breaks ties
]


@pytest.mark.parametrize(("manifest", "machine", "expected"), CASES)
def test_resolve_follows_containerd(manifest: Manifest, machine: str, expected: str | None) -> None:
    resolution = resolve(platforms.parse(machine), entries_of(manifest, "r.example.com"))
    chosen = resolution.chosen
    assert (chosen.digest if chosen else None) == (digest(expected) if expected else None)


def test_resolve_reports_what_the_machine_accepts() -> None:
    resolution = resolve(platforms.parse("linux/aarch64"), entries_of(ARM32, "r"))
    assert [str(p) for p in resolution.accepts] == [
        "linux/arm64",
        "linux/arm/v8",
        "linux/arm/v7",
        "linux/arm/v6",
        "linux/arm/v5",
    ]
    assert str(resolution.machine) == "linux/arm64"


REF = parse_reference("localhost:5000/my-image:10")


def test_text_names_the_pull_and_the_fallback() -> None:
    resolution = resolve(platforms.parse("linux/arm64"), entries_of(ARM32, "r"))
    head = Descriptor(OCI_INDEX, ARM32.digest, len(ARM32.raw))
    text = render_resolution(REF, head, resolution)
    pulled = digest("linux/arm/v7")
    assert text.splitlines()[0] == (
        f"linux/arm64 pulls localhost:5000/my-image@{pulled} (linux/arm/v7, by fallback)"
    )
    assert f"  > linux/arm/v7  {pulled[:19]}" in text
    last = text.splitlines()[-1]
    assert last.startswith("a linux/arm64 machine accepts, best first: linux/arm64, ")


def test_resolve_shows_the_machine_as_asked_and_the_entry_as_the_index_holds_it() -> None:
    seed = index(entry("linux/amd64", "amd"), entry("linux/arm64/v8", "arm"))
    resolution = resolve(platforms.parse("linux/arm64/v8"), entries_of(seed, "r"))
    head = Descriptor(OCI_INDEX, seed.digest, len(seed.raw))
    lines = render_resolution(REF, head, resolution).splitlines()
    pulled = digest("arm")
    assert lines[0] == f"linux/arm64/v8 pulls localhost:5000/my-image@{pulled} (linux/arm64/v8)"
    assert f"  > linux/arm64/v8  {pulled[:19]}" in lines
    doc = json.loads(render_resolution_json(REF, head, resolution))
    assert (doc["platform"], doc["selected"]["platform"]) == ("linux/arm64/v8", "linux/arm64/v8")


def test_text_when_nothing_matches() -> None:
    resolution = resolve(platforms.parse("linux/s390x"), entries_of(ARM32, "r"))
    head = Descriptor(OCI_INDEX, ARM32.digest, len(ARM32.raw))
    first = render_resolution(REF, head, resolution).splitlines()[0]
    assert (
        first == "linux/s390x matches no entry: pulling localhost:5000/my-image:10 on such a"
        " machine fails"
    )


def test_json_for_scripts() -> None:
    resolution = resolve(platforms.parse("linux/amd64"), entries_of(FULL, "r"))
    head = Descriptor(OCI_INDEX, FULL.digest, len(FULL.raw))
    doc = json.loads(render_resolution_json(REF, head, resolution))
    assert doc["pull"] == f"localhost:5000/my-image@{digest('linux/amd64')}"
    assert doc["selected"]["platform"] == "linux/amd64"
    assert doc["accepts"] == ["linux/amd64", "linux/386"]
    assert doc["manifest"] == {"kind": "index", "digest": FULL.digest, "media_type": OCI_INDEX}
    assert doc["entries"][-1]["attestation_for"] == digest("linux/amd64")


def test_a_single_image_is_pulled_only_by_its_platform() -> None:
    image = Descriptor(OCI_MANIFEST, digest("img"), 400, P("linux", "amd64"))
    assert resolve(platforms.parse("linux/amd64"), [image], index=False).chosen == image
    refused = resolve(platforms.parse("linux/arm64"), [image], index=False)
    assert refused.chosen is None
    text = render_resolution(REF, image, refused)
    assert text.splitlines()[0] == "linux/arm64 does not match the image's platform (linux/amd64)"
    assert "is a single image" in text
