"""Google Artifact Registry / GCR and S3-backed registries: blob uploads and downloads handed to
a storage host, and tag lists with per-image data, played by the test proxy in front of a real
registry plus a small storage server of its own on 127.0.0.2.

    with storage(basic_registry, credentials=("alice", password)) as zoo:
        ...                                   # point the client at zoo.host
        zoo.store.seen                        # every request the storage host received
        zoo.tag_pages                         # the size of each tag-list page served

- Uploads: the registry's 202 to `POST /v2/<name>/blobs/uploads/` (a new session, or a mount
  it refused) gets a `Location` on the storage host, carrying the registry's own upload URL
  in an opaque `upload_id`, signed (`X-Goog-Signature`) as a pre-signed URL is: the URL
  alone authorises the upload. The storage host takes the PATCH or PUT, sends the bytes to the
  registry's upload URL itself, with the profile's own credentials (never the client's), and
  answers as the registry did (202 with a `Location` back on storage; 201 with
  `Docker-Content-Digest`).
- Downloads: a blob GET that the registry answers 200 is answered 307 to the storage host,
  which fetches the blob from the registry with its own credentials and serves it, optionally
  chunked (no Content-Length) or labelled `Content-Encoding: gzip` when the stored bytes are
  gzip (as object storage serves a .tar.gz uploaded with that metadata), after `hops` more
  redirects of its own.
- Tag lists: a `tags/list` answer becomes GCR's shape, `{"child": [], "manifest": {<digest>:
  {imageSizeBytes, layerId, mediaType, tag, timeCreatedMs, timeUploadedMs}}, "name", "tags"}`,
  padded with made-up images to at least `tag_page_bytes` (a large page). The digests in the
  map are made up: clients must skip the map, never read it.

The storage host records every request's headers: a client that sends it an Authorization or a
Cookie header leaks the registry's credentials to a third party.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.support.httpauth import RegistryAuth, loopback_client
from tests.support.proxy import ProxyAnswer, ProxyRequest, RewriteHook, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.zoo import Behaviour, Zoo

__all__ = ["BEHAVIOURS", "STORAGE_ADDRESS", "Storage", "StorageHost", "StorageRequest", "storage"]

STORAGE_ADDRESS = "127.0.0.2"  # loopback, another address than the registry's: another host
_GZIP_MAGIC = b"\x1f\x8b"

BEHAVIOURS = (
    Behaviour(
        "blob downloads are redirected (307) to object storage or a CDN behind pre-signed URLs;"
        " clients follow the redirect without the registry's Authorization",
        "https://distribution.github.io/distribution/storage-drivers/middleware",
    ),
    Behaviour(
        "the upload `Location` may be absolute, on another host; the client must use it as"
        " given (Artifact Registry and S3-backed registries hand uploads to storage)",
        "https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-blobs",
    ),
    Behaviour(
        "Artifact Registry implements the Docker Registry HTTP API V2 and stores blobs in Cloud"
        " Storage",
        "https://cloud.google.com/artifact-registry/docs/reference/docker-api",
    ),
    Behaviour(
        "GCR's tag list carries `child`, a `manifest` map of per-image data (imageSizeBytes,"
        " layerId, mediaType, tag, timeCreatedMs, timeUploadedMs) and `name` beside `tags`",
        "https://github.com/distribution/distribution/issues/2601",
    ),
    Behaviour(
        "object storage serves an object stored with `Content-Encoding: gzip` metadata with"
        " that header (decompressive transcoding only when the client does not accept gzip)",
        "https://cloud.google.com/storage/docs/transcoding",
    ),
)


@dataclass(frozen=True)
class StorageRequest:
    """One request the storage host received; header names lowercase."""

    method: str
    path: str  # with its query
    headers: dict[str, str]


class StorageHost:
    """The object store: takes pre-signed uploads and serves pre-signed downloads, doing the
    registry side itself with its own credentials."""

    def __init__(
        self,
        registry_url: str,
        credentials: tuple[str, str] | None,
        *,
        chunked: bool = False,
        label_gzip: bool = False,
        hops: int = 0,
    ) -> None:
        self.registry_url = registry_url
        self.chunked, self.label_gzip, self.hops = chunked, label_gzip, hops
        self.replace: dict[str, bytes] = {}  # digest -> bytes served instead (tampering tests)
        self.seen: list[StorageRequest] = []
        self._key = secrets.token_bytes(16)
        self._lock = threading.Lock()
        auth = RegistryAuth(*credentials) if credentials else RegistryAuth()
        self._registry = loopback_client(registry_url, auth)
        self._server = ThreadingHTTPServer((STORAGE_ADDRESS, 0), _StorageHandler)
        self._server.daemon_threads = True
        cast(Any, self._server).store = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._registry.close()

    def requests(self, method: str | None = None) -> list[StorageRequest]:
        with self._lock:
            return [r for r in self.seen if method is None or r.method == method]

    # -- pre-signed URLs -----------------------------------------------------------------------

    def upload_url(self, registry_location: str) -> str:
        """A storage URL for the registry's upload session at `registry_location`."""
        parts = urlsplit(registry_location)
        inner = parts.path + (f"?{parts.query}" if parts.query else "")
        upload_id = base64.urlsafe_b64encode(inner.encode()).decode()
        query = urlencode({"upload_id": upload_id, "X-Goog-Signature": self._sign(upload_id)})
        return f"{self.origin}{parts.path}?{query}"

    def download_url(self, path: str, hops: int | None = None) -> str:
        """A storage URL for the blob at registry path `path` (`/v2/<name>/blobs/<digest>`)."""
        left = self.hops if hops is None else hops
        query = urlencode({"hops": left, "X-Goog-Signature": self._sign(f"{path}:{left}")})
        return f"{self.origin}{path}?{query}"

    def _sign(self, what: str) -> str:
        return hmac.new(self._key, what.encode(), hashlib.sha256).hexdigest()

    def signed(self, what: str, signature: str) -> bool:
        return hmac.compare_digest(self._sign(what), signature)

    # -- the registry side ---------------------------------------------------------------------

    def forward_upload(
        self, method: str, inner: str, digest: str | None, body: bytes, content_range: str | None
    ) -> httpx.Response:
        """Send the bytes to the registry's own upload URL, with the profile's credentials."""
        url = httpx.URL(self.registry_url + inner)
        if digest:
            url = url.copy_merge_params({"digest": digest})
        headers = {"Content-Type": "application/octet-stream"}
        if content_range:
            headers["Content-Range"] = content_range
        return self._registry.request(method, url, content=body, headers=headers)

    def fetch_blob(self, path: str) -> httpx.Response:
        return self._registry.get(path)

    def record(self, request: StorageRequest) -> None:
        with self._lock:
            self.seen.append(request)


