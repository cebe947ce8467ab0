"""Every example is real: it parses, it is consistent with itself, and every `reconcile` command
in it is a valid invocation of this version's CLI (parsed by the CLI's own parser)."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import reconciler._cli.commands
from reconciler._cli import main as cli
from reconciler._cli.main import build_parser, main, parse_args
from reconciler._config.models import parse
from reconciler._config.selection import repository_shard
from reconciler._model.names import parse_repository
from reconciler._output.metrics import RunMetrics, render_metrics
from reconciler._pipeline.plan import Action
from reconciler._pipeline.report import Report

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
YAML_FILES = sorted([*EXAMPLES.rglob("*.yaml"), *EXAMPLES.rglob("*.yml")])
REDIRECTIONS = re.compile(r"^(\d?>>?|<|\||&&|\|\||;)")


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def check_command(words: list[str]) -> Any:
    """`reconcile ARGS...` up to the first redirection, parsed by the CLI; returns the args."""
    assert Path(words[0]).name == "reconcile", words
    args: list[str] = []
    for word in words[1:]:
        if REDIRECTIONS.match(word):
            break
        args.append(word)
    try:
        return parse_args(args)
    except SystemExit as exc:  # pragma: no cover - the message is on stderr
        pytest.fail(f"not a valid command line: {shlex.join(words)} (exit {exc.code})")


def commands_in_script(script: str) -> list[list[str]]:
    """Shell lines that run reconcile, split into words (after `||`, `;`, `&&` too)."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            after = words[i - 1] if i else ";"
            if Path(word).name == "reconcile" and (
                REDIRECTIONS.match(after) or re.match(r"^\w+=", after)
            ):
                found.append(words[i:])
    return found


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_example_parses(path: Path) -> None:
    assert load_all(path)


# -- GitHub Actions -------------------------------------------------------------------------

WORKFLOWS = sorted((EXAMPLES / "github").glob("*.yml"))


