"""Run real registry processes on loopback for tests: CNCF distribution 2.8 (Debian's
`docker-registry`) or distribution v3 (`registry3`, built into `.tools/bin` by
tools/gotools.py). Both read the same configuration and write the same access log.

Each registry gets its own storage directory, a free port on 127.0.0.1 and two log files:
the access log (one Apache "combined" line per request, written by distribution on stdout)
and the server log (logrus text on stderr). Tests inspect traffic through `requests()`.

Registries speak plain HTTP unless started with `tls=make_tls_files(...)`: then they
serve HTTPS with a certificate for 127.0.0.1 signed by a throwaway test CA (`ca_file`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.httpauth import loopback_client

if TYPE_CHECKING:
    from tests.support.tokenserver import TokenServer


@dataclass(frozen=True)
class Implementation:
    """A registry program the fixtures can start: `binary serve CONFIG`."""

    name: str  # the pytest parameter id and `--registry` choice
    binary: str
    label: str  # for messages and the README table
    install_hint: str


IMPLEMENTATIONS = {
    implementation.name: implementation
    for implementation in (
        Implementation(
            "distribution2",
            "docker-registry",
            "distribution 2.8 (Debian's docker-registry)",
            "install Debian's docker-registry package (`make system-deps`)",
        ),
        Implementation(
            "distribution3",
            "registry3",
            "distribution v3.1 (the current reference registry)",
            "build it with `python3 tools/gotools.py` (needs Go 1.22+; `make test` does it)",
        ),
    )
}
DEFAULT_IMPLEMENTATION = "distribution2"
READY_TIMEOUT = 10.0
WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})

# Requests to this path are our own log-synchronisation markers; the registry answers 404.
_SYNC_PREFIX = "/__test_log_sync__/"

# Apache combined format as written by gorilla/handlers.CombinedLoggingHandler, e.g.
# 127.0.0.1 - - [28/Nov/2026:21:22:23 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"
_ACCESS_LINE = re.compile(
    r"^(?P<remote>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<uri>\S+) (?P<proto>[^"]+)" '
    r'(?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as recorded in the registry's access log."""

    method: str
    path: str  # request URI as sent, including any query string
    status: int
    size: int
    user_agent: str

    @property
    def is_write(self) -> bool:
        """Whether the request may have changed registry state."""
        return self.method in WRITE_METHODS


def parse_access_line(line: str) -> LoggedRequest | None:
    """Parse one access-log line; returns None for anything that is not an access entry."""
    match = _ACCESS_LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    size = match["size"]
    return LoggedRequest(
        method=match["method"],
        path=match["uri"],
        status=int(match["status"]),
        size=0 if size == "-" else int(size),
        user_agent=match["agent"],
    )


