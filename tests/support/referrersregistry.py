"""A registry with the OCI 1.1 referrers API, for tests: go-containerregistry's in-memory
registry (`referrers-registry`, built from tools/referrers-registry/ by tools/gotools.py),
standing in for zot, which this project cannot build. A pytest plugin (loaded by
tests/conftest.py): the `referrers_registry` fixture starts one per test on a free loopback
port, chosen by the program itself (it prints the port it got), so no other process can take
it meanwhile.

Its access log is its stderr, one line per answered request (`access: METHOD URI STATUS`);
`requests()` reads it like `RegistryProcess.requests()` reads distribution's.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import time
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.registry import LoggedRequest, answers, stop_process

__all__ = ["BINARY", "ReferrersRegistry", "referrers_registry", "start_referrers_registry"]

BINARY = "referrers-registry"
READY_TIMEOUT = 10.0
_SYNC_PREFIX = "/__test_log_sync__/"


@dataclass
class ReferrersRegistry:
    """A running referrers-registry; `stop()` it (the fixture does)."""

    host: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _log_offset: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, stop_process, self.process)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self._finalizer()

    def requests(self) -> list[LoggedRequest]:
        """Requests answered since start or the last `clear_log()`, oldest first."""
        self._sync_log()
        return [r for r in self._read_from(self._log_offset) if not r.path.startswith(_SYNC_PREFIX)]

    def writes(self) -> list[LoggedRequest]:
        return [r for r in self.requests() if r.is_write]

    def clear_log(self) -> None:
        self._sync_log()
        self._log_offset = self.log_path.stat().st_size

    def _read_from(self, offset: int) -> list[LoggedRequest]:
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1].decode("utf-8", "replace")
        return [r for r in map(_parse, complete.splitlines()) if r is not None]

    def _sync_log(self, timeout: float = 2.0) -> None:
        """A marker request, waited for in the log: every answered request is logged then."""
        marker = _SYNC_PREFIX + uuid.uuid4().hex
        if self.process.poll() is not None or not answers(self.url + marker):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(r.path == marker for r in self._read_from(self._log_offset)):
                return
            time.sleep(0.005)
        raise RuntimeError(f"the access log never showed sync marker {marker}")


def _parse(line: str) -> LoggedRequest | None:
    parts = line.split(" ")
    if len(parts) != 4 or parts[0] != "access:" or not parts[3].isdigit():
        return None
    return LoggedRequest(parts[1], parts[2], int(parts[3]), 0, "")


def start_referrers_registry(tmp: Path) -> ReferrersRegistry:
    """Start one on 127.0.0.1 and wait for the port it prints."""
    binary = shutil.which(BINARY)
    if binary is None:
        raise RuntimeError(f"{BINARY} not found; build it with `python3 tools/gotools.py`")
    log_path = tmp / f"referrers-registry-{uuid.uuid4().hex[:8]}.log"
    command = [binary, "--listen", "127.0.0.1:0"]
    if shutil.which("setpriv") is not None:  # dies with the test worker, as registry.py's
        command = ["setpriv", "--pdeathsig", "TERM", "--", *command]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
        )
    port = _read_port(process, log_path)
    return ReferrersRegistry(f"127.0.0.1:{port}", log_path, process)


def _read_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
    line = process.stdout.readline().strip() if ready else b""
    if not line.isdigit():
        stop_process(process)
        raise RuntimeError(f"{BINARY} printed no port: {line!r}; {log_path.read_text()[-500:]}")
    return int(line)


@pytest.fixture
def referrers_registry(tmp_path: Path) -> Iterator[ReferrersRegistry]:
    """A registry with the referrers API (go-containerregistry's), fresh for each test;
    skipped without the binary, failed under CI=true."""
    from tests.support.tools import require_tool

    require_tool(BINARY)
    registry = start_referrers_registry(tmp_path)
    yield registry
    registry.stop()
