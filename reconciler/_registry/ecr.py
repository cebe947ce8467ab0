"""AWS ECR through boto3: login tokens, repository facts, bulk reads and tag deletes (ECR hosts
are recognised in model/names.py, re-exported here).

ECR speaks the distribution API like any registry, but its credentials come from AWS: the
`GetAuthorizationToken` API returns base64 `AWS:<password>`, valid for 12 hours, which is then
sent as Basic credentials. Whether a tag may be overwritten, and whether a repository exists,
is cheaper and clearer to ask the ECR API than to learn from a failed push. The ECR API calls
made here, each needing the IAM action of its name (README, "Minimal IAM policy"; pinned by
tests/unit/test_iam_policy.py):

- GetAuthorizationToken: the registry password, for every registry request;
- DescribeRepositories: whether a repository exists, and its tag mutability;
- CreateRepository: a missing repository, with `create_repository: true`;
- BatchGetImage, DescribeImages: many tags' manifests in a few calls (`read_many`);
- BatchDeleteImage: prune's removal of one alias tag (`delete_tag`).

AWS credentials are found by boto3's standard chain (environment, `~/.aws` profiles, SSO, web
identity, container and instance roles); nothing here reads them itself. Every AWS failure
becomes one `EcrError` line built by `describe_aws_error`, which never includes a secret; the
error is a RegistryError whose `code` is the API's error code, when AWS answered with one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)

from .._errors import RegistryError
from .._model.names import ECR_HOST, EcrHost, parse_ecr_host
from .._model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    digest_of,
    is_digest,
    media_type_of,
)
from .credentials import Credentials

if TYPE_CHECKING:
    from mypy_boto3_ecr.client import ECRClient
    from mypy_boto3_ecr.type_defs import (
        BatchDeleteImageRequestTypeDef,
        BatchGetImageRequestTypeDef,
        CreateRepositoryRequestTypeDef,
        DescribeImagesRequestTypeDef,
        DescribeRepositoriesRequestTypeDef,
        ImageIdentifierTypeDef,
        ImageTypeDef,
        RepositoryTypeDef,
    )

log = logging.getLogger("reconciler.ecr")

BATCH_GET_LIMIT = 100  # image ids per BatchGetImage call
DESCRIBE_PAGE = 1000  # images per DescribeImages page, the most ECR returns
# Ask for every type so that ECR returns each manifest as pushed, never a conversion.
_ACCEPTED_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

__all__ = [
    "BATCH_GET_LIMIT",
    "ECR_HOST",
    "EcrCredentials",
    "EcrError",
    "EcrHost",
    "EcrRepositories",
    "EcrSession",
    "RepositoryFacts",
    "describe_aws_error",
    "parse_ecr_host",
]

MUTABLE: Final = "MUTABLE"
IMMUTABLE: Final = "IMMUTABLE"
IMMUTABLE_WITH_EXCLUSION: Final = "IMMUTABLE_WITH_EXCLUSION"
MUTABLE_WITH_EXCLUSION: Final = "MUTABLE_WITH_EXCLUSION"

# botocore's "standard" mode retries throttling codes (ThrottlingException,
# LimitExceededException, ...), HTTP 429, 5xx and connection errors with jittered exponential
# backoff. `total_max_attempts` counts the first try; botocore's `max_attempts` would not.
_RETRIES = 5
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": _RETRIES},
    connect_timeout=10,
    read_timeout=30,
    user_agent_extra="manifest-reconciler",
)
_MAX_REASON = 300
_SSO_ERRORS = (SSOError, TokenRetrievalError)
# `aws login` sessions (botocore 1.41+); looked up by name so older botocore still imports.
_LOGIN_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(botocore.exceptions, name)
    for name in ("LoginError",)
    if hasattr(botocore.exceptions, name)
)
_DENIED = re.compile(
    r"(?:User: (?P<who>\S+) )?is not authorized to perform: (?P<action>[\w:*-]+)"
    r"(?: on resource: (?P<resource>\S+))?"
)
_BAD_CREDENTIAL_CODES = frozenset(
    {
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_THROTTLE_CODES = frozenset({"ThrottlingException", "LimitExceededException", "Throttling"})


class EcrError(RegistryError):
    """An ECR API call failed; the message names the call, the region and the reason, on one
    line, and is the whole of its `str()`. `registry` is the region whose ECR API was called
    (one session serves every ECR registry of a region), `code` the API's error code
    (`AccessDeniedException`, `InvalidParameterException`; a BatchDeleteImage failure's
    `failureCode`) when AWS gave one. No `status`: botocore has retried what it could, so the
    error is not transient."""

    def __init__(self, region: str, message: str, *, code: str | None = None) -> None:
        super().__init__(region, message, code=code)

    def __str__(self) -> str:
        return self.message  # it names the region already


@functools.lru_cache(maxsize=256)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """An ECR WILDCARD filter as a regex: `*` is any run of characters (also none), the rest
    is literal, and the whole tag must match. Tags are case-sensitive, so is the match."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True)
