"""What a run remembers: content by digest (in memory, and on disk between runs) and, as a
hint only, the digest a tag had last time.

Content addressed by digest never changes, so a cached manifest or config blob is as good as a
fresh one, provided its bytes still hash to its name: every read re-checks that, and a corrupt
or truncated file is deleted and fetched again. Tags move, so the tag hints are never taken as
the truth; they only decide whether a cheap HEAD (then the body from the cache) or a GET is the
better first request. The directory is safe to delete at any time and is bounded in size.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from ..types import digest_of, is_digest

__all__ = ["Cache", "default_cache_dir"]

log = logging.getLogger("reconciler.cache")

DEFAULT_MAX_BYTES = 256 << 20
_MEMORY_ENTRIES = 4096  # bounded, so memory stays flat however many aliases a run has


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/reconciler`, else `~/.cache/reconciler`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reconciler"


class Cache:
    """Thread-safe. `root=None` keeps everything in memory for this run only (`--no-cache`)."""

    def __init__(self, root: Path | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    # -- content by digest -----------------------------------------------------------------

    def get(self, digest: str) -> bytes | None:
        with self._lock:
            data = self._memory.get(digest)
            if data is not None:
                self._memory.move_to_end(digest)
                return data
        data = self._read_verified(digest)
        if data is not None:
            self._remember(digest, data)
        return data

    def has(self, digest: str) -> bool:
        with self._lock:
            if digest in self._memory:
                return True
        path = self._content_path(digest)
        return path is not None and path.exists()

    def put(self, digest: str, data: bytes) -> None:
        if digest_of(data) != digest:
            return  # never store bytes under a name they do not hash to
        self._remember(digest, data)
        path = self._content_path(digest)
        if path is not None and not path.exists():
            _write_atomically(path, data)

    def _remember(self, digest: str, data: bytes) -> None:
        with self._lock:
            self._memory[digest] = data
            self._memory.move_to_end(digest)
            while len(self._memory) > _MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def _read_verified(self, digest: str) -> bytes | None:
        path = self._content_path(digest)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if digest_of(data) != digest:
            log.info("cache: %s is corrupt; ignoring and removing it", path)
            path.unlink(missing_ok=True)
            return None
        return data

    def _content_path(self, digest: str) -> Path | None:
        if self.root is None or not is_digest(digest):
            return None
        hexdigest = digest.removeprefix("sha256:")
        return self.root / "sha256" / hexdigest[:2] / hexdigest

    # -- tag hints (never the truth) -------------------------------------------------------

    def hint(self, registry: str, repository: str, tag: str) -> str | None:
        path = self._hint_path(registry, repository, tag)
        if path is None:
            return None
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if is_digest(text) else None

    def set_hint(self, registry: str, repository: str, tag: str, digest: str) -> None:
        path = self._hint_path(registry, repository, tag)
        if path is not None and self.hint(registry, repository, tag) != digest:
            _write_atomically(path, digest.encode("ascii"))

    def _hint_path(self, registry: str, repository: str, tag: str) -> Path | None:
        if self.root is None:
            return None
        key = hashlib.sha256(f"{registry}/{repository}:{tag}".encode()).hexdigest()
        return self.root / "tags" / key[:2] / key

    # -- size bound ------------------------------------------------------------------------

    def prune(self) -> None:
        """Delete the least recently written files until the cache is under 80 % of its
        bound; called once per run, and harmless if another run prunes at the same time."""
        if self.root is None or not self.root.exists():
            return
        files = _files(self.root)
        total = sum(size for _, size, _ in files)
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(files):
            path.unlink(missing_ok=True)
            total -= size
            if total <= self.max_bytes * 0.8:
                break


def _files(root: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every file; files vanishing meanwhile (another run) are skipped."""
    out = []
    for path in root.rglob("*"):
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file():
            out.append((stat.st_mtime, stat.st_size, path))
    return out


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file and rename it over: readers see all the bytes or none. A
    cache that cannot be written is only slower, never wrong, so errors are logged only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("cache: cannot write %s: %s", path, exc)
