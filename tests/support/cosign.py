"""Real signatures with cosign (sigstore), built by tools/gotools.py: a local key pair, no
transparency log, nothing but loopback.

`cosign sign --tlog-upload=false` signs with the key alone, and `verify --private-infrastructure`
checks against the public key without a log. cosign still asks sigstore's TUF repository for
its trusted root on the way; every outside address is sent to a proxy on a closed loopback port
(loopback registries bypass it through NO_PROXY), so the run stays on this machine and fails
fast instead of waiting on DNS.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["COSIGN_BINARY", "Cosign", "CosignError"]

COSIGN_BINARY = "cosign"
COMMAND_TIMEOUT_S = 120
_PASSWORD = "reconciler-tests-key-password"  # protects a throwaway key; not a secret
_NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


class CosignError(Exception):
    """cosign exited non-zero; the message carries its stderr."""


@dataclass
class Cosign:
    """A key pair in `workdir` and the commands that use it."""

    workdir: Path

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key = self.workdir / "cosign.key"
        self.public_key = self.workdir / "cosign.pub"
        if not self.key.exists():
            self._run("generate-key-pair")

    def sign(self, ref: str, *, oci11: bool = False) -> None:
        """Sign `ref` (REPO@DIGEST) with the private key; pushes `sha256-<hex>.sig`, or with
        `oci11` an OCI 1.1 referrer (a manifest whose `subject` is `ref`: listed by the
        referrers API, or else in the `sha256-<hex>` tag schema index cosign maintains)."""
        mode = ("--registry-referrers-mode=oci-1-1",) if oci11 else ()
        self._run(
            "sign", "--key", str(self.key), "--tlog-upload=false", "--yes", *mode, *_PLAIN_HTTP,
            ref,
        )  # fmt: skip

    def verify(self, ref: str, *, oci11: bool = False) -> list[dict[str, Any]]:
        """Verify `ref` against the public key; returns the verified payloads (one per
        signature). Raises CosignError when no signature verifies. With `oci11`, OCI 1.1
        referrers are tried first (cosign falls back to the `.sig` tag when none verifies)."""
        mode = ("--experimental-oci11",) if oci11 else ()
        out = self._run(
            "verify", "--key", str(self.public_key), "--private-infrastructure", *mode,
            *_PLAIN_HTTP, ref,
        )  # fmt: skip
        payloads: list[dict[str, Any]] = json.loads(out)
        return payloads

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [COSIGN_BINARY, *args],
            cwd=self.workdir,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise CosignError(f"cosign {args[0]} failed ({done.returncode}):\n{done.stderr}")
        return done.stdout

    def _env(self) -> dict[str, str]:
        kept = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        return {
            **kept,
            "COSIGN_PASSWORD": _PASSWORD,
            "COSIGN_EXPERIMENTAL": "1",  # the OCI 1.1 referrers mode is experimental in v2
            "HOME": str(self.workdir),  # no ~/.sigstore or ~/.docker of the user
            "TUF_ROOT": str(self.workdir / "tuf"),
            "HTTPS_PROXY": _NOWHERE,
            "HTTP_PROXY": _NOWHERE,
            "NO_PROXY": "127.0.0.0/8,localhost,::1",
        }


_PLAIN_HTTP = ("--allow-http-registry", "--allow-insecure-registry")
