"""Protocol posture: which dialects a server accepts, SMB1, signing and encryption.

SMB2/3 dialects are probed one at a time with smbprotocol. SMB1 is probed with a raw NEGOTIATE that
offers only "NT LM 0.12": impacket can negotiate SMB1, but on an SMB2-only server it fails with a
parse error instead of a clean "no common dialect" (samba-lab-notes Q3 f), and a server that has
SMB1 switched off may also just drop the connection. The raw exchange tells those cases apart.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import time
import uuid
from dataclasses import dataclass

from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBException

from shareaudit.errors import CollectError, FailureKind

log = logging.getLogger(__name__)

# [MS-SMB2] 2.2.3: the dialect revisions, in the order a client would prefer them last.
SMB2_DIALECTS: tuple[tuple[str, int], ...] = (
    ("2.0.2", Dialects.SMB_2_0_2),
    ("2.1", Dialects.SMB_2_1_0),
    ("3.0", Dialects.SMB_3_0_0),
    ("3.0.2", Dialects.SMB_3_0_2),
    ("3.1.1", Dialects.SMB_3_1_1),
)
SMB1_DIALECT = "NT LM 0.12"
_DIALECT_NAMES = {code: name for name, code in SMB2_DIALECTS}


def dialect_name(dialect: int | None) -> str:
    """An SMB2/3 dialect revision as people write it (3.1.1), or in hex."""
    return _DIALECT_NAMES.get(dialect or 0, f"0x{dialect or 0:04x}")


# [MS-SMB2] 2.2.4 SecurityMode
SMB2_NEGOTIATE_SIGNING_REQUIRED = 0x02
# [MS-CIFS] 2.2.4.52.2 SecurityMode
SMB1_SECURITY_SIGNATURES_REQUIRED = 0x08
SMB1_NO_COMMON_DIALECT = 0xFFFF


@dataclass(frozen=True, slots=True)
class DialectAnswer:
    """What one SMB2/3 NEGOTIATE for a single dialect returned."""

    dialect: str
    signing_required: bool
    encryption: bool


@dataclass(frozen=True, slots=True)
class Smb1Answer:
    """The outcome of an SMB1-only NEGOTIATE."""

    accepted: bool
    signing_required: bool | None


def _reason(exc: OSError) -> CollectError:
    """Turn a socket error into a CollectError an admin can read."""
    if isinstance(exc, socket.gaierror):
        return CollectError(FailureKind.UNRESOLVED, f"name does not resolve ({exc.strerror})")
    if isinstance(exc, TimeoutError | socket.timeout):
        return CollectError(FailureKind.TIMEOUT, "connection timed out")
    if isinstance(exc, ConnectionRefusedError):
        return CollectError(FailureKind.REFUSED, "connection refused (nothing listens on the port)")
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return CollectError(FailureKind.UNREACHABLE, f"host unreachable ({exc.strerror})")
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return CollectError(FailureKind.PROTOCOL, "connection reset by the server")
    return CollectError(FailureKind.UNREACHABLE, f"connection failed ({exc.strerror or exc})")


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """Open a TCP connection, translating failures into CollectError."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise _reason(exc) from exc


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    """`size` bytes or what came before the peer closed; TimeoutError at `deadline`, however it drips."""
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer did not arrive in time")
        sock.settimeout(left)  # a per-call timeout would restart at every byte a slow server drips
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def raw_exchange(host: str, port: int, payload: bytes, timeout: float) -> bytes:
    """Send one NetBIOS-framed message ([MS-SMB2] 2.1 Direct TCP transport) and return the reply, or b''."""
    sock = open_socket(host, port, timeout)
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        header = _recv_exact(sock, 4, deadline)
        if len(header) < 4 or header[0] != 0:
            # Not a NetBIOS session message (type 0): some other service's banner or error.
            return header
        length = struct.unpack(">I", header)[0] & 0x00FFFFFF
        return _recv_exact(sock, min(length, 65536), deadline)
    except TimeoutError as exc:
        raise CollectError(FailureKind.TIMEOUT, f"connected, but no SMB answer within {timeout:g} s") from exc
    except OSError:
        return b""  # reset or closed: the server refused to talk this protocol
    finally:
        sock.close()


def smb1_negotiate_request() -> bytes:
    """An SMB_COM_NEGOTIATE offering only NT LM 0.12 ([MS-CIFS] 2.2.4.52.1)."""
    header = struct.pack(
        "<4sBIBHH8sHHHHH",
        b"\xffSMB",
        0x72,  # SMB_COM_NEGOTIATE
        0,  # status
        0x18,  # flags: canonicalized paths, case-insensitive
        0xC843,  # flags2: unicode, NT status, extended security, long names
        0,  # PIDHigh
        b"\x00" * 8,  # SecurityFeatures
        0,  # reserved
        0,  # TID
        0xFEFF,  # PIDLow
        0,  # UID
        0,  # MID
    )
    dialects = b"\x02" + SMB1_DIALECT.encode("ascii") + b"\x00"
    return header + struct.pack("<BH", 0, len(dialects)) + dialects


