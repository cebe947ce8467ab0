"""Security promises, checked against real registries:

- a recognisable password never appears in anything the tool prints or writes, in any form
  (plain, `base64(user:password)`, base64 at any alignment), at any verbosity, in any output
  format, with right and wrong passwords and with the registry down;
- `Authorization` never goes to another host on a redirect (blob downloads redirected to the
  `storage` zoo profile's storage host on another loopback address);
- a token realm is asked for exactly the scopes the run needs (pull, or pull,push to write),
  and never gets credentials over plain HTTP unless the registry is marked `insecure`;
- TLS is verified by default, a registry's `ca_file` is trusted, and a failure is one clear
  line naming the registry;
- YAML is loaded safely: Python tags are a config error and never run anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509

from reconciler._registry.http import CERTS_D_ENV
from tests.conftest import BASIC_USERS, TOKEN_USERS
from tests.support.dockercli import docker_login_config
from tests.support.httpauth import RegistryAuth
from tests.support.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    PushedImage,
    canonical_json,
    get_manifest,
    layer_blob,
    push_image,
    put_manifest,
    upload_blob,
)
from tests.support.proxy import Fault, ProxyRequest
from tests.support.registry import (
    RegistryProcess,
    TlsFiles,
    ca_context,
    make_tls_files,
    start_registry,
)
from tests.support.tokenserver import TokenServer
from tests.support.zoo.storage import storage

from .cli import Reconcile, Run

RECONCILE = str(Path(sys.executable).parent / "reconcile")
USER = "canary-user"
SECRET = "S3cret-Canary-91b7"
WRONG = "Wr0ng-Canary-5e2d"


# -- what must never be seen ------------------------------------------------------------------


def secret_forms(password: str, user: str = USER) -> list[str]:
    """The password as it could leak: plain, in a Basic header, and base64-encoded inside any
    longer text (each of the three alignments has a stable core)."""
    forms = {password, base64.b64encode(f"{user}:{password}".encode()).decode()}
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + password.encode()).decode()
            forms.add(text[4 if pad else 0 : -4])
    return sorted(forms)


def assert_nothing_leaks(texts: dict[str, str | bytes], *passwords: str) -> None:
    for password in passwords:
        for form in secret_forms(password):
            for where, text in texts.items():
                haystack = text if isinstance(text, str) else text.decode("latin-1")
                assert form not in haystack, f"{form!r} (from {password!r}) leaked in {where}"
    for where, text in texts.items():
        if isinstance(text, str):
            assert "Traceback" not in text, where
            assert "eyJ" not in text, f"something like a JWT in {where}"  # tokens are secrets too


def written_files(*roots: Path) -> dict[str, str | bytes]:
    return {str(p): p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


# -- registries that know the canary password ---------------------------------------------------


@dataclass
class Canary:
    registry: RegistryProcess
    token_server: TokenServer | None
    repo: str


@pytest.fixture(params=["basic", "token"])
def canary(request: pytest.FixtureRequest, tmp_path: Path, repo_name: str) -> Iterator[Canary]:
    users = {USER: SECRET}
    server = None
    if request.param == "token":
        server = TokenServer(tmp_path / "token-server", users=users).start()
        registry = start_registry(tmp_path, auth="token", token_server=server)
    else:
        registry = start_registry(tmp_path, auth="htpasswd", users=users)
    try:
        for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
            push_image(registry.url, repo_name, tag, platform=platform, auth=(USER, SECRET))
        yield Canary(registry, server, repo_name)
    finally:
        registry.stop()
        if server is not None:
            server.stop()


def canary_config(path: Path, c: Canary) -> Path:
    path.write_text(json.dumps({
        "registries": {c.registry.host: {"insecure": True, "timeout": 5}},
        "repositories": {f"{c.registry.host}/{c.repo}": {"aliases": {
            "1": ["1.1", "1.2"], "2": {"sources": ["1.2"], "media_type": "oci"},
        }}},
    }))  # fmt: skip
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory: anything the CLI writes there is checked too."""
    path = tmp_path / "cwd"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def helper_store(
    docker_config: Path, bin_dir: Path, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`credsStore: canary`: a helper on PATH that answers USER and `password` for any host."""
    bin_dir.mkdir(exist_ok=True)
    helper = bin_dir / "docker-credential-canary"
    answer = json.dumps({"Username": USER, "Secret": password})
    helper.write_text(f"#!/bin/sh\nread host\necho '{answer}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "canary"}))


def test_the_password_never_appears_in_output_logs_errors_or_files(
    canary: Canary, tmp_path: Path, docker_config: Path, workdir: Path, isolated_cache: Path,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = canary_config(tmp_path / "manifests.yaml", canary)
    run = Reconcile(capfd, config)  # capfd: file descriptors, so child processes count too
    metrics = tmp_path / "metrics" / "reconcile.prom"
    metrics.parent.mkdir()
    ref = f"{canary.registry.host}/{canary.repo}:1"
    outputs: dict[str, str | bytes] = {}

    def record(name: str, result: Run) -> Run:
        outputs[f"{name} stdout"], outputs[f"{name} stderr"] = result.out, result.err
        return result

    docker_login_config(docker_config, canary.registry.host, USER, SECRET)
    applied = record("apply -vv json logs", run("-vv", "--log-format", "json", "--output", "json"))
    assert applied.code == 0, applied.out + applied.err
    assert {a["action"] for a in applied.json["aliases"]} == {"create"}
    for flags in (["-v"], ["-vv"], ["-vv", "--output", "json"], ["-vv", "--dry-run"],
                  ["-vv", "--dry-run", "--output", "markdown"],
                  ["-vv", "--metrics-file", str(metrics)]):  # fmt: skip
        assert record(" ".join(flags), run(*flags)).code == 0
    commands = [
        ["inspect", ref, "-vv"],
        ["inspect", ref, "--raw"],
        ["resolve", ref, "--platform", "linux/arm64", "-vv", "--output", "json"],
    ]
    for command in commands:
        result = Reconcile(capfd)(*command, "-f", str(config))
        assert record(" ".join(command), result).code == 0, result.err

    docker_login_config(docker_config, canary.registry.host, USER, WRONG)
    for flags in (["-vv"], ["-vv", "--output", "json"], ["--dry-run"],
                  ["-vv", "--log-format", "json", "--metrics-file", str(metrics)]):  # fmt: skip
        refused = record("wrong password " + " ".join(flags), run(*flags))
        assert refused.code == 1
        assert canary.registry.host in refused.out + refused.err
    # The refusal says where the credentials came from and who refused them, not what they are.
    origin = f"credentials from {docker_config / 'config.json'}"
    said = outputs["wrong password -vv stdout"]
    if canary.token_server is None:
        assert f"{origin} were rejected by {canary.registry.host} (HTTP 401)" in said
    else:
        realm = f"127.0.0.1:{canary.token_server.port}"
        assert f"the token service at {realm} refused {origin} (HTTP 401)" in said
    (docker_config / "config.json").unlink()
    missing = record("no credentials -vv", run("-vv", "--dry-run"))
    assert missing.code == 1
    assert f"no credentials found for {canary.registry.host} in " in missing.out
    helper_store(docker_config, tmp_path / "bin", WRONG, monkeypatch)
    from_helper = record("wrong password from a helper -vv", run("-vv", "--dry-run"))
    assert "credentials from the credential store docker-credential-canary" in from_helper.out
    (docker_config / "config.json").unlink()

    docker_login_config(docker_config, canary.registry.host, USER, SECRET)
    if canary.token_server is not None:
        canary.token_server.stop()
        realm_down = record("token service down", run("-vv", "--output", "json", "--no-cache"))
        assert realm_down.code == 1 and "token service" in realm_down.out + realm_down.err
    canary.registry.stop()
    down = record("registry down", run("-vv", "--output", "json", "--no-cache"))
    assert down.code == 1 and "cannot connect" in down.out + down.err

    outputs.update(written_files(metrics.parent, isolated_cache, workdir))
    assert str(metrics) in outputs and any("sha256" in name for name in outputs)
    assert_nothing_leaks(outputs, SECRET, WRONG)


def test_the_real_process_prints_no_password_either(
    canary: Canary, tmp_path: Path, docker_config: Path
) -> None:
    """The console script itself, so that nothing escapes the in-process capture."""
    config = canary_config(tmp_path / "manifests.yaml", canary)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    texts: dict[str, str | bytes] = {}
    for password in (WRONG, SECRET):
        docker_login_config(docker_config, canary.registry.host, USER, password)
        done = subprocess.run(
            [RECONCILE, "-f", str(config), "-vv", "--log-format", "json", "--output", "json"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == (0 if password == SECRET else 1), done.stderr
        texts[f"{password} stdout"], texts[f"{password} stderr"] = done.stdout, done.stderr
    assert_nothing_leaks(texts, SECRET, WRONG)


# -- redirects to blob storage ----------------------------------------------------------------
# The storage host is the `storage` zoo profile's (tests/support/zoo/storage.py): on another
# loopback address, recording every request's headers; uploads to it are in test_zoo_storage.


@pytest.fixture(params=["basic_registry", "token_registry"])
def authenticated(request: pytest.FixtureRequest, repo_name: str) -> tuple[RegistryProcess, str]:
    registry: RegistryProcess = request.getfixturevalue(request.param)
    password = (TOKEN_USERS if request.param == "token_registry" else BASIC_USERS)["alice"]
    for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
        push_image(registry.url, repo_name, tag, platform=platform, auth=("alice", password))
    return registry, password


def config_digests(registry: RegistryProcess, repo: str, password: str) -> list[str]:
    """The image config blobs of the two sources: what a run downloads (through storage)."""
    raws = [
        get_manifest(registry.url, repo, tag, auth=("alice", password))[0] for tag in ("1.1", "1.2")
    ]
    return [json.loads(raw)["config"]["digest"] for raw in raws]


def proxied_config(path: Path, host: str, repo: str) -> Path:
    path.write_text(json.dumps({
        "registries": {host: {"insecure": True, "timeout": 10}},
        "repositories": {f"{host}/{repo}": {"aliases": {"1": ["1.1", "1.2"]}}},
    }))  # fmt: skip
    return path


def test_authorization_is_never_sent_to_the_storage_a_blob_redirects_to(
    authenticated: tuple[RegistryProcess, str], repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry, password = authenticated
    configs = config_digests(registry, repo_name, password)
    with storage(registry, credentials=("alice", password), hops=1) as zoo:
        docker_login_config(docker_config, zoo.host, "alice", password)
        run = Reconcile(capsys, proxied_config(tmp_path / "m.yaml", zoo.host, repo_name))
        result = run("--no-cache", "-vv")
        redirected = [e for e in zoo.proxy.log() if e.kind == "blobs" and e.method == "GET"]
    assert result.code == 0, result.out + result.err
    assert "created" in result.out
    # the registry answered the authenticated blob GETs, each with a redirect to storage ...
    assert [e.status for e in redirected if e.status != 401] == [307] * len(configs)
    # ... and the storage, two hops away, never saw the credentials
    seen = zoo.storage.requests()
    assert sorted(r.path.split("?")[0].rsplit("/", 1)[1] for r in seen) == sorted(configs * 2)
    assert sorted(parse_qs(urlsplit(r.path).query)["hops"][0] for r in seen) == ["0", "0", "1", "1"]
    for request in seen:
        assert "authorization" not in request.headers, request
        assert "cookie" not in request.headers, request
        assert password not in request.path


def test_a_redirect_to_wrong_bytes_is_an_alias_error_and_nothing_is_written(
    authenticated: tuple[RegistryProcess, str], repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry, password = authenticated
    with storage(registry, credentials=("alice", password)) as zoo:
        for digest in config_digests(registry, repo_name, password):
            zoo.storage.replace[digest] = b'{"os":"linux","architecture":"evil"}'
        docker_login_config(docker_config, zoo.host, "alice", password)
        run = Reconcile(capsys, proxied_config(tmp_path / "m.yaml", zoo.host, repo_name))
        registry.clear_log()
        result = run("--no-cache", "--output", "json")
    assert result.code == 1
    [alias] = result.json["aliases"]
    assert alias["action"] == "error" and "digest mismatch" in alias["message"]
    assert registry.writes() == []


def test_a_malformed_redirect_is_an_alias_error(
    authenticated: tuple[RegistryProcess, str], repo_name: str,
    tmp_path: Path, docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry, password = authenticated

    def malformed(request: ProxyRequest) -> Fault | None:
        if request.method == "GET" and request.kind == "blobs" and request.header("Authorization"):
            return Fault.respond(307, headers={"Location": "http://[::1"})
        return None

    with storage(registry, credentials=("alice", password)) as zoo:
        zoo.proxy.fault = malformed
        docker_login_config(docker_config, zoo.host, "alice", password)
        run = Reconcile(capsys, proxied_config(tmp_path / "m.yaml", zoo.host, repo_name))
        registry.clear_log()
        result = run("--no-cache", "--output", "json")
    assert result.code == 1 and "Traceback" not in result.err
    [alias] = result.json["aliases"]
    assert alias["action"] == "error" and alias["message"].startswith(f"{zoo.host}: ")
    assert registry.writes() == [] and zoo.storage.requests() == []


# -- token realms -------------------------------------------------------------------------------


def two_repositories(
    path: Path, registry: RegistryProcess, repos: list[str], settings: dict[str, Any]
) -> Path:
    path.write_text(json.dumps({
        "registries": {registry.host: settings},
        "repositories": {f"{registry.host}/{r}": {"aliases": {"1": ["1.1", "1.2"]}}
                         for r in repos},
    }))  # fmt: skip
    return path


def test_the_token_realm_is_asked_only_for_the_scopes_the_run_needs(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    password = TOKEN_USERS["alice"]
    repos = [f"{repo_name}/a", f"{repo_name}/b"]
    for repo in repos:
        for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
            push_image(token_registry.url, repo, tag, platform=platform, auth=("alice", password))
    docker_login_config(docker_config, token_registry.host, "alice", password)
    config = two_repositories(tmp_path / "m.yaml", token_registry, repos, {"insecure": True})
    run = Reconcile(capsys, config)

    token_server.clear_requests()
    assert run("--dry-run").code == 0
    assert scopes_asked(token_server) == {f"repository:{r}:pull" for r in repos}

    token_server.clear_requests()
    assert run().code == 0
    assert scopes_asked(token_server) == {
        f"repository:{r}:{actions}" for r in repos for actions in ("pull", "pull,push")
    }


def scopes_asked(server: TokenServer) -> set[str]:
    requests = list(server.requests)
    assert requests, "no token was requested"
    for request in requests:
        assert len(request.scopes) == 1, request  # one repository, one action set per token
        assert request.service == server.service and request.username == "alice", request
        assert request.status == 200, request
    # Registries list a scope's actions in no fixed order (`push,pull` or `pull,push`).
    return {canonical_scope(request.scopes[0]) for request in requests}


def canonical_scope(scope: str) -> str:
    name, _, actions = scope.rpartition(":")
    return f"{name}:{','.join(sorted(actions.split(',')))}"


def test_credentials_are_not_sent_to_a_plain_http_token_realm_unless_insecure(
    token_registry: RegistryProcess, token_server: TokenServer, repo_name: str, tmp_path: Path,
    docker_config: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    password = TOKEN_USERS["alice"]
    for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
        push_image(token_registry.url, repo_name, tag, platform=platform, auth=("alice", password))
    docker_login_config(docker_config, token_registry.host, "alice", password)
    settings = {"endpoint": token_registry.url}  # plain HTTP, not marked insecure
    config = two_repositories(tmp_path / "m.yaml", token_registry, [repo_name], settings)
    token_server.clear_requests()
    result = Reconcile(capsys, config)("--output", "json")
    assert result.code == 1
    [alias] = result.json["aliases"]
    assert alias["action"] == "error"
    assert "refusing to send credentials over plain HTTP" in alias["message"]
    assert token_server.requests == []  # the realm got nothing at all


# -- TLS ----------------------------------------------------------------------------------------


@dataclass
class TlsRegistry:
    registry: RegistryProcess
    files: TlsFiles
    repo: str


def push_over_tls(client: httpx.Client, repo: str, tag: str, platform: str) -> PushedImage:
    """A one-layer Docker image, pushed with a client that trusts the test CA."""
    os_name, arch = platform.split("/")
    layer, diff_id = layer_blob(f"{repo}:{tag}".encode())
    config = canonical_json({"architecture": arch, "os": os_name,
                             "rootfs": {"type": "layers", "diff_ids": [diff_id]}})  # fmt: skip
    config_digest, layer_digest = (
        upload_blob(client, repo, config),
        upload_blob(client, repo, layer),
    )
    raw = canonical_json({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": DOCKER_LAYER, "digest": layer_digest, "size": len(layer)}],
    })  # fmt: skip
    digest = put_manifest(client, repo, tag, raw, DOCKER_MANIFEST)
    return PushedImage(digest, DOCKER_MANIFEST, len(raw), raw, config_digest, layer_digest,
                       platform)  # fmt: skip


@pytest.fixture
def tls_registry(
    tmp_path: Path, repo_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TlsRegistry]:
    """An HTTPS registry (test CA) that wants Basic credentials: the canary's. Trust comes
    only from what a test adds: no SSL_CERT_FILE/SSL_CERT_DIR, an empty docker certs.d."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(CERTS_D_ENV, str(tmp_path / "empty-certs.d"))
    files = make_tls_files(tmp_path / "tls")
    registry = start_registry(tmp_path, auth="htpasswd", users={USER: SECRET}, tls=files)
    try:
        with httpx.Client(base_url=registry.url, verify=ca_context(files.ca_path),
                          auth=RegistryAuth(USER, SECRET), trust_env=False) as client:  # fmt: skip
            push_over_tls(client, repo_name, "1.1", "linux/amd64")
            push_over_tls(client, repo_name, "1.2", "linux/arm64")
        yield TlsRegistry(registry, files, repo_name)
    finally:
        registry.stop()


def tls_config(path: Path, t: TlsRegistry, settings: dict[str, Any]) -> Path:
    path.write_text(json.dumps({
        "registries": {t.registry.host: settings},
        "repositories": {f"{t.registry.host}/{t.repo}": {"aliases": {"1": ["1.1", "1.2"]}}},
    }))  # fmt: skip
    return path


def test_tls_is_verified_by_default_and_fails_clearly(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    config = tls_config(tmp_path / "m.yaml", tls_registry, {})
    tls_registry.registry.clear_log()
    result = Reconcile(capsys, config)("--output", "json", "-v")
    assert result.code == 1
    [alias] = result.json["aliases"]
    assert alias["action"] == "error"
    assert alias["message"].startswith(f"{tls_registry.registry.host}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in alias["message"], alias["message"]
    assert "Traceback" not in result.err
    assert "retrying" not in result.err  # a certificate does not get better by asking again
    assert tls_registry.registry.requests() == []  # no request got through the handshake
    assert_nothing_leaks({"stdout": result.out, "stderr": result.err}, SECRET)


def test_a_ca_file_from_another_ca_is_not_trusted(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    other = make_tls_files(tmp_path / "other-ca", "some other CA")
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    config = tls_config(tmp_path / "m.yaml", tls_registry, {"ca_file": str(other.ca_path)})
    result = Reconcile(capsys, config)("--output", "json")
    assert result.code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.json["aliases"][0]["message"]


def test_the_registry_ca_file_is_trusted_and_basic_auth_works_over_https(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    settings = {"ca_file": str(tls_registry.files.ca_path)}  # not insecure: HTTPS
    run = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, settings))
    first = run("-vv")
    assert first.code == 0, first.out + first.err
    assert "created" in first.out
    second = run()
    assert (second.code, second.out) == (0, "Everything up to date (1 alias).\n")
    assert {r.user_agent for r in tls_registry.registry.requests()}  # really went over HTTPS
    assert_nothing_leaks({"first": first.out + first.err, "second": second.out + second.err},
                         SECRET)  # fmt: skip


def openssl_hashed_dir(directory: Path, ca_path: Path) -> Path:
    """A CA directory as `openssl rehash` lays it out: `<subject hash>.0`. The hash is
    OpenSSL's X509_NAME_hash: SHA-1 of the canonical subject (values lowercased, spaces
    collapsed, as UTF8String; the RDN sets without the outer SEQUENCE), first 4 bytes, little
    endian. Only for names whose attributes default to UTF8String, such as the test CA's CN."""
    subject = x509.load_pem_x509_certificate(ca_path.read_bytes()).subject
    canonical = x509.Name([
        x509.RelativeDistinguishedName(
            [x509.NameAttribute(a.oid, " ".join(str(a.value).lower().split())) for a in rdn]
        )
        for rdn in subject.rdns
    ]).public_bytes()  # fmt: skip
    length = canonical[1]
    sets = canonical[2 + (length & 0x7F if length & 0x80 else 0) :]
    name_hash = int.from_bytes(hashlib.sha1(sets).digest()[:4], "little")
    directory.mkdir(parents=True)
    shutil.copy(ca_path, directory / f"{name_hash:08x}.0")
    return directory


@pytest.mark.parametrize("store", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_system_trust_store_is_used_without_ca_file(
    store: str, tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A private CA installed on the machine works as it does for docker. OpenSSL's own
    SSL_CERT_FILE and SSL_CERT_DIR stand in for the system store (nothing on the machine is
    changed); with both set, OpenSSL reads both (httpx's own default would read only the
    file, and certifi's bundle, not the system store, when neither is set)."""
    if store == "SSL_CERT_FILE":
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.files.ca_path))
    else:
        other = make_tls_files(tmp_path / "other-ca", "some other CA")
        monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_path))
        hashed = openssl_hashed_dir(tmp_path / "ca-dir", tls_registry.files.ca_path)
        monkeypatch.setenv("SSL_CERT_DIR", str(hashed))
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    result = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, {}))()
    assert result.code == 0, result.out + result.err
    assert "created" in result.out


