"""Crash safety: `reconcile` SIGKILLed at random points of an apply, and two runs at once.

The real console script runs as a subprocess against a real registry behind a slow proxy.
Some aliases take a source from another repository of that registry (its blobs are mounted)
or from a second registry (streamed), so an apply also copies child manifests before it
writes their index. Whenever the run dies, every alias tag in the registry is absent, as it
was, or exactly its desired index, and every child of every index there exists (and its
blobs); the next run converges and the one after writes nothing. Two runs started together
both succeed and leave exactly the desired state.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpauth import loopback_client
from tests.support.images import ALL_MANIFEST_TYPES, PushedImage, push_image, push_manifest_list
from tests.support.proxy import Fault, Proxy, ProxyRequest, start_proxy
from tests.support.registry import RegistryProcess, start_registry

from .cli import Reconcile

pytestmark = pytest.mark.usefixtures("docker_config")

RECONCILE = str(Path(sys.executable).parent / "reconcile")
N_ALIASES = 40
LATENCY_S = 0.03
RUN_TIMEOUT_S = 90.0  # any reconcile subprocess is killed after this, whatever happens
ACCEPT = {"Accept": ", ".join(ALL_MANIFEST_TYPES)}


@dataclass
class Scene:
    registry: RegistryProcess
    repo: str
    proxy: Proxy
    config: Path
    run: Reconcile  # in process, for the reruns
    aliases: dict[str, list[str]]
    initial: dict[str, str | None] = field(default_factory=dict)
    desired: dict[str, str] = field(default_factory=dict)


def alias_sources(i: int, upstream: str = "", elsewhere: str = "") -> list[str]:
    """Two sources in the alias's repository; every fourth alias adds its own image from
    another repository of the same registry, every fourth (offset by two) its own from another
    registry (aliases sharing one copied source are tested at the end)."""
    sources = [f"amd-{i % 4}", f"arm-{(i // 4) % 4}"]
    if upstream and i % 4 == 0:
        sources.append(f"{upstream}:riscv-{i}")
    if elsewhere and i % 4 == 2:
        sources.append(f"{elsewhere}:s390x-{i}")
    return sources


@pytest.fixture
def other_registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    process = start_registry(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def scene(
    request: pytest.FixtureRequest, tmp_path: Path, registry: RegistryProcess,
    other_registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str],
) -> Iterator[Scene]:  # fmt: skip
    """40 aliases, one in five out of date at first; with copies (the default; parametrize
    `scene` indirectly with False for none), a quarter of them also need a child copied."""
    copies: bool = getattr(request, "param", True)
    local: dict[str, PushedImage] = {}
    for n in range(4):
        for tag, plat in ((f"amd-{n}", "linux/amd64"), (f"arm-{n}", "linux/arm64")):
            local[tag] = push_image(registry.url, repo_name, tag, platform=plat, seed=tag)
    for i in range(0, N_ALIASES, 4) if copies else ():
        push_image(registry.url, f"{repo_name}/upstream", f"riscv-{i}", platform="linux/riscv64",
                   seed=str(i))  # fmt: skip
        push_image(other_registry.url, "elsewhere/app", f"s390x-{i + 2}", platform="linux/s390x",
                   seed=str(i))  # fmt: skip
    for i in range(0, N_ALIASES, 5):  # every fifth alias starts out pointing elsewhere
        stale = [local[t] for t in alias_sources(i + 1)]
        push_manifest_list(registry.url, repo_name, f"k{i}", stale)
    with start_proxy(registry.url) as proxy:
        upstream = f"{proxy.host}/{repo_name}/upstream" if copies else ""
        elsewhere = f"{other_registry.host}/elsewhere/app" if copies else ""
        aliases = {f"k{i}": alias_sources(i, upstream, elsewhere) for i in range(N_ALIASES)}
        config = tmp_path / "manifests.yaml"
        config.write_text(json.dumps({
            "registries": {proxy.host: {"insecure": True, "timeout": 20},
                           other_registry.host: {"insecure": True, "timeout": 20}},
            "repositories": {f"{proxy.host}/{repo_name}": {"aliases": aliases}},
        }))  # fmt: skip
        s = Scene(registry, repo_name, proxy, config, Reconcile(capsys, config), aliases)
        s.initial = {alias: digest_at(s, alias) for alias in aliases}
        plan = s.run("--dry-run", "--no-cache", "--output", "json")
        assert plan.code == 0, plan.err
        s.desired = {a["alias"]: a["desired"]["digest"] for a in plan.json["aliases"]}
        planned_copies = sum(len(a["copies"]) for a in plan.json["aliases"])
        assert planned_copies == (N_ALIASES // 2 if copies else 0)
        proxy.reset_counts()
        yield s


# -- the registry, seen directly --------------------------------------------------------------


def raw_at(s: Scene, ref: str) -> bytes | None:
    with loopback_client(s.registry.url) as client:
        response = client.get(f"/v2/{s.repo}/manifests/{ref}", headers=ACCEPT)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.content


def digest_at(s: Scene, tag: str) -> str | None:
    raw = raw_at(s, tag)
    return None if raw is None else "sha256:" + hashlib.sha256(raw).hexdigest()


def assert_registry_is_consistent(s: Scene) -> dict[str, str]:
    """Every alias is as it was or exactly desired, and no index there misses a child.
    Returns what each alias was found in: "initial" or "desired"."""
    found = {}
    with loopback_client(s.registry.url) as client:
        for alias in s.aliases:
            raw = raw_at(s, alias)
            digest = None if raw is None else "sha256:" + hashlib.sha256(raw).hexdigest()
            assert digest in (s.initial[alias], s.desired[alias]), alias
            found[alias] = "desired" if digest == s.desired[alias] else "initial"
            if raw is None:
                continue
            for entry in json.loads(raw)["manifests"]:
                child = client.get(f"/v2/{s.repo}/manifests/{entry['digest']}", headers=ACCEPT)
                assert child.status_code == 200, f"{alias}: child {entry['digest']} is missing"
                image = json.loads(child.content)
                for blob in [image["config"], *image["layers"]]:
                    there = client.head(f"/v2/{s.repo}/blobs/{blob['digest']}")
                    assert there.status_code == 200, f"{alias}: blob {blob['digest']} is missing"
    return found


def assert_converges(s: Scene) -> None:
    s.proxy.fault, s.proxy.latency = None, 0.0
    rerun = s.run("--output", "json")
    assert rerun.code == 0, rerun.out + rerun.err
    for alias, digest in s.desired.items():
        assert digest_at(s, alias) == digest, alias
    s.registry.clear_log()
    again = s.run()
    assert (again.code, again.out) == (0, f"Everything up to date ({N_ALIASES} aliases).\n")
    assert s.registry.writes() == []


# -- subprocesses -----------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """This test's environment (DOCKER_CONFIG, XDG_CACHE_HOME) without proxy settings."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def start(s: Scene, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [RECONCILE, "-f", str(s.config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    return process.returncode, out, err