class RepositoryFacts:
    """What the planner needs to know about an ECR repository before it moves a tag."""

    name: str
    uri: str
    tag_mutability: str  # MUTABLE | IMMUTABLE | IMMUTABLE_WITH_EXCLUSION | MUTABLE_WITH_EXCLUSION
    exclusion_filters: tuple[str, ...] = ()  # WILDCARD filters only

    def tag_is_immutable(self, tag: str) -> bool:
        """Whether ECR would refuse to point `tag` at different content."""
        mode = self.tag_mutability
        if mode == MUTABLE:
            return False
        if mode == IMMUTABLE:
            return True
        excluded = any(_wildcard(f).fullmatch(tag) for f in self.exclusion_filters)
        if mode == IMMUTABLE_WITH_EXCLUSION:
            return not excluded
        if mode == MUTABLE_WITH_EXCLUSION:
            return excluded
        # A mode AWS adds later: assume the worst, so that no plan promises an overwrite
        # that ECR then refuses halfway through an apply.
        return True


def _facts_from_api(repo: RepositoryTypeDef) -> RepositoryFacts:
    filters = tuple(
        f["filter"]
        for f in repo.get("imageTagMutabilityExclusionFilters", [])
        # WILDCARD is the only filter type AWS defines; another could not be evaluated here.
        if f.get("filterType") == "WILDCARD"
    )
    return RepositoryFacts(
        name=repo.get("repositoryName", ""),
        uri=repo.get("repositoryUri", ""),
        tag_mutability=repo.get("imageTagMutability", MUTABLE),
        exclusion_filters=filters,
    )


