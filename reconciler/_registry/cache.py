"""What a run remembers: content by digest (in memory, and on disk between runs), what it
learned of single images by digest (`images`: size and platform), and, as a hint only, the
digest a tag had last time.

Content addressed by digest never changes, so a cached manifest or config blob is as good as a
fresh one, provided its bytes still hash to its name: every read re-checks that, and a corrupt
or truncated file is deleted and fetched again. Tags move, so the tag hints are never taken as
the truth; they only decide whether a cheap HEAD (then the body from the cache) or a GET is the
better first request. The directory is safe to delete at any time and is bounded in size.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from .._model.oci import Platform, digest_of, is_digest
from . import images
from .images import ImageFacts, KnownImages

__all__ = ["Cache", "default_cache_dir"]

log = logging.getLogger("reconciler.cache")

_Store = TypeVar("_Store")  # one repository's `_Hints` or `KnownImages`
_Read = TypeVar("_Read")  # what its file held
_Value = TypeVar("_Value")  # what it holds of one tag or image

DEFAULT_MAX_BYTES = 256 << 20
_MEMORY_ENTRIES = 4096  # bounded, so memory stays flat however many aliases a run has
_READ_AT_ONCE = 16 << 10  # more than most manifests and image configs take
_buffers = threading.local()  # each reading thread's buffer of _READ_AT_ONCE bytes


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/reconciler`, else `~/.cache/reconciler`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reconciler"


class Cache:
    """Thread-safe. `root=None` keeps everything in memory for this run only (`--no-cache`).

    Reads and writes take no lock, only single OrderedDict calls, each atomic. A lock taken 22
    times an alias was found held by a thread the interpreter had switched out in a fifth of
    the attempts when 64 threads read at once with no request to wait for (aliases read from
    ECR in bulk, or from the cache), and the queues behind it cost CPU of their own. The lock
    is left for what happens once: reading a repository's hints, and saving them.

    Tag hints are kept per repository, one small JSON map each, read on first use and written
    back by `close()` (merged with what other runs wrote meanwhile): a run with thousands of
    tags then opens one file per repository instead of one per tag. In memory a hint is the
    digest's 32 bytes, not its 71 characters: a run holds every hint of the repositories it
    reads until it ends (30,000 at 10,000 aliases). What the cache learned of single images
    (their size and platform, see `images`) is kept per repository the same way.
    """

    def __init__(self, root: Path | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._memory: OrderedDict[str, bytes] = OrderedDict()  # the most recently used last
        self._lock = threading.Lock()
        self._hints: dict[tuple[str, str], _Hints] = {}
        self._images: dict[tuple[str, str], KnownImages] = {}
        self._wrote = False  # whether this run added files (else there is nothing to prune)
        self._content_root = os.path.join(root, "sha256", "") if root is not None else ""

    # -- content by digest -----------------------------------------------------------------

    def get(self, digest: str) -> bytes | None:
        data = self._memory.get(digest)
        if data is not None:
            self._used(digest)
            return data
        data = self._read_verified(digest)
        if data is not None:
            self._remember(digest, data)
        return data

    def put(self, digest: str, data: bytes) -> None:
        if digest_of(data) != digest:
            return  # never store bytes under a name they do not hash to
        self._remember(digest, data)
        path = self._content_path(digest)
        if path is not None and not os.path.exists(path):
            self._wrote = _write_atomically(path, data) or self._wrote

    def _remember(self, digest: str, data: bytes) -> None:
        self._memory[digest] = data
        self._used(digest)
        while len(self._memory) > _MEMORY_ENTRIES:  # the least recently used go first
            try:
                self._memory.popitem(last=False)
            except KeyError:  # emptied by other threads meanwhile
                break

    def _used(self, digest: str) -> None:
        """Mark `digest` the most recently used; one that another thread has just evicted
        stays evicted (an entry is never out of the map while it is being moved)."""
        with contextlib.suppress(KeyError):
            self._memory.move_to_end(digest)

    def _read_verified(self, digest: str) -> bytes | None:
        path = self._content_path(digest)
        if path is None:
            return None
        try:
            data = _read_file(path)
        except OSError:
            return None
        if digest_of(data) != digest:
            log.info("cache: %s is corrupt; ignoring and removing it", path)
            with contextlib.suppress(OSError):
                os.unlink(path)
            return None
        return data

    def _content_path(self, digest: str) -> str | None:
        if self.root is None or not is_digest(digest):
            return None
        hexdigest = digest[7:]  # after "sha256:", which is_digest checked
        return f"{self._content_root}{hexdigest[:2]}/{hexdigest}"

    # -- tag hints (never the truth) -------------------------------------------------------

    def hint(self, registry: str, repository: str, tag: str) -> str | None:
        """The digest `tag` had when this cache last saw it, if any."""
        packed = self._hints_of(registry, repository).get(tag)
        return None if packed is None else _unpacked(packed)

    def set_hint(self, registry: str, repository: str, tag: str, digest: str) -> None:
        if self.root is None or not is_digest(digest):
            return  # a hint that is no digest would be dropped when read back anyway
        packed = _packed(digest)
        hints = self._hints_of(registry, repository)
        if hints.get(tag) != packed:
            hints[tag] = packed  # changed: written back at close (two threads: either wins)

    def _hints_of(self, registry: str, repository: str) -> _Hints:
        return self._of_repository(self._hints, (registry, repository), _Hints, self._read_hints)

    def _of_repository(
        self,
        loaded: dict[tuple[str, str], _Store],
        key: tuple[str, str],
        store: Callable[[_Read], _Store],
        read: Callable[[tuple[str, str]], _Read],
    ) -> _Store:
        """A repository's hints or images: read from disk once, on first use."""
        found = loaded.get(key)
        if found is None:
            with self._lock:
                found = loaded.get(key)
                if found is None:
                    found = loaded[key] = store(read(key))
        return found

    def _read_hints(self, key: tuple[str, str]) -> dict[str, bytes]:
        """The hint map on disk, packed; anything unreadable or not a digest is left out."""
        try:
            loaded = json.loads(self._read_store("tags", key) or b"{}")
        except ValueError:
            return {}
        if not isinstance(loaded, dict):
            return {}
        return {t: _packed(d) for t, d in loaded.items() if isinstance(d, str) and is_digest(d)}

    def _store_path(self, kind: str, key: tuple[str, str]) -> str | None:
        """The file of one repository's `kind` ("tags": hints, "images": known images)."""
        if self.root is None:
            return None
        name = hashlib.sha256("/".join(key).encode()).hexdigest()
        return os.path.join(self.root, kind, name[:2], name + ".json")

    def _read_store(self, kind: str, key: tuple[str, str]) -> bytes | None:
        """The bytes of that file; None when there is none or it cannot be read."""
        path = self._store_path(kind, key)
        if path is None:
            return None
        try:
            return _read_file(path)
        except OSError:
            return None

    def _save_changed(
        self,
        kind: str,
        loaded: dict[tuple[str, str], _Store],
        unsaved: Callable[[_Store], dict[str, _Value]],
        read: Callable[[tuple[str, str]], dict[str, _Value]],
        encode: Callable[[dict[str, _Value], dict[str, _Value]], bytes],
    ) -> None:
        """Write what this run changed of each repository's hints or images, merged over
        whatever other runs wrote meanwhile (`encode(merged, changed)` gives the file)."""
        with self._lock:
            changed = {key: unsaved(store) for key, store in loaded.items()}
        for key, updates in changed.items():
            path = self._store_path(kind, key)
            if path is not None and updates:
                data = encode({**read(key), **updates}, updates)
                self._wrote = _write_atomically(path, data) or self._wrote

    # -- single images: facts of their content (see `images`) ------------------------------

    def image(self, registry: str, repository: str, digest: str) -> ImageFacts | None:
        """The size and platform of the single image `digest`, when a run learned them."""
        if not is_digest(digest):
            return None
        return self._images_of(registry, repository).get(digest)

    def learn_image(
        self, registry: str, repository: str, digest: str, size: int, platform: Platform
    ) -> None:
        """Record what was read from `digest`'s verified bytes and its config."""
        if is_digest(digest):
            self._images_of(registry, repository).learn(digest, ImageFacts(size, platform))

    def _images_of(self, registry: str, repository: str) -> KnownImages:
        key = (registry, repository)
        return self._of_repository(self._images, key, KnownImages, self._read_images)

    def _read_images(self, key: tuple[str, str]) -> dict[str, ImageFacts]:
        data = self._read_store("images", key)
        return images.decode(data) if data is not None else {}

    # -- end of run and size bound ---------------------------------------------------------

    def close(self) -> None:
        """Called once at the end of a run: save the hints and what was learned of images,
        then keep the size bound."""
        self._save_changed("tags", self._hints, _Hints.unsaved, self._read_hints, _hints_file)
        self._save_changed(
            "images", self._images, KnownImages.unsaved, self._read_images, images.encode_merged
        )
        if self._wrote:
            self.prune()

    def prune(self) -> None:
        """Delete the least recently written files until the cache is under 80 % of its
        bound; harmless if another run prunes at the same time."""
        if self.root is None or not self.root.exists():
            return
        # Summed as the walk goes: a cold run of 20,000 aliases leaves 100,000 files, and a
        # list of them all (as Path objects) was 30 MB of its peak. Listed only when over.
        total = sum(size for _, size, _ in _files(self.root))
        if total <= self.max_bytes:
            return
        for _, size, path in sorted(_files(self.root)):
            with contextlib.suppress(FileNotFoundError):  # another run pruned it
                os.unlink(path)
            total -= size
            if total <= self.max_bytes * 0.8:
                break