class _StorageHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def store(self) -> StorageHost:
        return cast(StorageHost, cast(Any, self.server).store)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _record(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.store.record(StorageRequest(self.command, self.path, headers))

    # -- uploads -------------------------------------------------------------------------------

    def do_PUT(self) -> None:
        self._upload()

    def do_PATCH(self) -> None:
        self._upload()

    def _upload(self) -> None:
        self._record()
        body = self._read_body()
        params = self._params()
        upload_id = params.get("upload_id", "")
        if not upload_id or not self.store.signed(upload_id, params.get("X-Goog-Signature", "")):
            self._send(403, b"SignatureDoesNotMatch\n")
            return
        inner = base64.urlsafe_b64decode(upload_id.encode()).decode()
        digest = params.get("digest") if self.command == "PUT" else None
        answer = self.store.forward_upload(
            self.command, inner, digest, body, self.headers.get("Content-Range")
        )
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() in _RELAYED]
        location = answer.headers.get("location")
        if answer.status_code == 202 and location:  # the session goes on: on storage again
            headers.append(("Location", self.store.upload_url(location)))
        self._send(answer.status_code, answer.content, headers)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            pieces = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(pieces)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # -- downloads -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record()
        path = urlsplit(self.path).path
        params = self._params()
        hops = params.get("hops", "0")
        if not self.store.signed(f"{path}:{hops}", params.get("X-Goog-Signature", "")):
            self._send(403, b"SignatureDoesNotMatch\n")
            return
        if int(hops) > 0:
            self._send(302, b"", [("Location", self.store.download_url(path, int(hops) - 1))])
            return
        digest = path.rsplit("/", 1)[-1]
        answer = self.store.fetch_blob(path)
        if answer.status_code != 200:
            self._send(answer.status_code, answer.content)
            return
        self._serve(self.store.replace.get(digest, answer.content))

    def _serve(self, blob: bytes) -> None:
        headers = [("Content-Type", "application/octet-stream")]
        if self.store.label_gzip and blob.startswith(_GZIP_MAGIC):
            headers.append(("Content-Encoding", "gzip"))
        if not self.store.chunked:
            self._send(200, blob, headers)
            return
        self.send_response(200)
        for name, value in [*headers, ("Transfer-Encoding", "chunked")]:
            self.send_header(name, value)
        self.end_headers()
        for start in range(0, len(blob), 1000):
            piece = blob[start : start + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


_RELAYED = frozenset({"docker-content-digest", "docker-upload-uuid", "range", "content-type"})


@dataclass
class Storage(Zoo):
    """The running profile: `store` is the storage host, `tag_pages` the size in bytes of each
    tag-list page served."""

    store: StorageHost | None = None
    tag_pages: list[int] = field(default_factory=list)

    @property
    def storage(self) -> StorageHost:
        assert self.store is not None
        return self.store


def gcr_tag_list(answer: ProxyAnswer, min_bytes: int) -> ProxyAnswer:
    """A tag list in GCR's shape, padded with made-up images to at least `min_bytes`."""
    doc = answer.json()
    tags: list[str] = doc.get("tags") or []
    manifest = {_made_up_digest(tag): _image([tag], n) for n, tag in enumerate(tags)}
    entry = len(json.dumps({_made_up_digest("x"): _image([], 0)}))
    for n in range(max(0, min_bytes // entry + 1) if min_bytes else 0):
        manifest[_made_up_digest(f"padding-{n}")] = _image([], n)
    shaped = {"child": [], "manifest": manifest, "name": doc.get("name", ""), "tags": tags}
    return ProxyAnswer(answer.status, answer.headers, json.dumps(shaped).encode())


def _made_up_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _image(tags: list[str], n: int) -> dict[str, Any]:
    return {
        "imageSizeBytes": str(2_000_000 + n),
        "layerId": "",
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "tag": tags,
        "timeCreatedMs": str(1_700_000_000_000 + n),
        "timeUploadedMs": str(1_700_000_000_500 + n),
    }


def _rewrite(zoo: Storage, tag_page_bytes: int) -> RewriteHook:
    def rewrite(request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path.endswith("/blobs/uploads/") and answer.status == 202:
            location = answer.header("location")
            return answer.with_header("Location", zoo.storage.upload_url(location or ""))
        if request.method == "GET" and request.kind == "blobs" and answer.status == 200:
            return ProxyAnswer(307, (("Location", zoo.storage.download_url(path)),), b"")
        if request.method == "GET" and path.endswith("/tags/list") and answer.status == 200:
            shaped = gcr_tag_list(answer, tag_page_bytes)
            zoo.tag_pages.append(len(shaped.body))
            return shaped
        return answer

    return rewrite


@contextmanager
def storage(
    registry: RegistryProcess,
    *,
    credentials: tuple[str, str] | None = None,
    chunked: bool = False,
    label_gzip: bool = False,
    hops: int = 0,
    tag_page_bytes: int = 0,
) -> Iterator[Storage]:
    """The profile in front of `registry`; `credentials` are the storage host's own, for its
    side of the transfers (the registry's user in tests; never what the client sends)."""
    host = StorageHost(registry.url, credentials, chunked=chunked, label_gzip=label_gzip, hops=hops)
    try:
        with start_proxy(registry.url) as proxy:
            zoo = Storage("storage", proxy, BEHAVIOURS, store=host)
            proxy.rewrite = _rewrite(zoo, tag_page_bytes)
            yield zoo
    finally:
        host.stop()
