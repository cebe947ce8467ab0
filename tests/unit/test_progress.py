"""The progress line: done/total, the rate and the time of a stage, drawn on a terminal only.

Lines are checked with a fake clock; the drawing thread is checked by waiting (bounded) for
an exact frame, never by how long anything took.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from reconciler._cli.progress import Progress
from reconciler._errors import Interrupted, RegistryError
from reconciler._model.oci import Manifest
from reconciler._pipeline.apply import apply
from reconciler._pipeline.observe import observe
from reconciler._pipeline.plan import Action, make_plan
from reconciler._registry.interface import Registry
from tests.support.fakeregistry import UnusedRegistry

from .factories import ABSENT, image, live_index, observed, target

ERASE = "\r\x1b[2K"


class Terminal(io.StringIO):
    """A fake terminal: what was written, and whether it is a tty."""

    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    """Until `predicate()` holds (polled), at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "line"),
    [
        (120, 400, 3.4, "reading aliases 120/400, 35/s, 3.4 s"),  # 35.3/s: whole units
        (3, 400, 2.0, "reading aliases 3/400, 1.5/s, 2.0 s"),  # slow: one decimal
        (0, 12, 0.0, "reading aliases 0/12, 0.0/s, 0.0 s"),  # nothing yet, no division by 0
        (12, 12, 0.4, "reading aliases 12/12, 30/s, 0.4 s"),
        (0, None, 7.0, "reading aliases, 7.0 s"),  # a stage without units: the time only
        (5, None, 2.0, "reading aliases 5, 2.5/s, 2.0 s"),
    ],
)
def test_the_line_shows_done_of_total_the_rate_and_the_time(
    done: int, total: int | None, elapsed: float, line: str
) -> None:
    clock = FakeClock()
    progress = Progress(Terminal(), enabled=False, clock=clock)
    with progress.stage("reading aliases", total=total) as stage:
        for _ in range(done):
            stage.advance()
        clock.now += elapsed
        assert stage.line() == line


def test_advance_counts_every_unit_from_many_threads() -> None:
    progress = Progress(Terminal(), enabled=False)
    threads, each = 8, 5000
    with progress.stage("writing aliases", total=threads * each) as stage:
        start = threading.Barrier(threads)

        def work() -> None:
            start.wait()
            for _ in range(each):
                stage.advance()

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert stage.done == threads * each


def test_the_terminal_line_follows_the_count_and_is_erased_at_the_end() -> None:
    stream, clock = Terminal(), FakeClock()
    progress = Progress(stream, enabled=True, delay=0.0, interval=0.005, clock=clock)
    frame = f"{ERASE}reconcile: reading aliases 3/4, 1.5/s, 2.0 s"
    with progress.stage("reading aliases", total=4) as stage:
        clock.now += 2.0
        for _ in range(3):
            stage.advance()
        assert wait_for(lambda: stream.getvalue().endswith(frame)), stream.getvalue()
    text = stream.getvalue()
    assert text.endswith(frame + ERASE)  # the last frame, then the line erased
    frames = text.split(ERASE)
    assert frames[0] == "" and frames[-1] == ""  # every frame starts by erasing the line
    assert all(f.startswith("reconcile: reading aliases ") for f in frames[1:-1]), frames


def test_nothing_is_drawn_when_not_enabled_and_units_still_count() -> None:
    stream = Terminal()
    progress = Progress(stream, enabled=False, delay=0.0, interval=0.001)
    with progress.stage("writing aliases", total=2) as stage:
        stage.advance()
        stage.advance()
        time.sleep(0.02)
    assert stream.getvalue() == ""
    assert stage.done == 2


def test_a_quick_stage_draws_nothing_even_with_a_total() -> None:
    stream = Terminal()
    with Progress(stream, enabled=True, delay=5.0).stage("reading aliases", total=3) as stage:
        stage.advance()
    assert stream.getvalue() == ""


# -- the stages that count units ------------------------------------------------------------

AMD, ARM = image("linux/amd64", "a"), image("linux/arm64", "b")


class Unreachable:
    """A registry nobody can reach: every alias read fails, quickly and without a request."""

    def __init__(self) -> None:
        self.asked = 0

    def __call__(self, host: str) -> Registry:
        self.asked += 1
        raise RegistryError(host, "unreachable")


class Recorder:
    """A callback that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_observe_reports_each_alias_read() -> None:
    on_done = Recorder()
    targets = [target(str(n)) for n in range(5)]
    observed_aliases = observe(targets, Unreachable(), concurrency=2, on_done=on_done)
    assert [o.target.tag for o in observed_aliases] == ["0", "1", "2", "3", "4"]
    assert on_done.calls == 5


def test_observe_does_not_count_aliases_a_stop_left_unread() -> None:
    on_done, stop = Recorder(), threading.Event()
    stop.set()
    observed_aliases = observe(
        [target("1"), target("2")], Unreachable(), stop=stop, on_done=on_done
    )
    assert [type(o.error) for o in observed_aliases] == [Interrupted, Interrupted]
    assert on_done.calls == 0


@dataclass
class Writer(UnusedRegistry):
    """Enough of a registry for apply: every PUT accepted and recorded."""

    events: list[str] = field(default_factory=list)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        self.events.append(f"put {tag}")
        return manifest.digest


if TYPE_CHECKING:
    _: Registry = Writer()


def test_apply_reports_each_alias_written_and_only_those() -> None:
    unchanged = observed(target("same"), live_index(AMD, ARM), (AMD,), (ARM,))
    creating = [observed(target(tag), ABSENT, (AMD,), (ARM,)) for tag in ("1", "2")]
    plan = make_plan([creating[0], unchanged, creating[1]])
    assert [a.action for a in plan.aliases] == [Action.CREATE, Action.NOOP, Action.CREATE]
    writer = Writer()

    def on_done() -> None:
        writer.events.append("done")

    report = apply(plan, lambda _: writer, concurrency=1, on_done=on_done)
    assert [o.applied for o in report.outcomes] == [True, False, True]
    assert writer.events == ["put 1", "done", "put 2", "done"]  # counted once written


def test_apply_counts_a_failed_write_as_done_and_a_stopped_one_not() -> None:
    plan = make_plan([observed(target(str(n)), ABSENT, (AMD,), (ARM,)) for n in range(3)])
    failed = Recorder()
    report = apply(plan, Unreachable(), on_done=failed)
    assert [o.action for o in report.outcomes] == [Action.ERROR] * 3
    assert failed.calls == 3
    stopped, stop = Recorder(), threading.Event()
    stop.set()
    apply(plan, Unreachable(), stop=stop, on_done=stopped)
    assert stopped.calls == 0
