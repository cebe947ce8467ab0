"""Value types with no I/O: media types, digests, platforms, descriptors and manifests (image
references are in names.py and refs.py).

The types are frozen dataclasses so that stages can share values across threads without
copies. What they hold is read, never changed: `Manifest.json` is parsed once and the same
dict is handed to every reader, and a `Descriptor`'s annotations are whatever mapping it was
built with.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = [
    "ATTESTATION_DIGEST_ANNOTATION",
    "ATTESTATION_TYPE_ANNOTATION",
    "DIGEST_PATTERN",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "IMAGE_TYPES",
    "INDEX_TYPES",
    "MANIFEST_ACCEPT",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "Platform",
    "digest_of",
    "is_digest",
    "media_type_of",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# Registries hide or convert what a client does not accept, so every manifest request asks for all.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

ATTESTATION_TYPE_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_DIGEST_ANNOTATION = "vnd.docker.reference.digest"

DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"  # also the JSON Schema's (schema.py)
_DIGEST = re.compile(DIGEST_PATTERN)


def digest_of(raw: bytes) -> str:
    """The content digest of raw bytes, as registries compute it."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def is_digest(text: str) -> bool:
    """True for a sha256 digest string (the only algorithm registries use in practice)."""
    return bool(_DIGEST.match(text))


@dataclass(frozen=True, order=True)
class Platform:
    """An OCI platform. Compare only normalised platforms (see `reconciler.platforms`)."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        text = "/".join(parts)
        return f"{text}:{self.os_version}" if self.os_version else text

    def to_json(self) -> dict[str, Any]:
        """The descriptor `platform` object, keys in a fixed order for deterministic bytes."""
        doc: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            doc["os.version"] = self.os_version
        if self.os_features:
            doc["os.features"] = list(self.os_features)
        if self.variant:
            doc["variant"] = self.variant
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Platform:
        """Read a descriptor `platform` object or an image config (same field names)."""
        return cls(
            os=str(doc.get("os", "")),
            architecture=str(doc.get("architecture", "")),
            variant=str(doc.get("variant") or ""),
            os_version=str(doc.get("os.version") or ""),
            os_features=tuple(str(f) for f in doc.get("os.features") or ()),
        )


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content: what an index entry or a HEAD answer tells about a manifest."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def attestation_of(self) -> str | None:
        """The digest of the image this entry attests, when it is a BuildKit attestation."""
        if self.annotations.get(ATTESTATION_TYPE_ANNOTATION) != "attestation-manifest":
            return None
        return self.annotations.get(ATTESTATION_DIGEST_ANNOTATION, "")

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform is not None:
            doc["platform"] = self.platform.to_json()
        if self.annotations:
            doc["annotations"] = dict(sorted(self.annotations.items()))
        return doc


@dataclass(frozen=True)
class Manifest:
    """A manifest as its bytes. The bytes are the truth: the digest is sha256 of them."""

    raw: bytes
    media_type: str
    digest: str

    @cached_property
    def json(self) -> dict[str, Any]:
        doc = json.loads(self.raw)
        if not isinstance(doc, dict):
            raise ValueError("manifest is not a JSON object")
        return doc

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw))


def media_type_of(content_type: str, raw: bytes) -> str:
    """The Content-Type when it names a manifest type, else the body's own `mediaType`
    (registries that answer `application/json`, and bodies read from the cache)."""
    if content_type in INDEX_TYPES or content_type in IMAGE_TYPES:
        return content_type
    return _declared_type(raw) or content_type


def _declared_type(raw: bytes) -> str:
    try:
        value = json.loads(raw).get("mediaType", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""
