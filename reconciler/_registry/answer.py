"""A registry response whose body has been read (under a size cap) and the connection freed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .._errors import ProtocolError

__all__ = ["Answer", "HeaderView", "error_code", "read_at_most"]


class HeaderView(Protocol):
    """An answer's headers, looked up case-insensitively: `httpx.Headers`, or the transport's
    view of urllib3's (`transport.ReplyHeaders`), which spares building httpx's per request."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def get_list(self, key: str, split_commas: bool = False) -> list[str]: ...

    def __contains__(self, key: Any) -> bool: ...


class _Streamed(Protocol):
    def iter_bytes(self) -> Iterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A response whose body has already been read under a cap."""

    method: str
    status: int
    headers: HeaderView
    body: bytes
    # The URL asked, parsed only when `url` is read (redirects, pages, refusals): building an
    # httpx.URL for each of thousands of answers nobody looks at costs more than the request.
    address: httpx.URL | str
    # The scheme of the Authorization header the request last carried (`basic`, `bearer`; ''
    # for none), never its value: what a 401 or 403 refused (see RegistryAuth.refusal).
    authorization: str = ""

    @property
    def url(self) -> httpx.URL:
        address = self.address
        return address if isinstance(address, httpx.URL) else httpx.URL(address)

    @property
    def media_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip()


def read_at_most(response: _Streamed, cap: int, host: str, what: str) -> bytes:
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
