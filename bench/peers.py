"""The peers: the tools users keep multi-platform aliases with instead of reconcile, each in
its idiomatic one-alias-at-a-time form, as a shell loop over the aliases would run it.

    crane index append --insecure -m HOST/REPO:SRC1 -m HOST/REPO:SRC2 -t HOST/REPO:ALIAS
    regctl index create HOST/REPO:ALIAS --ref HOST/REPO:SRC1 --ref HOST/REPO:SRC2
    oras manifest index create --plain-http HOST/REPO:ALIAS SRC1 SRC2
    manifest-tool --plain-http --docker-cfg DIR push from-spec ALIAS.yaml

regctl learns that the registry is plain HTTP once, from `regctl registry set --tls disabled
HOST` into its own config file (REGCTL_CONFIG); manifest-tool reads one spec file per alias,
written beforehand with the sources' platforms taken from the seed layout (`bench.seed`),
not asked of the registry. Each peer runs with its own HOME, an empty DOCKER_CONFIG (as the
docker loop's) and XDG directories under its work directory, so nothing of the user's
configuration or credentials is read. The programs are found on PATH; `make bench` builds
them into `.tools/bin` (tools/gotools.py) and bench/run.py puts that directory first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.dockercli import docker_env
from tests.support.images import DOCKER_LIST, OCI_INDEX, RegistryHTTPError, get_manifest

from .loops import CommandBuilder
from .seed import PLATFORMS, Alias

__all__ = ["PEERS", "Peer", "PeerSetupError", "check_indexes", "peer_env", "tool_version"]

SETUP_TIMEOUT_S = 60.0


class PeerSetupError(RuntimeError):
    """A peer's one-off configuration failed (before its loop)."""


@dataclass(frozen=True)
class PeerContext:
    host: str  # the registry host every reference names (the proxy's)
    aliases: Sequence[Alias]
    home: Path  # the peer's work directory: HOME, configs, spec files, output
    env: dict[str, str]


@dataclass(frozen=True)
class Peer:
    name: str  # the program, found on PATH
    command: str  # what runs per alias, for the report
    prepare: Callable[[PeerContext], CommandBuilder]  # one-off setup (not measured)

    def setup(
        self, host: str, aliases: Sequence[Alias], home: Path
    ) -> tuple[dict[str, str], CommandBuilder]:
        """The environment and per-alias command builder of this peer, in `home`."""
        home.mkdir(parents=True, exist_ok=True)
        env = peer_env(home)
        return env, self.prepare(PeerContext(host, aliases, home, env))