def _one_line(text: str) -> str:
    """Collapse whitespace and cap the length: reasons end up in a one-line error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_REASON else flat[: _MAX_REASON - 3] + "..."


def describe_aws_error(exc: Exception, action: str, *, profile: str | None = None) -> str:
    """One readable line for an AWS failure: `<action>: <reason and what to do>`.

    `action` says what was attempted ("ECR GetAuthorizationToken in eu-west-1"); `profile`
    is the AWS profile in use, named in advice such as `aws sso login --profile X`.
    """
    return f"{action}: {_reason(exc, profile)}"


def _reason(exc: Exception, profile: str | None) -> str:
    if isinstance(exc, ClientError):
        return _client_error_reason(exc)
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found (environment, ~/.aws, SSO, web identity or instance role); "
            "set AWS_PROFILE, or configure credentials with `aws configure` or `aws sso login`"
        )
    if isinstance(exc, _SSO_ERRORS):
        login = f"aws sso login --profile {profile}" if profile else "aws sso login"
        return f"AWS SSO session expired: run `{login}`"
    if isinstance(exc, _LOGIN_ERRORS):
        login = f"aws login --profile {profile}" if profile else "aws login"
        return f"AWS login session expired or unusable: run `{login}` ({_one_line(str(exc))})"
    if isinstance(exc, ProfileNotFound):
        config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
        name = exc.kwargs.get("profile", profile)
        return f"AWS profile {name!r} not found in {config} or the shared credentials file"
    if isinstance(exc, PartialCredentialsError):
        return _one_line(f"incomplete AWS credentials: {exc}")
    if isinstance(exc, CredentialRetrievalError):
        return _one_line(f"could not get AWS credentials: {exc}")
    if isinstance(exc, EndpointConnectionError):
        endpoint = exc.kwargs.get("endpoint_url", "the ECR endpoint")
        return (
            f"cannot connect to {endpoint} after {_RETRIES} attempts "
            "(network, proxy, or AWS_ENDPOINT_URL_ECR / region setting?)"
        )
    if isinstance(exc, BotoCoreError):
        return _one_line(str(exc))
    return _one_line(f"{type(exc).__name__}: {exc}")


def _client_error_reason(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = error.get("Code", "Unknown")
    message = error.get("Message", "")
    if code in ("AccessDeniedException", "AccessDenied"):
        return _access_denied_reason(message)
    if code in _BAD_CREDENTIAL_CODES:
        return _one_line(f"AWS rejected the credentials ({code}): {message}")
    if code in _THROTTLE_CODES:
        return f"throttled by AWS ({code}) even after {_RETRIES} attempts; try again later"
    return _one_line(f"{code}: {message}" if message else code)


def _access_denied_reason(message: str) -> str:
    """`User: arn:... is not authorized to perform: ecr:X on resource: Y because ...`, cut to
    who, what and where: the policy wording after "because" is long and rarely helps."""
    match = _DENIED.search(message)
    if match is None:
        return _one_line(f"access denied: {message}")
    who = f" ({match['who']})" if match["who"] else ""
    where = f" on {match['resource']}" if match["resource"] else ""
    return _one_line(f"access denied{who}: not authorized to perform: {match['action']}{where}")


@dataclass(frozen=True)
class _Token:
    credentials: Credentials
    refresh_at: float  # clock() time after which the token is fetched again


class EcrSession:
    """One per (aws_profile, region): boto3 session + ECR client, thread-safe."""

    def __init__(
        self,
        region: str,
        profile: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = 3600.0,
    ) -> None:
        # `clock` is wall-clock time: AWS states token expiry as an absolute timestamp.
        self.region, self.profile = region, profile
        self._clock = clock
        self._refresh_margin_s = refresh_margin_s
        self._client_lock = threading.Lock()
        self._ecr: ECRClient | None = None
        self._boto_profile: str | None = profile
        self._token_lock = threading.Lock()
        self._token: _Token | None = None
        self._token_generation = 0  # counts fetches; see credentials()
        self._repos_lock = threading.Lock()
        self._repos: dict[tuple[str, str], RepositoryFacts | None] = {}
        self._repo_locks: dict[tuple[str, str], threading.Lock] = {}

    @property
    def client(self) -> ECRClient:
        """The boto3 ECR client, created on first use (boto3 clients are thread-safe)."""
        with self._client_lock:
            if self._ecr is None:
                self._ecr = self._create_client()
            return self._ecr

    def _create_client(self) -> ECRClient:
        action = f"ECR client for {self.region}" + self._profile_note()
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
            # The profile boto3 really uses (AWS_PROFILE, or "default") is the one to name in
            # advice like `aws sso login --profile X`.
            self._boto_profile = session.profile_name
            # boto3 itself honours AWS_ENDPOINT_URL_ECR (and endpoint_url in the profile).
            return session.client("ecr", config=_BOTO_CONFIG)
        except (BotoCoreError, ClientError) as exc:
            message = describe_aws_error(exc, action, profile=self.profile)
            raise EcrError(self.region, message, code=_code_of(exc)) from None

    def credentials(self, *, force_refresh: bool = False) -> Credentials:
        """Registry credentials ("AWS", password) for this region, fetched at most once per
        token lifetime. `force_refresh` after a 401 fetches a new token, unless another thread
        already did so while this one waited: a burst of 401s costs one fetch."""
        seen = self._token_generation
        with self._token_lock:
            token = self._token
            fresh = force_refresh and self._token_generation != seen
            if token and (fresh or not force_refresh) and self._clock() < token.refresh_at:
                return token.credentials
            self._token = self._fetch_token()
            self._token_generation += 1
            return self._token.credentials

    def _fetch_token(self) -> _Token:
        action = self._action("GetAuthorizationToken")
        try:
            data = self.client.get_authorization_token()["authorizationData"]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, action) from None
        if not data or "authorizationToken" not in data[0] or "expiresAt" not in data[0]:
            raise EcrError(self.region, f"{action}: the answer holds no authorization token")
        credentials = _decode_token(data[0]["authorizationToken"], action, region=self.region)
        return _Token(credentials, self._refresh_at(data[0]["expiresAt"].timestamp()))

    def _refresh_at(self, expires_at: float) -> float:
        """Refresh `refresh_margin_s` before expiry; a token with less than twice the margin
        left is refreshed halfway through its life, and one already expired by our clock
        (skew) is not cached at all, rather than trusted past what AWS said."""
        lifetime = expires_at - self._clock()
        return expires_at - min(self._refresh_margin_s, lifetime / 2)

    def repository(self, name: str, *, registry_id: str | None = None) -> RepositoryFacts | None:
        """Facts about repository `name`, or None when it does not exist. Asked once per
        session: concurrent callers for the same name wait for the one call in flight.

        `registry_id` is the account of the registry host (`EcrHost.account`); None means the
        caller's own account, which differs for cross-account registries.
        """
        key = (registry_id or "", name)
        with self._key_lock(key):
            if key not in self._repos:
                self._repos[key] = self._describe(name, registry_id)
            return self._repos[key]

    def create_repository(self, name: str, *, registry_id: str | None = None) -> RepositoryFacts:
        """Create repository `name` with mutable tags (alias tags must be able to move).

        A repository that appeared meanwhile (another run, a race) is fine: its facts are
        returned as they are, since an existing repository's settings are not ours to change.
        """
        key = (registry_id or "", name)
        with self._key_lock(key):
            facts = self._create(name, registry_id)
            self._repos[key] = facts
            return facts

    def _key_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._repos_lock:
            return self._repo_locks.setdefault(key, threading.Lock())

    def _describe(self, name: str, registry_id: str | None) -> RepositoryFacts | None:
        action = self._action("DescribeRepositories", name)
        request: DescribeRepositoriesRequestTypeDef = {"repositoryNames": [name]}
        if registry_id:
            request["registryId"] = registry_id
        try:
            answer = self.client.describe_repositories(**request)
        except ClientError as exc:
            if _error_code(exc) == "RepositoryNotFoundException":
                return None
            raise self._error(exc, action) from None
        except BotoCoreError as exc:
            raise self._error(exc, action) from None
        repos = answer.get("repositories", [])
        return _facts_from_api(repos[0]) if repos else None

    def _create(self, name: str, registry_id: str | None) -> RepositoryFacts:
        action = self._action("CreateRepository", name)
        request: CreateRepositoryRequestTypeDef = {
            "repositoryName": name,
            "imageTagMutability": MUTABLE,
        }
        if registry_id:
            request["registryId"] = registry_id
        try:
            answer = self.client.create_repository(**request)
        except ClientError as exc:
            if _error_code(exc) == "RepositoryAlreadyExistsException":
                existing = self._describe(name, registry_id)
                if existing is not None:
                    return existing
            raise self._error(exc, action) from None
        except BotoCoreError as exc:
            raise self._error(exc, action) from None
        return _facts_from_api(answer["repository"])

    def _action(self, operation: str, repository: str = "") -> str:
        target = f" {repository}" if repository else ""
        return f"ECR {operation}{target} in {self.region}{self._profile_note()}"

    def _profile_note(self) -> str:
        return f" with AWS profile {self.profile}" if self.profile else ""

    def _error(self, exc: Exception, action: str) -> EcrError:
        message = describe_aws_error(exc, action, profile=self._boto_profile)
        return EcrError(self.region, message, code=_code_of(exc))


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _code_of(exc: Exception) -> str | None:
    """The API's error code of an AWS failure; None when AWS did not answer (no credentials,
    no connection) or gave none."""
    return (_error_code(exc) or None) if isinstance(exc, ClientError) else None


def _decode_token(token: str, action: str, *, region: str = "") -> Credentials:
    """base64 `AWS:<password>` -> Credentials("AWS", password). The token is never quoted
    in an error: it is the password. `region` is the error's registry."""
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep, user, password = "", "", ""
    if not sep or not user or not password:
        message = f"{action}: the authorization token is not base64 user:password"
        raise EcrError(region, message)
    return Credentials(user, password, origin=action)  # named if the registry refuses them


