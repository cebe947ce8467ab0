"""Value types with no I/O: media types, digests, platforms, descriptors and manifests (image
references are in names.py and refs.py).

The types are frozen dataclasses so that stages can share values across threads without
copies. What they hold is read, never changed: `Manifest.json` is parsed once and the same
dict is handed to every reader (`parse_index`, `parse_image`, `parse_blobs` below turn it into
values, with one set of checks), and a `Descriptor`'s annotations are whatever mapping it was
built with.

A run keeps several descriptors per alias until its report is written, so the values a run
holds are slotted, and what repeats across aliases is shared rather than copied: the known
media types are the constants below, equal platforms read from registries are one `Platform`,
and no annotations is one empty mapping (`NO_ANNOTATIONS`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
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
    "NO_ANNOTATIONS",
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
    "no_annotations",
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
# Each known type as one string object: a header or JSON text equal to one is replaced by it.
_KNOWN_TYPES = {t: t for t in (*INDEX_TYPES, *IMAGE_TYPES)}
# Read-only, so that every value without annotations can share it.
NO_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


def no_annotations() -> Mapping[str, str]:
    """The default of an `annotations` field (dataclasses take no mapping as a default)."""
    return NO_ANNOTATIONS


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


@dataclass(frozen=True, order=True, slots=True)
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
        """Read a descriptor `platform` object or an image config (same field names). Equal
        platforms come back as one object (see `_shared_platform`)."""
        return _shared_platform(
            cls(
                os=str(doc.get("os", "")),
                architecture=str(doc.get("architecture", "")),
                variant=str(doc.get("variant") or ""),
                os_version=str(doc.get("os.version") or ""),
                os_features=tuple(str(f) for f in doc.get("os.features") or ()),
            )
        )


# A registry names a handful of platforms however many images it holds, and a run keeps a
# few per alias: equal ones are one object. Bounded, so that a hostile registry naming a new
# platform per image costs no more than before.
# No lock: each dict operation is atomic, and two threads adding one platform share the first.
_PLATFORMS: dict[Platform, Platform] = {}
_MAX_SHARED_PLATFORMS = 1024


def _shared_platform(platform: Platform) -> Platform:
    shared = _PLATFORMS.get(platform)
    if shared is not None:
        return shared
    if len(_PLATFORMS) < _MAX_SHARED_PLATFORMS:
        return _PLATFORMS.setdefault(platform, platform)
    return platform


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content: what an index entry or a HEAD answer tells about a manifest."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=no_annotations)

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


class Manifest:
    """A manifest as its bytes. The bytes are the truth: the digest is sha256 of them.

    `Manifest.deferred` makes one whose bytes are read when first asked for: a client whose
    cache learned a single image's size and platform from bytes it once verified, and whose
    registry confirms by a HEAD that the tag still points at that digest, has all an index
    entry needs without them. Read, never changed, like the frozen values here."""

    __slots__ = ("_json", "_load", "_raw", "_size", "digest", "media_type")

    def __init__(self, raw: bytes, media_type: str, digest: str) -> None:
        self._raw: bytes | None = raw
        self._size = len(raw)
        self._load: Callable[[], bytes] | None = None
        self._json: dict[str, Any] | None = None
        self.media_type = media_type
        self.digest = digest

    @classmethod
    def deferred(
        cls, media_type: str, digest: str, size: int, load: Callable[[], bytes]
    ) -> Manifest:
        """A manifest of `size` bytes that `load` reads (and verifies) when first needed."""
        manifest = cls(b"", media_type, digest)
        manifest._raw, manifest._size, manifest._load = None, size, load
        return manifest

    @property
    def raw(self) -> bytes:
        raw = self._raw
        if raw is None:
            assert self._load is not None
            raw = self._raw = self._load()  # two threads asking at once read it twice, alike
        return raw

    @property
    def is_read(self) -> bool:
        """Whether the bytes are in memory (a deferred manifest's are once asked for)."""
        return self._raw is not None

    @property
    def json(self) -> dict[str, Any]:
        doc = self._json
        if doc is None:
            doc = json.loads(self.raw)
            if not isinstance(doc, dict):
                raise ValueError("manifest is not a JSON object")
            self._json = doc
        return doc

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self._size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Manifest):
            return NotImplemented
        same = (self.media_type, self.digest) == (other.media_type, other.digest)
        return same and self.raw == other.raw

    def __hash__(self) -> int:
        return hash((self.media_type, self.digest))

    def __repr__(self) -> str:
        return f"Manifest({self.media_type!r}, {self.digest!r}, size={self._size})"


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
            media_type=_KNOWN_TYPES.get(media_type, media_type),
            digest=digest,
            size=size,
            platform=Platform.from_json(platform) if isinstance(platform, dict) else None,
            annotations={str(k): str(v) for k, v in annotations.items()} or NO_ANNOTATIONS,
        )
    except (KeyError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def media_type_of(content_type: str, raw: bytes) -> str:
    """The Content-Type when it names a manifest type, else the body's own `mediaType`
    (registries that answer `application/json`, and bodies read from the cache). A known
    type is returned as its constant, not as the header's own copy of the text."""
    known = _KNOWN_TYPES.get(content_type)
    if known is not None:
        return known
    declared = _declared_type(raw)
    return _KNOWN_TYPES.get(declared, declared) or content_type


def _declared_type(raw: bytes) -> str:
    try:
        value = json.loads(raw).get("mediaType", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""
