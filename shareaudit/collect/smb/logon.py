"""Control-plane logons with impacket: null, guest and user sessions, and what the NTLM challenge says.

impacket is used here because it does what smbprotocol cannot: null sessions (pyspnego has no
anonymous NTLM, jborean93/smbprotocol#168) and DCE/RPC over the IPC$ pipe. Two impacket pitfalls
are handled in this module (samba-lab-notes Q3 a):
- on SMB 3.1.1 impacket signs guest sessions with a bogus key, so every tree connect of a guest
  session fails (fortra/impacket#2277); signing is switched off for guest sessions, which MS-SMB2
  3.3.5.5.3 exempts from signing anyway;
- with an empty password impacket sends an LM/NTLM response that Samba treats as a null password
  and gives no session key (STATUS_NO_USER_SESSION_KEY); passing the NT hash of the empty string
  makes it compute a proper NTLMv2 response, as Windows does for an account with an empty password.

Two impacket internals are used (`SMBConnection._timeout`, and `SMB3._Session["SigningActivated"]` for
the guest workaround); pyproject pins the impacket minor version they were verified with and
tests/unit/test_smb_internals.py checks them. Log lines name identities by label and kind only.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from impacket.nmb import NetBIOSError, NetBIOSTimeout
from impacket.smbconnection import SessionError, SMBConnection

from shareaudit.collect.deadline import Deadline
from shareaudit.collect.smb.negotiate import SMB1_DIALECT, dialect_name
from shareaudit.collect.smb.status import status_name
from shareaudit.errors import CollectError, FailureKind
from shareaudit.plan.identities import ANONYMOUS, Identity, IdentityKind, Secret

log = logging.getLogger(__name__)

# MD4(UTF-16LE("")), [MS-NLMP] 3.3.1 NTOWFv1 of the empty password.
EMPTY_NT_HASH = "31d6cfe0d16ae931b73c59d7e0c089c0"


def status_of(exc: SessionError) -> str:
    """The NT status name carried by an impacket SessionError."""
    return status_name(exc.getErrorCode())


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What a server says about itself in its NTLM challenge ([MS-NLMP] 2.2.2.1 AV_PAIR, 2.2.2.10 VERSION)."""

    netbios_name: str | None
    netbios_domain: str | None
    dns_name: str | None
    dns_domain: str | None
    os: str | None


@dataclass(frozen=True, slots=True)
class LogonAnswer:
    """The outcome of one session setup attempt."""

    accepted: bool
    status: str | None
    guest: bool  # the server flagged the session as guest
    server: ServerIdentity | None


def _text(value: Any) -> str | None:
    text = str(value).strip("\x00 ") if value else ""
    return text or None


def server_identity(conn: SMBConnection) -> ServerIdentity:
    """Read the NTLM challenge fields impacket kept from the last session setup."""
    os_name = None
    with contextlib.suppress(KeyError, TypeError, AttributeError):  # no VERSION field in the challenge
        os_name = _text(conn.getServerOS())
    return ServerIdentity(
        netbios_name=_text(conn.getServerName()),
        netbios_domain=_text(conn.getServerDomain()),
        dns_name=_text(conn.getServerDNSHostName()),
        dns_domain=_text(conn.getServerDNSDomainName()),
        os=os_name,
    )


def connect(host: str, port: int, timeout: float) -> SMBConnection:
    """Open an impacket connection (negotiating the best dialect), translating failures."""
    started = time.monotonic()
    try:
        conn = SMBConnection(host, host, sess_port=port, timeout=timeout)
    except (NetBIOSTimeout, TimeoutError) as exc:
        raise stalled(timeout) from exc
    except (OSError, NetBIOSError) as exc:
        raise CollectError(FailureKind.PROTOCOL, f"cannot connect: {exc}") from exc
    except SessionError as exc:
        raise CollectError(
            FailureKind.PROTOCOL, f"negotiate failed: {status_of(exc)}", status_of(exc)
        ) from exc
    except Exception as exc:  # impacket raises bare Exception/struct.error on non-SMB answers
        raise CollectError(FailureKind.PROTOCOL, f"negotiate failed: {exc}") from exc
    log.debug(
        "%s:%d: control connection: dialect %s (%.0f ms)",
        host,
        port,
        _dialect(conn),
        (time.monotonic() - started) * 1000,
    )
    return conn


def _dialect(conn: SMBConnection) -> str:
    dialect = conn.getDialect()  # SMB1_DIALECT for SMB1, the revision number for SMB2/3
    return dialect if isinstance(dialect, str) else dialect_name(int(dialect))


# impacket times out per read, so a server dripping bytes could hold one of its connections forever: the
# whole of a connection's work (negotiate, logon, the RPC calls made on it) gets this many timeouts.
CONNECTION_BUDGET = 6


def bounded(host: str, port: int, timeout: float, what: str) -> Deadline:
    """The deadline for the whole of one impacket connection's work."""
    return Deadline(CONNECTION_BUDGET * timeout, f"{what} on {host}:{port}")


def stalled(timeout: float) -> CollectError:
    """The error for a server that accepted the connection and then stopped answering."""
    return CollectError(FailureKind.TIMEOUT, f"the server stopped answering (no reply within {timeout:g} s)")


