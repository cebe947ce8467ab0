"""Build tiny but real container images and push them over the distribution HTTP API.

Everything is deterministic: the same arguments always produce the same bytes, and
therefore the same digests, so tests can predict what a registry must contain. Different
repo/tag/platform/seed combinations produce different layers and hence different digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from tests.support.httpauth import RegistryAuth, loopback_client

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
IN_TOTO_LAYER = "application/vnd.in-toto+json"

# Annotations buildx puts on attestation entries of an image index.
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"
PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v0.2"

MediaKind = Literal["docker", "oci"]
AuthLike = httpx.Auth | tuple[str, str] | None


class RegistryHTTPError(RuntimeError):
    """A registry answered with an unexpected status; the message carries the body."""


@dataclass(frozen=True)
class Platform:
    """An ``os/arch[/variant]`` platform as used in image configs and index entries."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/arm64`` or ``linux/arm/v7``."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform must be os/arch[/variant], got {text!r}")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def as_dict(self) -> dict[str, str]:
        """The JSON form used in configs and index entries (variant only when set)."""
        value = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            value["variant"] = self.variant
        return value

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class PushedImage:
    """A single-platform manifest that is now in the registry."""

    digest: str
    media_type: str
    size: int
    raw: bytes
    config_digest: str
    layer_digest: str
    platform: str

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        """An index/list entry pointing at this manifest (platform included)."""
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "platform": Platform.parse(self.platform).as_dict(),
            **extra,
        }


@dataclass(frozen=True)
class PushedIndex:
    """An image index / manifest list that is now in the registry."""

    digest: str
    media_type: str
    size: int
    raw: bytes
    children: tuple[PushedImage, ...]
    attestations: tuple[PushedImage, ...] = ()

    @property
    def child_digests(self) -> list[str]:
        """Digests of the runnable (per-platform) entries, in index order."""
        return [c.digest for c in self.children]

    @property
    def attestation_digests(self) -> list[str]:
        """Digests of the attestation manifests, in index order."""
        return [a.digest for a in self.attestations]


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Stable compact JSON, so equal inputs give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# -- public push / pull API -------------------------------------------------------------


def push_image(
    base_url: str,
    repo: str,
    tag: str | None,
    *,
    platform: str = "linux/amd64",
    media: MediaKind = "docker",
    seed: str = "",
    auth: AuthLike = None,
) -> PushedImage:
    """Push a one-layer image and tag it (or push by digest only when `tag` is None)."""
    with registry_client(base_url, auth) as client:
        return _push_image(client, repo, tag, Platform.parse(platform), media, seed)


def push_index(
    base_url: str,
    repo: str,
    tag: str | None,
    children: Sequence[str | tuple[str, ...]] = ("linux/amd64", "linux/arm64"),
    *,
    seed: str = "",
    attestations: bool = True,
    auth: AuthLike = None,
) -> PushedIndex:
    """Push a buildx-style OCI index: per-platform images plus attestation manifests.

    Each child is a platform string or a ``(platform, seed)`` tuple. Children are pushed by
    digest; runnable entries come first, then one attestation per child (``unknown/unknown``
    platform, ``vnd.docker.reference.*`` annotations), as ``docker buildx`` lays them out.
    """
    with registry_client(base_url, auth) as client:
        images = [
            _push_image(
                client, repo, tag, Platform.parse(p), "oci", child_seed or seed, by_digest=True
            )
            for p, child_seed in (_child_spec(c) for c in children)
        ]
        proofs = (
            [_push_attestation(client, repo, img, seed) for img in images] if attestations else []
        )
        entries = [img.descriptor() for img in images] + [
            _attestation_descriptor(proof, img) for proof, img in zip(proofs, images, strict=True)
        ]
        raw = canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        digest = _put_manifest(client, repo, tag, raw, OCI_INDEX)
        return PushedIndex(digest, OCI_INDEX, len(raw), raw, tuple(images), tuple(proofs))