@dataclass(frozen=True)
class EcrCredentials:
    """A `CredentialSource` for one ECR registry: the session's cached, refreshable token."""

    session: EcrSession

    def __call__(self, *, refresh: bool = False) -> Credentials:
        return self.session.credentials(force_refresh=refresh)


@dataclass(frozen=True)
class EcrRepositories:
    """Repository facts for one ECR registry (one AWS account), as the planner needs them."""

    session: EcrSession
    registry_id: str | None
    create_missing: bool

    def facts(self, name: str) -> RepositoryFacts | None:
        return self.session.repository(name, registry_id=self.registry_id)

    def create(self, name: str) -> RepositoryFacts:
        return self.session.create_repository(name, registry_id=self.registry_id)

    def delete_tag(self, name: str, tag: str) -> None:
        """Remove one tag. The image it named stays while another tag names it; when this was
        its last tag, ECR deletes it (an index, never the images it lists). A tag already gone
        is not an error."""
        action = self.session._action("BatchDeleteImage", name)
        request: BatchDeleteImageRequestTypeDef = {
            "repositoryName": name,
            "imageIds": [{"imageTag": tag}],
        }
        if self.registry_id:
            request["registryId"] = self.registry_id
        try:
            answer = self.session.client.batch_delete_image(**request)
        except (BotoCoreError, ClientError) as exc:
            raise self.session._error(exc, action) from None
        failures = [
            f for f in answer.get("failures", []) if f.get("failureCode") != "ImageNotFound"
        ]
        if failures:
            first = failures[0]
            reason = f"{action}: {first.get('failureReason', 'failed')}"
            raise EcrError(self.session.region, reason, code=first.get("failureCode") or None)

    def read_many(
        self,
        name: str,
        refs: Sequence[str],
        cached: Callable[[str], bytes | None],
        *,
        warm: bool,
    ) -> dict[str, Manifest]:
        """Manifests for many tags or digests of one repository, in as few API calls as the
        cache allows. BatchGetImage reads 100 refs per call; when the cache is `warm` (it
        holds most of these manifests already) and more than one such call would be needed,
        DescribeImages pages (1,000 images each) say which digest every tag has, the bodies
        come from `cached`, and only what the cache lacks is read with BatchGetImage. The
        listing is given up as soon as it would cost as many calls as BatchGetImage alone.
        Refs not found either way are left to the per-ref path."""
        unique = list(dict.fromkeys(refs))
        batch_calls = -(-len(unique) // BATCH_GET_LIMIT)
        listing = self.tag_digests(name, max_pages=batch_calls - 1) if warm else None
        if listing is None:
            return self.batch_get(name, unique)
        found: dict[str, Manifest] = {}
        unread: list[str] = []
        for ref in unique:
            digest, media_type = (ref, "") if is_digest(ref) else listing.get(ref, ("", ""))
            raw = cached(digest) if digest else None
            if raw is not None:
                found[ref] = Manifest(raw, media_type_of(media_type, raw), digest)
            elif digest:
                unread.append(ref)
        found.update(self.batch_get(name, unread))
        return found

    def tag_digests(self, name: str, *, max_pages: int) -> dict[str, tuple[str, str]] | None:
        """tag -> (digest, media type) for every tagged image, from DescribeImages; None when
        that takes more than `max_pages` pages, or a call fails (the caller reads otherwise)."""
        found: dict[str, tuple[str, str]] = {}
        request: DescribeImagesRequestTypeDef = {
            "repositoryName": name,
            "maxResults": DESCRIBE_PAGE,
            "filter": {"tagStatus": "TAGGED"},
        }
        if self.registry_id:
            request["registryId"] = self.registry_id
        for _ in range(max_pages):
            try:
                answer = self.session.client.describe_images(**request)
            except (BotoCoreError, ClientError) as exc:
                log.info("ECR DescribeImages %s failed, reading tags otherwise: %s", name, exc)
                return None
            for detail in answer.get("imageDetails", []):
                digest = detail.get("imageDigest", "")
                if is_digest(digest):
                    media_type = detail.get("imageManifestMediaType", "")
                    found.update((tag, (digest, media_type)) for tag in detail.get("imageTags", []))
            token = answer.get("nextToken")
            if not token:
                return found
            request["nextToken"] = token
        return None

    def batch_get(self, name: str, refs: Sequence[str]) -> dict[str, Manifest]:
        """Manifests for many tags or digests of one repository, 100 per BatchGetImage call
        instead of one registry request each. Only verified answers are returned; a ref that
        is missing, or a call that fails, is left to the per-ref path (the caller falls back),
        since this is an optimisation and never the only way to read a tag."""
        found: dict[str, Manifest] = {}
        unique = list(dict.fromkeys(refs))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = unique[start : start + BATCH_GET_LIMIT]
            found.update(self._batch(name, chunk))
        return found

    def _batch(self, name: str, refs: list[str]) -> dict[str, Manifest]:
        ids: list[ImageIdentifierTypeDef] = [
            {"imageDigest": ref} if is_digest(ref) else {"imageTag": ref} for ref in refs
        ]
        request: BatchGetImageRequestTypeDef = {
            "repositoryName": name,
            "imageIds": ids,
            "acceptedMediaTypes": list(_ACCEPTED_TYPES),
        }
        if self.registry_id:
            request["registryId"] = self.registry_id
        try:
            answer = self.session.client.batch_get_image(**request)
        except (BotoCoreError, ClientError) as exc:
            log.info("ECR BatchGetImage %s failed, reading tags one by one: %s", name, exc)
            return {}
        return dict(_verified_images(answer.get("images", [])))


def _verified_images(images: Sequence[ImageTypeDef]) -> Iterator[tuple[str, Manifest]]:
    """(ref, manifest) for each image whose bytes hash to the digest ECR states."""
    for image in images:
        raw = image.get("imageManifest", "").encode()
        ident = image.get("imageId", {})
        digest = ident.get("imageDigest", "")
        if not raw or digest_of(raw) != digest:
            continue
        manifest = Manifest(raw, image.get("imageManifestMediaType", ""), digest)
        yield ident.get("imageTag") or digest, manifest