@dataclass
class RegistryProcess:
    """A running registry; `stop()` it (the fixtures do) or it dies with the interpreter."""

    host: str
    root: Path
    users: dict[str, str]
    workdir: Path
    config_path: Path
    access_log_path: Path
    server_log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _log_offset: int = field(default=0, repr=False)
    ca_file: Path | None = None  # the test CA's PEM when the registry serves HTTPS
    implementation: Implementation = IMPLEMENTATIONS[DEFAULT_IMPLEMENTATION]

    @property
    def scheme(self) -> str:
        return "https" if self.ca_file is not None else "http"

    def __post_init__(self) -> None:
        # Safety net for tests that forget to stop: kill at garbage collection or exit.
        self._finalizer = weakref.finalize(self, stop_process, self.process)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121`` (``https://`` with TLS)."""
        return f"{self.scheme}://{self.host}"

    @property
    def port(self) -> int:
        """The TCP port the registry listens on."""
        return int(self.host.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL) and wait for it; idempotent."""
        self._finalizer()

    def __enter__(self) -> RegistryProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until `GET /v2/` answers with any HTTP status, or raise with the log tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self._failure(f"exited with {self.process.returncode}"))
            if answers(self.url + "/v2/", self.ca_file):
                return
            time.sleep(0.02)
        raise RuntimeError(self._failure(f"did not answer GET /v2/ within {timeout}s"))

    def requests(self) -> list[LoggedRequest]:
        """All requests logged since start or the last `clear_log()`, oldest first."""
        self._sync_log()
        return [r for r in self._read_from(self._log_offset) if not _is_sync(r)]

    def writes(self) -> list[LoggedRequest]:
        """The subset of `requests()` with methods PUT, POST, PATCH or DELETE."""
        return [r for r in self.requests() if r.is_write]

    def clear_log(self) -> None:
        """Forget requests so far, so a test can count the requests of one phase."""
        self._sync_log()
        self._log_offset = self.access_log_path.stat().st_size

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the server log (stderr), for error messages."""
        return _tail(self.server_log_path, lines)

    def _read_from(self, offset: int) -> list[LoggedRequest]:
        with self.access_log_path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        # Only complete lines: a line being written right now is picked up next time.
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8", "replace")
        parsed = (parse_access_line(line) for line in complete.splitlines())
        return [r for r in parsed if r is not None]

    def _sync_log(self, timeout: float = 2.0) -> None:
        """Make sure entries for requests that already got a response are on disk.

        distribution writes the access line after the handler returns, which for large
        bodies can be after the client has read the response. A marker request that we
        wait for in the log closes that window.
        """
        if self.process.poll() is not None:
            return
        marker = _SYNC_PREFIX + uuid.uuid4().hex
        if not answers(self.url + marker, self.ca_file):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.path == marker for r in self._read_from(self._log_offset)):
                return
            time.sleep(0.005)
        raise RuntimeError(f"access log never showed sync marker {marker}")

    def _failure(self, what: str) -> str:
        # A Go panic's reason is followed by a long stack trace; show the reason first.
        reasons = [
            line
            for line in self.log_tail(500).splitlines()
            if line.startswith("panic:") or "level=fatal" in line or "level=error" in line
        ]
        return (
            f"{self.implementation.binary} on {self.host} {what}\n"
            f"--- reasons ---\n{chr(10).join(reasons[:10]) or '(none logged)'}\n"
            f"--- {self.server_log_path} (tail) ---\n{self.log_tail(15)}"
        )


def start_registry(
    tmp: Path,
    *,
    auth: Literal["htpasswd", "token"] | None = None,
    users: dict[str, str] | None = None,
    token_server: TokenServer | None = None,
    tls: TlsFiles | None = None,
    implementation: str = DEFAULT_IMPLEMENTATION,
) -> RegistryProcess:
    """Start a registry in a fresh directory under `tmp` and wait until it answers.

    `auth="htpasswd"` needs `users`; `auth="token"` needs a started `token_server`,
    whose users then become the registry's `users`. With `tls` the registry serves HTTPS.
    `implementation` is a key of `IMPLEMENTATIONS`.
    """
    program = IMPLEMENTATIONS[implementation]
    _require_binary(program)
    workdir = Path(tempfile.mkdtemp(prefix="registry-", dir=tmp))
    settings = _auth_settings(workdir, auth, users, token_server)
    # Share the token server's dict so users added during a test show up here too.
    known_users = token_server.users if token_server is not None else dict(users or {})
    # A free port found by bind-and-close can be grabbed by a parallel worker before the
    # registry binds it; retrying with a new port makes that race harmless.
    last_error: RuntimeError | None = None
    for _attempt in range(3):
        registry = _launch(program, workdir, settings, known_users, tls)
        try:
            registry.wait_ready()
            # The readiness probe is harness traffic; tests should see an empty log.
            registry.clear_log()
        except RuntimeError as exc:
            registry.stop()
            last_error = exc
            if "address already in use" not in registry.log_tail():
                raise
            continue
        return registry
    assert last_error is not None
    raise last_error


def _launch(
    program: Implementation,
    workdir: Path,
    auth: dict[str, Any],
    users: dict[str, str],
    tls: TlsFiles | None,
) -> RegistryProcess:
    host = f"127.0.0.1:{free_port()}"
    root = workdir / "storage"
    root.mkdir(exist_ok=True)
    config_path = workdir / "config.yml"
    config_path.write_text(yaml.safe_dump(_config(host, root, auth, tls), sort_keys=False))
    access_log = workdir / "access.log"
    server_log = workdir / "registry.log"
    # Fresh files per launch, so a failed earlier attempt cannot confuse this one.
    with access_log.open("wb") as out, server_log.open("wb") as err:
        process = subprocess.Popen(
            _registry_command(program, config_path),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=_registry_env(),
        )
    return RegistryProcess(
        host=host,
        root=root,
        users=users,
        workdir=workdir,
        config_path=config_path,
        access_log_path=access_log,
        server_log_path=server_log,
        process=process,
        ca_file=tls.ca_path if tls is not None else None,
        implementation=program,
    )


