"""Docker's credential conventions: `$DOCKER_CONFIG/config.json` `auths`, `credHelpers` and
`credsStore` (programs named `docker-credential-<name>`).

Secrets live only in `Credentials.secret`, which is excluded from `repr` so that logging or an
exception message that formats a `Credentials` can never print it. What errors may say is where
credentials came from (`Credentials.origin`) or where none were found (`StaticCredentials.
searched`): a file path, a helper's program name, an ECR API call; never what they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from .._errors import CredentialsError

__all__ = [
    "CredentialSource",
    "Credentials",
    "DockerCredentialStore",
    "StaticCredentials",
    "searched_by",
]

IDENTITY_TOKEN_USER = "<token>"
_HELPER_TIMEOUT_S = 30
# Docker Hub is stored under its legacy v1 URL by `docker login`.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    """A username and a secret (password, token, or identity token when username is `<token>`)."""

    username: str
    secret: str = field(repr=False)
    # Where they came from, for errors ("/root/.docker/config.json", "the credential helper
    # docker-credential-pass", "ECR GetAuthorizationToken in eu-west-1"). Not part of their
    # identity: the same secret from elsewhere is the same credentials.
    origin: str = field(default="", compare=False)

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USER


class CredentialSource(Protocol):
    """Where a registry's credentials come from. `refresh=True` asks for new ones after the
    registry refused the current ones (an expired ECR token); static sources ignore it."""

    def __call__(self, *, refresh: bool = False) -> Credentials | None: ...


@dataclass(frozen=True)
class StaticCredentials:
    """Credentials looked up once (docker config, credential helper), or none; then `searched`
    says where they were looked for ("/root/.docker/config.json"), for errors."""

    credentials: Credentials | None
    searched: str = ""

    def __call__(self, *, refresh: bool = False) -> Credentials | None:
        return self.credentials


def searched_by(source: CredentialSource) -> str:
    """Where `source` looked for the credentials it did not find; '' when it does not say."""
    return source.searched if isinstance(source, StaticCredentials) else ""


def _host_of(key: str) -> str:
    """`https://host:5000/v1/` -> `host:5000`: config.json keys come in several spellings."""
    return key.split("://", 1)[-1].split("/", 1)[0]


class DockerCredentialStore:
    """Looks up credentials for a registry host the way the docker CLI does."""

    def __init__(self, config_dir: Path | None = None) -> None:
        default = os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker"
        self._path = Path(config_dir or default) / "config.json"
        self._config: dict[str, Any] | None = None
        self._exists = True  # whether the file was there when read

    def lookup(self, host: str) -> Credentials | None:
        """Credentials for `host`, or None when there are none (anonymous access)."""
        return self.source(host).credentials

    def source(self, host: str) -> StaticCredentials:
        """Credentials for `host` with where they came from (`origin`), or none with where
        they were looked for (`searched`): what an authentication error tells the user."""
        config = self._load()
        keys = _HUB_KEYS if host in _HUB_KEYS else (host,)
        helper = next((config["credHelpers"][k] for k in keys if k in config["credHelpers"]), None)
        if helper:
            program = f"the credential helper docker-credential-{helper}"
            searched = f"{program} that {self._path} names for it"
            return _found(_run_helper(helper, keys[0]), program, searched)
        auths = {_host_of(k): v for k, v in config["auths"].items()}
        entry = next((auths[_host_of(k)] for k in keys if _host_of(k) in auths), None)
        found = _decode_auth_entry(entry, host) if entry is not None else None
        if found is not None:
            return _found(found, str(self._path), "")
        store = config.get("credsStore")
        if store:
            program = f"the credential store docker-credential-{store}"
            searched = f"{self._path} or its credsStore docker-credential-{store}"
            return _found(_run_helper(store, keys[0]), program, searched)
        exists = "" if self._exists else ", which does not exist"
        return StaticCredentials(None, f"{self._path}{exists}")

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self._read()
        return self._config

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            doc, self._exists = {}, False
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"cannot read docker config {self._path}: {exc}") from None
        if not isinstance(doc, dict):
            raise CredentialsError(f"docker config {self._path} is not a JSON object")
        doc.setdefault("auths", {})
        doc.setdefault("credHelpers", {})
        return doc


def _found(credentials: Credentials | None, origin: str, searched: str) -> StaticCredentials:
    if credentials is None:
        return StaticCredentials(None, searched)
    return StaticCredentials(replace(credentials, origin=origin))


def _decode_auth_entry(entry: object, host: str) -> Credentials | None:
    """One `auths` entry, in the shapes docker reads, or None when it holds no credentials
    (`{}`: credsStore decides). `identitytoken` (an OAuth2 refresh token for the token
    service, as `docker login` stores it for ACR and Harbor robot accounts) wins; then `auth`
    (base64 `user:password`, as `docker login` writes it); then `username` and `password`
    fields (as hand-written Kubernetes Secrets often have them)."""
    if not isinstance(entry, dict):
        raise CredentialsError(f"docker config: the `auths` entry for {host} is not an object")
    if entry.get("identitytoken"):
        return Credentials(IDENTITY_TOKEN_USER, _text_field(entry, "identitytoken", host))
    if entry.get("auth"):
        return _decode_auth_field(entry["auth"], host)
    if entry.get("username") or entry.get("password"):
        user = _text_field(entry, "username", host)
        return Credentials(user, _text_field(entry, "password", host))
    return None


def _decode_auth_field(value: object, host: str) -> Credentials:
    try:
        text = base64.b64decode(value).decode() if isinstance(value, str) else ""
        user, sep, secret = text.partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep, user, secret = "", "", ""
    if not sep:
        raise CredentialsError(
            f"docker config: the `auth` entry for {host} is not base64 user:pass"
        )
    return Credentials(user, secret)


def _text_field(entry: dict[str, Any], name: str, host: str) -> str:
    """A string field of an `auths` entry; only its name is ever shown, never its value."""
    value = entry.get(name)
    if not isinstance(value, str) or (name != "password" and not value):
        raise CredentialsError(f"docker config: the entry for {host} has no usable `{name}`")
    return value


def _run_helper(name: str, host: str) -> Credentials | None:
    program = f"docker-credential-{name}"
    try:
        done = subprocess.run(
            [program, "get"], input=host, capture_output=True, text=True,
            timeout=_HELPER_TIMEOUT_S, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise CredentialsError(f"credential helper {program} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"credential helper {program} timed out for {host}") from None
    if done.returncode != 0:
        # The helper's stdout may echo secrets; only its stderr's first line is shown, and
        # "not found" is the helpers' way of saying "no credentials": anonymous access.
        if "not found" in (done.stdout + done.stderr).lower():
            return None
        reason = (done.stderr.strip().splitlines() or ["no message"])[0][:200]
        raise CredentialsError(f"credential helper {program} failed for {host}: {reason}")
    return _parse_helper_answer(program, host, done.stdout)


def _parse_helper_answer(program: str, host: str, text: str) -> Credentials:
    try:
        doc = json.loads(text)
        return Credentials(str(doc["Username"]), str(doc["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(f"credential helper {program} gave an unreadable answer") from None