def probe_smb1(host: str, port: int, timeout: float) -> Smb1Answer:
    """Ask whether the server accepts SMB1 (NT LM 0.12) at all."""
    reply = raw_exchange(host, port, smb1_negotiate_request(), timeout)
    # [MS-CIFS] 2.2.4.52.2: WordCount at 32, DialectIndex at 33, SecurityMode at 35.
    if len(reply) < 35 or reply[:4] != b"\xffSMB" or reply[4] != 0x72:
        return Smb1Answer(False, None)
    (status,) = struct.unpack_from("<I", reply, 5)
    (dialect_index,) = struct.unpack_from("<H", reply, 33)
    if status != 0 or dialect_index == SMB1_NO_COMMON_DIALECT:
        return Smb1Answer(False, None)
    signing = bool(reply[35] & SMB1_SECURITY_SIGNATURES_REQUIRED) if len(reply) > 35 else None
    return Smb1Answer(True, signing)


def looks_like_smb(host: str, port: int, timeout: float) -> bool:
    """Whether whatever listens on the port answers an SMB negotiate like an SMB server."""
    reply = raw_exchange(host, port, smb1_negotiate_request_with_smb2(), timeout)
    return reply[:4] in (b"\xffSMB", b"\xfeSMB")


def smb1_negotiate_request_with_smb2() -> bytes:
    """A multi-protocol negotiate that any SMB server answers, in SMB1 or SMB2 ([MS-SMB2] 3.3.5.3.1)."""
    request = smb1_negotiate_request()
    extra = b"\x02SMB 2.002\x00\x02SMB 2.???\x00"
    dialects = b"\x02" + SMB1_DIALECT.encode("ascii") + b"\x00" + extra
    return request[:32] + struct.pack("<BH", 0, len(dialects)) + dialects


def probe_dialect(host: str, port: int, name: str, dialect: int, timeout: float) -> DialectAnswer | None:
    """Negotiate exactly one SMB2/3 dialect; None when the server refuses it."""
    started = time.monotonic()
    conn = Connection(uuid.uuid4(), host, port, require_signing=False)
    try:
        conn.connect(dialect=dialect, timeout=timeout)
    except (SMBException, ValueError, struct.error) as exc:
        log.debug("%s:%d: NEGOTIATE %s: refused (%s)", host, port, name, type(exc).__name__)
        return None
    except OSError as exc:
        error = _reason(exc)
        log.debug("%s:%d: NEGOTIATE %s: %s", host, port, name, error)
        if error.kind == FailureKind.PROTOCOL:
            return None
        raise error from exc
    try:
        if conn.dialect != dialect:
            log.debug("%s:%d: NEGOTIATE %s: answered %s", host, port, name, dialect_name(conn.dialect))
            return None
        signing = bool(conn.server_security_mode & SMB2_NEGOTIATE_SIGNING_REQUIRED)
        log.debug(
            "%s:%d: NEGOTIATE %s: accepted, security mode 0x%x, encryption %s (%.0f ms)",
            host,
            port,
            name,
            int(conn.server_security_mode),
            bool(conn.supports_encryption),
            (time.monotonic() - started) * 1000,
        )
        return DialectAnswer(name, signing, bool(conn.supports_encryption))
    finally:
        conn.disconnect(close=False)


@dataclass(frozen=True, slots=True)
class NegotiatePosture:
    """Everything the negotiate probes learned about a server."""

    dialects: tuple[str, ...]
    smb1: bool
    smb1_signing_required: bool | None
    signing_required: bool
    encryption: bool


def probe_negotiate(host: str, port: int, timeout: float) -> NegotiatePosture:
    """Probe SMB1 and every SMB2/3 dialect; raises CollectError when the port does not speak SMB."""
    # One multi-protocol negotiate first: it fails fast, with a reason, on a dead host or another
    # service, before the per-dialect probes would each wait for their timeout.
    started = time.monotonic()
    log.info("%s:%d: connecting (multi-protocol NEGOTIATE)", host, port)
    try:
        smb = looks_like_smb(host, port, timeout)
    except CollectError as exc:
        log.info("%s:%d: connect failed: %s", host, port, exc)
        raise
    if not smb:
        log.info("%s:%d: the answer is not SMB", host, port)
        raise CollectError(FailureKind.NOT_SMB, "the service on this port does not speak SMB")
    smb1 = probe_smb1(host, port, timeout)
    log.debug("%s:%d: NEGOTIATE %s: %s", host, port, SMB1_DIALECT, "accepted" if smb1.accepted else "refused")
    answers = [a for name, d in SMB2_DIALECTS if (a := probe_dialect(host, port, name, d, timeout))]
    dialects = ((SMB1_DIALECT,) if smb1.accepted else ()) + tuple(a.dialect for a in answers)
    # Signing is decided per connection; the highest dialect is what a modern client gets.
    signing = answers[-1].signing_required if answers else bool(smb1.signing_required)
    log.info(
        "%s:%d: negotiate: dialects %s; signing required: %s; encryption: %s",
        host,
        port,
        ", ".join(dialects) or "none",
        signing,
        any(a.encryption for a in answers),
    )
    log.debug("%s:%d: negotiate probes took %.0f ms", host, port, (time.monotonic() - started) * 1000)
    return NegotiatePosture(
        dialects=dialects,
        smb1=smb1.accepted,
        smb1_signing_required=smb1.signing_required,
        signing_required=signing,
        encryption=any(a.encryption for a in answers),
    )
