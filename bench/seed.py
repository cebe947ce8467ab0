"""What the benchmark registry holds: R repositories x A aliases x 2 single-platform sources.

Every source is a distinct image (its own config blob and manifest; the layer is shared per
repository), so caches keyed by digest get no help that real images would not give.

Bulk seeding writes distribution's filesystem layout directly instead of pushing over HTTP:
on the 2-core reference machine `docker-registry` spends about 2 ms of CPU per request and
5 ms per manifest PUT, so pushing the 30,000 manifests of the 10,000-alias scale run would
take minutes, while writing them takes seconds. The layout (distribution's
`registry/storage/paths.go`, unchanged since 2.0) is::

    docker/registry/v2/blobs/sha256/<hex[:2]>/<hex>/data
    docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link             (blobs)
    docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link
    docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link

Each link file holds ``sha256:<hex>``. The registry has no blob-descriptor cache configured,
so files written while it runs are served at once. Re-pushes (scenario c) go over HTTP, as
a CI job would push them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    canonical_json,
    layer_blob,
    put_manifest,
    registry_client,
    sha256_digest,
    upload_blob,
)

__all__ = ["PLATFORMS", "Alias", "Layout", "Seeder", "pick_repushes", "repush"]

# (tag suffix, os, architecture) of the two sources of every alias.
PLATFORMS = (("amd64", "linux", "amd64"), ("arm64", "linux", "arm64"))


@dataclass(frozen=True)
class Alias:
    repository: str
    tag: str
    sources: tuple[str, ...]  # source tags, in the same repository


@dataclass(frozen=True)
class Layout:
    """`repos` repositories with `per_repo` aliases each, two sources per alias."""

    repos: int
    per_repo: int

    @classmethod
    def for_total(cls, total: int, repos: int) -> Layout:
        """About `total` aliases spread over `repos` repositories (rounded up per repo)."""
        repos = max(1, min(repos, total))
        return cls(repos, -(-total // repos))

    @property
    def total(self) -> int:
        return self.repos * self.per_repo

    def repositories(self) -> list[str]:
        return [f"bench/repo-{r:03d}" for r in range(self.repos)]

    def aliases(self) -> Iterator[Alias]:
        for repository in self.repositories():
            for a in range(self.per_repo):
                tag = f"v{a:05d}"
                yield Alias(repository, tag, tuple(f"{tag}-{p[0]}" for p in PLATFORMS))

    def config(self, host: str) -> dict[str, object]:
        """The manifests.yaml document (as a dict) for these aliases on registry `host`."""
        repositories: dict[str, dict[str, object]] = {}
        for alias in self.aliases():
            entry = repositories.setdefault(f"{host}/{alias.repository}", {"aliases": {}})
            aliases = entry["aliases"]
            assert isinstance(aliases, dict)
            aliases[alias.tag] = list(alias.sources)
        return {"registries": {host: {"insecure": True}}, "repositories": repositories}


@dataclass(frozen=True)
class SourceImage:
    digest: str
    size: int
    os: str
    architecture: str


class Seeder:
    """Builds the images of a layout and writes them into a registry's storage directory."""

    def __init__(self, storage_root: Path) -> None:
        self._v2 = storage_root / "docker" / "registry" / "v2"
        self._layers: dict[str, tuple[str, int, str]] = {}  # repo -> (digest, size, diff id)
        self._dirs: set[Path] = set()  # directories known to exist: saves a mkdir per file

    def seed(self, layout: Layout, *, with_aliases: bool) -> int:
        """Write every source (and, if asked, every alias as the index reconcile would make,
        for steady-state-only runs). Returns the number of manifests written."""
        written = 0
        for alias in layout.aliases():
            children = [
                self.source(alias.repository, tag, platform, generation=0)
                for tag, platform in zip(alias.sources, PLATFORMS, strict=True)
            ]
            written += len(children)
            if with_aliases:
                self._manifest(alias.repository, alias.tag, manifest_list(children))
                written += 1
        return written

    def source(
        self, repository: str, tag: str, platform: tuple[str, str, str], *, generation: int
    ) -> SourceImage:
        """Write one single-platform image and tag it."""
        layer_digest, layer_size, diff_id = self.layer(repository)
        config = source_config(repository, tag, platform, generation, diff_id)
        config_digest = self._blob(repository, config)
        raw = image_manifest(config_digest, len(config), layer_digest, layer_size)
        digest = self._manifest(repository, tag, raw)
        return SourceImage(digest, len(raw), platform[1], platform[2])

    def layer(self, repository: str) -> tuple[str, int, str]:
        """The repository's shared layer: (digest, size, diff ID), written on first use."""
        if repository not in self._layers:
            layer, diff_id = layer_blob(f"bench layer of {repository}\n".encode())
            self._layers[repository] = (self._blob(repository, layer), len(layer), diff_id)
        return self._layers[repository]

    def _blob(self, repository: str, data: bytes) -> str:
        digest = self._store(data)
        link = self._repo(repository) / "_layers" / "sha256" / digest[7:] / "link"
        self._write(link, digest.encode())
        return digest

    def _manifest(self, repository: str, tag: str, raw: bytes) -> str:
        digest = self._store(raw)
        manifests = self._repo(repository) / "_manifests"
        link = digest.encode()
        self._write(manifests / "revisions" / "sha256" / digest[7:] / "link", link)
        self._write(manifests / "tags" / tag / "current" / "link", link)
        self._write(manifests / "tags" / tag / "index" / "sha256" / digest[7:] / "link", link)
        return digest

    def _store(self, data: bytes) -> str:
        digest = sha256_digest(data)
        hexdigest = digest.removeprefix("sha256:")
        path = self._v2 / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"
        if path.parent not in self._dirs:  # content-addressed: written once is written
            self._write(path, data)
        return digest

    def _write(self, path: Path, data: bytes) -> None:
        if path.parent not in self._dirs:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(path.parent)
        path.write_bytes(data)

    def _repo(self, repository: str) -> Path:
        return self._v2 / "repositories" / repository