def triggers(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def matrix_values(job: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = job.get("strategy", {}).get("matrix", {})
    combos: list[dict[str, Any]] = [{}]
    for key, values in matrix.items():
        combos = [{**c, key: v} for c in combos for v in values]
    return combos


def expand(script: str, matrix: dict[str, Any]) -> str:
    for key, value in matrix.items():
        script = script.replace("${{ matrix." + key + " }}", str(value))
    assert "${{" not in script, script
    return script


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_run_reconcile_directly_or_through_this_repositorys_action(path: Path) -> None:
    """Commands in `run:` steps are valid command lines; the action's own are checked in
    tests/unit/test_github_action.py."""
    (workflow,) = load_all(path)
    assert triggers(workflow) and workflow["jobs"]
    commands, actions = [], []
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if step.get("uses", "").startswith("example-org/manifest-reconciler@"):
                actions.append(step)
            for matrix in matrix_values(job):
                commands += commands_in_script(expand(step.get("run", ""), matrix))
    assert commands or actions
    for words in commands:
        check_command(words)


def test_the_sync_workflow_runs_on_a_schedule_and_covers_every_shard() -> None:
    (workflow,) = load_all(EXAMPLES / "github" / "reconcile-sync.yml")
    assert triggers(workflow)["schedule"][0]["cron"]
    job = workflow["jobs"]["sync"]
    (run,) = [s["run"] for s in job["steps"] if "reconcile --shard" in s.get("run", "")]
    shards = [
        check_command(commands_in_script(expand(run, m))[0]).shard for m in matrix_values(job)
    ]
    assert sorted(s.index for s in shards) == list(range(shards[0].count))
    assert not any(check_command(commands_in_script(expand(run, m))[0]).dry_run
                   for m in matrix_values(job))  # fmt: skip


def test_the_sync_workflow_keeps_each_shards_digest_cache_between_runs() -> None:
    """Restored before the run, saved after it (even when an alias failed: what was read is
    still good), under a key per shard and per run: a cache entry never changes once saved,
    so a fixed key would keep the first run's cache forever."""
    (workflow,) = load_all(EXAMPLES / "github" / "reconcile-sync.yml")
    job = workflow["jobs"]["sync"]
    steps = job["steps"]
    (restore,) = [s for s in steps if s.get("uses", "").startswith("actions/cache/restore@")]
    (save,) = [s for s in steps if s.get("uses", "").startswith("actions/cache/save@")]
    (run,) = [s for s in steps if "reconcile --shard" in s.get("run", "")]
    assert steps.index(restore) < steps.index(run) < steps.index(save)
    assert save["if"] == "always()"
    assert save["with"]["path"] == restore["with"]["path"]
    key = restore["with"]["key"]
    assert save["with"]["key"] == key
    assert "${{ matrix.shard }}" in key and "${{ github.run_id }}" in key
    prefix = restore["with"]["restore-keys"]  # the newest cache of the shard, any run
    assert key.startswith(prefix) and "run_id" not in prefix
    for matrix in matrix_values(job):
        args = check_command(commands_in_script(expand(run["run"], matrix))[0])
        assert (args.cache_dir, args.no_cache) == (Path(restore["with"]["path"]), False)


# -- Kubernetes -------------------------------------------------------------------------------


def test_the_cronjob_mounts_its_configmap_and_runs_valid_shards() -> None:
    docs = {doc["kind"]: doc for doc in load_all(EXAMPLES / "kubernetes" / "reconcile.yaml")}
    assert set(docs) == {"ConfigMap", "PersistentVolumeClaim", "CronJob"}
    config_map, cron_job = docs["ConfigMap"], docs["CronJob"]
    assert config_map["apiVersion"] == "v1" and cron_job["apiVersion"] == "batch/v1"
    assert len(cron_job["spec"]["schedule"].split()) == 5
    job = cron_job["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}

    args = [expand_env(a, {"SHARD": "0"}) for a in container["args"]]
    parsed = check_command(["reconcile", *args])
    config_volume = next(n for n, v in volumes.items() if "configMap" in v)
    assert volumes[config_volume]["configMap"]["name"] == config_map["metadata"]["name"]
    assert parsed.file.parent == Path(mounts[config_volume])
    parse(config_map["data"][parsed.file.name])  # the file in the ConfigMap is valid

    # One pod per shard: the completion index is the shard, N is the number of completions.
    assert job["completionMode"] == "Indexed"
    assert parsed.shard.count == job["completions"]
    for index in range(job["completions"]):
        each = [expand_env(a, {"SHARD": str(index)}) for a in container["args"]]
        shard = check_command(["reconcile", *each])
        assert shard.shard.index == index
    field = env["SHARD"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    credentials = next(n for n, v in volumes.items() if "secret" in v)
    assert env["DOCKER_CONFIG"]["value"] == mounts[credentials]


def test_the_cronjob_keeps_each_shards_digest_cache_on_one_volume_claim() -> None:
    """Without a cache that outlives the pod every run is cold: a manifest GET per tag, each
    a pull on Docker Hub. One claim; each shard index in its own directory of it."""
    docs = {doc["kind"]: doc for doc in load_all(EXAMPLES / "kubernetes" / "reconcile.yaml")}
    claim, job = docs["PersistentVolumeClaim"], docs["CronJob"]["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert not mount.get("readOnly")
    directories = []
    for index in range(job["completions"]):
        env = {"SHARD": str(index)}
        args = check_command(["reconcile", *(expand_env(a, env) for a in container["args"])])
        assert (args.cache_dir, args.no_cache) == (Path(mount["mountPath"]), False)
        directories.append(expand_env(mount["subPathExpr"], env))
    assert len(set(directories)) == job["completions"]  # a directory per shard index
    # The pods of one run may land on different nodes, and the cache is written by the
    # unprivileged user the pod runs as.
    assert job["parallelism"] > 1 and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


def expand_env(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


def test_the_dockerfile_builds_from_files_that_exist() -> None:
    text = (EXAMPLES / "kubernetes" / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
    assert 'ENTRYPOINT ["reconcile"]' in text


# -- cron and pre-commit ------------------------------------------------------------------------


def test_the_crontab_lines_run_valid_commands() -> None:
    entries = [
        line
        for line in (EXAMPLES / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not re.match(r"^\w+=", line)
    ]
    assert entries
    for line in entries:
        fields = line.split(None, 5)
        assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
        args = check_command(shlex.split(fields[5]))
        assert args.metrics_file and args.log_format == "json"
        assert not args.no_cache  # the cache stays in the owner's ~/.cache between runs


def test_the_pre_commit_hook_exists_and_validates_offline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hooks = {hook["id"]: hook for hook in load_all(ROOT / ".pre-commit-hooks.yaml")[0]}
    (config,) = load_all(EXAMPLES / "pre-commit-config.yaml")
    used = [hook["id"] for repo in config["repos"] for hook in repo["hooks"]]
    assert used and set(used) <= set(hooks)
    for hook_id in used:
        hook = hooks[hook_id]
        assert hook["language"] == "python"  # pre-commit pip-installs this repository
        pattern = re.compile(hook["files"])
        for name in ("manifests.yaml", "deploy/manifests.yml"):
            assert pattern.search(name), name
        assert not pattern.search("other.yaml") and not pattern.search("manifests.yaml.bak")
        # pre-commit appends the matching file names to the entry:
        words = [*shlex.split(hook["entry"]), str(ROOT / "manifests.yaml")]
        assert check_command(words).command == "validate"
        assert main(words[1:]) == 0
        assert capsys.readouterr().out.endswith("valid (1 repository, 1 alias)\n")


def test_the_package_provides_the_reconcile_command() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'reconcile = "reconciler._cli.main:console"' in text


# -- each format checked by a validator made for it, offline -------------------------------------

# The newest Kubernetes kubernetes-validate ships; pyproject.toml pins the package, so both move
# together (test_the_pinned_kubernetes_version_is_the_newest_the_validator_ships).
KUBERNETES_VERSION = "1.37.0"
BIN = Path(sys.executable).parent  # the venv's console scripts: check-jsonschema, ...
VALIDATED = [ROOT / "action.yml", ROOT / ".pre-commit-hooks.yaml", *YAML_FILES]
# A proxy nothing listens on: a validator that tried to download a schema would fail.
OFFLINE = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "NO_PROXY": "", "no_proxy": ""}  # fmt: skip


def format_of(name: str, docs: list[Any]) -> str | None:
    """Which validator a YAML file is for, by its name or the shape of its documents."""
    if name == "action.yml":
        return "github-action"
    if name == ".pre-commit-hooks.yaml":
        return "pre-commit-hooks"
    first = docs[0] if docs else None
    if isinstance(first, dict) and "jobs" in first and triggers(first):
        return "github-workflow"
    if isinstance(first, dict) and "repos" in first:
        return "pre-commit-config"
    if docs and all(isinstance(d, dict) and {"apiVersion", "kind"} <= set(d) for d in docs):
        return "kubernetes"
    return None


def validate_format(kind: str, path: Path) -> str:
    """Runs the format's own validator on `path`; returns its complaint, "" when valid."""
    if kind in ("github-workflow", "github-action"):
        schema = {
            "github-workflow": "vendor.github-workflows",
            "github-action": "vendor.github-actions",
        }
        argv = [str(BIN / "check-jsonschema"), "--builtin-schema", schema[kind], str(path)]
    elif kind == "kubernetes":
        argv = [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version",
                KUBERNETES_VERSION, str(path)]  # fmt: skip
    elif kind in ("pre-commit-config", "pre-commit-hooks"):
        # pre-commit's own schema, through its Python API (`load_config`, `load_manifest`).
        load = "load_config" if kind == "pre-commit-config" else "load_manifest"
        code = f"from pre_commit.clientlib import {load}; {load}({str(path)!r})"
        argv = [sys.executable, "-c", code]
    else:
        raise AssertionError(kind)
    done = subprocess.run(
        argv, capture_output=True, text=True, env=OFFLINE, timeout=120, check=False
    )
    return "" if done.returncode == 0 else f"exit {done.returncode}: {done.stdout}{done.stderr}"


@pytest.mark.parametrize("path", VALIDATED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_passes_the_validator_made_for_its_format(path: Path) -> None:
    kind = format_of(path.name, load_all(path))
    if kind is None:  # reconcile's own config: tests/unit/test_schema.py checks it
        assert path == EXAMPLES / "manifests.yaml"
        return
    assert validate_format(kind, path) == ""


def test_examples_cover_every_format_with_a_validator() -> None:
    kinds = {format_of(p.name, load_all(p)) for p in VALIDATED}
    assert kinds == {"github-action", "github-workflow", "kubernetes", "pre-commit-config",
                     "pre-commit-hooks", None}  # fmt: skip


BROKEN = [
    ("github-workflow", "examples/github/reconcile-apply.yml", "    runs-on:", "    runs_on:"),
    ("github-workflow", "examples/github/reconcile-sync.yml", "    steps:", "    stages:"),
    ("github-action", "action.yml", "  using: composite", "  using: compost"),
    ("github-action", "action.yml", "      shell: bash\n", ""),
    ("kubernetes", "examples/kubernetes/reconcile.yaml", "concurrencyPolicy", "concurencyPolicy"),
    ("kubernetes", "examples/kubernetes/reconcile.yaml", "completions: 2", "completions: two"),
    ("pre-commit-config", "examples/pre-commit-config.yaml", "    rev: v0.1.0\n", ""),
    ("pre-commit-hooks", ".pre-commit-hooks.yaml", "  language: python", "  language: cobol"),
]


@pytest.mark.parametrize(
    ("kind", "name", "old", "new"),
    BROKEN,
    ids=[f"{kind}: {new.strip() or 'no ' + old.strip()}" for kind, _, old, new in BROKEN],
)
def test_each_validator_rejects_a_broken_copy_of_its_example(
    tmp_path: Path, kind: str, name: str, old: str, new: str
) -> None:
    """The validators are real: one mistake in a copy of a passing example fails it."""
    text = (ROOT / name).read_text()
    assert old in text
    broken = tmp_path / Path(name).name
    broken.write_text(text.replace(old, new))
    assert format_of(Path(name).name, load_all(ROOT / name)) == kind
    assert validate_format(kind, broken) != ""


def test_the_pinned_kubernetes_version_is_the_newest_the_validator_ships() -> None:
    utils = importlib.import_module("kubernetes_validate.utils")
    assert utils.latest_version() == KUBERNETES_VERSION


def crontab_problems(text: str) -> list[str]:
    """python-crontab's reading of a crontab: lines that are no valid job (nor a comment, an
    environment setting or blank)."""
    crontab = importlib.import_module("crontab").CronTab(tab=text)
    problems = [str(line) for line in crontab.lines if isinstance(line, str) and line.strip()
                and not line.lstrip().startswith("#")]  # fmt: skip
    problems += [str(job) for job in crontab if job.is_enabled() and not job.is_valid()]
    if not any(job.is_enabled() for job in crontab):
        problems.append("no job")
    return problems


@pytest.mark.parametrize(
    ("old", "new"),
    [(None, None), ("*/15 * * * *", "*/15 * * *"), ("*/15 * * * *", "*/15 24 * * *")],
    ids=["as is", "four fields", "hour 24"],
)
def test_the_crontab_passes_python_crontab_and_a_broken_copy_does_not(
    old: str | None, new: str | None
) -> None:
    text = (EXAMPLES / "crontab").read_text()
    if old is None or new is None:
        assert crontab_problems(text) == []
    else:
        assert old in text
        assert crontab_problems(text.replace(old, new)) != []


README_BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def without_leading_comments(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "".join(lines)


def test_readme_snippets_of_these_formats_mirror_an_example_and_pass_its_validator(
    tmp_path: Path,
) -> None:
    """The README shows workflows, manifests and hook files as they are in examples/ (without
    their leading comments), so the validators above check what a reader copies."""
    bodies = {without_leading_comments(p.read_text()): p for p in VALIDATED}
    checked = []
    for n, block in enumerate(README_BLOCKS):
        docs = [doc for doc in yaml.safe_load_all(block) if doc is not None]
        kind = format_of("", docs)
        if kind is None:
            continue
        assert block in bodies, f"README block {n} ({kind}) is no example file's content"
        snippet = tmp_path / f"readme-{n}.yaml"
        snippet.write_text(block)
        assert validate_format(kind, snippet) == ""
        checked.append(bodies[block].relative_to(ROOT))
    assert checked == [Path("examples/github/reconcile-apply.yml")]


# -- README -----------------------------------------------------------------------------------


def test_readme_commands_are_valid() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    commands = [words for block in blocks for words in commands_in_script(block)]
    assert len(commands) >= 5
    for words in commands:
        check_command(words)


def test_readme_mentions_every_example() -> None:
    readme = (ROOT / "README.md").read_text()
    for path in EXAMPLES.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert str(path.relative_to(ROOT)) in readme, path


def readme_section(title: str) -> str:
    """The text of the README section headed `title`, up to the next heading."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#+ )", readme, flags=re.S | re.M)
    assert match, title
    return match[1]


ACTIONS = [action.value for action in Action]


def test_readme_metrics_table_lists_every_action_the_metrics_carry() -> None:
    (row,) = re.findall(r"^\| `reconcile_last_run_aliases\{action=(.*?)\}` \|", readme_section(
        "On a schedule"), flags=re.M)  # fmt: skip
    assert re.findall(r'"(\w+)"', row) == ACTIONS
    rendered = render_metrics(RunMetrics(finished_at=0.0, duration_s=0.0, report=None))
    assert re.findall(r'^reconcile_last_run_aliases\{action="(\w+)"\}', rendered, re.M) == ACTIONS


def test_readme_json_report_lists_every_action_in_the_summary_and_the_action_field() -> None:
    section = readme_section("JSON output (schema_version 1)")
    (example,) = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    summary = json.loads(example)["summary"]
    assert list(summary) == list(Report((), dry_run=True).summary()) == ACTIONS
    (field,) = re.findall(r"^- `action`: (.*?)\.", section, flags=re.M | re.S)
    assert sorted(re.findall(r"`(\w+)`", field)) == sorted(ACTIONS)


@pytest.mark.parametrize(
    ("key", "hashed"),
    [
        ("localhost:5000/my-image", "localhost:5000/my-image"),
        ("nginx", "docker.io/library/nginx"),
        ("index.docker.io/org/app", "docker.io/org/app"),
        ("registry.example.com/team/tool", "registry.example.com/team/tool"),
    ],
)
def test_readme_describes_the_shard_hash_as_it_is_computed(key: str, hashed: str) -> None:
    """The README's words, as code: the first 8 bytes of the SHA-256 of `registry/name`
    (Docker Hub names in full), a big-endian integer, modulo N."""
    text = " ".join(readme_section("Selecting aliases: `--only` and `--shard`").split())
    assert "the first 8 bytes of the SHA-256 of `registry/name`" in text
    assert "read as a big-endian unsigned integer" in text
    assert "`docker.io/library/nginx`" in text
    described = int.from_bytes(hashlib.sha256(hashed.encode()).digest()[:8], "big")
    for count in (2, 3, 7, 16):
        assert repository_shard(parse_repository(key), count) == described % count


# -- module docs ------------------------------------------------------------------------------


def parser_commands() -> list[str]:
    (commands,) = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return list(commands.choices)


def test_the_commands_package_docstring_lists_every_command_and_its_module() -> None:
    listed = re.findall(r"^- `(\w+)`", reconciler._cli.commands.__doc__ or "", flags=re.M)
    assert listed == ["run", *parser_commands()]
    for command in parser_commands():
        assert importlib.util.find_spec(f"reconciler._cli.commands.{command}") or (
            importlib.util.find_spec(f"reconciler._cli.commands.{command}_")
        ), command


def test_the_cli_docstring_names_every_command() -> None:
    commands = parser_commands()
    named = [word for word in re.findall(r"`(\w+)`", cli.__doc__ or "") if word in commands]
    assert named == commands
