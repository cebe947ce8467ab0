"""The HTTP client for one registry: manifests and blobs over the distribution API.

Every HTTP status becomes an error in one place (`_check`), every httpx exception is translated
at one boundary (`_send`), and every body is read with a size cap.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .. import __version__
from .._errors import (
    AuthError,
    NotFoundError,
    ProtocolError,
    ReconcileError,
    RegistryError,
)
from .._model.names import DOCKER_HUB, canonical_host, reference_text
from .._model.oci import (
    IMAGE_TYPES,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    Descriptor,
    Manifest,
    Platform,
    digest_of,
    is_digest,
    media_type_of,
    parse_index,
)
from .answer import Answer, error_code, read_at_most
from .auth import RegistryAuth, scope_of
from .cache import Cache
from .credentials import CredentialSource
from .failures import translated
from .interface import RepositoryState
from .ratelimit import PullLimit
from .retry import RetryPolicy
from .taglist import MalformedTagList, read_tag_list
from .transport import (
    Origin,
    RegistryTransport,
    Reply,
    TlsContext,
    origin_of,
    sender_for,
    wire_timeout,
)

if TYPE_CHECKING:
    import urllib3

    from .ecr import EcrRepositories

__all__ = [
    "MAX_BLOB_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_TAG_PAGE_BYTES",
    "Answer",
    "ClientSettings",
    "RegistryClient",
]

log = logging.getLogger("reconciler.http")

MAX_MANIFEST_BYTES = 4 << 20  # the common registry limit; larger answers are hostile or broken
MAX_BLOB_BYTES = 8 << 20  # only image configs are downloaded, and they are small
# A tag-list page is read as it arrives, keeping only the tag names (taglist.py), so this cap
# bounds time, not memory. GCR and Artifact Registry list every image of a repository in one
# page with ~270 bytes of per-image data each: 128 MiB is about 500,000 images, read in about
# five seconds; a registry that sends more is broken or hostile.
MAX_TAG_PAGE_BYTES = 128 << 20
_MAX_ERROR_BODY = 64 << 10
_HUB_API = "https://registry-1.docker.io"
_MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
DOCKER_CERTS_D = "/etc/docker/certs.d"  # docker's per-registry CA certificates: <host>/*.crt
CERTS_D_ENV = "RECONCILE_DOCKER_CERTS_D"  # another certs.d root (tests; rootless docker)
_TAGS_PAGE = 1000  # ECR refuses more; registries that ignore `n` send everything at once
_MAX_TAG_PAGES = 1000
_MAX_REFERRER_PAGES = 10  # a subject with more than a few pages of referrers is hostile
USER_AGENT = f"reconciler/{__version__}"
# On every registry request, however it is sent (`_request`, `_Wire`). Accept-Encoding:
# identity, the bytes as stored: a digest is of uncompressed bytes, and the transport adds no
# header of its own (as httpx's does not).
_EVERY_REQUEST = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
_NO_FACTS = RepositoryState()  # the distribution API's answer, one value shared by every alias


@dataclass(frozen=True)
class ClientSettings:
    """How to reach one registry (built from the config's `registries:` entry)."""

    host: str
    endpoint: str | None = None
    insecure: bool = False
    ca_file: str | None = None
    timeout_s: float = 30.0
    max_connections: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint
        if canonical_host(self.host) == DOCKER_HUB:
            return _HUB_API  # docker.io names Docker Hub; its API answers elsewhere
        return f"{'http' if self.insecure else 'https'}://{self.host}"


class RegistryClient:
    """Manifest and blob operations on one registry: the `Registry` the stages use. On ECR
    (`ecr`), repository facts, bulk reads and tag deletes go through the ECR API instead.
    Thread-safe; one per registry per run."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: CredentialSource,
        *,
        ecr: EcrRepositories | None = None,
        pull_limit: PullLimit | None = None,
        cache: Cache | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network, for unit tests of one behaviour."""
        self.host = settings.host
        self._cache = cache or Cache(None)
        self._ecr = ecr  # repository facts, on ECR registries only
        self._retry = settings.retry
        self._pull_limit = pull_limit or PullLimit(settings.host)  # this run's, per registry
        # One TLS context for every connection: building one costs tens of milliseconds. A
        # registry over plain HTTP builds it only if a token realm or a storage redirect is
        # HTTPS; over HTTPS it is built now, so that an unusable ca_file stops the client here.
        verify: TlsContext = (
            functools.cache(functools.partial(_tls_context, settings))
            if settings.insecure
            else _tls_context(settings)
        )
        timeout = httpx.Timeout(settings.timeout_s)
        # Token services and blob storage behind redirects: few requests, through httpx.Client
        # on the same kind of transport, so that the same proxy decision and TLS trust apply
        # (trust_env=False: the transport, not httpx, reads the proxy environment).
        tokens = transport or RegistryTransport(verify, max_connections=settings.max_connections)
        self._tokens = httpx.Client(timeout=timeout, transport=tokens, trust_env=False)
        self._auth = RegistryAuth(
            settings.host,
            credentials,
            token_client=self._tokens,
            allow_plain_http=settings.insecure,
            origin=settings.base_url,  # credentials go there (and to its realm) only
            retry=settings.retry,
        )
        # Registry requests are many and small, sent by many threads: they go straight to a
        # thread-safe transport, driven by our own auth flow, without httpx.Client's per-request
        # work (URL merging, cookies, hooks), which costs more CPU than the request itself.
        self._transport = transport or _registry_transport(settings, verify)
        self._sender = sender_for(self._transport)
        self._base_url = settings.base_url.rstrip("/")
        self._timeouts = timeout.as_dict()
        self._wire = _Wire.of(self._base_url, self._timeouts)
        # Bounds requests in flight to this registry, whatever the number of worker threads.
        self._in_flight = _Slots(settings.max_connections)
        # Answers read in bulk for this run (ECR BatchGetImage): (repository, ref) -> manifest.
        self._primed: dict[tuple[str, str], Manifest] = {}

    def close(self) -> None:
        self._transport.close()
        self._tokens.close()

    # -- manifests -------------------------------------------------------------------------

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None:
        """What `ref` points at, without downloading it; None when it does not exist."""
        url = f"/v2/{repository}/manifests/{ref}"
        response = self._send("HEAD", url, headers={"Accept": MANIFEST_ACCEPT})
        if response.status == 404:
            return None
        self._check(response, reference_text(repository, ref))
        digest = response.headers.get("docker-content-digest", "")
        media_type = response.media_type
        if not is_digest(digest) or not media_type:
            # Some registries omit the digest on HEAD: the body is the only truth then.
            manifest = self._fetch(repository, ref)
            return manifest.descriptor() if manifest else None
        size = int(response.headers.get("content-length") or 0)
        return Descriptor(media_type, digest, size)

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        """The manifest a tag or digest points at, or None when there is none, in as few
        requests as the cache allows: when the tag's last digest is cached, a HEAD confirms
        (or refutes) it and the body comes from the cache; otherwise one GET by tag. A digest
        is asked of the registry on every call too (see `_manifest_by_digest`)."""
        if is_digest(ref):
            return self._manifest_by_digest(repository, ref)
        primed = self._primed.get((repository, ref))
        if primed is not None:
            return primed
        return self._manifest_by_tag(repository, ref)

    def _manifest_by_digest(self, repository: str, digest: str) -> Manifest | None:
        """A body known by digest (cached, or read in bulk from the cache) proves the bytes,
        not that this repository still holds them: one HEAD by digest asks. Unknown, one GET
        both reads and proves it."""
        known = self._primed.get((repository, digest))
        if known is None and self._cache.get(digest) is None:
            return self._fetch(repository, digest)
        if self.head_manifest(repository, digest) is None:
            return None
        return known or self._manifest_or_none(repository, digest)

    def _manifest_by_tag(self, repository: str, ref: str) -> Manifest | None:
        hint = self._cache.hint(self.host, repository, ref)
        if hint is None:
            return self._fetch(repository, ref)
        known = self._cache.image(self.host, repository, hint)
        # Read (and verified) now: when the HEAD confirms the hint, this is the body. A single
        # image whose size and platform the cache learned needs none (`Manifest.deferred`).
        if known is None and self._cache.get(hint) is None:
            return self._fetch(repository, ref)
        head = self.head_manifest(repository, ref)
        if head is None:
            return None
        if known is not None and head.digest == hint and head.media_type in IMAGE_TYPES:
            return Manifest.deferred(
                head.media_type, hint, known.size, lambda: self.get_manifest(repository, hint).raw
            )
        return self._manifest_or_none(repository, head.digest, ref, head.media_type)

    def image_platform(
        self, repository: str, manifest: Manifest, read: Callable[[], Platform]
    ) -> Platform:
        """What the cache learned of this digest, else `read()`, learned for the next run."""
        known = self._cache.image(self.host, repository, manifest.digest)
        if known is not None:
            return known.platform
        platform = read()
        size = manifest.descriptor().size
        self._cache.learn_image(self.host, repository, manifest.digest, size, platform)
        return platform

    def read_in_bulk(self, repository: str, refs: Sequence[str]) -> None:
        """On ECR, read these tags and digests through the ECR API in a few calls instead of
        one registry request each; `manifest_at` then needs no request for them. Called
        before the aliases are observed, never concurrently with them."""
        if self._ecr is None:
            return
        tags = [ref for ref in refs if not is_digest(ref)]
        hinted = sum(self._cache.hint(self.host, repository, tag) is not None for tag in tags)
        warm = hinted >= 0.9 * len(tags)
        self.prime(repository, self._ecr.read_many(repository, refs, self._cache.get, warm=warm))

    def prime(self, repository: str, manifests: dict[str, Manifest]) -> None:
        """Remember manifests read in bulk for this run (see `read_in_bulk`)."""
        for ref, manifest in manifests.items():
            self._primed[(repository, ref)] = manifest
            self._cache.put(manifest.digest, manifest.raw)
            if not is_digest(ref):
                self._cache.set_hint(self.host, repository, ref, manifest.digest)

    def get_manifest(self, repository: str, ref: str) -> Manifest:
        """The manifest with this digest (or at this tag, for `inspect`), from the cache or the
        registry; verified."""
        manifest = self._manifest_or_none(repository, ref)
        if manifest is None:
            raise NotFoundError(self.host, f"{reference_text(repository, ref)}: not found")
        return manifest

    def _manifest_or_none(
        self, repository: str, digest: str, tag: str = "", media_type: str = ""
    ) -> Manifest | None:
        raw = self._cache.get(digest)
        manifest: Manifest | None = None
        if raw is not None:
            manifest = Manifest(raw, media_type_of(media_type, raw), digest)
        else:
            manifest = self._fetch(repository, digest)
        if manifest is not None and tag:
            self._cache.set_hint(self.host, repository, tag, manifest.digest)
        return manifest

    def _fetch(self, repository: str, ref: str) -> Manifest | None:
        """GET a manifest by tag or digest; the digest is computed from the bytes, checked
        against what was asked for and what the registry said, then cached."""
        what = reference_text(repository, ref)
        url = f"/v2/{repository}/manifests/{ref}"
        self._pull_limit.check(what)  # a GET is a pull: none once the limit is spent
        response = self._send(
            "GET", url, cap=MAX_MANIFEST_BYTES, headers={"Accept": MANIFEST_ACCEPT}
        )
        if response.status == 404:
            return None
        self._check(response, what)
        raw = response.body
        manifest = Manifest(raw, media_type_of(response.media_type, raw), digest_of(raw))
        self._verify(manifest.digest, ref if is_digest(ref) else manifest.digest, what)
        said = response.headers.get("docker-content-digest")
        if said:
            self._verify(manifest.digest, said, what)
        self._cache.put(manifest.digest, raw)
        if not is_digest(ref):
            self._cache.set_hint(self.host, repository, ref, manifest.digest)
        return manifest

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """PUT `manifest` at `tag`; returns the digest the registry confirmed."""
        return self._put_manifest(repository, tag, manifest)[0]

    def put_referrer(self, repository: str, manifest: Manifest) -> bool:
        """PUT a manifest that names a `subject`, by its digest; True when the answer has the
        `OCI-Subject` header, by which a registry with the referrers API says it listed the
        manifest there (distribution-spec v1.1). Without it the writer keeps the tag schema."""
        return self._put_manifest(repository, manifest.digest, manifest)[1]

    def _put_manifest(self, repository: str, tag: str, manifest: Manifest) -> tuple[str, bool]:
        """The digest the registry confirmed, and whether it processed the subject."""
        what = reference_text(repository, tag)  # a digest when a copy puts a child
        response = self._send(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            content=manifest.raw,
            headers={"Content-Type": manifest.media_type},
        )
        if response.status in (400, 409) and self._already_there(repository, tag, manifest):
            return manifest.digest, False  # ECR answers an identical push "already exists"
        self._check(response, what)
        confirmed = response.headers.get("docker-content-digest") or manifest.digest
        self._verify(confirmed, manifest.digest, what)
        # What was just written is what the tag holds: the next run needs only a HEAD.
        self._cache.put(manifest.digest, manifest.raw)
        if not is_digest(tag):
            self._cache.set_hint(self.host, repository, tag, manifest.digest)
        return confirmed, bool(response.headers.get("oci-subject"))

    def _already_there(self, repository: str, tag: str, manifest: Manifest) -> bool:
        live = self.head_manifest(repository, tag)
        return live is not None and live.digest == manifest.digest

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of a repository, following `Link: <...>; rel="next"` pages (relative or
        absolute, with opaque `last` tokens as ECR sends them); a missing repository has none."""
        url: str | None = f"/v2/{repository}/tags/list?n={_TAGS_PAGE}"
        tags: list[str] = []
        for _ in range(_MAX_TAG_PAGES):
            if url is None:
                return tags
            response, page = self._tag_page(url, repository)
            if response.status == 404:
                return tags
            self._check(response, f"{repository}: tags")
            tags.extend(page)
            url = _next_page(response)
            if url is not None and httpx.URL(url).netloc != response.url.netloc:
                # Credentials would not go there anyway (see the blob section), but a registry
                # that pages onto another host is broken or hostile: stop.
                raise ProtocolError(self.host, f"{repository}: tag list links to another host")
        raise ProtocolError(self.host, f"{repository}: more than {_MAX_TAG_PAGES} pages of tags")

    def referrers(self, repository: str, digest: str) -> tuple[Descriptor, ...] | None:
        """The referrers API's list of manifests whose `subject` is `digest` (an image index,
        paged with `Link` like tag lists); None when the registry answers 404, which is how
        distribution-spec v1.1 says a registry without the API answers."""
        what = f"{reference_text(repository, digest)}: referrers"
        url: str | None = f"/v2/{repository}/referrers/{digest}"
        found: list[Descriptor] = []
        for page in range(_MAX_REFERRER_PAGES):
            if url is None:
                return tuple(found)
            response = self._send("GET", url, cap=MAX_MANIFEST_BYTES, headers={"Accept": OCI_INDEX})
            if response.status == 404 and page == 0:
                return None
            self._check(response, what)
            listing = Manifest(response.body, OCI_INDEX, digest_of(response.body))
            found.extend(parse_index(listing, self.host))
            url = _next_page(response)
            if url is not None and httpx.URL(url).netloc != response.url.netloc:
                raise ProtocolError(self.host, f"{what}: the list links to another host")
        raise ProtocolError(self.host, f"{what}: more than {_MAX_REFERRER_PAGES} pages")

    def _tag_page(self, url: str, repository: str) -> tuple[Answer, list[str]]:
        """One page, retried like any read: the answer (its body empty when it was a tag
        list) and the page's tags."""
        page: list[str] = []

        def read() -> Answer:
            answer, tags = self._read_tag_page(url, repository)
            page[:] = tags
            return self._pull_limit.read(answer)  # rate-limit headers, as on every answer

        return self._retry.run(f"GET {url}", read), page

    def _read_tag_page(self, url: str, repository: str) -> tuple[Answer, list[str]]:
        """GET one page and read its tags as the body arrives (see taglist.py): memory follows
        the number of tags, not the page's size, under MAX_TAG_PAGE_BYTES."""
        request = self._request("GET", url)
        path = request.url.path
        tags: list[str] = []
        with self._in_flight, self._translated(f"GET {path}"):
            response = self._round_trip(request)
            try:
                if response.status_code >= 300:
                    body = _first_bytes(response, _MAX_ERROR_BODY)
                else:
                    body, tags = b"", _tags_in(response, self.host, repository)
            finally:
                response.close()
        log.debug("GET %s%s -> %d", request.url.netloc.decode(), path, response.status_code)
        return _answer_of(response, body), tags

    # -- repositories ----------------------------------------------------------------------

    def repository_facts(self, repository: str, tag: str) -> RepositoryState:
        """On ECR, what its API says: whether the repository exists, and whether `tag` is
        immutable there; a missing repository is an error unless `create_repository: true`.
        The distribution API has no such facts: a repository exists once pushed to."""
        if self._ecr is None:
            return _NO_FACTS
        facts = self._ecr.facts(repository)
        if facts is None:
            if not self._ecr.create_missing:
                raise NotFoundError(
                    self.host,
                    f"ECR repository {repository!r} does not exist; create it, or set"
                    " `create_repository: true` on the registry",
                )
            return RepositoryState(exists=False)
        return RepositoryState(True, facts.tag_is_immutable(tag), facts.tag_mutability)

    def create_repository(self, repository: str) -> None:
        """On ECR, create the repository (`create_repository: true`); elsewhere the first
        push creates it."""
        if self._ecr is not None:
            self._ecr.create(repository)

    @property
    def deletes_tags_alone(self) -> bool:
        """ECR's BatchDeleteImage removes a tag alone; the distribution API may delete only
        by digest (the reference registry), with every tag of it."""
        return self._ecr is not None

    def delete_tag(self, repository: str, tag: str, digest: str) -> None:
        """On ECR, BatchDeleteImage by tag. Elsewhere a DELETE by tag (OCI distribution 1.1),
        else by `digest`, which removes every tag of it; ReconcileError when neither works."""
        if self._ecr is not None:
            self._ecr.delete_tag(repository, tag)
            return
        if self._delete_manifest(repository, tag):
            return
        if not digest or not self._delete_manifest(repository, digest):
            raise ReconcileError(f"{self.host}: cannot delete {repository}:{tag} on this registry")

    def _delete_manifest(self, repository: str, ref: str) -> bool:
        """DELETE a tag or digest; False when the registry does not delete that way (the
        reference registry refuses tags: it deletes by digest, with every tag of it)."""
        response = self._send("DELETE", f"/v2/{repository}/manifests/{ref}")
        if response.status in (400, 405):
            return False
        if response.status != 404:
            self._check(response, f"{reference_text(repository, ref)}: delete")
        return True

    # -- blobs -----------------------------------------------------------------------------
    #
    # Credentials go only to the registry itself (the scheme, host and port of its base URL;
    # RegistryAuth.is_registry) and to its token realm. Blob downloads redirected to object
    # storage, and upload sessions handed to it (a `Location` on another host: a pre-signed
    # URL, its signature in the query), are sent there without Authorization, cookies or the
    # auth flow, whatever their path looks like.

    def get_blob(self, repository: str, digest: str, max_bytes: int = MAX_BLOB_BYTES) -> bytes:
        """A blob by digest, verified and cached. Redirects (to object storage) are followed
        by hand, without the registry's Authorization header."""
        cached = self._cache.get(digest)
        if cached is not None:
            return cached
        what = reference_text(repository, digest)
        response = self._send("GET", f"/v2/{repository}/blobs/{digest}", cap=max_bytes)
        if response.status in _REDIRECTS:
            response = self._follow_unauthenticated(response, what, max_bytes)
        self._check(response, what)
        data = response.body
        self._verify(digest_of(data), digest, what)
        self._cache.put(digest, data)
        return data

    def _follow_unauthenticated(self, response: Answer, what: str, cap: int) -> Answer:
        target = self._redirect_target(response.url, response.headers.get("location"), what)
        log.debug("redirect %s -> %s (sent without credentials)", what, target.host)
        request = self._request("GET", target)
        return self._answer(
            lambda: self._send_elsewhere(request, follow_redirects=True), request, cap
        )

    def _redirect_target(self, base: httpx.URL, location: str | None, what: str) -> httpx.URL:
        if not location:
            raise ProtocolError(self.host, f"{what}: redirect without a Location header")
        try:
            return base.join(location)
        except httpx.InvalidURL:
            raise ProtocolError(self.host, f"{what}: redirect to an invalid URL") from None

    def head_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository already holds this blob (nothing is copied twice)."""
        response = self._send("HEAD", f"/v2/{repository}/blobs/{digest}")
        if response.status == 404:
            return False
        if response.status in _REDIRECTS:
            return True  # served from storage elsewhere: it exists
        self._check(response, reference_text(repository, digest))
        return True

    def mount_blob(self, repository: str, digest: str, source: str) -> str | None:
        """Cross-repository mount on this registry. None when mounted; otherwise the upload
        session the registry opened instead (it refused the mount), to stream the blob into."""
        url = f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source}"
        response = self._send("POST", url)
        if response.status == 201:
            return None
        return self._upload_location(response, f"{repository}: mount {digest} from {source}")

    def start_upload(self, repository: str) -> str:
        """A new upload session: its absolute URL, on the registry or on a storage host."""
        response = self._send("POST", f"/v2/{repository}/blobs/uploads/")
        return self._upload_location(response, f"{repository}: start upload")

    def finish_upload(
        self, repository: str, location: str, digest: str, chunks: Iterable[bytes], size: int
    ) -> None:
        """Stream the whole blob into an upload session with one PUT (monolithic upload) of
        `size` bytes; the registry checks them against `digest`. A session on the registry
        gets its credentials; one on another host gets none. Sent once, never resent: a 401
        (or any failure) ends the session, and the caller starts a new one, since a half-sent
        stream cannot be replayed."""
        target = httpx.URL(location).copy_merge_params({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        request = self._request("PUT", target, content=chunks, headers=headers)
        send = self._send_once if self._auth.is_registry(target) else self._send_elsewhere
        with self._in_flight:
            answer = self._answer(lambda: send(request), request, _MAX_ERROR_BODY)
        self._check(answer, f"{reference_text(repository, digest)}: upload")

    def _upload_location(self, response: Answer, what: str) -> str:
        self._check(response, what)
        location = response.headers.get("location")
        if response.status != 202 or not location:
            raise ProtocolError(self.host, f"{what}: no upload session (HTTP {response.status})")
        return str(response.url.join(location))

    @contextmanager
    def open_blob(self, repository: str, digest: str, size: int) -> Iterator[Iterator[bytes]]:
        """Stream a blob as stored: its raw bytes, never content-decoded (a gzip layer that
        object storage labels `Content-Encoding: gzip` is still those gzip bytes, which its
        digest covers), and exactly the descriptor's `size` of them, whatever Content-Length
        the answer has (none when chunked; an encoded length). Redirects are followed, to
        another host without Authorization."""
        what = reference_text(repository, digest)
        response = self._open_following_redirects(f"/v2/{repository}/blobs/{digest}", what)
        try:
            if response.status_code >= 300:
                with self._translated(f"GET {what}"):
                    body = _first_bytes(response, _MAX_ERROR_BODY)
                self._check(_answer_of(response, body), what)
            yield self._exactly(self._guarded(response.iter_raw(), what), size, what)
        finally:
            response.close()

    def _open_following_redirects(self, url: str | httpx.URL, what: str) -> httpx.Response:
        """GET `url`, following up to _MAX_REDIRECTS redirects; the last answer, unread. Asks
        for the bytes as stored (`Accept-Encoding: identity`): no compression on the way."""
        send = self._round_trip
        for _ in range(_MAX_REDIRECTS + 1):
            request = self._request("GET", url, headers={"Accept-Encoding": "identity"})
            with self._translated(f"GET {what}"):
                response = send(request)
            if response.status_code not in _REDIRECTS:
                return response
            response.close()
            url = self._redirect_target(response.url, response.headers.get("location"), what)
            send = self._round_trip if self._auth.is_registry(url) else self._send_elsewhere
        raise ProtocolError(self.host, f"{what}: more than {_MAX_REDIRECTS} redirects")

    def _exactly(self, chunks: Iterator[bytes], size: int, what: str) -> Iterator[bytes]:
        """The chunks of a blob, checked to add up to `size` bytes: a longer answer stops
        before its extra bytes are sent on, a shorter one fails at its end."""
        sent = 0
        for chunk in chunks:
            sent += len(chunk)
            if sent > size:
                raise ProtocolError(self.host, f"{what}: more than the {size} bytes it should have")
            yield chunk
        if sent != size:
            raise ProtocolError(self.host, f"{what}: {sent} bytes where {size} were expected")

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        """Send a request to the registry whose body is a stream, through the auth flow for its
        credentials, once: the stream cannot be sent again. A 401 still lets the flow answer
        the challenge (a fresh token, refreshed credentials) for the requests that follow,
        but it stands as the answer."""
        flow = self._auth.sync_auth_flow(request)
        request = next(flow)
        response = self._transport.handle_request(request)
        response.request = request
        try:
            flow.send(response)
        except StopIteration:
            pass
        except BaseException:
            response.close()
            raise
        finally:
            flow.close()
        return response

    def _send_elsewhere(
        self, request: httpx.Request, *, follow_redirects: bool = False
    ) -> httpx.Response:
        """Send to another host (object storage): no auth flow, no credentials, no cookies
        (`request` is built by `_request`, not by the client, so none are merged in)."""
        return self._tokens.send(request, stream=True, follow_redirects=follow_redirects)

    # -- one place for transport errors, statuses and caps ---------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        cap: int = _MAX_ERROR_BODY,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request to this registry, authenticated, retried on transient failures (not on
        a refused pull: see ratelimit.py), body read under `cap`, rate-limit headers noted."""
        return self._retry.run(
            f"{method} {path}",
            self._exchange,
            method,
            path,
            cap,
            content,
            headers,
            final=self._pull_limit.refuses,
        )

    def _exchange(
        self,
        method: str,
        path: str,
        cap: int,
        content: bytes | None,
        headers: dict[str, str] | None,
    ) -> Answer:
        """One round trip (or a few, through the auth flow) straight through the transport's
        `send`: thousands of small requests per run, so none builds an httpx.Request or
        httpx.Response (see transport.py); the same headers go out as `_request` builds. The
        answer's rate-limit headers are noted (`PullLimit.read`) before it is retried or not."""
        wire = self._wire
        where = wire.prefix + path
        target = _target(where)
        where = where.partition("?")[0]  # errors and logs name the path, never the query
        given = {**wire.headers, **headers} if headers else wire.headers
        with self._in_flight, self._translated(f"{method} {where}"):
            reply, sent = self._authorized(method, target, scope_of(method, where), given, content)
            try:
                body = read_at_most(reply, cap, self.host, where)
            finally:
                reply.close()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s%s -> %d", method, wire.netloc, where, reply.status)
        scheme = sent.partition(" ")[0].lower() if sent else ""
        answer = Answer(method, reply.status, reply.headers, body, self._base_url + path, scheme)
        return self._pull_limit.read(answer)

    def _authorized(
        self,
        method: str,
        target: str,
        scope: str | None,
        headers: dict[str, str],
        content: bytes | None,
    ) -> tuple[Reply, str | None]:
        """`_round_trip` without httpx's types: send through the auth flow (challenge, token,
        resend) and return the last answer, its body not read yet, with the Authorization
        header it was sent with; `scope`: the token scope the request needs (`scope_of`).
        Every request here goes to the registry's own origin, the only one the flow gives
        credentials to."""
        wire = self._wire
        attempts = self._auth.attempts(wire.base, scope)
        header = next(attempts)
        while True:
            sent = headers if header is None else {**headers, "Authorization": header}
            reply = self._sender.send(method, wire.origin, target, sent, content, wire.timeout)
            try:
                following = attempts.send((reply.status, reply.headers))
            except StopIteration:
                return reply, header
            except BaseException:
                reply.close()
                raise
            for _ in reply.iter_bytes():  # frees the connection for the resent request
                pass
            reply.close()
            header = following

    def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        content: bytes | Iterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Request:
        """A request to this registry; `url` is a path or an absolute URL (upload sessions)."""
        if isinstance(url, str) and url.startswith("/"):
            url = self._base_url + url
        all_headers = {**_EVERY_REQUEST, **(headers or {})}
        return httpx.Request(
            method,
            url,
            content=content,
            headers=all_headers,
            extensions={"timeout": self._timeouts},
        )

    def _round_trip(self, request: httpx.Request) -> httpx.Response:
        """Send `request` through the auth flow (challenge, token, resend), as httpx.Client
        would, and return the last response, its body not read yet."""
        flow = self._auth.sync_auth_flow(request)
        request = next(flow)
        while True:
            response = self._transport.handle_request(request)
            response.request = request
            try:
                request = flow.send(response)
            except StopIteration:
                return response
            except BaseException:
                response.close()
                raise
            response.read()  # frees the connection for the resent request
            response.close()

    def _answer(
        self, send: Callable[[], httpx.Response], request: httpx.Request, cap: int
    ) -> Answer:
        """Send, and read the body under `cap`."""
        method, path = request.method, request.url.path
        with self._translated(f"{method} {path}"):
            response = send()
            try:
                body = read_at_most(response, cap, self.host, path)
            finally:
                response.close()
        where = request.url.netloc.decode()  # the host asked (never userinfo): -vv names it
        log.debug("%s %s%s -> %d", method, where, path, response.status_code)
        return _answer_of(response, body)

    def _guarded(self, chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
        """Chunks of a streamed body, with httpx errors translated like every other request's."""
        with self._translated(what):
            yield from chunks

    def _translated(self, what: str) -> AbstractContextManager[None]:
        return translated(self.host, what)

    def _check(self, response: Answer, what: str) -> None:
        status = response.status
        if status < 300:
            return
        detail = _error_detail(response)
        code = error_code(response.body)
        if status in (401, 403):
            raise self._auth_error(response, what, detail, code)
        if status == 404:
            raise NotFoundError(self.host, f"{what}: not found{detail}", status=status, code=code)
        if status == 429 and self._pull_limit.refuses(response):
            raise self._pull_limit.error(what, code=code)
        if status == 429:
            message = f"{what}: rate limited (HTTP 429){detail}"
            raise RegistryError(self.host, message, status=429, code=code)
        raise RegistryError(self.host, f"{what}: HTTP {status}{detail}", status=status, code=code)

    def _auth_error(self, response: Answer, what: str, detail: str, code: str | None) -> AuthError:
        """A 401 or 403 saying what was tried (see RegistryAuth.refusal); storage behind a
        redirect got no credentials, so there is nothing to say about them."""
        status = response.status
        if self._auth.is_registry(response.url):
            reason = self._auth.refusal(status, response.authorization)
        else:
            reason = "authentication required" if status == 401 else "access denied"
        message = f"{what}: {reason} (HTTP {status}){detail}"
        return AuthError(self.host, message, status=status, code=code)

    def _verify(self, actual: str, expected: str, what: str) -> None:
        if actual != expected:
            raise ProtocolError(self.host, f"{what}: digest mismatch: got {actual}")


@dataclass(frozen=True)
class _Wire:
    """What every request of `_send` shares, worked out once per client rather than once per
    request: the base URL parsed, its origin (the transport's pool), the path before `/v2/`,
    the headers `_request` puts on every request (Host as httpx writes it), the timeouts."""

    base: httpx.URL
    origin: Origin
    netloc: str
    prefix: str
    headers: dict[str, str]
    timeout: urllib3.Timeout

    @classmethod
    def of(cls, base_url: str, timeouts: dict[str, float | None]) -> _Wire:
        base = httpx.URL(base_url)
        netloc = base.netloc.decode("ascii")
        headers = {"Host": netloc, **_EVERY_REQUEST}
        prefix = base.raw_path.decode("ascii").rstrip("/")
        return cls(base, origin_of(base), netloc, prefix, headers, wire_timeout(timeouts))


class _Slots:
    """A counting semaphore for `with`, as threading.BoundedSemaphore is, but on a queue of
    free slots that waits in C: taken and given back around every request, the semaphore's
    Python-level condition variable cost several microseconds each time."""

    __slots__ = ("_free",)

    def __init__(self, count: int) -> None:
        self._free: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(None)

    def __enter__(self) -> None:
        self._free.get()

    def __exit__(self, *exc: object) -> None:
        self._free.put(None)


# Characters a request target keeps as they are, in the path and in the query (httpx's
# escaping leaves them alone): names, tags, digests and the client's few query parameters.
_PLAIN_TARGET = re.compile(r"[A-Za-z0-9/._~:@=&?+,-]*")


def _target(path: str) -> str:
    """`path` (and query) as it goes on the request line: as it is when nothing in it needs
    escaping, else escaped as httpx escapes it."""
    if _PLAIN_TARGET.fullmatch(path):
        return path
    return httpx.URL(path).raw_path.decode("ascii")


def _tags_in(response: httpx.Response, host: str, repository: str) -> list[str]:
    try:
        return read_tag_list(response.iter_bytes(), MAX_TAG_PAGE_BYTES)
    except MalformedTagList as exc:
        raise ProtocolError(host, f"{repository}: unreadable tag list ({exc})") from None


def _next_page(response: Answer) -> str | None:
    """The `rel="next"` target of a Link header, resolved against the request URL. One header
    may carry several links, comma-separated (RFC 8288): only the `next` one counts."""
    for value in response.headers.get_list("link"):
        for match in _LINK.finditer(value):
            rel = _LINK_REL.search(match["params"])
            if rel and "next" in rel.group(1).lower().split():
                return str(response.url.join(match["target"].strip()))
    return None


_LINK = re.compile(r"<(?P<target>[^>]*)>(?P<params>[^,<]*)")
_LINK_REL = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?')


def _registry_transport(settings: ClientSettings, tls: TlsContext) -> httpx.BaseTransport:
    """urllib3's pool under httpx's types, one keep-alive connection per request in flight;
    it routes each origin through the proxy the environment names (see `proxy_for`)."""
    return RegistryTransport(tls, max_connections=settings.max_connections)


def _tls_context(settings: ClientSettings) -> ssl.SSLContext:
    """What docker trusts: the system's store (OpenSSL's default paths, which SSL_CERT_FILE
    and SSL_CERT_DIR override; certifi's bundle only on a machine without one), every
    `<certs.d>/<host>/*.crt` (`RECONCILE_DOCKER_CERTS_D`, default /etc/docker/certs.d; the
    host as written, port included, and the endpoint's host), then `ca_file` on top."""
    context = ssl.create_default_context()
    if _no_system_store():
        import certifi  # installed with httpx

        context.load_verify_locations(cafile=certifi.where())
    for path in _docker_certs(settings):
        _trust(context, settings.host, path, "certificate")
    if settings.ca_file:
        _trust(context, settings.host, settings.ca_file, "ca_file")
    return context


def _no_system_store() -> bool:
    """Neither OpenSSL's CA file nor any file in its CA directory (a slim container without
    ca-certificates): nothing public would verify."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile is not None:
        return False
    try:
        return paths.capath is None or not any(Path(paths.capath).iterdir())
    except OSError:
        return True


def _docker_certs(settings: ClientSettings) -> list[str]:
    root = Path(os.environ.get(CERTS_D_ENV) or DOCKER_CERTS_D)
    hosts = dict.fromkeys([settings.host, httpx.URL(settings.base_url).netloc.decode("ascii")])
    found: list[str] = []
    for host in hosts:
        with contextlib.suppress(OSError):  # no directory for this host: nothing to add
            found.extend(sorted(str(p) for p in (root / host).glob("*.crt") if p.is_file()))
    return found


def _trust(context: ssl.SSLContext, host: str, path: str, what: str) -> None:
    try:
        context.load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise RegistryError(host, f"cannot use {what} {path}: {reason}") from None


def _first_bytes(response: httpx.Response, cap: int) -> bytes:
    """The start of an error answer, for its message; the rest is left unread (the connection
    is closed, not reused)."""
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= cap:
            break
    return data[:cap]


def _error_detail(response: Answer) -> str:
    """`: CODE message` from a distribution error body (already read under a cap)."""
    try:
        errors = json.loads(response.body).get("errors") or []
        first = errors[0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


def _answer_of(response: httpx.Response, body: bytes) -> Answer:
    """An answer whose body was read, with the scheme (never the value) of the Authorization
    header its request last carried: the auth flow sets it on the request it sends."""
    scheme = response.request.headers.get("authorization", "").partition(" ")[0].lower()
    return Answer(
        response.request.method, response.status_code, response.headers, body, response.url,
        scheme,
    )  # fmt: skip
