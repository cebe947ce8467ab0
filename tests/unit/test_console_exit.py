"""The `reconcile` process itself (`reconciler._cli.main:console`): its output delivered whole,
its exit code kept, a reader that went away a quiet failure, and no interpreter teardown
unless a thread still needs the interpreter's wait."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler._cli.main import main

ROOT = Path(__file__).resolve().parents[2]
# As a user's shell starts it: output buffered until flushed (not PYTHONUNBUFFERED's writes).
BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


def reconcile(*argv: str, stdout: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        env=BUFFERED,
    )


def test_the_output_arrives_whole_through_a_pipe_and_the_exit_code_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The end of an output stays in the interpreter's buffer until flushed: leaving the
    # process without teardown must not leave it there.
    assert main(["schema", "report"]) == 0
    done = reconcile("schema", "report")
    assert (done.returncode, done.stdout) == (0, capsys.readouterr().out)
    valid = reconcile("validate", "-f", "manifests.yaml")
    assert (valid.returncode, valid.stdout) == (
        0,
        "manifests.yaml: valid (1 repository, 1 alias)\n",
    )
    missing = reconcile("validate", "-f", "no-such-file.yaml")
    assert missing.returncode == 1
    assert missing.stderr == (
        "reconcile: error: no-such-file.yaml: cannot read file: No such file or directory\n"
    )


def test_an_output_whose_reader_went_away_fails_quietly() -> None:
    """A reader gone before the output was written (`| head -1` on a long report): exit 1,
    no traceback (the short output fails at the last flush, the long one at its first
    write)."""
    for argv in (["validate", "-f", "manifests.yaml"], ["schema", "report"]):
        read, write = os.pipe()
        os.close(read)
        try:
            done = reconcile(*argv, stdout=write)
        finally:
            os.close(write)
        assert (done.returncode, done.stderr) == (1, ""), argv


TEARDOWN_PROBE = """\
import atexit, sys, threading, time
import reconciler._cli.main as cli
atexit.register(print, "teardown ran", file=sys.stderr)

def main_then_a_thread():  # started as main returns: alive when console() looks
    code = real_main()
    if case == "with-thread":
        threading.Thread(target=time.sleep, args=(0.5,)).start()
    return code

case, sys.argv[1:] = sys.argv[1], ["validate", "-f", "no-such-file.yaml"]
real_main, cli.main = cli.main, main_then_a_thread
cli.console()
"""


def test_the_process_ends_without_teardown_unless_a_thread_is_still_running() -> None:
    for case, teardown in (("alone", ""), ("with-thread", "teardown ran\n")):
        done = subprocess.run(
            [sys.executable, "-c", TEARDOWN_PROBE, case],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=BUFFERED,
        )
        assert done.returncode == 1, case
        assert done.stderr == (
            "reconcile: error: no-such-file.yaml: cannot read file: No such file or directory\n"
            + teardown
        ), case
