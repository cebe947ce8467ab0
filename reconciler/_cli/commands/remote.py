"""Registry access for the one-off commands (`inspect`, `resolve`, `import`): which settings,
one client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..._config import models as config
from ..._config.models import Config
from ..._errors import ConfigError
from ..._model.names import ImageReference
from ..._model.oci import Manifest
from ..._model.refs import parse_reference
from ..._registry.interface import RegistryReader
from ..._registry.registries import Registries
from ..lookup import fetch
from . import DEFAULT_CONFIG

__all__ = ["open_client", "open_reference", "registry_config"]

log = logging.getLogger("reconciler.cli")


def registry_config(file: Path | None, host: str, *, insecure: bool = False) -> Config:
    """Registry settings (insecure, endpoint, CA, ...) from `file`, else from ./manifests.yaml
    when it exists, holds something and is valid (a file of `registries:` alone is), else
    defaults; `insecure` marks `host` plain HTTP on top."""
    cfg = config.load(file) if file is not None else _default_config()
    if insecure:
        settings = cfg.registry(host).model_copy(update={"insecure": True})
        cfg = cfg.model_copy(update={"registries": {**cfg.registries, host: settings}})
    return cfg


def _default_config() -> Config:
    """An empty ./manifests.yaml counts as absent, without a warning: `reconcile import REF >
    manifests.yaml` has the shell empty it before the command reads it."""
    found = None
    if DEFAULT_CONFIG.is_file():
        try:
            found = config.load_unless_empty(DEFAULT_CONFIG)
        except ConfigError as exc:
            log.warning("ignoring %s, using default registry settings: %s", DEFAULT_CONFIG, exc)
    return found or Config()


@contextmanager
def open_client(cfg: Config, host: str) -> Iterator[RegistryReader]:
    """A client for `host`, closed on exit."""
    with Registries(cfg.registry_settings(), max_connections=4) as registries:
        yield registries.client(host)


@contextmanager
def open_reference(
    text: str, file: Path | None, *, insecure: bool
) -> Iterator[tuple[ImageReference, RegistryReader, Manifest]]:
    """Parse a reference typed on the command line, open a client for its registry (settings
    from `file`) and read the manifest it names: what `inspect` and `resolve` start from."""
    reference = parse_reference(text)
    host = reference.repository.registry
    with open_client(registry_config(file, host, insecure=insecure), host) as client:
        yield reference, client, fetch(client, reference)
