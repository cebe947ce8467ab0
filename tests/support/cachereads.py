"""Which cache files a run opens: the cache's one way of reading a file, recorded."""

from __future__ import annotations

import pytest

from reconciler._registry import cache as cache_module

__all__ = ["record_cache_reads"]


def record_cache_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the files the cache reads from now on, in order (contents by digest, tag
    hints, known images)."""
    opened: list[str] = []
    real = cache_module._read_file

    def recorded(path: str) -> bytes:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(cache_module, "_read_file", recorded)
    return opened
