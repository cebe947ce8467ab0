"""The reference workflow, one alias at a time, as a shell loop would run it:

    docker manifest create --insecure --amend ALIAS SRC1 SRC2
    docker manifest push --insecure --purge ALIAS

It always writes every alias, drifted or not. Every docker process is measured on its own
(`bench.measure`); wall and CPU seconds are summed (the measuring wrapper's own start is
not counted) and the peak RSS is the largest of any one process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.dockercli import DOCKER_BINARY, docker_env

from .measure import run_measured
from .seed import Alias

__all__ = ["DockerLoop", "run_docker_loop"]

MAX_FAILURES = 5  # stop early: a broken setup would otherwise fail every alias slowly
COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DockerLoop:
    aliases: int  # aliases attempted
    failures: int
    wall_s: float
    cpu_s: float
    max_rss_kb: int
    processes: int
    first_error: str = ""


def run_docker_loop(aliases: Sequence[Alias], host: str, workdir: Path) -> DockerLoop:
    """Create and push every alias through `host` (the proxy); stops after MAX_FAILURES."""
    config_dir = Path(tempfile.mkdtemp(prefix="docker-config-", dir=workdir))
    env = docker_env(config_dir)
    out, err = workdir / "docker.out", workdir / "docker.err"
    wall, cpu, rss, processes, failures, attempted = 0.0, 0.0, 0, 0, 0, 0
    first_error = ""
    for alias in aliases:
        attempted += 1
        target = f"{host}/{alias.repository}:{alias.tag}"
        sources = [f"{host}/{alias.repository}:{tag}" for tag in alias.sources]
        for args in (
            ["manifest", "create", "--insecure", "--amend", target, *sources],
            ["manifest", "push", "--insecure", "--purge", target],
        ):
            usage = run_measured(
                [DOCKER_BINARY, *args], env=env, stdout=out, stderr=err, timeout=COMMAND_TIMEOUT_S
            )
            processes += 1
            wall += usage.wall_s
            cpu += usage.cpu_s
            rss = max(rss, usage.max_rss_kb)
            if usage.returncode != 0:
                failures += 1
                first_error = first_error or f"docker {' '.join(args)}: {err.read_text()[-500:]}"
                break
        if failures >= MAX_FAILURES:
            break
    return DockerLoop(attempted, failures, wall, cpu, rss, processes, first_error)
