"""Retries, kept in one small layer: transient transport errors and the statuses in
`RETRYABLE_STATUS` (429, 500, 502, 503, 504) are retried with exponential backoff and full
jitter, bounded by a number of attempts and by a deadline. A 429 that refuses a pull on a
spent rate limit is not retried (the caller marks it `final`).

Whether an error is transient is `RegistryError.transient`, the decision blob copies take
too. Only a TransportError (no answer came) is retried here, answers being judged by their
status; any other error a call raises is final: a refusal, a broken answer, or a token
service or ECR API failure already retried by its own policy.

Backoff: after failed attempt n (from 1) the wait is a random time in
[0, min(max_delay, base * 2**n)], so that many clients throttled at once do not retry in
lockstep. A `Retry-After` on any retried answer (seconds or an HTTP date) replaces that wait,
capped at `max_delay_s`. A wait that would pass the deadline is not taken: the last answer is
returned (or its error raised) instead.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TypeVarTuple

from .._errors import TransportError
from .answer import Answer

__all__ = ["RETRYABLE_STATUS", "RetryPolicy", "retry_after_seconds"]

log = logging.getLogger("reconciler.retry")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
Args = TypeVarTuple("Args")


def _never(answer: Answer) -> bool:
    return False


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    deadline_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def run(
        self,
        what: str,
        call: Callable[[*Args], Answer],
        *args: *Args,
        final: Callable[[Answer], bool] = _never,
    ) -> Answer:
        """Call `call(*args)` until the answer is not retryable, attempts run out, or the
        deadline would be passed by waiting. The last answer (or TransportError) is returned
        (or raised). `final` marks answers that no retry can change whatever their status: a
        refused pull on a spent rate limit lasts until its window resets, hours later
        (ratelimit.py). The arguments are passed along, not bound in a closure: the registry
        client sends every request through here."""
        deadline = self.clock() + self.deadline_s
        for attempt in range(1, self.attempts + 1):
            try:
                answer = call(*args)
            except TransportError as exc:
                if not exc.transient or not self._wait(what, attempt, str(exc), None, deadline):
                    raise
                continue
            if answer.status not in RETRYABLE_STATUS or final(answer):
                return answer
            hint = retry_after_seconds(answer.headers.get("retry-after"))
            if not self._wait(what, attempt, f"HTTP {answer.status}", hint, deadline):
                return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait(
        self, what: str, attempt: int, reason: str, hint: float | None, deadline: float
    ) -> bool:
        if attempt >= self.attempts:
            return False
        backoff = self.rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))
        delay = min(hint, self.max_delay_s) if hint is not None else backoff
        if self.clock() + delay > deadline:
            return False
        log.info(
            "retrying %s after %s (attempt %d of %d, waiting %.2fs)",
            what, reason, attempt + 1, self.attempts, delay,
        )  # fmt: skip
        self.sleep(delay)
        return True


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