class _Hints:
    """One repository's tag hints: those read from disk as two flat arrays, sorted by the
    hash of the tag (8 bytes) with the digest's 32 bytes alongside, 40 bytes a tag where a
    dict of the tag and its digest held 160 (a run of 20,000 aliases reads 60,000 tags); and
    those this run changed, by tag. Two tags of one hash would share a hint: a hint is checked
    against the registry before it is used, so a wrong one costs a request, never a result."""

    __slots__ = ("_changed", "_digests", "_hashes", "_unsaved")

    def __init__(self, read: dict[str, bytes]) -> None:
        pairs = sorted((hash(tag), packed) for tag, packed in read.items())
        self._hashes = array("q", [tag_hash for tag_hash, _ in pairs])  # a list: no spare room
        self._digests = b"".join(packed for _, packed in pairs)
        self._changed: dict[str, bytes] = {}
        self._unsaved = False

    def get(self, tag: str) -> bytes | None:
        packed = self._changed.get(tag)
        if packed is not None:
            return packed
        tag_hash = hash(tag)
        at = bisect.bisect_left(self._hashes, tag_hash)
        if at == len(self._hashes) or self._hashes[at] != tag_hash:
            return None
        return self._digests[at * 32 : at * 32 + 32]

    def __setitem__(self, tag: str, packed: bytes) -> None:
        self._changed[tag] = packed
        self._unsaved = True

    def unsaved(self) -> dict[str, bytes]:
        """The hints this run changed, when some changed since last asked (then written back);
        they stay this run's hints either way."""
        if not self._unsaved:
            return {}
        self._unsaved = False
        return dict(self._changed)


