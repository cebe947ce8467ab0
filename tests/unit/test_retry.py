"""The retry layer: which failures are retried, how long it waits, and when it stops."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from reconciler._errors import TlsError, TransportError
from reconciler._registry.answer import Answer
from reconciler._registry.retry import RetryPolicy, retry_after_seconds


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def answer(status: int, **headers: str) -> Answer:
    url = httpx.URL("http://r.test/v2/")
    return Answer("GET", status, httpx.Headers(headers), b"", url)


def policy(clock: FakeClock, **kwargs: Any) -> RetryPolicy:
    return RetryPolicy(
        sleep=clock.sleep,
        clock=lambda: clock.now,
        rng=random.Random(7),
        **kwargs,
    )


def scripted(*results: Answer | Exception) -> tuple[list[int], Callable[[], Answer]]:
    calls: list[int] = []

    def call() -> Answer:
        calls.append(1)
        result = results[len(calls) - 1]
        if isinstance(result, Exception):
            raise result
        return result

    return calls, call


def test_each_attempt_gets_the_arguments_given_to_run() -> None:
    clock = FakeClock()
    seen: list[tuple[str, int]] = []

    def call(path: str, cap: int) -> Answer:
        seen.append((path, cap))
        return answer(503 if len(seen) == 1 else 200)

    assert policy(clock).run("GET /p", call, "/p", 10).status == 200
    assert seen == [("/p", 10), ("/p", 10)]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    clock = FakeClock()
    calls, call = scripted(answer(status), answer(200))
    assert policy(clock).run("GET x", call).status == 200
    assert len(calls) == 2 and len(clock.sleeps) == 1


@pytest.mark.parametrize("status", [200, 201, 400, 401, 403, 404])
def test_other_statuses_are_not_retried(status: int) -> None:
    calls, call = scripted(answer(status))
    assert policy(FakeClock()).run("GET x", call).status == status
    assert len(calls) == 1


def test_transport_errors_are_retried_then_raised() -> None:
    clock = FakeClock()
    error = TransportError("r.test", "GET x: connection broken")
    calls, call = scripted(error, error, error, error)
    with pytest.raises(TransportError):
        policy(clock, attempts=4).run("GET x", call)
    assert len(calls) == 4 and len(clock.sleeps) == 3


def test_a_rejected_certificate_is_not_retried() -> None:
    clock = FakeClock()
    error = TlsError("r.test", "GET x: TLS certificate not accepted")
    calls, call = scripted(error, error)
    with pytest.raises(TlsError):
        policy(clock, attempts=4).run("GET x", call)
    assert len(calls) == 1 and clock.sleeps == []


def test_retry_after_is_honoured_and_capped() -> None:
    clock = FakeClock()
    _, call = scripted(
        answer(429, **{"retry-after": "3"}), answer(429, **{"retry-after": "999"}), answer(200)
    )
    assert policy(clock, max_delay_s=5).run("GET x", call).status == 200
    assert clock.sleeps == [3.0, 5.0]


class Drawn(random.Random):
    """Records each range the policy draws a wait from, and returns the point `fraction` of
    the way through it: the jitter, made visible."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return a + (b - a) * self.fraction


@pytest.mark.parametrize(
    ("settings", "fraction", "ranges", "sleeps"),
    [
        # After failed attempt n the wait is drawn from [0, base * 2**n]: it doubles...
        ({"base_delay_s": 1, "max_delay_s": 100}, 1.0, [2, 4, 8, 16, 32], [2, 4, 8, 16, 32]),
        # ...until max_delay caps it,
        ({"base_delay_s": 1, "max_delay_s": 5}, 1.0, [2, 4, 5, 5, 5], [2, 4, 5, 5, 5]),
        # with the defaults too (base 0.25 s, cap 8 s),
        ({}, 1.0, [0.5, 1, 2, 4, 8], [0.5, 1, 2, 4, 8]),
        # and the wait is anywhere in the range (full jitter), not its end.
        ({"base_delay_s": 1, "max_delay_s": 100}, 0.25, [2, 4, 8, 16, 32], [0.5, 1, 2, 4, 8]),
    ],
    ids=["doubles", "capped", "defaults", "jittered"],
)
def test_backoff_doubles_per_attempt_up_to_the_cap_with_full_jitter(
    settings: dict[str, float], fraction: float, ranges: list[float], sleeps: list[float]
) -> None:
    clock, rng = FakeClock(), Drawn(fraction)
    _, call = scripted(*[answer(503)] * 6)
    retry = RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now, rng=rng, attempts=6,
                        **settings)  # fmt: skip
    assert retry.run("GET x", call).status == 503
    assert rng.ranges == [(0, high) for high in ranges]
    assert clock.sleeps == sleeps


def test_backoff_waits_are_exactly_the_draws_of_the_policy_random_source() -> None:
    clock = FakeClock()
    _, call = scripted(*[answer(503)] * 6)
    last = policy(clock, attempts=6, base_delay_s=1, max_delay_s=100).run("GET x", call)
    assert last.status == 503
    same = random.Random(7)  # the seed policy() gives: the exact waits it must have drawn
    assert clock.sleeps == [same.uniform(0, 2**attempt) for attempt in range(1, 6)]


def test_the_deadline_stops_retries_early() -> None:
    clock = FakeClock()
    calls, call = scripted(*[answer(503, **{"retry-after": "4"})] * 5)
    result = policy(clock, attempts=5, deadline_s=10, max_delay_s=8).run("GET x", call)
    assert result.status == 503
    assert clock.sleeps == [4.0, 4.0] and len(calls) == 3


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("5", 5.0), ("0", 0.0), ("-3", 0.0), ("soon", None), (None, None), ("", None)],
)
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
