"""`hooks: {after_write: [...], timeout: S}`: a command run after an alias's index was written,
one at a time, with the alias, the new digest and the action in its environment; killed with
its whole process group after `timeout` or when the run stops; a failure makes the alias an
`error` that was written (`applied`). Hooks here are small scripts in tmp_path."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler._config.models import AliasTarget, Hooks, parse
from reconciler._errors import RegistryError
from reconciler._model.oci import DOCKER_MANIFEST, Descriptor, Manifest
from reconciler._output.markdown import render_markdown
from reconciler._output.render import render_json, render_text
from reconciler._pipeline import hooks
from reconciler._pipeline.apply import apply
from reconciler._pipeline.observed import LiveTag, ObservedAlias, Orphan
from reconciler._pipeline.plan import Action, make_plan
from reconciler._pipeline.report import Report
from reconciler._registry.interface import Registry
from tests.support.fakeregistry import UnusedRegistry

from .factories import ABSENT, REPO, digest, image, live_index, observed, parse_dict

AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64/v8", "arm")
NAME = f"{REPO}:10"  # the report's `target` of the alias "10"


@dataclass
class Writer(UnusedRegistry):
    """Accepts every index PUT and tag DELETE, recording them; `on_put` runs after a PUT."""

    puts: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    on_put: Callable[[str], None] = lambda tag: None
    fail_put: bool = False

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        if self.fail_put:
            raise RegistryError("localhost:5000", "PUT refused", status=500)
        self.on_put(tag)
        self.puts.append((tag, manifest.digest))
        return manifest.digest

    def delete_tag(self, repository: str, tag: str, digest: str) -> None:
        self.deleted.append(tag)


if TYPE_CHECKING:
    _: Registry = Writer()


def hooked(tag: str, argv: list[str], timeout: float = 60) -> AliasTarget:
    """An alias of REPO whose `defaults` set an after_write hook, parsed as from a file."""
    config = parse_dict(
        {
            "defaults": {"hooks": {"after_write": argv, "timeout": timeout}},
            "repositories": {REPO: {"aliases": {tag: ["10.10", "10.20"]}}},
        }
    )
    return config.targets()[0]


def script(directory: Path, body: str, name: str = "notify") -> Path:
    """An executable /bin/sh script `name` in `directory`."""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def creating(t: AliasTarget) -> ObservedAlias:
    return observed(t, ABSENT, (AMD,), (ARM,))


def run(*aliases: ObservedAlias, writer: Writer | None = None, **options: object) -> Report:
    registry = writer or Writer()
    return apply(make_plan(aliases), lambda _: registry, **options)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie nobody reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def survivors(listed: Path) -> list[int]:
    """The processes listed in `listed` still alive a moment after the hook's turn: a kill is
    sent at once, but the process takes a few milliseconds to end."""
    pids = [int(line) for line in listed.read_text().split()]
    deadline = time.monotonic() + 0.5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [pid for pid in pids if alive(pid)]


# The hook's view of what the tool gave it: its arguments and its whole environment.
DUMP = (
    "import json, os, sys\n"
    "json.dump({'argv': sys.argv[2:], 'env': dict(os.environ)}, open(sys.argv[1], 'w'))\n"
)


@pytest.mark.parametrize(
    ("live", "action"),
    [
        pytest.param(ABSENT, "create", id="create"),
        pytest.param(live_index(AMD, image("linux/arm64", "old")), "update", id="update"),
    ],
)
def test_the_hook_gets_the_tools_environment_plus_the_alias_digest_and_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live: LiveTag, action: str
) -> None:
    monkeypatch.setenv("FROM_THE_TOOL", "kept")
    seen = tmp_path / "seen.json"
    argv = [sys.executable, "-c", DUMP, str(seen), "--key", "k.pub"]
    writer = Writer()

    report = run(observed(hooked("10", argv), live, (AMD,), (ARM,)), writer=writer)

    assert [(o.action, o.applied, o.message) for o in report.outcomes] == [
        (Action(action), True, "")
    ]
    hook = json.loads(seen.read_text())
    assert hook["argv"] == ["--key", "k.pub"]  # as configured, nothing added
    added = {k: v for k, v in hook["env"].items() if os.environ.get(k) != v}
    assert added == {
        "RECONCILE_ALIAS": NAME,
        "RECONCILE_DIGEST": writer.puts[0][1],
        "RECONCILE_ACTION": action,
    }
    assert hook["env"]["FROM_THE_TOOL"] == "kept"


def test_hooks_never_overlap_across_the_workers(tmp_path: Path) -> None:
    # Each hook holds a directory while it runs; a second hook finding it there overlapped.
    notify = script(
        tmp_path,
        f'mkdir "{tmp_path}/running" || echo "$RECONCILE_ALIAS" >> "{tmp_path}/overlaps"\n'
        "sleep 0.2\n"
        f'echo "$RECONCILE_ALIAS" >> "{tmp_path}/done"\n'
        f'rmdir "{tmp_path}/running"',
    )
    tags = ["1", "2", "3", "4"]

    report = run(*(creating(hooked(t, [str(notify)])) for t in tags), concurrency=4)

    assert [(o.action, o.applied) for o in report.outcomes] == [(Action.CREATE, True)] * 4
    assert not (tmp_path / "overlaps").exists()
    assert sorted((tmp_path / "done").read_text().split()) == [f"{REPO}:{t}" for t in tags]


def test_hooks_run_in_the_order_aliases_finish_writing(tmp_path: Path) -> None:
    notify = script(tmp_path, f'echo "$RECONCILE_ALIAS" >> "{tmp_path}/done"')

    def slow_first(tag: str) -> None:
        if tag == "1":
            time.sleep(0.5)  # alias 2, written meanwhile, runs its hook first

    writer = Writer(on_put=slow_first)
    run(*(creating(hooked(t, [str(notify)])) for t in "12"), writer=writer, concurrency=2)

    assert (tmp_path / "done").read_text().split() == [f"{REPO}:2", f"{REPO}:1"]


def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    listed = tmp_path / "pids"
    notify = script(
        tmp_path,
        f'sleep 60 & echo $! > "{listed}"\nsleep 60 & echo $! >> "{listed}"\n'
        f'echo $$ >> "{listed}"\nwait',
    )
    started = time.monotonic()

    report = run(creating(hooked("10", [str(notify)], timeout=0.5)))

    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5
    assert [(o.action, o.applied, o.message) for o in report.outcomes] == [
        (Action.ERROR, True, "hook after_write (notify) timed out after 0.5 s")
    ]
    assert survivors(listed) == []


def test_a_hook_that_ignores_sigterm_is_killed_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hooks, "KILL_GRACE", 0.5)
    listed = tmp_path / "pids"
    notify = script(
        tmp_path, f'trap \'\' TERM\nsleep 60 & echo $! > "{listed}"\necho $$ >> "{listed}"\nwait'
    )
    started = time.monotonic()

    report = run(creating(hooked("10", [str(notify)], timeout=0.3)))

    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed < 1.8
    assert report.outcomes[0].message == "hook after_write (notify) timed out after 0.3 s"
    assert survivors(listed) == []


def test_what_a_hook_leaves_running_in_its_process_group_is_ended(tmp_path: Path) -> None:
    listed = tmp_path / "pids"
    notify = script(tmp_path, f'sleep 60 & echo $! > "{listed}"\nexit 0')

    report = run(creating(hooked("10", [str(notify)])))

    assert [(o.action, o.applied) for o in report.outcomes] == [(Action.CREATE, True)]
    assert survivors(listed) == []


@pytest.mark.parametrize(
    ("body", "argv", "message"),
    [
        pytest.param("exit 3", None, "hook after_write (notify) exited with 3", id="exit status"),
        pytest.param(
            "kill -KILL $$", None, "hook after_write (notify) was killed by SIGKILL", id="signal"
        ),
        pytest.param(
            "kill -40 $$", None, "hook after_write (notify) was killed by signal 40", id="rt signal"
        ),
        pytest.param(
            None,
            ["printf", "a\0b"],
            "hook after_write (printf) could not start: embedded null byte",
            id="NUL in an argument",
        ),
        pytest.param(
            None,
            ["no-such-hook-program", "--flag"],
            "hook after_write (no-such-hook-program) could not start: No such file or directory",
            id="missing program",
        ),
        pytest.param(
            None,
            ["{tmp}/not-executable"],
            "hook after_write (not-executable) could not start: Permission denied",
            id="not executable",
        ),
    ],
)
def test_a_failing_hook_makes_the_written_alias_an_error(
    tmp_path: Path, body: str | None, argv: list[str] | None, message: str
) -> None:
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    command = (
        [str(script(tmp_path, body))] if body else [a.format(tmp=tmp_path) for a in argv or []]
    )
    writer = Writer()

    report = run(creating(hooked("10", command)), writer=writer)

    assert [(o.action, o.applied, o.message) for o in report.outcomes] == [
        (Action.ERROR, True, message)
    ]
    assert isinstance(report.outcomes[0].error, hooks.HookError)
    assert [tag for tag, _ in writer.puts] == ["10"]  # the index stays written
    assert report.has_failures


def _noop(t: AliasTarget) -> ObservedAlias:
    return observed(t, live_index(AMD, ARM), (AMD,), (ARM,))


def _conflict(t: AliasTarget) -> ObservedAlias:
    single = LiveTag("image", Descriptor(DOCKER_MANIFEST, digest("theirs"), 1))
    return observed(t, single, (AMD,), (ARM,))


@pytest.mark.parametrize(
    ("build", "fail_put", "action"),
    [
        pytest.param(_noop, False, Action.NOOP, id="noop"),
        pytest.param(_conflict, False, Action.CONFLICT, id="conflict"),
        pytest.param(creating, True, Action.ERROR, id="failed write"),
    ],
)
def test_no_hook_runs_for_an_alias_not_written(
    tmp_path: Path, build: Callable[[AliasTarget], ObservedAlias], fail_put: bool, action: Action
) -> None:
    ran = tmp_path / "ran"
    notify = script(tmp_path, f'touch "{ran}"')

    report = run(build(hooked("10", [str(notify)])), writer=Writer(fail_put=fail_put))

    assert [(o.action, o.applied) for o in report.outcomes] == [(action, False)]
    assert not ran.exists()


def test_no_hook_runs_for_a_pruned_alias(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    notify = script(tmp_path, f'touch "{ran}"')
    gone = Orphan(hooked("old", [str(notify)]), live_index(AMD, ARM))
    writer = Writer()

    report = apply(make_plan([], orphans=[gone]), lambda _: writer)

    assert [(o.action, o.applied) for o in report.outcomes] == [(Action.DELETE, True)]
    assert writer.deleted == ["old"]
    assert not ran.exists()


def test_a_stop_ends_a_running_hook_and_its_children(tmp_path: Path) -> None:
    listed = tmp_path / "pids"
    notify = script(tmp_path, f'sleep 60 & echo $! > "{listed}"\necho $$ >> "{listed}"\nwait')
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()

    report = run(creating(hooked("10", [str(notify)])), stop=stop)

    assert time.monotonic() - started < 1.5
    assert [(o.action, o.applied, o.message) for o in report.outcomes] == [
        (Action.ERROR, True, "hook after_write (notify) was ended: the run was stopped")
    ]
    assert survivors(listed) == []


def test_a_hook_does_not_start_once_the_run_stopped(tmp_path: Path) -> None:
    # The write was in flight when the stop came: it finishes, its hook never starts.
    ran = tmp_path / "ran"
    notify = script(tmp_path, f'touch "{ran}"')
    stop = threading.Event()

    report = run(
        creating(hooked("10", [str(notify)])), writer=Writer(on_put=lambda _: stop.set()), stop=stop
    )

    assert [(o.action, o.applied, o.message) for o in report.outcomes] == [
        (Action.ERROR, True, "hook after_write (notify) not run: the run was stopped")
    ]
    assert not ran.exists()


def test_the_hooks_output_goes_to_the_log_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notify = script(tmp_path, "echo to stdout\necho to stderr >&2\necho again")
    caplog.set_level(logging.INFO, logger="reconciler")

    run(creating(hooked("10", [str(notify)])))

    said = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if r.getMessage().startswith(f"{NAME}: hook after_write (notify): ")
    ]
    prefix = f"{NAME}: hook after_write (notify): "
    assert said == [
        ("reconciler.hooks", logging.INFO, prefix + "to stdout"),
        ("reconciler.hooks", logging.INFO, prefix + "to stderr"),
        ("reconciler.hooks", logging.INFO, prefix + "again"),
    ]


def test_only_the_last_64_kib_of_a_long_output_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notify = script(tmp_path, "head -c 70000 /dev/zero | tr '\\0' a\necho\necho last")
    caplog.set_level(logging.INFO, logger="reconciler")

    run(creating(hooked("10", [str(notify)])))

    prefix = f"{NAME}: hook after_write (notify): "
    said = [m.removeprefix(prefix) for m in caplog.messages if m.startswith(prefix)]
    assert said == ["(its first 4470 bytes not logged)", "a" * (65536 - 6), "last"]


def _hook_failed_report(tmp_path: Path) -> Report:
    notify = script(tmp_path, "exit 3")
    return run(creating(hooked("10", [str(notify)])))


def test_text_says_the_index_was_written_before_the_hook_failed(tmp_path: Path) -> None:
    report = _hook_failed_report(tmp_path)
    written = report.outcomes[0].plan.desired
    assert written is not None

    assert render_text(report).splitlines() == [
        f"! {NAME} error: created {written.manifest.digest[:19]},"
        " then hook after_write (notify) exited with 3",
        "Applied: 0 created, 0 updated, 0 unchanged, 0 conflict(s), 1 error(s).",
    ]


def test_markdown_says_the_index_was_written_before_the_hook_failed(tmp_path: Path) -> None:
    report = _hook_failed_report(tmp_path)
    written = report.outcomes[0].plan.desired
    assert written is not None
    short = written.manifest.digest[:19]

    row = render_markdown(report).splitlines()[-1]
    assert row == (
        f"| `!` | `{NAME}` | **error** | Docker manifest list `{short}` |"
        f" created `{short}`, then hook after\\_write (notify) exited with 3 |"
    )


def test_json_reports_a_failed_hook_as_an_error_that_was_applied(tmp_path: Path) -> None:
    alias = json.loads(render_json(_hook_failed_report(tmp_path)))["aliases"][0]

    assert (alias["action"], alias["applied"], alias["message"]) == (
        "error",
        True,
        "hook after_write (notify) exited with 3",
    )


# -- the README says what the code does -------------------------------------------------------

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_section(title: str) -> str:
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", README, flags=re.S | re.M)
    assert match, title
    return match[1]


def test_the_readme_hooks_example_and_message_are_the_tools(tmp_path: Path) -> None:
    section = readme_section("Hooks: after an alias was written")
    (example,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    (shown,) = re.findall(r"^! .*$", section, flags=re.M)
    config = parse(example)
    assert config.defaults.hooks == Hooks(after_write=["/usr/local/bin/sign-alias"], timeout=60)
    assert [t.hooks for t in config.targets()] == [
        Hooks(after_write=["/usr/local/bin/notify-chat", "--channel", "releases"], timeout=10)
    ]

    failing = script(tmp_path, "exit 3", name="notify-chat")
    report = run(creating(hooked("10", [str(failing)])))
    line = render_text(report).splitlines()[0]
    assert re.sub(r"sha256:[0-9a-f]{12}", "sha256:…", line) == re.sub(
        r"sha256:[0-9a-f]{12}", "sha256:…", shown
    )