def push_manifest_list(
    base_url: str,
    repo: str,
    tag: str | None,
    images: Sequence[PushedImage],
    *,
    media: MediaKind = "docker",
    auth: AuthLike = None,
) -> PushedIndex:
    """Push a plain manifest list (docker) or index (oci) of already-pushed images."""
    media_type = DOCKER_LIST if media == "docker" else OCI_INDEX
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [img.descriptor() for img in images],
    }
    raw = canonical_json(document)
    with registry_client(base_url, auth) as client:
        digest = _put_manifest(client, repo, tag, raw, media_type)
    return PushedIndex(digest, media_type, len(raw), raw, tuple(images))


def push_raw_manifest(
    base_url: str,
    repo: str,
    ref: str,
    raw: bytes,
    media_type: str,
    *,
    auth: AuthLike = None,
) -> str:
    """PUT exactly `raw` as a manifest under `ref` (tag or digest); returns its digest."""
    with registry_client(base_url, auth) as client:
        return _put_manifest(client, repo, ref, raw, media_type)


def push_blob(base_url: str, repo: str, data: bytes, *, auth: AuthLike = None) -> str:
    """Upload one blob (monolithic POST + PUT) and return its digest."""
    with registry_client(base_url, auth) as client:
        return _push_blob(client, repo, data)


def get_manifest(
    base_url: str, repo: str, ref: str, auth: AuthLike = None
) -> tuple[bytes, str, str]:
    """GET a manifest accepting all four schema-2/OCI types: (raw, media type, digest)."""
    with registry_client(base_url, auth) as client:
        response = client.get(
            f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(ALL_MANIFEST_TYPES)}
        )
    _expect(response, 200)
    raw = response.content
    digest = sha256_digest(raw)
    header = response.headers.get("Docker-Content-Digest")
    if header is not None and header != digest:
        raise RegistryHTTPError(f"digest header {header} does not match body digest {digest}")
    return raw, response.headers.get("Content-Type", ""), digest


def upload_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """Upload one blob with an already open client (for bulk seeding); returns its digest."""
    return _push_blob(client, repo, data)


def put_manifest(
    client: httpx.Client, repo: str, ref: str | None, raw: bytes, media_type: str
) -> str:
    """PUT exactly `raw` under `ref` (a tag, or None for by digest) with an open client."""
    return _put_manifest(client, repo, ref, raw, media_type)


def layer_blob(content: bytes, name: str = "seed.txt") -> tuple[bytes, str]:
    """A reproducible gzipped one-file layer and its diff ID (the uncompressed digest)."""
    tar = _layer_tar(name, content)
    return gzip.compress(tar, mtime=0), sha256_digest(tar)


@contextmanager
def registry_client(base_url: str, auth: AuthLike = None) -> Iterator[httpx.Client]:
    """An httpx client for `base_url` that never uses proxies from the environment."""
    # A (user, password) pair becomes a challenge-driven auth so it works for Basic
    # registries and token registries alike.
    flow = RegistryAuth(*auth) if isinstance(auth, tuple) else auth
    with loopback_client(base_url, flow) as client:
        yield client


# -- building blocks ----------------------------------------------------------------------