def timeout_of(conn: SMBConnection) -> float:
    """The timeout a connection was opened with."""
    return float(conn._timeout)


def _credentials(identity: Identity) -> tuple[str, str, str, str]:
    """(user, password, domain, nthash) for impacket's login()."""
    if identity.kind is IdentityKind.ANONYMOUS:
        return "", "", "", ""
    password = identity.secret.reveal()
    return identity.username, password, identity.domain, "" if password else EMPTY_NT_HASH


def login(conn: SMBConnection, identity: Identity) -> LogonAnswer:
    """Log on as the identity on an open connection; a refusal is an answer, not an exception."""
    host = conn.getRemoteHost()
    user, password, domain, nthash = _credentials(identity)
    started = time.monotonic()
    try:
        conn.login(user, password, domain, nthash=nthash)
    except SessionError as exc:
        status = status_of(exc)
        log.info("%s: logon as %s (%s): refused, %s", host, identity.label, identity.kind, status)
        log.debug("%s: logon as %s: status 0x%08x", host, identity.label, int(exc.getErrorCode()))
        return LogonAnswer(False, status, False, server_identity(conn))
    except (NetBIOSTimeout, TimeoutError) as exc:
        log.info("%s: logon as %s (%s): no answer", host, identity.label, identity.kind)
        raise stalled(timeout_of(conn)) from exc
    except (OSError, NetBIOSError) as exc:
        log.info("%s: logon as %s (%s): failed: %s", host, identity.label, identity.kind, exc)
        raise CollectError(FailureKind.PROTOCOL, f"session setup failed: {exc}") from exc
    except Exception as exc:  # impacket raises bare Exception and struct.error on malformed answers
        log.info("%s: logon as %s (%s): malformed answer", host, identity.label, identity.kind)
        raise CollectError(
            FailureKind.PROTOCOL, f"session setup failed: malformed answer ({type(exc).__name__}: {exc})"
        ) from exc
    # impacket reads SMB2_SESSION_FLAG_IS_GUEST ([MS-SMB2] 2.2.6) or SMB1's SMB_SETUP_GUEST.
    guest = bool(conn.isGuestSession())
    log.info(
        "%s: logon as %s (%s): accepted%s", host, identity.label, identity.kind, " as guest" if guest else ""
    )
    log.debug("%s: logon as %s took %.0f ms", host, identity.label, (time.monotonic() - started) * 1000)
    if guest and conn.getDialect() != SMB1_DIALECT:
        # fortra/impacket#2277: see the module docstring.
        conn.getSMBServer()._Session["SigningActivated"] = False
        log.debug("%s: guest session: impacket signing switched off (fortra/impacket#2277)", host)
    return LogonAnswer(True, None, guest, server_identity(conn))


def probe_logon(host: str, port: int, identity: Identity, timeout: float) -> LogonAnswer:
    """One connection, one session setup as the identity, then log off."""
    with bounded(host, port, timeout, f"logon as {identity.label}").watching():
        conn = connect(host, port, timeout)
        try:
            return login(conn, identity)
        finally:
            close(conn)


@contextlib.contextmanager
def session(host: str, port: int, identity: Identity, timeout: float) -> Iterator[SMBConnection]:
    """A logged-on impacket connection for RPC work; CollectError(LOGIN) when the logon is refused."""
    with bounded(host, port, timeout, f"RPC session as {identity.label}").watching():
        conn = connect(host, port, timeout)
        try:
            answer = login(conn, identity)
            if not answer.accepted:
                raise CollectError(
                    FailureKind.LOGIN,
                    f"logon as {identity.qualified_name} refused: {answer.status}",
                    answer.status,
                )
            yield conn
        finally:
            close(conn)


def can_open_ipc(conn: SMBConnection) -> bool:
    """Whether the session may connect to IPC$ (and so reach the RPC pipes)."""
    try:
        conn.connectTree("IPC$")
    except SessionError as exc:
        log.info("%s: tree connect IPC$: refused, %s", conn.getRemoteHost(), status_of(exc))
        return False
    log.info("%s: tree connect IPC$: accepted", conn.getRemoteHost())
    return True


def close(conn: SMBConnection) -> None:
    """Log off and disconnect; a failing logoff (guest sessions, a dead server) changes nothing."""
    # Cleanup after a failure must never replace the failure: impacket raises anything from here.
    with contextlib.suppress(Exception):
        conn.close()


def probe_null_session(host: str, port: int, timeout: float) -> tuple[LogonAnswer, bool | None]:
    """A null session and, when it is accepted, whether it may open IPC$."""
    with bounded(host, port, timeout, "null session").watching():
        conn = connect(host, port, timeout)
        try:
            answer = login(conn, ANONYMOUS)
            return answer, can_open_ipc(conn) if answer.accepted else None
        finally:
            close(conn)


def unknown_user() -> Identity:
    """A user no directory will have, with a password, to test the server's bad-user guest mapping."""
    name = f"sa-probe-{secrets.token_hex(6)}"
    # A non-empty password: an empty one would test the null-password path instead.
    return Identity(
        "guest_fallback", IdentityKind.USER, username=name, secret=Secret(secrets.token_urlsafe(12))
    )


NAMED_GUEST = Identity("guest_account", IdentityKind.GUEST, username="Guest")
