"""Platform spelling, normalisation and client-side matching, following containerd's rules.

Three things, kept apart:
- what an index holds: a platform as the image's config declares it (or as the source index
  lists it), written unchanged, as `docker manifest create`, buildah and buildx write it;
- `canonical`: how a platform typed by a person (manifests.yaml `platform:`, `--platform`) is
  written: the usual names (`aarch64` is `arm64`, `x86_64` is `amd64`), a variant given kept;
- `normalize`: the comparison key. Two spellings of one platform (`linux/arm64`,
  `linux/arm64/v8`, `linux/aarch64`) must compare equal, so every comparison and
  de-duplication goes through it, and nothing normalised is ever written.
`select` answers "which entry of this index would a machine of platform P pull".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from .oci import Descriptor, Platform

__all__ = [
    "UNKNOWN",
    "candidates",
    "canonical",
    "is_unknown",
    "normalize",
    "parse",
    "same",
    "select",
]

UNKNOWN = Platform("unknown", "unknown")

_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "i386": ("386", ""),
}
_OS_ALIASES = {"macos": "darwin"}
# Variants that mean "the baseline" for their architecture and are therefore dropped.
_BASELINE_VARIANTS = {"amd64": {"v1"}, "arm64": {"v8", "8", "v8.0"}}


def parse(text: str) -> Platform:
    """Parse `os/arch[/variant]` (as written in configs and on command lines), in canonical
    spelling: `linux/aarch64` is `linux/arm64`, `linux/arm64/v8` keeps its variant."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant]")
    variant = parts[2] if len(parts) == 3 else ""
    return canonical(Platform(os=parts[0], architecture=parts[1], variant=variant))


# canonical and normalize run for every descriptor of every alias (a dozen times an alias in a
# steady run) on a handful of distinct platforms: remembered, they cost a hash lookup.
@functools.lru_cache(maxsize=1024)
def canonical(platform: Platform) -> Platform:
    """The usual spelling of a platform, meaning unchanged: lower case, `aarch64` as `arm64`,
    `armhf` as `arm/v7`, a bare arm variant number as `v7`. Unlike `normalize`, a variant that
    is given is kept, the baseline ones (`arm64/v8`, `amd64/v1`) included; idempotent."""
    os_name = platform.os.lower()
    os_name = _OS_ALIASES.get(os_name, os_name)
    arch = platform.architecture.lower()
    variant = platform.variant.lower()
    if arch in _ARCH_ALIASES:
        arch, implied = _ARCH_ALIASES[arch]
        variant = variant or implied
    return Platform(
        os_name, arch, _v_prefixed(arch, variant), platform.os_version, platform.os_features
    )


def _v_prefixed(arch: str, variant: str) -> str:
    """arm variants are versions: `7` is spelled `v7`."""
    return f"v{variant}" if arch in ("arm", "arm64") and variant.isdigit() else variant


def same(a: Platform, b: Platform) -> bool:
    """Whether two platforms mean the same machine (normalised os, architecture, variant, and
    the same os.version and os.features)."""
    return normalize(a) == normalize(b)


@functools.lru_cache(maxsize=1024)
def normalize(platform: Platform) -> Platform:
    """The comparison key of a platform: its canonical spelling without the baseline variants
    (`arm64/v8` is `arm64`, `amd64/v1` is `amd64`) and with containerd's default for 32-bit
    arm (`arm` is `arm/v7`); idempotent. Never written into an index."""
    spelled = canonical(platform)
    arch, variant = spelled.architecture, spelled.variant
    if variant in _BASELINE_VARIANTS.get(arch, set()):
        variant = ""
    if arch == "arm":
        variant = _arm_variant(variant)
    if variant == spelled.variant:
        return spelled
    return Platform(spelled.os, arch, variant, spelled.os_version, spelled.os_features)


def _arm_variant(variant: str) -> str:
    if not variant:
        return "v7"  # containerd's default for 32-bit arm
    return variant if variant.startswith("v") else f"v{variant}"


def is_unknown(platform: Platform | None) -> bool:
    """BuildKit's attestation entries carry `unknown/unknown`; no machine runs them."""
    return platform is not None and _key(platform)[:2] == ("unknown", "unknown")


def candidates(machine: Platform) -> list[Platform]:
    """Platforms a machine of platform `machine` accepts, most preferred first."""
    machine = normalize(machine)
    if machine.architecture == "amd64":
        level = _level(machine.variant, default=1)
        archs = [("amd64", "" if n == 1 else f"v{n}") for n in range(level, 0, -1)]
        archs.append(("386", ""))
    elif machine.architecture == "arm64":
        archs = [("arm64", machine.variant)] + [("arm", f"v{n}") for n in (8, 7, 6, 5)]
    elif machine.architecture == "arm":
        level = _level(machine.variant, default=7)
        archs = [("arm", f"v{n}") for n in range(level, 4, -1)]
    else:
        archs = [(machine.architecture, machine.variant)]
    return [Platform(machine.os, arch, variant) for arch, variant in archs]


def _level(variant: str, default: int) -> int:
    """`v3` -> 3; an unrecognised variant counts as the default level."""
    digits = variant.removeprefix("v")
    return int(digits) if digits.isdigit() else default


def _key(platform: Platform) -> tuple[str, str, str]:
    p = normalize(platform)
    return (p.os, p.architecture, p.variant)


def select(machine: Platform, entries: Sequence[Descriptor]) -> Descriptor | None:
    """The entry a machine of platform `machine` pulls: best candidate first, index order breaks
    ties.

    Entries without a platform are a last resort; `unknown/unknown` entries are never chosen.
    """
    for wanted in candidates(machine):
        for entry in _with_platform(entries):
            assert entry.platform is not None
            if _key(entry.platform) == _key(wanted):
                return entry
    return next((e for e in entries if e.platform is None), None)


def _with_platform(entries: Iterable[Descriptor]) -> Iterable[Descriptor]:
    return (e for e in entries if e.platform is not None and not is_unknown(e.platform))
