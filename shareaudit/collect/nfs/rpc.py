"""The two ONC RPC calls nfs-rs does not make, by hand: rpcbind's list (PMAPPROC_DUMP) and NFS's versions.

RFC 5531 (RPC), RFC 1833 (portmap v2) and RFC 4506 (XDR). Both are one CALL with AUTH_NULL over TCP with
record marking, and one reply: small enough to write here, and no maintained Python library makes them
without a heavy dependency (docs/design.md "NFS choices"). The parsers take untrusted bytes and either
return facts or raise `RpcError`; they are fuzzed in tests/unit/test_fuzz.py.

- `dump(address, 111)`: every registration rpcbind lists (program, version, transport, port): which RPC
  services a host exposes, and where MOUNT listens.
- `version_range(address, 2049)`: a NULL call for NFS version 1, which no server speaks: the
  PROG_MISMATCH answer names the lowest and highest version it does (RFC 5531 section 9).
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from dataclasses import dataclass

from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import RpcProgram

PORTMAP, NFS, MOUNT = 100000, 100003, 100005
PROGRAM_NAMES = {
    100000: "portmapper",
    100003: "nfs",
    100005: "mountd",
    100011: "rquotad",
    100021: "nlockmgr",
    100024: "status",
    100227: "nfs_acl",
    100004: "ypserv",
    100007: "ypbind",
    100009: "yppasswdd",
    391002: "sgi_fam",
}
TRANSPORTS = {6: "tcp", 17: "udp"}
MAX_REPLY = 256 * 1024  # a reply longer than this is not an rpcbind or NFS NULL answer
MAX_PROGRAMS = 1024  # registrations kept from one dump
_CALL, _REPLY = 0, 1
_ACCEPT = {0: "success", 1: "program unavailable", 2: "program version mismatch", 3: "procedure unavailable"}
_ACCEPT.update({4: "garbage arguments", 5: "system error"})
_AUTH = {1: "bad credential", 2: "rejected credential", 3: "bad verifier", 4: "rejected verifier"}
_AUTH.update({5: "too weak", 6: "invalid response verifier", 7: "failed"})


class RpcError(ValueError):
    """A reply that is not a well-formed ONC RPC answer to our call."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What an RPC reply says: accepted with its results, or why not."""

    accepted: bool
    status: str  # success, program version mismatch, ... or "denied: ..."
    body: bytes = b""  # the procedure's results (success only)
    low: int | None = None  # PROG_MISMATCH / RPC_MISMATCH: versions supported
    high: int | None = None


def call_message(xid: int, program: int, version: int, procedure: int, args: bytes = b"") -> bytes:
    """A CALL with AUTH_NULL credential and verifier, record-marked as one last fragment."""
    body = struct.pack(">10I", xid, _CALL, 2, program, version, procedure, 0, 0, 0, 0) + args
    return struct.pack(">I", 0x80000000 | len(body)) + body


class _Reader:
    """XDR decoding over bytes that may be short or hostile: every read is bounds-checked."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def uint(self) -> int:
        if self.at + 4 > len(self.data):
            raise RpcError(f"reply ends at byte {len(self.data)}, inside a field")
        (value,) = struct.unpack_from(">I", self.data, self.at)
        self.at += 4
        return int(value)

    def opaque(self, limit: int) -> bytes:
        length = self.uint()
        if length > limit:
            raise RpcError(f"opaque of {length} bytes, more than {limit}")
        padded = (length + 3) & ~3
        if self.at + padded > len(self.data):
            raise RpcError("reply ends inside an opaque field")
        value = self.data[self.at : self.at + length]
        self.at += padded
        return value

    def rest(self) -> bytes:
        return self.data[self.at :]


def parse_reply(data: bytes, xid: int) -> Reply:
    """One RPC reply (without record marking) to the call with this xid."""
    reader = _Reader(data)
    if reader.uint() != xid:
        raise RpcError("reply to another call (xid differs)")
    if reader.uint() != _REPLY:
        raise RpcError("not a reply")
    stat = reader.uint()
    if stat == 0:  # MSG_ACCEPTED
        reader.uint()  # verifier flavor
        reader.opaque(400)  # RFC 5531: opaque_auth body is at most 400 bytes
        accept = reader.uint()
        status = _ACCEPT.get(accept, f"accept status {accept}")
        if accept == 2:
            return Reply(False, status, low=reader.uint(), high=reader.uint())
        return Reply(accept == 0, status, reader.rest() if accept == 0 else b"")
    if stat == 1:  # MSG_DENIED
        reject = reader.uint()
        if reject == 0:
            return Reply(False, "denied: RPC version mismatch", low=reader.uint(), high=reader.uint())
        if reject == 1:
            auth = reader.uint()
            return Reply(False, f"denied: authentication {_AUTH.get(auth, str(auth))}")
        raise RpcError(f"unknown reject status {reject}")
    raise RpcError(f"unknown reply status {stat}")


def parse_dump(body: bytes) -> tuple[RpcProgram, ...]:
    """PMAPPROC_DUMP's pmaplist: (program, version, transport, port) until the list ends."""
    reader = _Reader(body)
    found: list[RpcProgram] = []
    while True:
        more = reader.uint()
        if more == 0:
            return tuple(found)
        if more != 1:
            raise RpcError(f"pmaplist: {more} where a boolean belongs")
        program, version, transport, port = reader.uint(), reader.uint(), reader.uint(), reader.uint()
        if port > 65535:
            raise RpcError(f"pmaplist: port {port}")
        if len(found) < MAX_PROGRAMS:
            found.append(
                RpcProgram(
                    program=program,
                    name=PROGRAM_NAMES.get(program, str(program)),
                    version=version,
                    transport=TRANSPORTS.get(transport, str(transport)),
                    port=port,
                )
            )