def _config(
    host: str, root: Path, auth: dict[str, Any], tls: TlsFiles | None = None
) -> dict[str, Any]:
    """The registry configuration; quiet, deterministic and without background jobs."""
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        # A fixed secret avoids the "No HTTP secret provided" warning on every start.
        "http": {"addr": host, "secret": "reconciler-tests-not-a-secret"},
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth:
        config["auth"] = auth
    if tls is not None:
        config["http"]["tls"] = {"certificate": str(tls.cert_path), "key": str(tls.key_path)}
    return config


def _auth_settings(
    workdir: Path,
    auth: Literal["htpasswd", "token"] | None,
    users: dict[str, str] | None,
    token_server: TokenServer | None,
) -> dict[str, Any]:
    if auth is None:
        return {}
    if auth == "htpasswd":
        if not users:
            raise ValueError("auth='htpasswd' needs at least one user")
        path = write_htpasswd(workdir / "htpasswd", users)
        return {"htpasswd": {"realm": "reconciler-test", "path": str(path)}}
    if auth == "token":
        if token_server is None:
            raise ValueError("auth='token' needs a running token_server")
        return {"token": token_server.registry_auth_config()}
    raise ValueError(f"unknown auth mode {auth!r}")


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """Write a bcrypt htpasswd file (the only hash distribution accepts) using `htpasswd`."""
    entries = []
    for user, password in users.items():
        done = subprocess.run(
            ["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True
        )
        entries.append(done.stdout.strip())
    path.write_text("\n".join(entries) + "\n")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry_env() -> dict[str, str]:
    # The registry must never pick up proxies or REGISTRY_* overrides from the caller.
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGISTRY_") and "proxy" not in key.lower()
    }


def _registry_command(program: Implementation, config_path: Path) -> list[str]:
    """The registry command line, wrapped so the registry dies with the test worker.

    `setpriv --pdeathsig` (util-linux, essential on Debian) sets the parent-death signal
    and then execs, which avoids `preexec_fn` (unsafe while the token server's threads run).
    """
    command = [program.binary, "serve", str(config_path)]
    if shutil.which("setpriv") is None:
        return command
    return ["setpriv", "--pdeathsig", "TERM", "--", *command]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; a process that already exited is left alone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def answers(url: str, ca_file: Path | None = None) -> bool:
    """Whether anything HTTP answers at `url` (status is irrelevant); HTTPS is verified
    against `ca_file`."""
    try:
        # Short timeout: something that accepts but never answers is "not ready yet".
        with _probe_client(ca_file) as client:
            client.get(url)
    except httpx.TransportError:
        return False
    return True


def _probe_client(ca_file: Path | None) -> httpx.Client:
    if ca_file is None:
        return loopback_client(timeout=0.5)
    return httpx.Client(timeout=0.5, trust_env=False, verify=ca_context(ca_file))


# -- TLS with a throwaway CA ----------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: a test CA, and a server certificate for 127.0.0.1/localhost it signed."""

    ca_path: Path
    cert_path: Path
    key_path: Path


def make_tls_files(directory: Path, name: str = "reconciler test CA") -> TlsFiles:
    """Create a CA (valid for a day) and a server certificate for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    server = (
        _certificate(subject, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    files.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def ca_context(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only `ca_file`."""
    return ssl.create_default_context(cafile=str(ca_file))


def _certificate(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _is_sync(request: LoggedRequest) -> bool:
    return request.path.startswith(_SYNC_PREFIX)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def _require_binary(program: Implementation) -> None:
    if shutil.which(program.binary) is None:
        raise RuntimeError(f"{program.binary} ({program.label}) not found; {program.install_hint}")