def source_config(
    repository: str, tag: str, platform: tuple[str, str, str], generation: int, diff_id: str
) -> bytes:
    """The image config of a source: distinct per source and per re-push generation."""
    _suffix, os_name, architecture = platform
    return canonical_json(
        {
            "architecture": architecture,
            "os": os_name,
            "config": {
                "Labels": {"bench.source": f"{repository}:{tag}", "bench.gen": str(generation)}
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )


def image_manifest(
    config_digest: str, config_size: int, layer_digest: str, layer_size: int
) -> bytes:
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": DOCKER_LAYER, "digest": layer_digest, "size": layer_size}],
        }
    )


def manifest_list(children: Sequence[SourceImage]) -> bytes:
    """A Docker manifest list of the children in source order: what `reconcile` would write
    (it compares by meaning, so the exact bytes need not match its own)."""
    entries = [
        {
            "mediaType": DOCKER_MANIFEST,
            "digest": child.digest,
            "size": child.size,
            "platform": {"architecture": child.architecture, "os": child.os},
        }
        for child in children
    ]
    return canonical_json({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": entries})


def pick_repushes(layout: Layout, fraction: float, seed: int = 0) -> list[tuple[Alias, int]]:
    """`fraction` of all sources, as (alias, source index), chosen reproducibly at random."""
    sources = [(alias, i) for alias in layout.aliases() for i in range(len(alias.sources))]
    count = max(1, round(len(sources) * fraction))
    return sorted(
        random.Random(seed).sample(sources, count), key=lambda s: (s[0].repository, s[0].tag, s[1])
    )


def repush(registry_url: str, picks: Sequence[tuple[Alias, int]], seeder: Seeder) -> int:
    """Push a new build of each picked source over HTTP (new config, same tag), straight to
    the registry; returns the number of requests that took."""
    requests = 0
    with registry_client(registry_url) as client:
        for alias, index in picks:
            platform = PLATFORMS[index]
            tag = alias.sources[index]
            layer_digest, layer_size, diff_id = seeder.layer(alias.repository)
            config = source_config(alias.repository, tag, platform, 1, diff_id)
            config_digest = upload_blob(client, alias.repository, config)
            raw = image_manifest(config_digest, len(config), layer_digest, layer_size)
            put_manifest(client, alias.repository, tag, raw, DOCKER_MANIFEST)
            requests += 3  # POST + PUT for the config blob, PUT for the manifest
    return requests
