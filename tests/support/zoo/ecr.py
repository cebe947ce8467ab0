"""The ECR registry API (the Docker Registry HTTP API as Amazon ECR serves it), played by the test
proxy in front of a registry with Basic auth (the `basic_registry` fixture, or one whose user is
moto's `AWS`).

    with ecr(basic_registry, immutable={"app"}) as zoo:
        ...                                   # point the client at zoo.host (or an ECR host
        zoo.refused_mounts, zoo.refused_tags  # name with `endpoint: zoo.proxy.url`)

- A 401 carries ECR's challenge, Basic with ECR's realm and service:
  `WWW-Authenticate: Basic realm="https://<host>/",service="ecr.amazonaws.com"`.
- A cross-repository mount (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>`) is
  refused with a plain upload session, 202 with a `Location`, as ECR does unless blob
  mounting is enabled for the account (and then only for blobs a committed manifest
  references): the client must stream the blob.
- In an immutable repository, a PUT of a tag that already exists is refused as ECR refuses it:
  HTTP 400, code TAG_INVALID, "The image tag '<tag>' already exists in the '<repo>' repository
  and cannot be overwritten because the repository is immutable." (even with the same
  content). Creating a new tag is fine.

The proxy decides these with the client's own `Authorization` (it asks the registry with it),
so an unauthenticated request is challenged as usual and nothing is refused before it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.images import ALL_MANIFEST_TYPES
from tests.support.proxy import Fault, FaultHook, ProxyAnswer, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess
from tests.support.zoo import Behaviour, Zoo

__all__ = ["BEHAVIOURS", "Ecr", "ecr", "ecr_challenge", "tag_invalid"]

BEHAVIOURS = (
    Behaviour(
        "registry API requests authenticate with HTTP Basic (user AWS, the authorization token"
        " from GetAuthorizationToken as password); the 401 challenge is Basic, not Bearer",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html",
    ),
    Behaviour(
        'the challenge reads `Basic realm="https://<account>.dkr.ecr.<region>.amazonaws.com/",'
        'service="ecr.amazonaws.com"`',
        "https://github.com/mayflower/docker-ls/issues/28",
    ),
    Behaviour(
        "cross-repository blob mounting is off unless the account enables it"
        " (BLOB_MOUNTING), and works only for layers already in the registry: otherwise the"
        " mount request gets an upload session and the client uploads the blob",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html",
    ),
    Behaviour(
        "with tag immutability on, pushing a tag that already exists in the repository fails",
        "https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html",
    ),
    Behaviour(
        "the registry API answers that push with `tag invalid: The image tag '<tag>' already"
        " exists in the '<repo>' repository and cannot be overwritten because the repository"
        " is immutable.` (code TAG_INVALID)",
        "https://github.com/aws/containers-roadmap/issues/862",
    ),
)

_MANIFEST_PUT = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
_UPLOADS = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/$")


def ecr_challenge(host: str) -> str:
    return f'Basic realm="https://{host}/",service="ecr.amazonaws.com"'


def tag_invalid(repo: str, tag: str) -> bytes:
    message = (
        f"The image tag '{tag}' already exists in the '{repo}' repository and cannot be"
        " overwritten because the repository is immutable."
    )
    return json.dumps({"errors": [{"code": "TAG_INVALID", "message": message}]}).encode()


@dataclass
class Ecr(Zoo):
    """The running profile: what it refused so far, as (repository, digest or tag)."""

    ecr_host: str = ""
    refused_mounts: list[tuple[str, str]] = field(default_factory=list)
    refused_tags: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Profile:
    upstream: str
    immutable: frozenset[str]
    zoo: Ecr | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> Ecr:
        assert self.zoo is not None
        return self.zoo

    def fault(self, request: ProxyRequest) -> Fault | None:
        authorization = request.header("Authorization")
        if authorization is None:
            return None  # forwarded: the registry challenges it
        path, _, query = request.path.partition("?")
        uploads = _UPLOADS.match(path)
        if request.method == "POST" and uploads and "mount" in parse_qs(query):
            return self._refuse_mount(uploads["repo"], parse_qs(query)["mount"][0], authorization)
        manifest = _MANIFEST_PUT.match(path)
        if request.method == "PUT" and manifest and manifest["repo"] in self.immutable:
            return self._keep_immutable(manifest["repo"], manifest["ref"], authorization)
        return None

    def _refuse_mount(self, repo: str, digest: str, authorization: str) -> Fault:
        """Open a plain upload session instead, with the client's credentials."""
        answer = self._upstream("POST", f"/v2/{repo}/blobs/uploads/", authorization)
        if answer.status_code == 401:
            challenge = ("WWW-Authenticate", ecr_challenge(self.running.ecr_host))
            return Fault.respond(401, headers=[challenge], body=answer.content)
        if answer.status_code != 202:
            headers = self._relayed(answer, "content-type")
            return Fault.respond(answer.status_code, headers=headers, body=answer.content)
        with self.lock:
            self.running.refused_mounts.append((repo, digest))
        location = answer.headers["location"].replace(self.upstream, self.running.proxy.url, 1)
        headers = [("Location", location), *self._relayed(answer, "docker-upload-uuid", "range")]
        return Fault.respond(202, headers=headers)

    def _keep_immutable(self, repo: str, ref: str, authorization: str) -> Fault | None:
        if ref.startswith("sha256:"):
            return None  # by digest: content, never a tag to overwrite
        accept = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}
        live = self._upstream("HEAD", f"/v2/{repo}/manifests/{ref}", authorization, accept)
        if live.status_code != 200:
            return None  # a new tag (or the registry's own refusal): forwarded
        with self.lock:
            self.running.refused_tags.append((repo, ref))
        return Fault.respond(
            400, headers=[("Content-Type", "application/json")], body=tag_invalid(repo, ref)
        )

    def _upstream(
        self, method: str, path: str, authorization: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"Authorization": authorization, **(headers or {})}
        with httpx.Client(trust_env=False, timeout=15) as client:
            return client.request(method, self.upstream + path, headers=sent)

    def _relayed(self, answer: httpx.Response, *names: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in answer.headers.items() if k.lower() in names]

    def rewrite(self, request: ProxyRequest, answer: ProxyAnswer) -> ProxyAnswer:
        if answer.status != 401:
            return answer
        return answer.with_header("WWW-Authenticate", ecr_challenge(self.running.ecr_host))


@contextmanager
def ecr(
    registry: RegistryProcess, *, host: str | None = None, immutable: set[str] | None = None
) -> Iterator[Ecr]:
    """ECR's registry API in front of `registry` (Basic auth). `host`: the registry host name
    the challenge's realm names (an ECR host, default the proxy's own); `immutable`: the
    repositories with tag immutability on."""
    upstream = f"http://{urlsplit(registry.url).netloc}"
    profile = _Profile(upstream, frozenset(immutable or ()))
    fault: FaultHook = profile.fault
    with start_proxy(registry.url, fault=fault, rewrite=profile.rewrite) as proxy:
        profile.zoo = Ecr("ecr", proxy, BEHAVIOURS, ecr_host=host or proxy.host)
        yield profile.zoo
