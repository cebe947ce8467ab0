"""The public Python API against a real registry, called as README's "Python API" example
calls it."""

from __future__ import annotations

import json
import logging
import re
import signal
from pathlib import Path

import pytest

import reconciler
from tests.support.images import get_manifest, push_image
from tests.support.registry import RegistryProcess

from .cli import write_config

pytestmark = pytest.mark.usefixtures("docker_config")
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def config_file(tmp_path: Path, registry: RegistryProcess, repo_name: str) -> Path:
    """The seed's sources, and a file with alias `10` of them."""
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    push_image(registry.url, repo_name, "10.20", platform="linux/arm64/v8")
    return write_config(
        tmp_path / "manifests.yaml", registry, repo_name, {"10": ["10.10", "10.20"]}
    )


def readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README's Python API section has no python block"
    return match[1]


def test_the_readme_example_runs_as_written(
    tmp_path: Path,
    registry: RegistryProcess,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The README's own names (my-image on localhost:5000, manifests.yaml in the working
    # directory), with this test's registry for localhost:5000.
    push_image(registry.url, "my-image", "10.10", platform="linux/amd64")
    push_image(registry.url, "my-image", "10.20", platform="linux/arm64/v8")
    write_config(tmp_path / "manifests.yaml", registry, "my-image", {"10": ["10.10", "10.20"]})
    monkeypatch.chdir(tmp_path)
    code = readme_example().replace("localhost:5000", registry.host)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == f"{registry.host}/my-image:10 create\n"
    doc = json.loads(get_manifest(registry.url, "my-image", "10")[0])
    assert [m["platform"].get("variant") for m in doc["manifests"]] == [None, "v8"]


def test_plan_reads_only_and_apply_writes_what_it_showed(
    config_file: Path, registry: RegistryProcess, repo_name: str
) -> None:
    config = reconciler.load_config(config_file)
    registry.clear_log()
    plan = reconciler.plan(config, no_cache=True)
    assert registry.writes() == []
    target = f"{registry.host}/{repo_name}:10"
    assert [(a.target, a.action, a.applied) for a in plan.aliases] == [(target, "create", False)]
    assert plan.has_changes

    report = reconciler.apply(plan)
    assert [(a.target, a.action, a.applied) for a in report.aliases] == [(target, "create", True)]
    assert report.summary()["create"] == 1 and not report.has_failures
    assert [(w.method, w.path) for w in registry.writes()] == [
        ("PUT", f"/v2/{repo_name}/manifests/10")
    ]
    again = reconciler.plan(config)
    assert [(a.action, a.message) for a in again.aliases] == [("noop", "")]
    assert not again.has_changes


def test_apply_refuses_more_changes_than_allowed_before_any_write(
    config_file: Path, registry: RegistryProcess
) -> None:
    plan = reconciler.plan(reconciler.load_config(config_file))
    registry.clear_log()
    with pytest.raises(reconciler.GuardError, match="more than --max-changes 0"):
        reconciler.apply(plan, max_changes=0)
    assert registry.writes() == []


def test_a_failing_alias_is_reported_and_the_others_proceed(
    tmp_path: Path, registry: RegistryProcess, repo_name: str
) -> None:
    push_image(registry.url, repo_name, "10.10", platform="linux/amd64")
    aliases = {"10": ["10.10"], "11": ["11.10"]}
    config = reconciler.load_config(write_config(tmp_path / "m.yaml", registry, repo_name, aliases))
    report = reconciler.apply(reconciler.plan(config, only=[f"{registry.host}/{repo_name}:*"]))
    actions = {a.target.rsplit(":", 1)[1]: (a.action, a.applied) for a in report.aliases}
    assert actions == {"10": ("create", True), "11": ("error", False)}
    assert report.has_failures
    [failed] = [a for a in report.aliases if a.action == "error"]
    assert failed.message == (
        f"{registry.host}: source '11.10' not found in {registry.host}/{repo_name}"
    )


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"only": ["not a pattern!"]}, reconciler.SelectionError),
        ({"shard": "3/2"}, reconciler.SelectionError),
    ],
)
def test_bad_selection_raises_before_any_request(
    config_file: Path, registry: RegistryProcess, options: dict[str, object], error: type
) -> None:
    config = reconciler.load_config(config_file)
    registry.clear_log()
    with pytest.raises(error):
        reconciler.plan(config, **options)  # type: ignore[arg-type]
    assert registry.requests() == []


def test_a_bad_file_raises_config_error_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text('repositories:\n  localhost:5000/app:\n    aliases:\n      "10": 10.10\n')
    with pytest.raises(reconciler.ConfigError) as raised:
        reconciler.load_config(path)
    assert (raised.value.line, raised.value.field) == (
        4,
        "repositories.localhost:5000/app.aliases.10",
    )
    assert isinstance(raised.value, reconciler.ReconcileError)


def test_the_library_prints_nothing_and_leaves_logging_and_signals_alone(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = {name: list(logging.getLogger(name).handlers) for name in ("", "reconciler")}
    signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    reconciler.apply(reconciler.plan(reconciler.load_config(config_file)))
    assert capsys.readouterr() == ("", "")
    assert {name: logging.getLogger(name).handlers for name in handlers} == handlers
    assert {sig: signal.getsignal(sig) for sig in signals} == signals
