"""Data-plane sessions with smbprotocol: one per identity per host, for access checks and walking.

smbprotocol is the fastest Python SMB client (samba-lab-notes Q3 e) but has no null sessions and
needs help with guests; both are handled here:
- `NullSession` authenticates with NTLM anonymous ([MS-NLMP] 3.1.5.1.2), building the NTLM and
  SPNEGO tokens with impacket's encoders (jborean93/smbprotocol#168: pyspnego has no anonymous mode);
- guest and null sessions carry no key, so they must not be signed or encrypted: the connection's
  signing requirement is dropped for them, as MS-SMB2 3.3.5.5.3 exempts them (Samba's own client
  does the same), and encryption is not required.

Log lines name the identity by label and kind, never its password or session keys.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from impacket import ntlm
from impacket.spnego import SPNEGO_NegTokenInit, SPNEGO_NegTokenResp, TypesMech
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBAuthenticationError, SMBException, SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.session import Session, SMB2SessionSetupRequest, SMB2SessionSetupResponse
from spnego.exceptions import SpnegoError

from shareaudit.collect.smb.negotiate import SMB2_NEGOTIATE_SIGNING_REQUIRED, dialect_name
from shareaudit.collect.smb.receiver import DataConnection
from shareaudit.collect.smb.status import status_name
from shareaudit.errors import CollectError, FailureKind
from shareaudit.plan.identities import Identity, IdentityKind

log = logging.getLogger(__name__)

_NTLMSSP_MECH = TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]


class NullSession(Session):  # type: ignore[misc]  # smbprotocol is untyped
    """An anonymous (null) session: empty user, empty password, no session key."""

    session_id: int

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection, username="", password="", require_encryption=False)

    def _setup(self, token: bytes) -> tuple[int, bytes]:
        """Send one SESSION_SETUP leg and return (status, security buffer)."""
        request = SMB2SessionSetupRequest()
        request["security_mode"] = self.connection.client_security_mode
        request["buffer"] = token
        sent = self.connection.send(request, sid=self.session_id, credit_request=64)
        message_id = sent.message["message_id"].get_value()
        try:
            response = self.connection.receive(sent)
        except SMBResponseException as exc:
            if exc.status != NtStatus.STATUS_MORE_PROCESSING_REQUIRED:
                raise
            response = exc.header
        # Only a signing/encryption key derivation would use the pre-auth hash; a null session has none.
        self.connection.preauth_integrity_session_hash_value.pop(message_id, None)
        if self.session_id == 0:
            self.session_id = response["session_id"].get_value()
        answer = SMB2SessionSetupResponse()
        answer.unpack(response["data"].get_value())
        return int(response["status"].get_value()), bytes(answer["buffer"].get_value())

    def connect(self) -> None:
        """NEGOTIATE, CHALLENGE, anonymous AUTHENTICATE, wrapped in SPNEGO as Windows clients send them."""
        negotiate = ntlm.getNTLMSSPType1("", "", signingRequired=False)
        init = SPNEGO_NegTokenInit()
        init["MechTypes"] = [_NTLMSSP_MECH]
        init["MechToken"] = negotiate.getData()
        _, buffer = self._setup(init.getData())
        challenge = SPNEGO_NegTokenResp(buffer)["ResponseToken"]
        authenticate, _ = ntlm.getNTLMSSPType3(negotiate, challenge, "", "", "")
        reply = SPNEGO_NegTokenResp()
        reply["ResponseToken"] = authenticate.getData()
        self._setup(reply.getData())
        self._connected = True
        self.connection.session_table[self.session_id] = self
        self.session_key = self.signing_key = self.application_key = None
        self.encryption_key = self.decryption_key = None
        self.signing_required = False
        self.encrypt_data = False


# What smbprotocol raises for a dead or confused server: its own errors, the socket's, and what its
# structures raise on an answer too short for the fields they unpack (struct.error, ValueError).
SMB_FAILURES = (SMBException, OSError, ValueError, struct.error)


class _Connection(DataConnection):  # smbprotocol is untyped (DataConnection carries the ignore)
    """smbprotocol's Connection with a deadline on every answer.

    smbprotocol's own operations (session setup, CREATE, QUERY_DIRECTORY, CLOSE) wait for their answer
    without one, and its transport times out per read, so a server dripping bytes would hold them forever.
    Here every wait is bounded by `request_timeout` for the whole answer (smbprotocol then raises
    "Connection timeout of N seconds exceeded", which callers record as TIMEOUT).
    """

    request_timeout: float = 60.0

    def receive(
        self, request: Any, wait: bool = True, timeout: float | None = None, resolve_symlinks: bool = True
    ) -> Any:
        return super().receive(
            request,
            wait=wait,
            timeout=self.request_timeout if timeout is None else timeout,
            resolve_symlinks=resolve_symlinks,
        )


def timed_out(exc: Exception) -> bool:
    """Whether an smbprotocol failure is a wait that ran out (rather than a refusal or a broken answer)."""
    return isinstance(exc, SMBException) and "timeout" in str(exc).lower()


@dataclass
class SmbSession:
    """A logged-on smbprotocol session for one identity on one host."""

    identity: Identity
    host: str
    connection: Connection
    session: Session
    guest: bool  # the server gave a guest (or null) session: no signing, no encryption

    def close(self) -> None:
        """Log off and disconnect; never raises (the server may already be gone)."""
        with contextlib.suppress(SMBException, OSError, ValueError, KeyError):
            self.connection.disconnect(close=True)


def _connection(host: str, port: int, timeout: float, guest: bool) -> Connection:
    started = time.monotonic()
    conn = _Connection(uuid.uuid4(), host, port, require_signing=not guest)
    conn.request_timeout = timeout
    try:
        conn.connect(timeout=timeout)
    except SMB_FAILURES as exc:
        log.info("%s:%d: data connection failed: %s", host, port, exc)
        raise CollectError(FailureKind.PROTOCOL, f"cannot connect for a data session: {exc}") from exc
    log.debug(
        "%s:%d: data connection: dialect %s, server requires signing: %s, encryption: %s (%.0f ms)",
        host,
        port,
        dialect_name(conn.dialect),
        bool(conn.server_security_mode & SMB2_NEGOTIATE_SIGNING_REQUIRED),
        bool(conn.supports_encryption),
        (time.monotonic() - started) * 1000,
    )
    # smbprotocol's transport otherwise waits 600 s for a silent server before it notices.
    conn._receive_timeout = max(1, int(timeout))
    if guest:
        conn.require_signing = False  # see the module docstring
    return conn


def _user_session(conn: Connection, identity: Identity) -> tuple[Session, bool]:
    """A session for a named account; guest=True when the server mapped it to guest."""
    user = f"{identity.domain}\\{identity.username}" if identity.domain else identity.username
    session = Session(conn, user, identity.secret.reveal(), require_encryption=False, auth_protocol="ntlm")
    try:
        session.connect()
    except SMBException as exc:
        if "authenticated as a guest" not in str(exc):
            raise
        # Mapped to guest on a connection that insisted on signing: retry without, as a guest.
        log.debug(
            "%s: %s mapped to guest on a signing connection: logging on again unsigned",
            conn.server_name,
            identity.label,
        )
        conn.require_signing = False
        session = Session(
            conn, user, identity.secret.reveal(), require_encryption=False, auth_protocol="ntlm"
        )
        session.connect()
        return session, True
    if session.signing_key is None:
        return session, True
    # A real session has a key: sign, whatever was assumed when the connection was opened
    # (Samba rejects unsigned tree connects of authenticated 3.1.1 sessions, jborean93/smbprotocol#290).
    session.signing_required = True
    return session, False


def open_session(host: str, port: int, identity: Identity, timeout: float) -> SmbSession:
    """Log on as the identity; CollectError(LOGIN) when the server refuses it."""
    guest_like = identity.kind is not IdentityKind.USER
    conn = _connection(host, port, timeout, guest_like)
    started = time.monotonic()
    try:
        if identity.kind is IdentityKind.ANONYMOUS:
            session: Any = NullSession(conn)
            session.connect()
            guest = True
        else:
            session, guest = _user_session(conn, identity)
    except SMBResponseException as exc:
        _quiet_disconnect(conn)
        status = status_name(exc.status)
        log.info("%s: data logon as %s (%s): refused, %s", host, identity.label, identity.kind, status)
        log.debug("%s: data logon as %s: status 0x%08x", host, identity.label, int(exc.status))
        raise CollectError(
            FailureKind.LOGIN, f"logon as {identity.qualified_name} refused: {status}", status
        ) from exc
    except (SMBAuthenticationError, SpnegoError) as exc:
        _quiet_disconnect(conn)
        log.info("%s: data logon as %s (%s): refused by authentication", host, identity.label, identity.kind)
        raise CollectError(FailureKind.LOGIN, f"logon as {identity.qualified_name} refused: {exc}") from exc
    except SMB_FAILURES as exc:
        _quiet_disconnect(conn)
        log.info(
            "%s: data logon as %s (%s): failed: %s", host, identity.label, identity.kind, type(exc).__name__
        )
        if timed_out(exc):
            raise CollectError(
                FailureKind.TIMEOUT, f"logon as {identity.qualified_name}: no answer within {timeout:g} s"
            ) from exc
        raise CollectError(FailureKind.PROTOCOL, f"logon as {identity.qualified_name} failed: {exc}") from exc
    log.info(
        "%s: data logon as %s (%s): accepted, %s",
        host,
        identity.label,
        identity.kind,
        "guest or null session (unsigned)" if guest else "signed",
    )
    log.debug("%s: data logon as %s took %.0f ms", host, identity.label, (time.monotonic() - started) * 1000)
    return SmbSession(identity, host, conn, session, guest)


def _quiet_disconnect(conn: Connection) -> None:
    with contextlib.suppress(SMBException, OSError, ValueError, KeyError):
        conn.disconnect(close=False)
