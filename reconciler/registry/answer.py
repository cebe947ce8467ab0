"""A registry response whose body has been read (under a size cap) and the connection freed."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

__all__ = ["Answer"]


@dataclass(frozen=True)
class Answer:
    """A response whose body has already been read under a cap."""

    method: str
    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL

    @property
    def media_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value.split(";", 1)[0].strip()
