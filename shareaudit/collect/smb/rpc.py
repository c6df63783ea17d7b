"""DCE/RPC over the IPC$ pipe with impacket: share enumeration (MS-SRVS) and the server's comment.

impacket's NDR answers are turned into plain dataclasses here; nothing outside this module sees them.
Log lines give calls, status codes and counts; never the shares' local paths.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from impacket.dcerpc.v5 import srvs, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.nmb import NetBIOSError, NetBIOSTimeout
from impacket.smbconnection import SessionError, SMBConnection

from shareaudit.collect.smb.logon import stalled, status_of, timeout_of
from shareaudit.collect.smb.status import error_name
from shareaudit.errors import CollectError, FailureKind

log = logging.getLogger(__name__)

# [MS-SRVS] 2.2.2.4 Share Types
STYPE_MASK = 0x000000FF
STYPE_NAMES = {0: "disk", 1: "printer", 2: "device", 3: "ipc"}
STYPE_TEMPORARY = 0x40000000
STYPE_SPECIAL = 0x80000000


@dataclass(frozen=True, slots=True)
class ShareEntry:
    """One share as NetrShareEnum/NetrShareGetInfo describe it."""

    name: str
    type_code: int
    remark: str
    path: str | None = None  # level 502 only
    security_descriptor: bytes | None = None  # level 502, filled by Windows/Samba for administrators only

    @property
    def type(self) -> str:
        """disk, printer, device or ipc."""
        return STYPE_NAMES.get(self.type_code & STYPE_MASK, "disk")

    @property
    def special(self) -> bool:
        """STYPE_SPECIAL: an administrative share (IPC$, C$, ADMIN$)."""
        return bool(self.type_code & STYPE_SPECIAL)

    @property
    def hidden(self) -> bool:
        """Hidden from browse lists: a name ending in $ (the client convention) or a special share."""
        return self.name.endswith("$") or self.special


# What impacket's NDR parsing raises on an answer it cannot decode (truncated, lengths that lie, bad text).
UNREADABLE = (struct.error, KeyError, IndexError, TypeError, ValueError)
# What an RPC call over SMB can raise, short of a bug.
RPC_FAILURES = (SessionError, DCERPCException, NetBIOSError, NetBIOSTimeout, OSError, *UNREADABLE)


@contextlib.contextmanager
def readable(what: str) -> Iterator[None]:
    """Reading the fields of an answer impacket parsed: a field missing, of the wrong arm or not text
    (a malformed or hostile answer) is one CollectError(PROTOCOL), never an exception of its own."""
    try:
        yield
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:  # UnicodeDecodeError too
        raise CollectError(FailureKind.PROTOCOL, f"{what}: unreadable answer ({type(exc).__name__})") from exc


def rpc_error(exc: Exception, what: str, conn: SMBConnection) -> CollectError:
    """Translate an impacket RPC failure into a CollectError (denied, timeout or protocol), and log it."""
    error = _rpc_error(exc, what, conn)
    text = str(error)
    log.info("%s: %s", conn.getRemoteHost(), text if text.startswith(what) else f"{what}: {text}")
    code = None
    if isinstance(exc, SessionError):
        code = exc.getErrorCode()
    elif isinstance(exc, DCERPCException):
        code = exc.get_error_code()
    if isinstance(code, int):
        log.debug("%s: %s: status 0x%08x", conn.getRemoteHost(), what, code)
    return error


def _rpc_error(exc: Exception, what: str, conn: SMBConnection) -> CollectError:
    if isinstance(exc, NetBIOSTimeout | TimeoutError):
        return stalled(timeout_of(conn))
    if isinstance(exc, SessionError):
        status = status_of(exc)
        kind = FailureKind.DENIED if status == "STATUS_ACCESS_DENIED" else FailureKind.PROTOCOL
        return CollectError(kind, f"{what}: {status}", status)
    if isinstance(exc, DCERPCException):
        code = exc.get_error_code()
        status = error_name(code) if isinstance(code, int) else str(exc)
        denied = "ACCESS_DENIED" in status
        return CollectError(
            FailureKind.DENIED if denied else FailureKind.PROTOCOL, f"{what}: {status}", status
        )
    if isinstance(exc, UNREADABLE):  # its text may quote the answer's bytes: only the type is kept
        return CollectError(FailureKind.PROTOCOL, f"{what}: unreadable answer ({type(exc).__name__})")
    return CollectError(FailureKind.PROTOCOL, f"{what}: {exc}")


@contextlib.contextmanager
def bind(conn: SMBConnection, pipe: str, interface: Any) -> Iterator[Any]:
    """A DCE/RPC binding over an already logged-on SMB connection."""
    started = time.monotonic()
    try:
        rpc = transport.SMBTransport(conn.getRemoteHost(), filename=pipe, smb_connection=conn)
        dce = rpc.get_dce_rpc()
        dce.connect()
        dce.bind(interface)
    except RPC_FAILURES as exc:
        raise rpc_error(exc, f"cannot bind {pipe}", conn) from exc
    log.debug("%s: bound %s (%.0f ms)", conn.getRemoteHost(), pipe, (time.monotonic() - started) * 1000)
    try:
        yield dce
    finally:
        with contextlib.suppress(Exception):  # cleanup must not replace an error already raised
            dce.disconnect()


def _string(value: Any) -> str:
    return str(value).rstrip("\x00") if value else ""


def _ndr_bytes(value: Any) -> bytes:
    """impacket gives an NDR byte array as a list of 1-byte strings (or ints)."""
    return b"".join(item if isinstance(item, bytes) else bytes([item]) for item in value)


def _entry(info: Any, level: int) -> ShareEntry:
    prefix = f"shi{level}_"
    sd_raw = info[prefix + "security_descriptor"] if level == 502 else None
    return ShareEntry(
        name=_string(info[prefix + "netname"]),
        type_code=int(info[prefix + "type"]),
        remark=_string(info[prefix + "remark"]),
        path=_string(info[prefix + "path"]) or None if level == 502 else None,
        security_descriptor=_ndr_bytes(sd_raw) if sd_raw else None,
    )


def enum_shares(conn: SMBConnection, level: int) -> list[ShareEntry]:
    """NetrShareEnum at level 1 (names, types, remarks) or 502 (also paths and, for admins, SDs)."""
    with bind(conn, r"\srvsvc", srvs.MSRPC_UUID_SRVS) as dce:
        try:
            answer = srvs.hNetrShareEnum(dce, level)
        except RPC_FAILURES as exc:
            raise rpc_error(exc, f"NetrShareEnum level {level}", conn) from exc
    buffer = answer["InfoStruct"]["ShareInfo"][f"Level{level}"]["Buffer"]
    entries = [_entry(info, level) for info in buffer]
    log.info(
        "%s: NetrShareEnum level %d: %d shares, %d with a share ACL",
        conn.getRemoteHost(),
        level,
        len(entries),
        sum(1 for e in entries if e.security_descriptor),
    )
    return entries


def server_comment(conn: SMBConnection) -> str | None:
    """The server's comment (Samba's 'server string') from NetrServerGetInfo level 101."""
    with bind(conn, r"\srvsvc", srvs.MSRPC_UUID_SRVS) as dce:
        try:
            answer = srvs.hNetrServerGetInfo(dce, 101)
        except RPC_FAILURES as exc:
            raise rpc_error(exc, "NetrServerGetInfo", conn) from exc
    log.info("%s: NetrServerGetInfo level 101: answered", conn.getRemoteHost())
    return _string(answer["InfoStruct"]["ServerInfo101"]["sv101_comment"]) or None
