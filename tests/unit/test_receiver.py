"""The walk's receive path (shareaudit/collect/smb/receiver.py), without a server: the loop it copies is still
smbprotocol's, and an answer to a WalkRequest is checked and routed as smbprotocol would (signature over the
same bytes, credits, async id), with status and body kept as bytes."""

from __future__ import annotations

import hashlib
import inspect
import struct
import threading
import uuid

import pytest
from smbprotocol.connection import Connection, Dialects, SigningAlgorithms
from smbprotocol.exceptions import SMBException
from smbprotocol.header import NtStatus, Smb2Flags

from shareaudit.collect.smb import walk
from shareaudit.collect.smb.receiver import DataConnection, WalkRequest
from shareaudit.errors import CollectError, FailureKind

# sha256 of smbprotocol 1.17's Connection._process_message_thread source, which receiver.py's loop copies.
COPIED_LOOP = "b765672603da480477a3019a17f88b08c32954139cf0b4179c7e0443b831c66d"
KEY = bytes(range(16))


class Session:
    signing_key = KEY


def _connection() -> DataConnection:
    conn = DataConnection(uuid.uuid4(), "server.invalid", 445)  # never connected
    conn.dialect = Dialects.SMB_3_1_1
    conn.signing_algorithm_id = SigningAlgorithms.AES_CMAC
    conn.session_table[5] = Session()
    return conn


def _answer(
    conn: Connection,
    message_id: int,
    status: int,
    body: bytes,
    flags: int = 0,
    credits: int = 3,
    sign: bool = True,
) -> bytes:
    flags |= int(Smb2Flags.SMB2_FLAGS_SERVER_TO_REDIR) | (int(Smb2Flags.SMB2_FLAGS_SIGNED) if sign else 0)
    header = struct.pack(
        "<4sHHIHHIIQ8sQ16s", b"\xfeSMB", 64, 1, status, walk._CMD_READ, credits, flags, 0, message_id,
        b"\x07" * 8, 5, b"\x00" * 16,
    )  # fmt: skip
    packet = header + body
    if sign:
        signature = conn._generate_signature(packet, KEY, message_id, True, walk._CMD_READ)
        packet = packet[:48] + signature + packet[64:]
    return packet


def test_the_copied_loop_is_still_smbprotocols() -> None:
    source = inspect.getsource(Connection._process_message_thread)
    assert hashlib.sha256(source.encode()).hexdigest() == COPIED_LOOP, (
        "smbprotocol Connection._process_message_thread changed: collect/smb/receiver.py "
        "(DataConnection._process_message_thread, _route) copies it; bring the changes over, re-verify the "
        "crawl and fault lab tests (signed labfs, a killed and a frozen server), then update COPIED_LOOP"
    )


def test_a_signed_answer_is_checked_and_routed_as_bytes() -> None:
    conn = _connection()
    request = WalkRequest(11, walk._CMD_READ, 5)
    conn.outstanding_requests[11] = request
    high = conn.sequence_window["high"]
    conn._route_walk(request, _answer(conn, 11, 0, b"\x11\x50" + b"head bytes"), False)
    assert request.response_event.is_set() and request.response is not None
    assert (request.status, request.body) == (0, b"\x11\x50head bytes")
    assert conn.sequence_window["high"] == high + 3  # the credits the server granted


def test_a_forged_signature_stops_the_receiver() -> None:
    conn = _connection()
    request = WalkRequest(12, walk._CMD_READ, 5)
    packet = bytearray(_answer(conn, 12, 0, b"body"))
    packet[-1] ^= 1  # the body changed after signing
    with pytest.raises(SMBException, match="signature"):
        conn._route_walk(request, bytes(packet), False)
    assert not request.response_event.is_set()


def test_unsigned_pending_and_async_answers() -> None:
    conn = _connection()
    request = WalkRequest(13, walk._CMD_READ, 5)
    async_flag = int(Smb2Flags.SMB2_FLAGS_ASYNC_COMMAND)
    conn._route_walk(request, _answer(conn, 13, NtStatus.STATUS_PENDING, b"", async_flag, sign=False), False)
    assert request.status == NtStatus.STATUS_PENDING and request.async_id == b"\x07" * 8
    # A pending answer is not signed ([MS-SMB2] 3.3.4.1.1 / 3.2.5.1.3): its signature is not checked.
    forged = bytearray(_answer(conn, 13, NtStatus.STATUS_PENDING, b""))
    forged[50] ^= 1
    conn._route_walk(request, bytes(forged), False)
    conn._route_walk(request, _answer(conn, 13, 0, b"final"), False)  # then the final, signed answer
    assert (request.status, request.body) == (0, b"final")


def test_a_data_connection_keeps_smbprotocols_own_answers_on_its_path() -> None:
    # Everything that is not a WalkRequest (sessions, tree connects, smbprotocol's Open) takes _route, which
    # is smbprotocol's per-answer code: the same calls in the same order.
    original = inspect.getsource(Connection._process_message_thread)
    for call in ("verify_signature(header, session_id)", "preauth_integrity_hash_value.append(b_header)"):
        assert call in original and call in inspect.getsource(DataConnection._route)


class Transport:
    """smbprotocol's Tcp as the receive loop and the clean-up use it: these frames, then closed."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.connected = True

    def recv(self, timeout: float) -> bytes:
        return self.frames.pop(0) if self.frames else b""

    def close(self) -> None:
        self.connected = False


def _walker(conn: DataConnection) -> tuple[walk.Walker, walk._Lane]:
    walker = object.__new__(walk.Walker)  # only what _walk_answer reads
    walker.timeout = 0.05
    lane = object.__new__(walk._Lane)
    lane.connection = conn
    return walker, lane


def test_a_silent_server_and_a_broken_answer_are_told_apart() -> None:
    conn = _connection()
    request = WalkRequest(14, walk._CMD_READ, 5)
    conn.outstanding_requests[14] = request
    conn.transport = Transport([])  # connected, and nothing ever answers
    with pytest.raises(CollectError) as silent:
        walker, lane = _walker(conn)
        walker._walk_answer(lane, request)
    assert silent.value.kind is FailureKind.TIMEOUT and "stopped answering" in str(silent.value)
    conn = _connection()
    conn.transport = Transport([])
    conn._t_exc = struct.error("unpack requires a buffer of 64 bytes")  # the receiver died on a short answer
    with pytest.raises(CollectError) as broken:
        walker, lane = _walker(conn)
        walker._walk_answer(lane, request)
    assert broken.value.kind is FailureKind.PROTOCOL and "could not be read" in str(broken.value)


def test_an_answer_to_a_message_never_sent_stops_the_receiver_with_a_reason() -> None:
    conn = _connection()
    answer = _answer(conn, 99, 0, b"x", sign=False)

    conn.transport = Transport([answer])
    conn._process_message_thread()
    assert isinstance(conn._t_exc, SMBException) and "never sent" in str(conn._t_exc)


def test_a_request_is_answered_once_set_and_stays_so_until_cleared() -> None:
    from shareaudit.collect.smb.receiver import _Answered

    answered = _Answered()
    assert not answered.is_set() and not answered.wait(timeout=0.01)
    answered.set()
    answered.set()  # the answer, then the clean-up of a closing connection
    assert answered.is_set() and answered.wait(timeout=0) and answered.wait()
    answered.clear()  # STATUS_PENDING: the final answer follows
    assert not answered.is_set() and not answered.wait(timeout=0.01)
    waiter = threading.Thread(target=answered.set)
    waiter.start()
    assert answered.wait(timeout=5)
    waiter.join()
    assert answered.is_set()