def test_a_docker_certs_d_directory_for_the_host_is_trusted(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    certs_d = tmp_path / "certs.d"
    host_dir = certs_d / tls_registry.registry.host  # 127.0.0.1:PORT, as docker names it
    host_dir.mkdir(parents=True)
    shutil.copy(tls_registry.files.ca_path, host_dir / "ca.crt")
    monkeypatch.setenv(CERTS_D_ENV, str(certs_d))
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    result = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, {}))()
    assert result.code == 0, result.out + result.err
    assert "created" in result.out


def test_ca_file_adds_to_the_system_store_instead_of_replacing_it(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.files.ca_path))
    other = make_tls_files(tmp_path / "other-ca", "some other CA")
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    settings = {"ca_file": str(other.ca_path)}
    result = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, settings))()
    assert result.code == 0, result.out + result.err


def test_a_ca_trusted_for_another_host_or_elsewhere_is_still_refused_at_once(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    other = make_tls_files(tmp_path / "other-ca", "some other CA")
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_path))
    certs_d = tmp_path / "certs.d"
    for host in ("127.0.0.1", f"localhost:{tls_registry.registry.port}"):  # not this host
        (certs_d / host).mkdir(parents=True)
        shutil.copy(tls_registry.files.ca_path, certs_d / host / "ca.crt")
    (certs_d / tls_registry.registry.host).mkdir()
    shutil.copy(tls_registry.files.ca_path, certs_d / tls_registry.registry.host / "ca.pem")
    monkeypatch.setenv(CERTS_D_ENV, str(certs_d))  # only *.crt count, as for docker
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    tls_registry.registry.clear_log()
    result = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, {}))("-v")
    assert result.code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.out, result.out
    assert "retrying" not in result.err
    assert tls_registry.registry.requests() == []


