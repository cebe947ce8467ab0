"""Reviewed plans against real registries: `reconcile --dry-run --plan-out PLAN` saves the plan
with what it was made from, and `reconcile apply PLAN` writes exactly that plan, or nothing
at all when the config file or a tag it read has moved since."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from reconciler._model.oci import MANIFEST_ACCEPT
from reconciler._output.planfile import plan_schema
from tests.conftest import BASIC_USERS
from tests.support.dockercli import docker_login_config
from tests.support.images import get_manifest, push_image
from tests.support.registry import RegistryProcess

from .cli import Reconcile, Run

pytestmark = pytest.mark.usefixtures("docker_config")
USER, PASSWORD = next(iter(BASIC_USERS.items()))


class Scene:
    """One registry, a config file for its repository `app`, and a plan file beside it."""

    def __init__(
        self, tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.registry = registry
        self.config = tmp_path / "manifests.yaml"
        self.plan_path = tmp_path / "plan.json"
        self.reconcile = Reconcile(capsys, self.config)
        self.command = Reconcile(capsys)  # no -f: `apply` finds the config through the plan

    @property
    def repository(self) -> str:
        return f"{self.registry.host}/app"

    def write(self, aliases: Mapping[str, Any], **settings: Any) -> None:
        self.config.write_text(json.dumps({
            "registries": {self.registry.host: {"insecure": True}},
            "repositories": {self.repository: {**settings, "aliases": aliases}},
        }, indent=2))  # fmt: skip

    def plan(self, *args: str) -> Run:
        run = self.reconcile("--dry-run", "--plan-out", str(self.plan_path), *args)
        assert run.code == 0, run.err
        return run

    def apply(self, *args: str) -> Run:
        return self.command("apply", str(self.plan_path), *args)

    @property
    def document(self) -> Any:
        return json.loads(self.plan_path.read_text())

    def holds(self, tag: str) -> str | None:
        """The digest `app:tag` holds, asked of the registry itself."""
        answer = httpx.head(
            f"{self.registry.url}/v2/app/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
        )
        return answer.headers["docker-content-digest"] if answer.status_code == 200 else None

    def writes(self) -> list[tuple[str, str]]:
        return [(w.method, w.path.split("?")[0]) for w in self.registry.writes()]


@pytest.fixture
def scene(tmp_path: Path, registry: RegistryProcess, capsys: pytest.CaptureFixture[str]) -> Scene:
    return Scene(tmp_path, registry, capsys)


def seed(scene: Scene) -> dict[str, str]:
    """amd64 and arm64 images in `app`, and an arm64 build in `builds/arm`."""
    url = scene.registry.url
    return {
        "10.10": push_image(url, "app", "10.10", platform="linux/amd64").digest,
        "10.20": push_image(url, "app", "10.20", platform="linux/arm64").digest,
        "builds": push_image(url, "builds/arm", "1.2", platform="linux/arm64", seed="b").digest,
    }


def test_a_reviewed_plan_applies_and_the_aliases_hold_the_planned_indexes(
    scene: Scene,
) -> None:
    seed(scene)
    builds = f"{scene.registry.host}/builds/arm:1.2"
    scene.write({"10": ["10.10", "10.20"], "11": ["10.10", builds]})
    plan = scene.plan()
    doc = scene.document
    Draft202012Validator(plan_schema()).validate(doc)
    assert doc["config"]["path"] == str(scene.config.resolve())
    planned = {a["alias"]: a["desired"] for a in doc["aliases"]}

    scene.registry.clear_log()
    applied = scene.apply()
    assert applied.code == 0, applied.err
    assert applied.out == plan.out.replace(" will be created ", " created ").replace(
        "Plan: 2 to create, 0 to update", "Applied: 2 created, 0 updated"
    )
    for alias in ("10", "11"):
        assert scene.holds(alias) == planned[alias]["digest"]
        assert get_manifest(scene.registry.url, "app", alias)[0] == (
            planned[alias]["manifest"].encode()
        )
    (copy,) = doc["aliases"][1]["copies"]
    child = f"/v2/app/manifests/{copy['digest']}"
    puts = [path for method, path in scene.writes() if method == "PUT"]
    assert sorted(puts) == sorted([child, "/v2/app/manifests/10", "/v2/app/manifests/11"])
    assert puts.index(child) < puts.index("/v2/app/manifests/11")  # the child before its index
    assert scene.reconcile().out == "Everything up to date (2 aliases).\n"


def test_a_source_pushed_again_after_review_is_refused_and_nothing_is_written(
    scene: Scene, tmp_path: Path
) -> None:
    pushed = seed(scene)
    scene.write({"10": ["10.10", "10.20"], "9": ["10.10"]})
    scene.plan()
    rebuilt = push_image(scene.registry.url, "app", "10.20", platform="linux/arm64", seed="new")

    scene.registry.clear_log()
    metrics = tmp_path / "reconcile.prom"
    refused = scene.apply("--output", "json", "--metrics-file", str(metrics))
    assert refused.code == 1
    assert scene.writes() == []
    moved = (
        f"{scene.repository}:10: source 10.20 ({scene.repository}:10.20):"
        f" {pushed['10.20'][:19]} -> {rebuilt.digest[:19]}"
    )
    message = f"the plan is stale, nothing was written; moved since it was made:\n  {moved}"
    assert refused.err == f"reconcile: error: {message}\n"
    report = refused.json
    assert report["error"] == {"kind": "stale", "message": message}
    assert [(a["alias"], a["action"], a["applied"]) for a in report["aliases"]] == [
        ("10", "create", False),
        ("9", "create", False),
    ]
    assert "reconcile_refused 1" in metrics.read_text().splitlines()
    assert (scene.holds("10"), scene.holds("9")) == (None, None)
    assert scene.apply().out == ""  # the text report is the error on stderr alone


@pytest.mark.parametrize(
    ("pushed", "refused"),
    [("10.30", True), ("10.5", False)],
    ids=["a new newest tag refuses", "a new tag older than every pick does not"],
)
def test_a_floating_alias_refuses_when_a_newer_matching_tag_appeared(
    scene: Scene, pushed: str, refused: bool
) -> None:
    seed(scene)
    scene.write({"10": {"track": "10.*"}})
    scene.plan()
    new = push_image(scene.registry.url, "app", pushed, platform="linux/arm64", seed=pushed)

    scene.registry.clear_log()
    run = scene.apply()
    if refused:
        assert run.code == 1
        assert run.err.splitlines()[1:] == [
            f"  {scene.repository}:10: new tag {pushed} matching '10.*', newer than 10.10:"
            f" absent -> {new.digest[:19]}"
        ]
        assert scene.writes() == []
    else:
        assert run.code == 0, run.err
        assert scene.holds("10") == scene.document["aliases"][0]["desired"]["digest"]


def test_a_changed_config_file_is_refused_before_any_request(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    scene.plan()
    made_from = scene.document["config"]["sha256"]
    scene.config.write_text(scene.config.read_text() + "# reviewed\n")

    scene.registry.clear_log()
    run = scene.apply("--output", "json")
    assert run.code == 1
    assert run.json["error"]["kind"] == "stale"
    assert run.err.startswith(
        f"reconcile: error: config file changed since the plan: {scene.config.resolve()} has"
        " sha256 "
    )
    assert run.err.endswith(
        f", the plan was made from {made_from[:12]}; nothing was written (plan again)\n"
    )
    assert scene.registry.requests() == []


def test_apply_takes_the_config_from_f_when_it_is_the_same_file(
    scene: Scene, tmp_path: Path
) -> None:
    # The plan job and the apply job may check the repository out in different places.
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    scene.plan()
    elsewhere = tmp_path / "checkout" / "manifests.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(scene.config.read_bytes())
    scene.config.unlink()

    run = scene.apply("-f", str(elsewhere))
    assert run.code == 0, run.err
    assert scene.holds("10") == scene.document["aliases"][0]["desired"]["digest"]


def test_noop_aliases_are_not_written(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    assert scene.reconcile().code == 0
    scene.write({"10": ["10.10", "10.20"], "11": ["10.10"]})
    scene.plan()
    assert [a["action"] for a in scene.document["aliases"]] == ["noop", "create"]

    scene.registry.clear_log()
    run = scene.apply()
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == (
        "Applied: 1 created, 0 updated, 1 unchanged, 0 conflict(s), 0 error(s)."
    )
    assert scene.writes() == [("PUT", "/v2/app/manifests/11")]


def test_max_changes_refuses_a_saved_plan_as_a_run(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"], "11": ["10.10"]})
    scene.plan()
    scene.registry.clear_log()
    run = scene.apply("--max-changes", "1", "--output", "json")
    assert run.code == 1
    assert run.json["error"]["kind"] == "max_changes"
    assert scene.writes() == []


def test_a_saved_prune_deletes_the_tag_it_reviewed(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"], "11": ["10.10"]}, prune=True)
    assert scene.reconcile().code == 0
    held = scene.holds("11")
    scene.write({"10": ["10.10", "10.20"]}, prune=True)
    plan = scene.plan()
    assert f"- {scene.repository}:11 will be deleted" in plan.out
    (gone,) = [a for a in scene.document["aliases"] if a["action"] == "delete"]
    assert gone["delete"] == {"tag": "11", "digest": held}

    run = scene.apply()
    assert run.code == 0, run.err
    assert (scene.holds("11"), scene.holds("10") is not None) == (None, True)


def test_plan_out_without_dry_run_is_a_usage_error_and_sends_nothing(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    scene.registry.clear_log()
    run = scene.reconcile("--plan-out", str(scene.plan_path))
    assert (run.code, run.out) == (1, "")
    assert run.err.splitlines()[-1] == (
        "reconcile: error: --plan-out needs --dry-run (a saved plan is applied by"
        " `reconcile apply`)"
    )
    assert scene.registry.requests() == []
    assert not scene.plan_path.exists()


def test_a_plan_of_a_newer_schema_version_is_refused_clearly(scene: Scene) -> None:
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    scene.plan()
    scene.plan_path.write_text(json.dumps({**scene.document, "schema_version": 99}))

    scene.registry.clear_log()
    run = scene.apply()
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"reconcile: error: {scene.plan_path}: plan file schema_version 99 is newer than this"
        " reconcile reads (1); apply it with the reconcile version that made it\n"
    )
    assert scene.registry.requests() == []


def test_a_plan_file_holds_no_secret(
    tmp_path: Path, basic_registry: RegistryProcess, docker_config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    auth = (USER, PASSWORD)
    push_image(basic_registry.url, "app", "10.10", platform="linux/amd64", auth=auth)
    push_image(basic_registry.url, "app", "10.20", platform="linux/arm64", auth=auth)
    docker_login_config(docker_config, basic_registry.host, USER, PASSWORD)
    scene = Scene(tmp_path, basic_registry, capsys)
    scene.write({"10": ["10.10", "10.20"]})
    scene.plan()

    text = scene.plan_path.read_text()
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, basic, "Authorization", "Basic ", "Bearer "):
        assert secret not in text
    run = scene.apply()  # the credentials come from the docker config again
    assert run.code == 0, run.err


def test_apply_reports_as_a_run_does_in_markdown_with_detailed_exit_codes(scene: Scene) -> None:
    # What the GitHub Action's apply mode runs.
    seed(scene)
    scene.write({"10": ["10.10", "10.20"]})
    planned = scene.plan("--output", "markdown")
    run = scene.apply("-f", str(scene.config), "--output", "markdown", "--detailed-exitcode")
    assert run.code == 2, run.err
    assert run.out == (
        planned.out.replace(
            "Plan: 1 to create, 0 to update", "Applied: 1 created, 0 updated"
        ).replace(" | create | ", " | created | ")
    )
    # A plan applies once: what it wrote has moved the alias tag since the plan was made.
    again = scene.apply("--detailed-exitcode")
    written = scene.document["aliases"][0]["desired"]["digest"]
    assert (again.code, again.err.splitlines()[1:]) == (
        1, [f"  {scene.repository}:10: alias tag: absent -> {written[:19]}"],
    )  # fmt: skip
