"""Data-plane sessions with smbprotocol: one per identity per host, for access checks and walking.

smbprotocol is the fastest Python SMB client (samba-lab-notes Q3 e) but has no null sessions and
needs help with guests; both are handled here:
- `NullSession` authenticates with NTLM anonymous ([MS-NLMP] 3.1.5.1.2), building the NTLM and
  SPNEGO tokens with impacket's encoders (jborean93/smbprotocol#168: pyspnego has no anonymous mode);
- guest and null sessions carry no key, so they must not be signed or encrypted: the connection's
  signing requirement is dropped for them, as MS-SMB2 3.3.5.5.3 exempts them (Samba's own client
  does the same), and encryption is not required.
"""

from __future__ import annotations

import contextlib
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

from shareaudit.errors import CollectError, FailureKind
from shareaudit.plan.identities import Identity, IdentityKind

_NTLMSSP_MECH = TypesMech["NTLMSSP - Microsoft NTLM Security Support Provider"]
# Failures of a request that are answers about access, not about the server's health.
REFUSALS = (SMBResponseException,)


# smbprotocol's NtStatus is a class of constants, not an enum: build the reverse table once.
_STATUS_NAMES = {value: name for name, value in vars(NtStatus).items() if name.startswith("STATUS_")}


def status_text(code: int) -> str:
    """An NT status code by name (STATUS_ACCESS_DENIED), or in hex when unknown."""
    return str(_STATUS_NAMES.get(code, f"0x{code:08x}"))


def status_name(exc: SMBResponseException) -> str:
    """The NT status of an smbprotocol response error, by name."""
    return status_text(int(exc.status))


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
    conn = Connection(uuid.uuid4(), host, port, require_signing=not guest)
    try:
        conn.connect(timeout=timeout)
    except (SMBException, OSError, ValueError) as exc:
        raise CollectError(FailureKind.PROTOCOL, f"cannot connect for a data session: {exc}") from exc
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
    try:
        if identity.kind is IdentityKind.ANONYMOUS:
            session: Any = NullSession(conn)
            session.connect()
            guest = True
        else:
            session, guest = _user_session(conn, identity)
    except SMBResponseException as exc:
        _quiet_disconnect(conn)
        status = status_name(exc)
        raise CollectError(
            FailureKind.LOGIN, f"logon as {identity.qualified_name} refused: {status}", status
        ) from exc
    except (SMBAuthenticationError, SpnegoError) as exc:
        _quiet_disconnect(conn)
        raise CollectError(FailureKind.LOGIN, f"logon as {identity.qualified_name} refused: {exc}") from exc
    except (SMBException, OSError, ValueError) as exc:
        _quiet_disconnect(conn)
        raise CollectError(FailureKind.PROTOCOL, f"logon as {identity.qualified_name} failed: {exc}") from exc
    return SmbSession(identity, host, conn, session, guest)


def _quiet_disconnect(conn: Connection) -> None:
    with contextlib.suppress(SMBException, OSError, ValueError, KeyError):
        conn.disconnect(close=False)