def test_a_plain_http_registry_without_insecure_names_the_fix_and_gets_nothing(
    registry: RegistryProcess, repo_name: str, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for tag, platform in (("1.1", "linux/amd64"), ("1.2", "linux/arm64")):
        push_image(registry.url, repo_name, tag, platform=platform)
    docker_login_config(docker_config, registry.host, USER, SECRET)
    config = two_repositories(tmp_path / "m.yaml", registry, [repo_name], {})  # no insecure
    registry.clear_log()
    result = Reconcile(capsys, config)("--output", "json", "-v")
    assert result.code == 1
    [alias] = result.json["aliases"]
    message = alias["message"]
    assert message.startswith(f"{registry.host}: ") and "plain HTTP" in message, message
    assert "`insecure: true`" in message and "registries:" in message
    assert "--insecure" in message and "WRONG_VERSION_NUMBER" in message
    assert "retrying" not in result.err and "Traceback" not in result.err
    assert registry.requests() == []  # nothing but a TLS handshake: no request, no credentials
    inspect = Reconcile(capsys)("inspect", f"{registry.host}/{repo_name}:1.1", "-f", str(config))
    assert inspect.code == 1 and "--insecure" in inspect.err, inspect.err
    assert_nothing_leaks({"run": result.out + result.err, "inspect": inspect.err}, SECRET)


def test_a_missing_ca_file_is_a_clear_error(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    missing = tmp_path / "no-such-ca.pem"
    config = tls_config(tmp_path / "m.yaml", tls_registry, {"ca_file": str(missing)})
    result = Reconcile(capsys, config)("--dry-run")
    assert result.code == 1
    assert str(missing) in result.out + result.err
    assert "Traceback" not in result.err


def test_ca_file_uses_no_deprecated_httpx_api(
    tls_registry: TlsRegistry, tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = {"ca_file": str(tls_registry.files.ca_path)}
    run = Reconcile(capsys, tls_config(tmp_path / "m.yaml", tls_registry, settings))
    docker_login_config(docker_config, tls_registry.registry.host, USER, SECRET)
    # Recorded, not raised: a warning raised as an error in a worker thread could end as an
    # alias error, or a failed run, which a loose exit code check would not tell apart.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run("--dry-run", "--output", "json")
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [f"{w.filename}:{w.lineno}: {w.message}" for w in deprecated] == []
    # And the CA file did its work: the registry was read over TLS, the plan is a create.
    assert result.code == 0, result.out + result.err
    [alias] = result.json["aliases"]
    assert (alias["action"], alias["message"]) == ("create", "")
    assert [e["source"] for e in alias["desired"]["entries"]] == ["1.1", "1.2"]


# -- YAML is loaded safely ------------------------------------------------------------------

PYTHON_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/object/apply:os.system 'touch {marker}'",
    "!!python/name:os.system",
    "!!python/object:reconciler._config.models.Config {{}}",
    "!!python/module:os",
]


def tagged_config(tmp_path: Path, value: str) -> Path:
    config = tmp_path / "manifests.yaml"
    config.write_text(f'repositories:\n  localhost:5000/app:\n    aliases:\n      "1": {value}\n')
    return config


@pytest.mark.parametrize("tag", PYTHON_TAGS)
@pytest.mark.parametrize("command", [[], ["validate"]], ids=["run", "validate"])
def test_python_yaml_tags_are_a_config_error_and_run_nothing(
    tag: str, command: list[str], tmp_path: Path, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    marker = tmp_path / "pwned"
    config = tagged_config(tmp_path, tag.format(marker=marker))
    result = Reconcile(capsys)(*command, "-f", str(config))
    assert result.code == 1
    assert f"reconcile: error: {config}:4" in result.err, result.err
    assert "Traceback" not in result.err
    assert not marker.exists()


@pytest.mark.parametrize(
    "tag", ["!!python/name:os.system", "!!python/module:os", "!!python/object/apply:os.system 'x'"]
)
def test_a_python_tag_on_a_value_is_named_in_the_error(
    tag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = Reconcile(capsys)("validate", "-f", str(tagged_config(tmp_path, tag)))
    assert result.code == 1
    assert "could not determine a constructor" in result.err and "python/" in result.err


@pytest.mark.parametrize(
    "value",
    [
        '!!python/object/apply:os.system ["1.1", "1.2"]',
        '!!python/object:collections.OrderedDict {sources: ["1.1"]}',
    ],
    ids=["sequence", "mapping"],
)
def test_a_python_tag_on_a_list_or_mapping_is_a_config_error(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = Reconcile(capsys)("validate", "-f", str(tagged_config(tmp_path, value)))
    assert result.code == 1, result.out
    assert "python/object" in result.err


# An "exponential entity" document: every level lists the previous one ten times (10^8 nodes).
BOMB = "\n".join(
    [
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 8)),
        "repositories: {}",
        "",
    ]
)
LIMITED = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from reconciler._cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "manifests.yaml"
    config.write_text(BOMB)
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, "validate", "-f", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{config}:" in done.stderr and "too large" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
