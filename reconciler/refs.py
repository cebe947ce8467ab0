"""Image references as people type them: `[registry/]repository[:tag][@digest]`. Pure."""

from __future__ import annotations

from .errors import ReconcileError
from .names import ImageReference, check_tag, parse_repository
from .types import is_digest

__all__ = ["InvalidReference", "parse_reference"]


class InvalidReference(ReconcileError):
    """A reference on the command line that is not `[registry/]repository[:tag][@digest]`."""


def parse_reference(text: str) -> ImageReference:
    """Split a reference the way docker does; no tag and no digest means `:latest`.

    The registry is the first component when it looks like a host (has `.` or `:`, or is
    `localhost`); otherwise the image is on Docker Hub (`alpine` is `docker.io/library/alpine`).
    """
    name, at, digest = text.strip().partition("@")
    if at and not is_digest(digest):
        raise InvalidReference(f"{text!r}: invalid digest {digest!r}: expected sha256:<64 hex>")
    head, colon, tail = name.rpartition(":")
    tag = ""
    if colon and "/" not in tail:
        name, tag = head, tail
    try:
        if tag:
            check_tag(tag)
        repository = parse_repository(name)
    except ValueError as exc:
        raise InvalidReference(f"{text!r}: {exc}") from None
    if not tag and not digest:
        tag = "latest"
    return ImageReference(repository, tag, digest)