def _hints_file(merged: dict[str, bytes], _changed: dict[str, bytes]) -> bytes:
    """A repository's hints on disk: tag -> digest, as JSON."""
    shown = {tag: _unpacked(packed) for tag, packed in merged.items()}
    return json.dumps(shown, sort_keys=True).encode()


def _packed(digest: str) -> bytes:
    """A sha256 digest (checked by the caller) as its 32 bytes."""
    return bytes.fromhex(digest[7:])


def _unpacked(packed: bytes) -> str:
    return "sha256:" + packed.hex()


def _files(root: Path) -> Iterator[tuple[float, int, str]]:
    """(mtime, size, path) of every file, as the walk finds it; files vanishing meanwhile
    (another run) are skipped."""
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                status = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(status.st_mode):
                yield status.st_mtime, status.st_size, path


def _read_file(path: str) -> bytes:
    """A file's bytes in three system calls (open, read, close), through the file descriptor
    alone: a run reads thousands of small cached manifests, and `open()`'s buffered file
    object costs as much as the reads themselves (about 7 against 12 us per file here). Each
    call lets another thread take the interpreter, which with 64 threads costs more than the
    call: sizing the read with `fstat` first was a fourth, and 0.6-1.3 s of the 5-7 s of CPU
    that observing 10,000 cached aliases took with the registry's answers replayed from
    memory. The read goes into the thread's own buffer and is copied out at its size: reading
    into a fresh 64 KiB `bytes` and shrinking it left the heap in holes (peak RSS 72 against
    57 MB at 10,000 aliases, 87 against 67 at 20,000)."""
    buffer = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(_READ_AT_ONCE))
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        count = os.readv(fd, (buffer,))
        if count < _READ_AT_ONCE:
            return buffer[:count].tobytes()  # a regular file reads short only at its end
        chunks = [buffer.tobytes()]
        while chunk := os.read(fd, 64 << 10):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_atomically(path: str, data: bytes) -> bool:
    """Write to a temporary file and rename it over: readers see all the bytes or none. A
    cache that cannot be written is only slower, never wrong, so errors are logged only.

    A cold run writes five files an alias, and on this machine's ext4 a call that creates
    or looks up in a directory other threads are creating files in takes 0.1-0.4 ms: the
    directory is made only when the temporary file cannot be (a `mkdir` before every file
    was 1,046 calls in a 200-alias cold run, 749 of them failing; now 304), and the bytes go
    through the descriptor, not a buffered file object (which asks `isatty` and `lseek`)."""
    try:
        fd, tmp = _temporary_beside(path)
    except OSError as exc:
        log.info("cache: cannot write %s: %s", path, exc)
        return False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("cache: cannot write %s: %s", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # a disk that filled up keeps no half-written file
        return False
    return True


def _temporary_beside(path: str) -> tuple[int, str]:
    directory = os.path.dirname(path)
    try:
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")
    except FileNotFoundError:  # the first file of its directory
        os.makedirs(directory, exist_ok=True)
        return tempfile.mkstemp(dir=directory, prefix=".tmp-")
