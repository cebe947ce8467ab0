"""The registry zoo: the test proxy in front of a real `docker-registry`, made to behave as a
real registry documents what the reference registry never shows.

One module per registry, each a small table of behaviours (`BEHAVIOURS`: what, and the link
to where the registry documents it) and a context manager that starts the profile in front of
a running registry and yields a `Zoo` (the proxy, plus whatever other loopback hosts the
profile needs: a token realm on another address, a storage host on 127.0.0.2):

    dockerhub   Docker Hub: token realm on another host, `library/` names, rate-limit headers
    storage     GAR/GCR and S3-backed registries: uploads and downloads on a storage host
    twochallenges  Harbor and Quay: Bearer and Basic challenges side by side on a 401
    ecr         the ECR registry API: Basic challenge, refused mounts, immutable tags
    ghcr        GHCR: anonymous bearer tokens for public pulls, tag lists paged at 100

Every address is on loopback (127.0.0.0/8); nothing here reaches the internet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.support.proxy import Proxy

__all__ = ["Behaviour", "Zoo"]


@dataclass(frozen=True)
class Behaviour:
    """One documented behaviour a profile plays, with where it is documented."""

    what: str
    documented: str  # a URL


@dataclass
class Zoo:
    """A running profile: point the client at `proxy.host`. Other loopback servers a profile
    starts (a token realm, a storage host) are attributes of that profile's own type."""

    name: str
    proxy: Proxy
    behaviours: Sequence[Behaviour] = field(default_factory=tuple)

    @property
    def host(self) -> str:
        return self.proxy.host
