"""A registry response whose body has been read (under a size cap) and the connection freed."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from .._errors import ProtocolError

__all__ = ["Answer", "error_code", "read_at_most"]


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


def error_code(body: bytes) -> str | None:
    """The code of the first error in a distribution error body, `{"errors": [{"code":
    "MANIFEST_UNKNOWN", "message": "...", "detail": ...}, ...]}` (the one a message quotes);
    None for any other body: empty, not JSON, another shape, a code that is not a string.
    `body` was read under a cap (`read_at_most`)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; nested beyond the parser
        return None
    errors = doc.get("errors") if isinstance(doc, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    code = first.get("code") if isinstance(first, dict) else None
    return code if isinstance(code, str) and code else None
