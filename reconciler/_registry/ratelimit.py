"""Pull rate limits as a registry announces them (Docker Hub): `ratelimit-limit: 100;w=21600`
and `ratelimit-remaining: 76;w=21600` on manifest answers, and a 429 without `Retry-After` once
the window is spent.

Only a manifest GET counts as a pull; a HEAD does not. A refused pull stays refused until the
window (`w=`, seconds; hours on Docker Hub) resets, so retrying it, or sending the registry any
other manifest GET in the same run, only wastes time: every alias that still needs one fails
with a message naming the limit, and aliases that need only HEADs (a warm cache) go on.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from .._errors import RegistryError
from .._model.names import DOCKER_HUB, canonical_host
from .answer import Answer

__all__ = ["PullLimit", "PullLimits", "Quota", "describe_window", "parse_quota"]

log = logging.getLogger("reconciler.ratelimit")

_COUNT = re.compile(r"\s*([0-9]+)")
_WINDOW = re.compile(r";\s*w\s*=\s*([0-9]+)", re.IGNORECASE)
_MANIFEST = re.compile(r"/v2/.+/manifests/[^/]+$")


@dataclass(frozen=True)
class Quota:
    """One `ratelimit-*` header value: a number of pulls and the window they apply to."""

    count: int
    window_s: int | None = None


def parse_quota(value: str | None) -> Quota | None:
    """`76;w=21600` -> Quota(76, 21600); None when the header is missing or unreadable."""
    count = _COUNT.match(value or "")
    if count is None:
        return None
    window = _WINDOW.search(value or "")
    return Quota(int(count.group(1)), int(window.group(1)) if window else None)


def describe_window(seconds: int | None) -> str:
    """`window 21600 s = 6 h`, as messages name it."""
    if seconds is None:
        return "window not announced"
    if seconds >= 3600:
        return f"window {seconds} s = {seconds / 3600:g} h"
    return f"window {seconds} s"


class PullLimit:
    """One registry's pull limit as its answers report it during a run. Thread-safe."""

    def __init__(self, host: str) -> None:
        self.host = host
        # Docker Hub's pull-limit 429 may come first, before any header announced a limit.
        self._hub = canonical_host(host) == DOCKER_HUB
        self._lock = threading.Lock()
        self._limit: Quota | None = None
        self._lowest: int | None = None
        self._window_s: int | None = None
        self._spent = False

    @property
    def lowest_remaining(self) -> int | None:
        """The fewest pulls left that the registry reported in this run (0 once spent)."""
        with self._lock:
            return self._lowest

    def read(self, answer: Answer) -> Answer:
        """Note what `answer` says about the limit; returns it unchanged."""
        limit = parse_quota(answer.headers.get("ratelimit-limit"))
        remaining = parse_quota(answer.headers.get("ratelimit-remaining"))
        if self._note(limit, remaining):
            log.info("%s", self.describe())
        if self.refuses(answer):
            self._spend()
        return answer

    def _note(self, limit: Quota | None, remaining: Quota | None) -> bool:
        """Keep the limit, its window and the fewest pulls left; True when the limit is new."""
        with self._lock:
            first = self._limit is None and limit is not None
            self._limit = limit or self._limit
            self._window_s = _window(limit, remaining) or self._window_s
            if remaining is not None and (self._lowest is None or remaining.count < self._lowest):
                self._lowest = remaining.count
        return first

    def refuses(self, answer: Answer) -> bool:
        """Whether `answer` is a refused pull: a 429 to a manifest GET without `Retry-After`,
        from Docker Hub or a registry that announced a limit. Any other 429 is throttling that
        passes (retried, honouring `Retry-After`)."""
        if answer.status != 429 or answer.method != "GET" or "retry-after" in answer.headers:
            return False
        if not _MANIFEST.search(answer.url.path):
            return False
        with self._lock:
            return self._hub or self._limit is not None or self._lowest is not None

    def check(self, what: str) -> None:
        """Raise the pull-limit error instead of sending a manifest GET once it is spent."""
        with self._lock:
            spent = self._spent
        if spent:
            raise self.error(what)

    def error(self, what: str, *, code: str | None = None) -> RegistryError:
        """A pull of `what` refused, or not sent, on a spent limit; `code` is the refusing
        answer's error code (Docker Hub's `TOOMANYREQUESTS`), when there was an answer."""
        with self._lock:
            window = describe_window(self._window_s)
        return RegistryError(
            self.host,
            f"{what}: pull rate limit of {self.host} spent ({window}); no further manifest GET"
            " goes to it in this run (HEADs do not count and go on): run again after the"
            " window, or pull with credentials that have a higher limit",
            status=429,
            code=code,
        )

    def describe(self) -> str:
        """`docker.io: pull rate limit 100 (window 21600 s = 6 h), 76 left`."""
        with self._lock:
            limit, lowest, window = self._limit, self._lowest, self._window_s
        of = f" {limit.count}" if limit else ""
        left = "" if lowest is None else f", {lowest} left"
        return f"{self.host}: pull rate limit{of} ({describe_window(window)}){left}"

    def _spend(self) -> None:
        with self._lock:
            first, self._spent, self._lowest = not self._spent, True, 0
        if first:
            log.warning(
                "%s: a pull was refused; no further manifest GET is sent to it", self.describe()
            )


def _window(*quotas: Quota | None) -> int | None:
    return next((q.window_s for q in quotas if q is not None and q.window_s), None)


class PullLimits:
    """The pull limits of one run's registries, by host: what metrics and the log report."""

    def __init__(self) -> None:
        self._by_host: dict[str, PullLimit] = {}
        self._lock = threading.Lock()

    def for_host(self, host: str) -> PullLimit:
        with self._lock:
            return self._by_host.setdefault(host, PullLimit(host))

    def lowest_remaining(self) -> dict[str, int]:
        """host -> the fewest pulls left it reported, for registries that report a limit."""
        with self._lock:
            limits = dict(self._by_host)
        lowest = {host: limit.lowest_remaining for host, limit in sorted(limits.items())}
        return {host: n for host, n in lowest.items() if n is not None}

    def described(self) -> list[str]:
        """One line per registry that reported a limit (see `PullLimit.describe`)."""
        with self._lock:
            limits = sorted(self._by_host.items())
        return [limit.describe() for _, limit in limits if limit.lowest_remaining is not None]
