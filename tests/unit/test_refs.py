"""References as people type them on the command line."""

from __future__ import annotations

import pytest

from reconciler._model.refs import InvalidReference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("localhost:5000/my-image:10", "localhost:5000", "my-image", "10", ""),
        ("localhost:5000/my-image", "localhost:5000", "my-image", "latest", ""),
        ("127.0.0.1:5000/a/b:1.2", "127.0.0.1:5000", "a/b", "1.2", ""),
        (f"localhost:5000/my-image@{DIGEST}", "localhost:5000", "my-image", "", DIGEST),
        (f"localhost:5000/my-image:10@{DIGEST}", "localhost:5000", "my-image", "10", DIGEST),
        ("alpine", "docker.io", "library/alpine", "latest", ""),
        ("alpine:3.19", "docker.io", "library/alpine", "3.19", ""),
        ("team/tool:2", "docker.io", "team/tool", "2", ""),
        ("registry.example.com/team/tool", "registry.example.com", "team/tool", "latest", ""),
        ("[::1]:5000/x:y", "[::1]:5000", "x", "y", ""),
    ],
)
def test_references_split_like_docker(
    text: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    ref = parse_reference(text)
    assert (ref.repository.registry, ref.repository.name, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.ref == (digest or tag)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost:5000/My-Image:1", "invalid repository name"),
        ("localhost:5000/x:bad tag", "invalid tag"),
        ("localhost:5000/x@sha256:abc", "invalid digest"),
        ("", "invalid repository name"),
    ],
)
def test_bad_references_say_why(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        parse_reference(text)
