"""A registry response whose body has been read (under a size cap) and the connection freed."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..errors import ProtocolError

__all__ = ["Answer", "read_at_most"]


@dataclass(frozen=True)
class Answer:
    """A response whose body has already been read under a cap."""

    method: str
    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL
    # The scheme of the Authorization header the request last carried (`basic`, `bearer`; ''
    # for none), never its value: what a 401 or 403 refused (see RegistryAuth.refusal).
    authorization: str = ""

    @property
    def media_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip()


def read_at_most(response: httpx.Response, cap: int, host: str, what: str) -> bytes:
    """Read a streamed body, refusing more than `cap` bytes (hostile or broken servers)."""
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > cap:
            raise ProtocolError(host, f"{what}: answer larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
