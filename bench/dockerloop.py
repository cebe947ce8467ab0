"""The reference workflow, one alias at a time, as a shell loop would run it:

    docker manifest create --insecure --amend ALIAS SRC1 SRC2
    docker manifest push --insecure --purge ALIAS

It always writes every alias, drifted or not. The loop itself (measuring every docker
process on its own, summing wall and CPU seconds, the peak RSS the largest of any one
process, stopping after a few failures) is `bench.loops.run_loop`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.dockercli import DOCKER_BINARY, docker_env

from .loops import CommandBuilder, CommandLoop, run_loop
from .seed import Alias

__all__ = ["DockerLoop", "docker_commands", "run_docker_loop"]

DockerLoop = CommandLoop  # the docker loop's result is any command loop's


def docker_commands(host: str) -> CommandBuilder:
    """`docker manifest create` + `push` of one alias on registry `host` (the proxy)."""

    def build(alias: Alias) -> list[list[str]]:
        target = f"{host}/{alias.repository}:{alias.tag}"
        sources = [f"{host}/{alias.repository}:{tag}" for tag in alias.sources]
        return [
            [DOCKER_BINARY, "manifest", "create", "--insecure", "--amend", target, *sources],
            [DOCKER_BINARY, "manifest", "push", "--insecure", "--purge", target],
        ]

    return build


def run_docker_loop(aliases: Sequence[Alias], host: str, workdir: Path) -> CommandLoop:
    """Create and push every alias through `host` (the proxy); stops after MAX_FAILURES."""
    config_dir = Path(tempfile.mkdtemp(prefix="docker-config-", dir=workdir))
    env = docker_env(config_dir)
    return run_loop(aliases, docker_commands(host), env=env, workdir=workdir, name="docker")
