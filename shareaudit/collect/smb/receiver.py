"""smbprotocol's connection with a receive loop that hands the walk its answers without generic structures.

smbprotocol's receiver thread parses the header of every answer with its generic `Structure` classes,
which costs as much CPU as everything the walk thread does (profiled: about half of a walk's CPU). The
walk (walk.py) only needs each answer's status and body. `DataConnection` keeps smbprotocol's loop as it
is (transport, decryption, credits, keep-alive echoes, error handling, the request table) and adds one
fast path: an answer to a `WalkRequest` has its header read with `struct`, its signature checked with
smbprotocol's own `_generate_signature` over the same bytes, and status and body stored as they are.
Every other answer goes through smbprotocol's own code, unchanged, so sessions, tree connects and
smbprotocol's `Open` work as before. Only the data connections of share walks and access checks are
`DataConnection`s (client.py).

The loop below is smbprotocol 1.17's `Connection._process_message_thread` with the per-message part
split out, and an answer to a message never sent is an SMBException rather than a KeyError;
tests/unit/test_receiver.py fails when the installed smbprotocol's loop differs from the one this was
copied from.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
from typing import Any

from smbprotocol.connection import Connection, SMB2Echo, SMB2TransformHeader
from smbprotocol.exceptions import SMBConnectionClosed, SMBException
from smbprotocol.header import Commands, NtStatus, Smb2Flags, SMB2HeaderResponse

log = logging.getLogger(__name__)

# [MS-SMB2] 2.2.1.2 SMB2 Packet Header - SYNC (2.2.1.1 ASYNC differs only in bytes 32-40).
_RESPONSE = struct.Struct("<4sHHIHHIIQ")  # up to MessageId
_SIGNED = int(Smb2Flags.SMB2_FLAGS_SIGNED)
_ASYNC = int(Smb2Flags.SMB2_FLAGS_ASYNC_COMMAND)
_FROM_SERVER = int(Smb2Flags.SMB2_FLAGS_SERVER_TO_REDIR)
_PENDING = int(NtStatus.STATUS_PENDING)
_NO_MESSAGE_ID = 0xFFFFFFFFFFFFFFFF


class _Value:
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def get_value(self) -> int:
        return self.value


class HeaderView:
    """What smbprotocol reads from a pending request's header (id, command, reserved, tree), and no more.

    The receiver thread and `Connection.receive` read these through `request.message[...]`; tree_id only
    when resolving a symlink, which `receive(..., resolve_symlinks=False)` never does.
    """

    __slots__ = ("fields",)

    def __init__(self, message_id: int, command: int, tree_id: int) -> None:
        self.fields = {
            "message_id": _Value(message_id),
            "command": _Value(command),
            "reserved": _Value(0),
            "tree_id": _Value(tree_id),
        }

    def __getitem__(self, key: str) -> _Value:
        return self.fields[key]


class _Answered:
    """The part of threading.Event the walk's requests need, on one lock held while unanswered.

    threading.Event builds a Condition and its lock for every request: a fifth of the walk's CPU in
    the receive path, measured with py-spy on a 20,000-file share. `set` may come twice (the answer, then
    the clean-up when the connection ends); only the walk that sent the request waits on it.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # already set
            self._lock.release()

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        with contextlib.suppress(RuntimeError):  # set again while it was held here: set it stays
            self._lock.release()
        return True

    def clear(self) -> None:
        self._lock.acquire(blocking=False)


class WalkRequest:
    """One request of the walk in smbprotocol's request table: the answer's status and body, as bytes.

    It has the attributes smbprotocol's receive loop and its clean-up touch (`message`, `response`,
    `response_event`, `response_event_lock`, `async_id`); `receive()` is never called with it.
    """

    __slots__ = (
        "async_id",
        "body",
        "message",
        "response",
        "response_event",
        "response_event_lock",
        "session_id",
        "status",
    )

    def __init__(self, message_id: int, command: int, session_id: int) -> None:
        self.message = HeaderView(message_id, command, 0)
        self.session_id = session_id
        self.response: object = None
        self.response_event = _Answered()
        self.response_event_lock = threading.Lock()
        self.async_id: bytes | None = None
        self.status = 0
        self.body = b""


