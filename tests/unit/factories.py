"""Tiny factories for the pure stages: build observed state without a registry."""

from __future__ import annotations

import hashlib

import yaml

from reconciler._config.models import AliasTarget, Config, parse
from reconciler._model import platforms
from reconciler._model.oci import (
    ATTESTATION_DIGEST_ANNOTATION,
    ATTESTATION_TYPE_ANNOTATION,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Platform,
)
from reconciler._pipeline.observed import LiveTag, ObservedAlias, ResolvedSource

REPO = "localhost:5000/my-image"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def target(
    tag: str = "10",
    sources: list[object] | None = None,
    *,
    media_type: str | None = None,
    attestations: str | None = None,
    annotations: dict[str, str] | None = None,
) -> AliasTarget:
    """An AliasTarget built through the real config parser, so defaults apply as in a file."""
    alias: dict[str, object] = {"sources": sources or ["10.10", "10.20"]}
    if media_type:
        alias["media_type"] = media_type
    if attestations:
        alias["attestations"] = attestations
    if annotations:
        alias["annotations"] = annotations
    config = parse_dict({"repositories": {REPO: {"aliases": {tag: alias}}}})
    return config.targets()[0]


def parse_dict(doc: dict[str, object]) -> Config:
    return parse(yaml.safe_dump(doc))


def image(platform: str, seed: str = "", media_type: str = DOCKER_MANIFEST) -> Descriptor:
    """An image entry as observe reports it (platform as written by the producer)."""
    parts = platform.split("/")
    plat = Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
    return Descriptor(media_type, digest(seed or platform), 500, plat)


def attestation(of: Descriptor, seed: str = "") -> Descriptor:
    return Descriptor(
        OCI_MANIFEST,
        digest(seed or f"att-{of.digest}"),
        300,
        platforms.UNKNOWN,
        {
            ATTESTATION_TYPE_ANNOTATION: "attestation-manifest",
            ATTESTATION_DIGEST_ANNOTATION: of.digest,
        },
    )


def resolved(t: AliasTarget, *entry_lists: tuple[Descriptor, ...]) -> tuple[ResolvedSource, ...]:
    """One ResolvedSource per source of `t`, with the given entries."""
    out = []
    for source, entries in zip(t.sources, entry_lists, strict=True):
        head = entries[0] if len(entries) == 1 else Descriptor(OCI_INDEX, digest(str(entries)), 900)
        out.append(ResolvedSource(source, head, tuple(entries)))
    return tuple(out)


def live_index(*entries: Descriptor, media_type: str = DOCKER_LIST, **annotations: str) -> LiveTag:
    head = Descriptor(media_type, digest("live" + str(entries)), 1000)
    return LiveTag("index", head, tuple(entries), annotations)


ABSENT = LiveTag("absent")


def observed(t: AliasTarget, live: LiveTag, *entry_lists: tuple[Descriptor, ...]) -> ObservedAlias:
    return ObservedAlias(t, live, resolved(t, *entry_lists))
