"""Image references as people type them: `[registry/]repository[:tag][@digest]`. Pure."""

from __future__ import annotations

from .._errors import ReconcileError
from .names import ImageReference, split_reference

__all__ = ["InvalidReference", "parse_reference"]


class InvalidReference(ReconcileError):
    """A reference on the command line that is not `[registry/]repository[:tag][@digest]`."""


def parse_reference(text: str) -> ImageReference:
    """Split a reference the way docker does; no tag and no digest means `:latest`.

    The registry is the first component when it looks like a host (has `.` or `:`, or is
    `localhost`); otherwise the image is on Docker Hub (`alpine` is `docker.io/library/alpine`).
    """
    try:
        repository, tag, digest = split_reference(text.strip())
    except ValueError as exc:
        raise InvalidReference(f"{text!r}: {exc}") from None
    return ImageReference(repository, tag or ("" if digest else "latest"), digest)