def split_records(stream: bytes) -> bytes | None:
    """The first complete RPC record of a TCP stream (fragments joined), or None while it is incomplete."""
    record = b""
    at = 0
    while True:
        if at + 4 > len(stream):
            return None
        (mark,) = struct.unpack_from(">I", stream, at)
        length = mark & 0x7FFFFFFF
        if len(record) + length > MAX_REPLY:
            raise RpcError(f"reply longer than {MAX_REPLY} bytes")
        if at + 4 + length > len(stream):
            return None
        record += stream[at + 4 : at + 4 + length]
        at += 4 + length
        if mark & 0x80000000:
            return record


def exchange(address: str, port: int, message: bytes, timeout: float) -> bytes:
    """Send one record-marked call and return the reply's record; the whole exchange within `timeout`."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.sendall(message)
            received = b""
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    raise CollectError(
                        FailureKind.PROTOCOL, "the server closed the connection without an RPC reply"
                    )
                received += chunk
                record = split_records(received)
                if record is not None:
                    return record
    except TimeoutError:
        raise CollectError(
            FailureKind.TIMEOUT, f"no RPC answer on port {port} within {timeout:g} s"
        ) from None
    except ConnectionRefusedError:
        raise CollectError(FailureKind.REFUSED, f"port {port} refused the connection") from None
    except RpcError as exc:
        raise CollectError(FailureKind.PROTOCOL, f"port {port} does not speak ONC RPC: {exc}") from None
    except OSError as exc:
        raise CollectError(FailureKind.UNREACHABLE, f"port {port}: {exc.strerror or exc}") from None


def _call(address: str, port: int, program: int, version: int, procedure: int, timeout: float) -> Reply:
    xid = secrets.randbits(32)
    record = exchange(address, port, call_message(xid, program, version, procedure), timeout)
    try:
        return parse_reply(record, xid)
    except RpcError as exc:
        raise CollectError(FailureKind.PROTOCOL, f"port {port} does not speak ONC RPC: {exc}") from None


def dump(address: str, port: int, timeout: float) -> tuple[RpcProgram, ...]:
    """rpcbind's registrations (portmap v2 DUMP, which rpcbind 3/4 servers answer too)."""
    reply = _call(address, port, PORTMAP, 2, 4, timeout)
    if not reply.accepted:
        raise CollectError(FailureKind.PROTOCOL, f"rpcbind refused the list: {reply.status}")
    try:
        return parse_dump(reply.body)
    except RpcError as exc:
        raise CollectError(FailureKind.PROTOCOL, f"rpcbind's list is malformed: {exc}") from None


def version_range(address: str, port: int, timeout: float) -> tuple[int, int] | None:
    """The NFS versions the server says it speaks (lowest, highest), from a NULL call for version 1."""
    reply = _call(address, port, NFS, 1, 0, timeout)
    if reply.low is not None and reply.high is not None and reply.status == "program version mismatch":
        return reply.low, reply.high
    if reply.accepted:  # it speaks NFS version 1 (no real server does): nothing to learn
        return None
    raise CollectError(FailureKind.PROTOCOL, f"port {port} is not an NFS server ({reply.status})")
