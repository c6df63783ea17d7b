"""What every protocol's first contact needs: a failed TCP connection in one line, TLS as a scanner speaks it."""

from __future__ import annotations

import errno
import socket
import ssl

from shareaudit.errors import CollectError, FailureKind


def connect_error(exc: OSError, timeout: float) -> CollectError:
    """A failed TCP connection as one line an admin understands."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return CollectError(FailureKind.TIMEOUT, f"no answer to a connection within {timeout:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return CollectError(FailureKind.REFUSED, "connection refused (nothing listens on the port)")
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return CollectError(FailureKind.UNREACHABLE, f"host unreachable ({exc.strerror})")
    return CollectError(FailureKind.UNREACHABLE, f"connection failed ({exc.strerror or exc})")


def tls_context() -> ssl.SSLContext:
    """TLS as a scanner speaks it: any certificate is taken (what is asked is whether TLS is offered)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
