"""The one place where the HTTP library's exceptions become the package's errors, for every
request to a registry, its token service or its storage: a timeout or a broken connection is a
TransportError (retried by the retry layer); a certificate that failed verification or a
server that answered the TLS handshake in plain HTTP is a TlsError, which asking again cannot
mend, so it is not retried. Messages name what was asked, never a URL's credentials."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .._errors import TlsError, TransportError
from .transport import CertificateError, NotTlsError

__all__ = ["NOT_TLS", "translated"]

NOT_TLS = (
    "the registry answered the TLS handshake in plain HTTP; if it serves plain HTTP, mark it "
    "`insecure: true` in its `registries:` entry (or pass --insecure to inspect, resolve or "
    "import)"
)


@contextmanager
def translated(registry: str, what: str) -> Iterator[None]:
    """Raise httpx's exceptions inside as the errors of `registry`, `what` naming the request."""
    try:
        yield
    except httpx.TimeoutException:
        raise TransportError(registry, f"{what}: timed out") from None
    except httpx.HTTPError as exc:
        raise _error(registry, what, exc) from None


def _error(registry: str, what: str, exc: httpx.HTTPError) -> TransportError:
    if isinstance(exc, CertificateError) or _certificate_refused(exc):
        return TlsError(registry, f"{what}: TLS certificate not accepted ({exc})")
    if isinstance(exc, NotTlsError):
        return TlsError(registry, f"{what}: {NOT_TLS} ({exc})")
    return TransportError(registry, f"{what}: {_reason(exc)}")


def _certificate_refused(exc: BaseException) -> bool:
    """Whether an error comes from a certificate that failed verification below another
    transport than ours (httpx keeps the ssl error in the chain of causes)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _reason(exc: httpx.HTTPError) -> str:
    """A short reason; URLs are left out (they may be long) and never carry credentials."""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})"
    if isinstance(exc, httpx.ProxyError):
        return f"through the proxy: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"connection broken ({exc})"
    return type(exc).__name__
