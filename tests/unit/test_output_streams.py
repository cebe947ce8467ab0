"""What goes to the terminal: colour decisions, the progress line, and log formats."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest

from reconciler._cli import logs
from reconciler._cli.progress import Progress
from reconciler._cli.terminal import wants_color


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("choice", "tty", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),  # a pipe or a file
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: set *and* non-empty
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),  # an explicit flag wins
        ("never", True, {}, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    choice: str, tty: bool, env: dict[str, str], expected: bool
) -> None:
    stream = Terminal() if tty else io.StringIO()
    assert wants_color(choice, stream, env) is expected  # type: ignore[arg-type]


def test_progress_is_silent_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress.for_terminal(stream)
    assert not progress.enabled
    with progress.stage("reading 3 aliases"):
        time.sleep(0.05)
    assert stream.getvalue() == ""


def test_progress_is_off_when_logs_use_stderr() -> None:
    assert not Progress.for_terminal(Terminal(), quiet=True).enabled
    assert Progress.for_terminal(Terminal()).enabled


def test_progress_shows_the_stage_on_a_long_run_and_erases_itself() -> None:
    stream = Terminal()
    with Progress(stream, enabled=True, delay=0.0, interval=0.01).stage("reading 3 aliases"):
        time.sleep(0.1)
    text = stream.getvalue()
    assert "\rreconcile: reading 3 aliases" not in text  # every frame erases the line first
    assert "\r\x1b[2Kreconcile: reading 3 aliases, " in text  # no units: the time only
    assert text.endswith("\r\x1b[2K")


def test_progress_says_nothing_on_a_quick_run() -> None:
    stream = Terminal()
    with Progress(stream, enabled=True, delay=5.0).stage("reading 3 aliases"):
        pass
    assert stream.getvalue() == ""


@pytest.fixture
def restore_logging() -> object:
    logger = logging.getLogger("reconciler")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield None
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_are_one_object_per_line_with_extra_fields() -> None:
    stream = io.StringIO()
    logs.configure(1, "json", stream)
    log = logging.getLogger("reconciler.run")
    log.info("done in %.1fs", 1.25, extra={"summary": {"create": 1}, "success": True})
    log.debug("not shown at -v")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "done in 1.2s"
    assert (record["level"], record["logger"]) == ("info", "reconciler.run")
    assert (record["summary"], record["success"]) == ({"create": 1}, True)
    assert record["time"].endswith("+00:00")


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("verbosity", "shown"), [(0, ["w"]), (1, ["i", "w"]), (2, ["d", "i", "w"])]
)
def test_verbosity_sets_the_level(verbosity: int, shown: list[str]) -> None:
    stream = io.StringIO()
    logs.configure(verbosity, "text", stream)
    log = logging.getLogger("reconciler.http")
    log.debug("d")
    log.info("i")
    log.warning("w")
    assert stream.getvalue().splitlines() == [f"reconcile: {m}" for m in shown]