def reached(event: threading.Event, process: subprocess.Popen[str]) -> bool:
    """Wait for `event` while `process` runs (bounded); False if it ended first."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        if event.wait(0.05):
            return True
        if process.poll() is not None:
            return event.is_set()
    return False


def kill_at_put(number: int, pid: int, killed: threading.Event, *, children: bool) -> Any:
    """A proxy hook that SIGKILLs `pid` when its `number`-th PUT of an alias tag (or, with
    `children`, of a child manifest copied by digest) arrives: that PUT and the requests
    already in the proxy are in flight, and still reach the registry."""
    puts = 0
    lock = threading.Lock()

    def hook(request: ProxyRequest) -> Fault | None:
        nonlocal puts
        if request.method != "PUT" or request.kind != "manifests":
            return None
        if ("/manifests/sha256:" in request.path) != children:
            return None
        with lock:
            puts += 1
            if puts == number:
                os.kill(pid, signal.SIGKILL)
                killed.set()
        return None

    return hook


def on_request(method: str | None, seen: threading.Event) -> Any:
    """A proxy hook that sets `seen` at the first request (of `method`, when given)."""

    def hook(request: ProxyRequest) -> Fault | None:
        if method is None or request.method == method:
            seen.set()
        return None

    return hook


KILL_POINTS = ["at an index write", "at a child copy", "after the first write", "any time"]


@pytest.mark.parametrize("seed", range(8))
def test_sigkill_at_any_point_leaves_no_broken_alias_and_a_rerun_converges(
    scene: Scene, seed: int
) -> None:
    rng = random.Random(seed)
    point = KILL_POINTS[seed % len(KILL_POINTS)]
    scene.proxy.latency = LATENCY_S
    process = start(scene, "--concurrency", "4")
    event = threading.Event()
    if point == "at an index write":
        # At most 4 requests are in flight: when the 5th index write arrives, one is done.
        hook = kill_at_put(rng.randint(5, N_ALIASES // 2), process.pid, event, children=False)
    elif point == "at a child copy":
        hook = kill_at_put(rng.randint(1, 8), process.pid, event, children=True)
    else:
        hook = on_request("PUT" if point == "after the first write" else None, event)
    scene.proxy.fault = hook
    assert reached(event, process), "the run ended before that point:\n" + finish(process)[2]
    if point == "after the first write":
        time.sleep(rng.uniform(0.0, 1.0))
    elif point == "any time":
        time.sleep(rng.uniform(0.0, 4.0))
    process.send_signal(signal.SIGKILL)  # a no-op when the hook killed it already
    code, _, err = finish(process)
    assert code in (-signal.SIGKILL, 0), err  # 0: it finished before the kill
    time.sleep(3 * LATENCY_S + 0.2)  # requests of the dead process still in the proxy land
    found = assert_registry_is_consistent(scene)
    if point.startswith("at "):
        assert code == -signal.SIGKILL
        assert "initial" in found.values(), found
    if point == "at an index write":
        assert "desired" in found.values(), found
    assert_converges(scene)


def start_two(s: Scene) -> list[tuple[int, str, str]]:
    s.proxy.latency = 0.01
    first, second = start(s, "--output", "json"), start(s, "--output", "json")
    return [finish(first), finish(second)]


@pytest.mark.parametrize("scene", [False], indirect=True)
def test_two_runs_at_once_both_succeed_and_agree(scene: Scene) -> None:
    for code, out, err in start_two(scene):
        assert "Traceback" not in err
        assert code == 0, out + err
        assert all(a["action"] != "error" for a in json.loads(out)["aliases"]), out
    assert set(assert_registry_is_consistent(scene).values()) == {"desired"}
    scene.registry.clear_log()
    third = scene.run()
    assert (third.code, third.out) == (0, f"Everything up to date ({N_ALIASES} aliases).\n")
    assert scene.registry.writes() == []


def test_two_runs_at_once_that_copy_the_same_children_corrupt_nothing(scene: Scene) -> None:
    """Both runs copy the same child manifests at once. distribution's filesystem storage
    rewrites a manifest's link files in place, so a concurrent write can make it refuse the
    other run's index (400 DIGEST_INVALID): such an alias may fail, cleanly; nothing else."""
    for code, out, err in start_two(scene):
        assert "Traceback" not in err and code in (0, 1), err
        for alias in json.loads(out)["aliases"]:
            assert alias["action"] != "error" or "HTTP 400" in alias["message"], alias
    assert_registry_is_consistent(scene)
    assert_converges(scene)


def test_aliases_sharing_a_copied_source_all_apply_on_the_first_run(
    tmp_path: Path, registry: RegistryProcess, repo_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thirty-two aliases, one common source in another repository: a first run must apply
    all of them. (Three fresh repositories, so that a lucky scheduling cannot hide the race.)"""
    failed: list[str] = []
    for attempt in range(3):
        repo = f"{repo_name}/app{attempt}"
        push_image(registry.url, repo, "amd", platform="linux/amd64")
        push_image(registry.url, f"{repo}/upstream", "base", platform="linux/riscv64")
        aliases = {f"a{i}": ["amd", f"{registry.host}/{repo}/upstream:base"] for i in range(32)}
        config = tmp_path / f"m{attempt}.yaml"
        config.write_text(json.dumps({
            "registries": {registry.host: {"insecure": True}},
            "repositories": {f"{registry.host}/{repo}": {"aliases": aliases}},
        }))  # fmt: skip
        result = Reconcile(capsys, config)("--output", "json")
        failed += [a["message"] for a in result.json["aliases"] if a["action"] == "error"]
    assert failed == []