class DataConnection(Connection):  # type: ignore[misc]
    """A smbprotocol Connection whose receiver routes `WalkRequest` answers without generic structures."""

    def _process_message_thread(self) -> None:
        try:
            while True:
                # smbprotocol: wait at most the receive timeout, then send an echo to keep the connection.
                try:
                    b_msg = self.transport.recv(self._receive_timeout)
                except TimeoutError as ex:
                    for r in self.outstanding_requests.values():
                        if (
                            r.response is None
                            and r.message["command"].get_value() == Commands.SMB2_ECHO
                            and r.message["reserved"].get_value() == 1
                        ):
                            raise SMBConnectionClosed(
                                "Connection timed out. Server did not respond within timeout."
                            ) from ex
                    for sid in list(self.session_table):
                        req = self.send(SMB2Echo(), sid=sid)
                        req.message["reserved"] = 1
                    continue

                if not b_msg:
                    return

                is_encrypted = b_msg[:4] == b"\xfdSMB"
                if is_encrypted:
                    msg = SMB2TransformHeader()
                    msg.unpack(b_msg)
                    b_msg = self._decrypt(msg)

                next_command = -1
                while next_command != 0:
                    next_command = struct.unpack("<L", b_msg[20:24])[0]
                    header_length = next_command if next_command != 0 else len(b_msg)
                    b_header = b_msg[:header_length]
                    b_msg = b_msg[header_length:]
                    message_id = struct.unpack_from("<Q", b_header, 24)[0]
                    request = self.outstanding_requests.get(message_id)
                    if request is None:  # smbprotocol would fail with a KeyError: say what happened
                        raise SMBException(f"an answer to message {message_id}, which was never sent")
                    if isinstance(request, WalkRequest):
                        self._route_walk(request, bytes(b_header), is_encrypted)
                    else:
                        self._route(request, b_header, is_encrypted)
        except Exception as exc:  # noqa: BLE001 - a thread boundary: handed to the caller, as smbprotocol does
            # The caller sees the exception at its next send or receive (_check_worker_running); the
            # connection closes.
            log.debug("the SMB receive worker stopped: %s", type(exc).__name__)
            self._t_exc = exc
            self.disconnect(False)
        finally:
            for request in self.outstanding_requests.values():
                request.response_event.set()

    def _route_walk(self, request: WalkRequest, b_header: bytes, is_encrypted: bool) -> None:
        """The fast path: struct instead of SMB2HeaderResponse, the same checks and bookkeeping."""
        (_, _, _, status, command, credit_response, flags, _, message_id) = _RESPONSE.unpack_from(b_header)
        if (
            not is_encrypted
            and flags & _SIGNED
            and message_id != _NO_MESSAGE_ID
            and status != _PENDING
            and command != Commands.SMB2_SESSION_SETUP
        ):
            session = self.session_table.get(request.session_id)
            if session is None:
                raise SMBException(f"Failed to find session {request.session_id} for message verification")
            expected = self._generate_signature(
                b_header, session.signing_key, message_id, bool(flags & _FROM_SERVER), command
            )
            if b_header[48:64] != expected:
                raise SMBException("Server message signature could not be verified")
        if credit_response == 0 and not self.supports_multi_credit:
            credit_response += 1
        with self.sequence_lock:
            self.sequence_window["high"] += credit_response
        with request.response_event_lock:
            if flags & _ASYNC:
                request.async_id = b_header[32:40]
            request.status = status
            request.body = b_header[64:]
            request.response = request  # not None: answered
            request.response_event.set()

    def _route(self, request: Any, b_header: bytes, is_encrypted: bool) -> None:
        """smbprotocol's own handling of one answer, unchanged."""
        header = SMB2HeaderResponse()
        header.unpack(b_header)
        message_id = header["message_id"].get_value()
        command = header["command"].get_value()
        if command == Commands.SMB2_SESSION_SETUP:
            session_id = header["session_id"].get_value()
        else:
            session_id = request.session_id
        if not is_encrypted:
            self.verify_signature(header, session_id)
        credit_response = header["credit_response"].get_value()
        if credit_response == 0 and not self.supports_multi_credit:
            credit_response += 1
        with self.sequence_lock:
            self.sequence_window["high"] += credit_response
        status = header["status"].get_value()
        if command == Commands.SMB2_NEGOTIATE:
            self.preauth_integrity_hash_value.append(b_header)
        elif command == Commands.SMB2_SESSION_SETUP and status == NtStatus.STATUS_MORE_PROCESSING_REQUIRED:
            self.preauth_integrity_session_hash_value[message_id].append(b_header)
        with request.response_event_lock:
            if header["flags"].has_flag(Smb2Flags.SMB2_FLAGS_ASYNC_COMMAND):
                request.async_id = b_header[32:40]
            request.response = header
            request.response_event.set()
            if request.message["reserved"].get_value() == 1:
                self.outstanding_requests.pop(message_id, None)