def _push_image(
    client: httpx.Client,
    repo: str,
    tag: str | None,
    platform: Platform,
    media: MediaKind,
    seed: str,
    *,
    by_digest: bool = False,
) -> PushedImage:
    """Push an image whose content derives from all arguments; tag it unless `by_digest`."""
    content = f"repo={repo}\ntag={tag or ''}\nplatform={platform}\nseed={seed}\n".encode()
    tar = _layer_tar("seed.txt", content)
    layer = gzip.compress(tar, mtime=0)
    config = canonical_json(
        {
            **platform.as_dict(),
            "config": {"Cmd": ["/seed.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        }
    )
    manifest_type, config_type, layer_type = _media_types(media)
    layer_digest = _push_blob(client, repo, layer)
    config_digest = _push_blob(client, repo, config)
    raw = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": layer_digest, "size": len(layer)}],
        }
    )
    digest = _put_manifest(client, repo, None if by_digest else tag, raw, manifest_type)
    return PushedImage(
        digest, manifest_type, len(raw), raw, config_digest, layer_digest, str(platform)
    )


def _push_attestation(
    client: httpx.Client, repo: str, image: PushedImage, seed: str
) -> PushedImage:
    """An in-toto provenance manifest about `image`, pushed by digest (like buildx does)."""
    statement = canonical_json(
        {
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": PROVENANCE_PREDICATE,
            "subject": [
                {
                    "name": f"pkg:docker/{repo}?platform={image.platform.replace('/', '%2F')}",
                    "digest": {"sha256": image.digest.removeprefix("sha256:")},
                }
            ],
            "predicate": {"builder": {"id": "reconciler-tests"}, "seed": seed},
        }
    )
    config = canonical_json(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(statement)]},
        }
    )
    layer_digest = _push_blob(client, repo, statement)
    config_digest = _push_blob(client, repo, config)
    layer = {
        "mediaType": IN_TOTO_LAYER,
        "digest": layer_digest,
        "size": len(statement),
        "annotations": {"in-toto.io/predicate-type": PROVENANCE_PREDICATE},
    }
    raw = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [layer],
        }
    )
    digest = _put_manifest(client, repo, None, raw, OCI_MANIFEST)
    return PushedImage(
        digest, OCI_MANIFEST, len(raw), raw, config_digest, layer_digest, "unknown/unknown"
    )


def _attestation_descriptor(proof: PushedImage, subject: PushedImage) -> dict[str, Any]:
    return proof.descriptor(
        annotations={REFERENCE_DIGEST: subject.digest, REFERENCE_TYPE: ATTESTATION_MANIFEST}
    )


def _push_blob(client: httpx.Client, repo: str, data: bytes) -> str:
    """POST to open an upload session, then PUT the whole blob with ?digest=."""
    digest = sha256_digest(data)
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    _expect(started, 202)
    # distribution 2.8 answers with an absolute Location; join() also copes with relative.
    location = client.base_url.join(started.headers["Location"])
    finished = client.put(
        location.copy_merge_params({"digest": digest}),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _expect(finished, 201)
    return digest


def _put_manifest(
    client: httpx.Client, repo: str, ref: str | None, raw: bytes, media_type: str
) -> str:
    """PUT a manifest by tag, or by its own digest when `ref` is None."""
    digest = sha256_digest(raw)
    response = client.put(
        f"/v2/{repo}/manifests/{ref or digest}",
        content=raw,
        headers={"Content-Type": media_type},
    )
    _expect(response, 201)
    stored = response.headers.get("Docker-Content-Digest", digest)
    if stored != digest:
        raise RegistryHTTPError(f"registry stored {stored}, expected {digest}")
    return digest


def _layer_tar(name: str, content: bytes) -> bytes:
    """An uncompressed tar with one file and no timestamps or owners (reproducible)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _media_types(media: MediaKind) -> tuple[str, str, str]:
    """(manifest, config, layer) media types for docker schema 2 or OCI."""
    if media == "docker":
        return DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER
    if media == "oci":
        return OCI_MANIFEST, OCI_CONFIG, OCI_LAYER
    raise ValueError(f"media must be 'docker' or 'oci', got {media!r}")


def _child_spec(child: str | tuple[str, ...]) -> tuple[str, str]:
    """Normalise a child given as "os/arch" or ("os/arch", seed) to (platform, seed)."""
    if isinstance(child, str):
        return child, ""
    if len(child) == 1:
        return child[0], ""
    if len(child) == 2:
        return child[0], child[1]
    raise ValueError(f"child must be 'os/arch' or ('os/arch', seed), got {child!r}")


def _expect(response: httpx.Response, *statuses: int) -> None:
    if response.status_code in statuses:
        return
    request = response.request
    raise RegistryHTTPError(
        f"{request.method} {request.url} -> {response.status_code} "
        f"(expected {', '.join(map(str, statuses))}): {response.text[:2000]}"
    )
