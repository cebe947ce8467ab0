"""`reconcile import`, the pure part: which sources reproduce an index pushed by hand."""

from __future__ import annotations

import pytest

from reconciler._cli.adopt import Choice, TagInfo, choose_sources
from reconciler._cli.main import parse_args
from reconciler._model.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor

from .factories import attestation, digest, image

AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64", "arm")
RISCV = image("linux/riscv64", "riscv", OCI_MANIFEST)
PROOF_AMD, PROOF_ARM = attestation(AMD), attestation(ARM)


def single(tag: str, entry: Descriptor) -> TagInfo:
    return TagInfo(tag, Descriptor(entry.media_type, entry.digest, entry.size))


def index(tag: str, *entries: Descriptor) -> TagInfo:
    return TagInfo(tag, Descriptor(OCI_INDEX, digest(f"index-{tag}"), 900), tuple(entries))


def test_images_are_named_by_their_tag_else_by_digest() -> None:
    adoption = choose_sources([AMD, ARM], [single("10.10", AMD)])
    assert adoption.sources == (
        Choice(tag="10.10", covers=(AMD.digest,)),
        Choice(digest=ARM.digest, covers=(ARM.digest,)),
    )
    assert adoption.problems == () and not adoption.drop_attestations


def test_of_several_names_latest_comes_last_then_text_order() -> None:
    tags = [single("latest", AMD), single("zz", AMD), single("10.10", AMD)]
    assert choose_sources([AMD], tags).sources[0].tag == "10.10"
    assert choose_sources([AMD], [single("latest", AMD)]).sources[0].tag == "latest"


def test_attested_images_come_from_their_buildx_index_even_when_tagged() -> None:
    buildx = index("12.0", AMD, ARM, PROOF_AMD, PROOF_ARM)
    tags = [single("12.0-amd64", AMD), single("12-riscv", RISCV), buildx]
    adoption = choose_sources([AMD, ARM, RISCV, PROOF_AMD, PROOF_ARM], tags)
    assert [c.tag for c in adoption.sources] == ["12.0", "12-riscv"]
    assert adoption.problems == ()


def test_an_index_with_images_the_alias_lacks_is_not_a_source() -> None:
    buildx = index("12.0", AMD, ARM, PROOF_AMD, PROOF_ARM)
    adoption = choose_sources([AMD, PROOF_AMD], [buildx])
    assert adoption.sources == (Choice(digest=AMD.digest, covers=(AMD.digest,)),)
    assert len(adoption.problems) == 1 and "reconcile would drop it" in adoption.problems[0]


def test_an_index_with_attestations_the_alias_lacks_is_used_with_drop() -> None:
    buildx = index("12.0", AMD, ARM, PROOF_AMD, PROOF_ARM)
    adoption = choose_sources([AMD, ARM], [buildx])
    assert [c.tag for c in adoption.sources] == ["12.0"] and adoption.drop_attestations


def test_an_index_is_not_used_when_its_attestations_differ_from_the_alias_s() -> None:
    other_proof = attestation(AMD, "another provenance")
    buildx = index("12.0", AMD, other_proof)
    adoption = choose_sources([AMD, ARM, PROOF_AMD], [buildx, single("arm", ARM)])
    assert [c.tag or c.digest for c in adoption.sources] == [AMD.digest, "arm"]
    assert "reconcile would drop it" in adoption.problems[0]


def test_sources_keep_the_order_of_the_index() -> None:
    buildx = index("12.0", ARM, PROOF_ARM)
    adoption = choose_sources([AMD, RISCV, ARM, PROOF_ARM], [buildx, single("r", RISCV)])
    assert [c.tag or c.digest for c in adoption.sources] == [AMD.digest, "r", "12.0"]


def test_entries_that_cannot_be_sources_are_reported() -> None:
    nested = Descriptor(OCI_INDEX, digest("nested"), 10)
    bare = Descriptor(DOCKER_MANIFEST, digest("bare"), 10)
    adoption = choose_sources([AMD, nested, bare], [single("a", AMD)])
    assert [c.tag for c in adoption.sources] == ["a"]
    assert [p.split(" ", 2)[2] for p in adoption.problems] == [
        "is a nested index; it cannot be a source and is left out",
        "has no usable platform; it cannot be a source and is left out",
    ]


def test_the_import_command_line() -> None:
    args = parse_args(["import", "--insecure", "r:5000/a:10", "r:5000/a:11", "-f", "m.yaml"])
    assert (args.command, args.references, args.insecure) == (
        "import",
        ["r:5000/a:10", "r:5000/a:11"],
        True,
    )
    assert str(args.file) == "m.yaml"
    with pytest.raises(SystemExit):
        parse_args(["import"])  # at least one REF
