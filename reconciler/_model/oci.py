"""Value types with no I/O: media types, digests, platforms, descriptors and manifests (image
references are in names.py and refs.py).

The types are frozen dataclasses so that stages can share values across threads without
copies. What they hold is read, never changed: `Manifest.json` is parsed once and the same
dict is handed to every reader (`parse_index`, `parse_image`, `parse_blobs` below turn it into
values, with one set of checks), and a `Descriptor`'s annotations are whatever mapping it was
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

from .._errors import ProtocolError

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
    "ImageManifest",
    "Manifest",
    "Platform",
    "digest_of",
    "index_annotations",
    "is_digest",
    "media_type_of",
    "parse_blobs",
    "parse_config_platform",
    "parse_image",
    "parse_index",
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
    """An OCI platform. Compare only normalised platforms (see `reconciler._model.platforms`)."""

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


@dataclass(frozen=True)
class ImageManifest:
    """What a single image's manifest says of its config: where its platform is read from."""

    config_digest: str


# Manifests and indexes are parsed here and nowhere else, with one set of checks: the document
# is a JSON object; every descriptor (index entry, or config and layer to copy) is an object
# with a `mediaType`, a sha256 `digest` and an integer `size`, its `annotations` a mapping when
# given and its `platform` read only when it is an object; an image's config has a sha256
# `digest`. Anything else is a `ProtocolError` naming the registry `host`: the same bytes give
# the same answer to every reader.


def parse_index(manifest: Manifest, host: str) -> tuple[Descriptor, ...]:
    """The entries of an index, with their platforms as written."""
    entries = _document(manifest, host).get("manifests")
    if not isinstance(entries, list):
        raise ProtocolError(host, f"index {manifest.digest} has no `manifests` list")
    try:
        return tuple(_descriptor(entry) for entry in entries)
    except ValueError:
        raise ProtocolError(host, f"index {manifest.digest} has a malformed entry") from None


def index_annotations(manifest: Manifest, host: str) -> dict[str, str]:
    """An index's own annotations; anything but a mapping counts as none."""
    value = _document(manifest, host).get("annotations")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def parse_image(manifest: Manifest, host: str) -> ImageManifest:
    """A single image's config reference: an object with a sha256 `digest` (its `mediaType`
    and `size` are only needed to copy it, see `parse_blobs`)."""
    config = _document(manifest, host).get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if not isinstance(digest, str) or not is_digest(digest):
        raise ProtocolError(host, f"manifest {manifest.digest} has no config")
    return ImageManifest(digest)


def parse_blobs(manifest: Manifest, host: str) -> tuple[Descriptor, ...]:
    """A single image's blobs as descriptors, its config first, then its layers (`layers` may
    be absent, never anything but a list)."""
    doc = _document(manifest, host)
    layers = doc.get("layers", [])
    try:
        if not isinstance(layers, list):
            raise ValueError("layers")
        return tuple(_descriptor(blob) for blob in [doc.get("config"), *layers])
    except ValueError:
        raise ProtocolError(host, f"manifest {manifest.digest} lists malformed blobs") from None


def parse_config_platform(raw: bytes, digest: str, host: str) -> Platform:
    """The platform an image config names (empty fields when it names none)."""
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        return Platform.from_json(doc)
    except (ValueError, TypeError):
        raise ProtocolError(host, f"image config {digest} is unreadable") from None


def _document(manifest: Manifest, host: str) -> dict[str, Any]:
    try:
        return manifest.json
    except ValueError:
        raise ProtocolError(host, f"manifest {manifest.digest} is not a JSON object") from None


def _descriptor(doc: object) -> Descriptor:
    """One descriptor; ValueError for anything malformed."""
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    try:
        digest, size = str(doc["digest"]), int(doc["size"])
        media_type, platform = str(doc["mediaType"]), doc.get("platform")
        annotations = doc.get("annotations") or {}
        if not is_digest(digest) or not isinstance(annotations, dict):
            raise ValueError(digest)
        return Descriptor(
            media_type=media_type,
            digest=digest,
            size=size,
            platform=Platform.from_json(platform) if isinstance(platform, dict) else None,
            annotations={str(k): str(v) for k, v in annotations.items()},
        )
    except (KeyError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


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