def peer_env(home: Path) -> dict[str, str]:
    """The caller's environment without proxy or docker daemon settings, with HOME, an empty
    DOCKER_CONFIG, REGCTL_CONFIG and the XDG directories all inside `home`."""
    docker_config = home / "docker-config"
    docker_config.mkdir(parents=True, exist_ok=True)
    env = docker_env(docker_config)
    env.update(
        HOME=str(home),
        REGCTL_CONFIG=str(home / "regctl.json"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
    )
    return env


def _ref(host: str, repository: str, tag: str) -> str:
    return f"{host}/{repository}:{tag}"


def _crane(ctx: PeerContext) -> CommandBuilder:
    def build(alias: Alias) -> list[list[str]]:
        manifests = [
            a for tag in alias.sources for a in ("-m", _ref(ctx.host, alias.repository, tag))
        ]
        target = _ref(ctx.host, alias.repository, alias.tag)
        return [["crane", "index", "append", "--insecure", *manifests, "-t", target]]

    return build


def _regctl(ctx: PeerContext) -> CommandBuilder:
    argv = ["regctl", "registry", "set", "--tls", "disabled", ctx.host]
    try:
        done = subprocess.run(
            argv,
            env=ctx.env,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerSetupError(f"{' '.join(argv)}: {exc}") from exc
    if done.returncode != 0:
        raise PeerSetupError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")

    def build(alias: Alias) -> list[list[str]]:
        refs = [
            a for tag in alias.sources for a in ("--ref", _ref(ctx.host, alias.repository, tag))
        ]
        return [["regctl", "index", "create", _ref(ctx.host, alias.repository, alias.tag), *refs]]

    return build


def _oras(ctx: PeerContext) -> CommandBuilder:
    def build(alias: Alias) -> list[list[str]]:
        target = _ref(ctx.host, alias.repository, alias.tag)
        return [["oras", "manifest", "index", "create", "--plain-http", target, *alias.sources]]

    return build


def _manifest_tool(ctx: PeerContext) -> CommandBuilder:
    docker_config = ctx.env["DOCKER_CONFIG"]
    specs = ctx.home / "specs"
    specs.mkdir(exist_ok=True)
    paths: dict[Alias, Path] = {}
    for alias in ctx.aliases:
        path = specs / f"{alias.repository.replace('/', '_')}_{alias.tag}.yaml"
        path.write_text(manifest_tool_spec(ctx.host, alias))
        paths[alias] = path

    def build(alias: Alias) -> list[list[str]]:
        spec = str(paths[alias])
        return [
            [
                "manifest-tool",
                "--plain-http",
                "--docker-cfg",
                docker_config,
                "push",
                "from-spec",
                spec,
            ]
        ]

    return build


def manifest_tool_spec(host: str, alias: Alias) -> str:
    """manifest-tool's YAML spec for one alias: the target and each source with its platform
    from the seed layout (strings as JSON strings, which are YAML double-quoted scalars)."""
    lines = [f"image: {json.dumps(_ref(host, alias.repository, alias.tag))}", "manifests:"]
    for tag, (_suffix, os_name, architecture) in zip(alias.sources, PLATFORMS, strict=True):
        lines += [
            f"  - image: {json.dumps(_ref(host, alias.repository, tag))}",
            "    platform:",
            f"      architecture: {json.dumps(architecture)}",
            f"      os: {json.dumps(os_name)}",
        ]
    return "\n".join(lines) + "\n"


PEERS = (
    Peer(
        "crane",
        "crane index append --insecure -m HOST/REPO:SRC1 -m HOST/REPO:SRC2 -t HOST/REPO:ALIAS",
        _crane,
    ),
    Peer(
        "regctl",
        "regctl index create HOST/REPO:ALIAS --ref HOST/REPO:SRC1 --ref HOST/REPO:SRC2",
        _regctl,
    ),
    Peer("oras", "oras manifest index create --plain-http HOST/REPO:ALIAS SRC1 SRC2", _oras),
    Peer(
        "manifest-tool",
        "manifest-tool --plain-http --docker-cfg DIR push from-spec ALIAS.yaml",
        _manifest_tool,
    ),
)


def tool_version(name: str) -> str:
    """The version of a program on PATH, from the directory tools/gotools.py builds it into
    (`.tools/NAME-VERSION/NAME`: not every peer's build reports its version itself)."""
    found = shutil.which(name)
    if found is None:
        return "not installed"
    directory = Path(found).resolve().parent.name
    return directory.removeprefix(f"{name}-") if directory.startswith(f"{name}-") else "?"


def sample(aliases: Sequence[Alias]) -> list[Alias]:
    """The first, middle and last alias (fewer when there are fewer)."""
    picks = [aliases[i] for i in (0, len(aliases) // 2, len(aliases) - 1)] if aliases else []
    return list(dict.fromkeys(picks))


def check_indexes(registry_url: str, aliases: Sequence[Alias]) -> tuple[list[str], list[str]]:
    """Read a sample of the aliases back from the registry itself (not through the proxy):
    each must be an index or manifest list of exactly its sources' current digests. Returns
    (aliases checked, problems found)."""
    checked, problems = [], []
    for alias in sample(aliases):
        name = f"{alias.repository}:{alias.tag}"
        checked.append(name)
        try:
            raw, media_type, _digest = get_manifest(registry_url, alias.repository, alias.tag)
            expected = sorted(
                get_manifest(registry_url, alias.repository, tag)[2] for tag in alias.sources
            )
            document = json.loads(raw)
        except (RegistryHTTPError, httpx.HTTPError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        media_type = document.get("mediaType") or media_type
        children = sorted(str(entry.get("digest")) for entry in document.get("manifests", []))
        if media_type not in (OCI_INDEX, DOCKER_LIST):
            problems.append(
                f"{name}: a {media_type or 'manifest without media type'}, not an index"
            )
        elif children != expected:
            problems.append(f"{name}: lists {children}, the sources are {expected}")
    return checked, problems
