"""A moto server (fake AWS APIs) on loopback, and an environment that points boto3 at it.

`start_moto` runs `python -m moto.server` as a child process rather than moto's in-process
`ThreadedMotoServer`: a separate process shares no state or patched modules with the code under
test, and dies cleanly with `stop()`. It answers after about a second, so test modules start
one server and `reset()` it between tests.

What moto's ECR does, as far as these tests rely on it (moto 5.2):
- the account is `MOTO_ACCOUNT`; `get_authorization_token` returns base64 `AWS:<password>`
  with password `MOTO_PASSWORD`, and `expiresAt` fixed at 2015-01-01T00:00:00Z (in the past:
  code that caches tokens by the wall clock never caches moto's, so tests inject a clock);
- `create_repository`/`describe_repositories` keep `imageTagMutability` including the
  `*_WITH_EXCLUSION` modes and `imageTagMutabilityExclusionFilters`, and reject filters
  without an `_WITH_EXCLUSION` mode (and the reverse) with InvalidParameterException.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.httpauth import loopback_client
from tests.support.registry import answers, free_port, stop_process

MOTO_ACCOUNT = "123456789012"
MOTO_PASSWORD = f"{MOTO_ACCOUNT}-auth-token"
MOTO_TOKEN_EXPIRY = 1420070400.0  # 2015-01-01T00:00:00Z, what moto always answers
READY_TIMEOUT = 30.0


@dataclass
class MotoServer:
    """A running moto server; `stop()` it (fixtures do) or it dies with the interpreter."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, stop_process, self.process)

    def stop(self) -> None:
        """Terminate the server and wait for it; idempotent."""
        self._finalizer()

    def reset(self) -> None:
        """Forget every repository, image and tag: a fresh AWS for the next test."""
        with loopback_client(self.url) as client:
            client.post("/moto-api/reset").raise_for_status()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Block until the server answers HTTP, or raise with its output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self._failure(f"exited with {self.process.returncode}"))
            if answers(self.url + "/moto-api/"):
                return
            time.sleep(0.05)
        raise RuntimeError(self._failure(f"did not answer within {timeout}s"))

    def _failure(self, what: str) -> str:
        return f"moto server on {self.url} {what}\n--- output (tail) ---\n{self.log_tail()}"


def start_moto(tmp_path: Path) -> MotoServer:
    """Start a moto server on a free 127.0.0.1 port, logging under `tmp_path`; wait for it."""
    workdir = Path(tempfile.mkdtemp(prefix="moto-", dir=tmp_path))
    # bind-and-close ports can be taken by a parallel worker before moto binds them.
    last_error: RuntimeError | None = None
    for attempt in range(3):
        server = _launch(workdir / f"moto-{attempt}.log")
        try:
            server.wait_ready()
        except RuntimeError as exc:
            server.stop()
            last_error = exc
            if "in use" not in server.log_tail().lower():
                raise
            continue
        return server
    assert last_error is not None
    raise last_error


def _launch(log_path: Path) -> MotoServer:
    port = free_port()
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_server_env(),
        )
    return MotoServer(url=f"http://127.0.0.1:{port}", log_path=log_path, process=process)


def _server_env() -> dict[str, str]:
    # The server needs no AWS settings; leaving the caller's out keeps it deterministic.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def aws_env(
    monkeypatch: pytest.MonkeyPatch,
    moto_url: str,
    *,
    tmp: Path | None = None,
    region: str = "us-east-1",
    credentials: bool = True,
) -> Path:
    """Point boto3 at `moto_url` and away from everything on this machine.

    Removes every `AWS_*` variable (AWS_PROFILE, AWS_SESSION_TOKEN, AWS_CA_BUNDLE, role and
    container settings ...); sets HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE to a
    fresh directory and empty files in it (under `tmp`, else the system temp directory);
    disables the instance metadata service; routes every AWS endpoint (not only ECR) to moto;
    sets the fake keys `testing`/`testing` unless `credentials=False`, which tests the
    "no credentials" path. Returns the directory holding `config` and `credentials`, so a
    test can write a profile into them.
    """
    home = Path(tempfile.mkdtemp(prefix="aws-home-", dir=tmp))
    for name in ("config", "credentials"):
        (home / name).write_text("")
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    # ECR explicitly, and every other service (STS, SSO ...) too: nothing may leave loopback.
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    for key in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(key, "")
        monkeypatch.setenv(key, ",".join(filter(None, [current, "127.0.0.1", "localhost"])))
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return home
