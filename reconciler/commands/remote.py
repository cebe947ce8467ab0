"""Registry access for the one-off commands (`inspect`, `resolve`): which settings, one client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import config
from ..config import Config
from ..errors import ConfigError
from ..registry import Registries, RegistryClient

__all__ = ["DEFAULT_CONFIG", "open_client", "registry_config"]

log = logging.getLogger("reconciler.cli")
DEFAULT_CONFIG = Path("manifests.yaml")


def registry_config(file: Path | None, host: str, *, insecure: bool = False) -> Config:
    """Registry settings (insecure, endpoint, CA, ...) from `file`, else from ./manifests.yaml
    when it exists and is valid, else defaults; `insecure` marks `host` plain HTTP on top."""
    cfg = config.load(file) if file is not None else _default_config()
    if insecure:
        settings = cfg.registry(host).model_copy(update={"insecure": True})
        cfg = cfg.model_copy(update={"registries": {**cfg.registries, host: settings}})
    return cfg


def _default_config() -> Config:
    if DEFAULT_CONFIG.is_file():
        try:
            return config.load(DEFAULT_CONFIG)
        except ConfigError as exc:
            log.warning("ignoring %s, using default registry settings: %s", DEFAULT_CONFIG, exc)
    return Config.model_validate({"repositories": {}})


@contextmanager
def open_client(cfg: Config, host: str) -> Iterator[RegistryClient]:
    """A client for `host`, closed on exit."""
    with Registries(cfg, max_connections=4) as registries:
        yield registries.client(host)
