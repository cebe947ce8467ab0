import pytest

from reconciler._model import platforms
from reconciler._model.oci import Descriptor, Platform

from .factories import digest, image


@pytest.mark.parametrize(
    ("written", "spelled", "key"),
    [
        ("linux/amd64", "linux/amd64", "linux/amd64"),
        ("linux/x86_64", "linux/amd64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v2", "linux/amd64/v2", "linux/amd64/v2"),
        ("linux/aarch64", "linux/arm64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64/v8.0", "linux/arm64/v8.0", "linux/arm64"),
        ("linux/armhf", "linux/arm/v7", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6", "linux/arm/v6"),
        ("linux/arm", "linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6", "linux/arm/v6"),
        ("linux/i386", "linux/386", "linux/386"),
        ("Linux/AMD64", "linux/amd64", "linux/amd64"),
        ("macos/arm64", "darwin/arm64", "darwin/arm64"),
        ("windows/amd64", "windows/amd64", "windows/amd64"),
    ],
)
def test_a_platform_is_written_in_canonical_spelling_and_compared_normalised(
    written: str, spelled: str, key: str
) -> None:
    parsed = platforms.parse(written)
    assert str(parsed) == spelled  # what manifests.yaml's `platform:` writes into the index
    assert str(platforms.normalize(parsed)) == key  # what comparisons use
    assert platforms.same(parsed, platforms.parse(key))


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "a/b/c/d", ""])
def test_parse_rejects_malformed_platforms(text: str) -> None:
    with pytest.raises(ValueError, match="invalid platform"):
        platforms.parse(text)


@pytest.mark.parametrize("text", ["linux/aarch64", "linux/armhf", "linux/x86_64/v1", "linux/arm"])
def test_canonical_and_normalize_are_idempotent(text: str) -> None:
    spelled = platforms.parse(text)
    assert platforms.canonical(spelled) == spelled
    key = platforms.normalize(spelled)
    assert platforms.normalize(key) == key


SEED = [image("linux/amd64", "a"), image("linux/arm64/v8", "b")]
WITH_ARM = [image("linux/amd64", "a"), image("linux/arm/v7", "c"), image("linux/arm/v6", "d")]


@pytest.mark.parametrize(
    ("host", "entries", "expected"),
    [
        ("linux/amd64", SEED, "a"),
        ("linux/arm64", SEED, "b"),
        ("linux/arm64/v8", SEED, "b"),
        ("linux/aarch64", SEED, "b"),
        ("linux/arm/v7", SEED, None),
        ("linux/arm64", WITH_ARM, "c"),  # arm64 falls back to 32-bit arm v7 ...
        ("linux/arm/v7", WITH_ARM, "c"),
        ("linux/arm/v6", WITH_ARM, "d"),  # ... but v6 never takes v7
        ("linux/arm/v5", WITH_ARM, None),
        ("linux/amd64/v3", SEED, "a"),  # amd64/v3 runs v1 images
        ("linux/amd64", [image("linux/amd64/v2", "e")], None),  # a stock host does not run v2
        ("linux/amd64", [image("linux/386", "f")], "f"),
        ("linux/s390x", SEED, None),
        ("windows/amd64", SEED, None),
    ],
)
def test_select_follows_containerd_matching(
    host: str, entries: list[Descriptor], expected: str | None
) -> None:
    chosen = platforms.select(platforms.parse(host), entries)
    assert (chosen.digest if chosen else None) == (digest(expected) if expected else None)


def test_select_prefers_the_first_of_equal_entries_and_skips_attestations() -> None:
    unknown = Descriptor("x", "sha256:" + "0" * 64, 1, platforms.UNKNOWN)
    first, second = image("linux/amd64", "1"), image("linux/x86_64", "2")
    assert platforms.select(Platform("linux", "amd64"), [unknown, first, second]) == first
    assert platforms.select(Platform("linux", "unknown"), [unknown]) is None
