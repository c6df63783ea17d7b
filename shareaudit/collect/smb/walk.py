"""Listing directories and reading file heads fast, over one smbprotocol session.

Each directory costs one round trip: a related compound CREATE + QUERY_DIRECTORY (64 KiB) + CLOSE
([MS-SMB2] 3.2.4.1.4); a directory whose buffer comes back nearly full is listed again, one
QUERY_DIRECTORY at a time (`list_directory_fully`). Many such compounds are in flight at once, within
the credits the server granted. The directory entries ([MS-FSCC] 2.4.10 FileDirectoryInformation) are
parsed with struct rather than smbprotocol's generic structures, which cost more CPU per entry than
the whole exchange (samba-lab-notes Q3 e). File heads are read the same way: CREATE + READ + CLOSE in
one compound, many in flight (Q3 e: 1 000+ files/s). Nothing but reading happens here: every CREATE
uses FILE_OPEN and read-only access.

The requests are packed here but travel through smbprotocol's connection, which keeps message ids,
credits, signing keys, encryption and the receiver thread. That needs a few of its internals
(`Connection._generate_signature`, `_encrypt`, `_check_worker_running`, `outstanding_requests`,
`sequence_window`/`sequence_lock`, the `Request` constructor and the header fields its receiver reads);
pyproject pins the smbprotocol minor version they were verified with, and
tests/unit/test_smb_internals.py fails, naming the member, when one of them changes.

Nothing here logs a name below the share root (they may be patients' names): counts only.
"""

from __future__ import annotations

import struct
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence

from smbprotocol.connection import Request
from smbprotocol.exceptions import SMBConnectionClosed, SMBException, SMBResponseException
from smbprotocol.header import NtStatus
from smbprotocol.open import CreateDisposition, ShareAccess

from shareaudit.collect.smb.access import Tree
from shareaudit.collect.smb.client import SMB_FAILURES, timed_out
from shareaudit.collect.smb.receiver import DataConnection, WalkRequest
from shareaudit.collect.smb.receiver import HeaderView as _HeaderView
from shareaudit.collect.smb.status import status_name
from shareaudit.collect.walk import Entry, Listing, RateLimit
from shareaudit.errors import CollectError, FailureKind

# [MS-SMB2] 2.2.13.1.1/2 access bits and 2.2.13 create options used here.
FILE_READ_DATA = 0x00000001
FILE_LIST_DIRECTORY = 0x00000001
FILE_READ_ATTRIBUTES = 0x00000080
SYNCHRONIZE = 0x00100000
FILE_DIRECTORY_FILE = 0x00000001
FILE_NON_DIRECTORY_FILE = 0x00000040
FILE_OPEN_REPARSE_POINT = 0x00200000  # never follow a link out of the share
# [MS-FSCC] 2.6 FileAttributes
FILE_ATTRIBUTE_DIRECTORY = 0x00000010
FILE_ATTRIBUTE_REPARSE_POINT = 0x00000400
# One response of 64 KiB costs one credit; it holds several hundred entries.
LIST_BUFFER = 65536
_RELATED_FILE_ID = b"\xff" * 16
_SHARE_ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
_ENTRY = struct.Struct("<IIqqqqqqII")  # FileDirectoryInformation up to FileNameLength
# [MS-SMB2] 2.2.1.2 sync header, and the fixed parts of the requests sent here.
_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")
_CREATE = struct.Struct("<HBBIQQIIIIIHHII")
_QUERY = struct.Struct("<HBBI16sHHI")
_CLOSE = struct.Struct("<HHI16s")
_READ = struct.Struct("<HBBIQ16sIIIHH")
_CMD_CREATE, _CMD_CLOSE, _CMD_READ, _CMD_QUERY_DIRECTORY = 0x0005, 0x0006, 0x0008, 0x000E
_FLAG_RELATED, _FLAG_SIGNED = 0x00000004, 0x00000008
_FILE_DIRECTORY_INFORMATION = 0x01  # [MS-FSCC] 2.4.10
_EXTRA_CREDITS = 2  # ask for a little more than each message costs, so the window grows to the pipeline
_CHAIN_CREDITS = 4  # credits one compound needs (a zip tail read may need two for its READ)
_DIRECT_TCP = struct.Struct(">I")  # [MS-SMB2] 2.1: a zero byte, then the message length in 3 bytes
_DIRECT_TCP_MAX = 0xFFFFFF
_FILETIME_EPOCH = 116444736000000000  # 100 ns intervals from 1601 to 1970
_FILETIME_MAX = 2650467743980000000  # 9999-12-31T23:59:58: within what a datetime can hold


def _unix_time(filetime: int) -> float:
    """A FILETIME as Unix time; 0.0 (unknown) outside 1970..9999, which no real file has."""
    if not _FILETIME_EPOCH < filetime <= _FILETIME_MAX:
        return 0.0
    return (filetime - _FILETIME_EPOCH) / 10_000_000


def parse_directory_information(buffer: bytes) -> list[Entry]:
    """FILE_DIRECTORY_INFORMATION records ([MS-FSCC] 2.4.10), without '.' and '..'."""
    entries: list[Entry] = []
    offset = 0
    size = len(buffer)
    while offset + _ENTRY.size <= size:
        (next_offset, _, _, _, write_time, _, end_of_file, _, attributes, name_length) = _ENTRY.unpack_from(
            buffer, offset
        )
        start = offset + _ENTRY.size
        name = buffer[start : start + name_length].decode("utf-16-le", errors="replace")
        if name not in ("", ".", ".."):
            entries.append(
                Entry(
                    name,
                    bool(attributes & FILE_ATTRIBUTE_DIRECTORY),
                    max(0, end_of_file),  # a signed field: a hostile server may send a negative size
                    _unix_time(write_time),
                    bool(attributes & FILE_ATTRIBUTE_REPARSE_POINT),
                )
            )
        if next_offset == 0:
            break
        offset += next_offset
    return entries


def _charge(payload: int) -> int:
    """Credits a request with this much payload costs ([MS-SMB2] 3.1.5.2)."""
    return max(1, (payload - 1) // 65536 + 1)


def _smb_path(path: str) -> bytes:
    return path.replace("/", "\\").encode("utf-16-le")


class _Lane:
    """One connected tree of the share that compounds are sent on: its connection, session and tree ids."""

    __slots__ = ("connection", "fast", "outstanding", "sid", "tid", "tree")

    def __init__(self, tree: Tree) -> None:
        self.tree = tree.tree
        self.connection = self.tree.session.connection
        self.sid = self.tree.session.session_id
        self.tid = self.tree.tree_connect_id
        # A DataConnection (receiver.py) routes our answers without smbprotocol's generic structures.
        self.fast = isinstance(self.connection, DataConnection)
        self.outstanding = 0  # compounds sent on it and not yet answered

    def credits(self) -> int:
        window = self.connection.sequence_window
        return int(window["high"] - window["low"])


class Walker:
    """Pipelined, read-only listing and reading on one share, over one or more connections to it.

    Samba serves each connection with one process: with `more` trees of the same share, each on its own
    connection (the same identity), the compounds are spread over them and the server works on them in
    parallel. Every lane keeps up to `in_flight` compounds outstanding; answers are taken in the order sent.
    """

    def __init__(
        self, tree: Tree, rate: RateLimit, timeout: float, in_flight: int = 16, more: Sequence[Tree] = ()
    ) -> None:
        self.lanes = [_Lane(tree), *(_Lane(other) for other in more)]
        self.rate = rate
        self.timeout = timeout
        self.in_flight = in_flight
        self.compounds = 0  # compounds sent
        self.refusals: Counter[str] = Counter()  # NT status -> directories or files the server refused

    def _create(self, path: str, access: int, options: int) -> tuple[int, bytes, int]:
        # [MS-SMB2] 2.2.13 SMB2 CREATE Request: FILE_OPEN only, never create or overwrite.
        name = _smb_path(path)
        body = _CREATE.pack(
            57,
            0,
            0,
            2,
            0,
            0,
            access,
            0,
            _SHARE_ALL,
            CreateDisposition.FILE_OPEN,
            options | FILE_OPEN_REPARSE_POINT,
            64 + _CREATE.size,
            len(name),
            0,
            0,
        )
        return _CMD_CREATE, body + (name or b"\x00"), 1

    def _query(self, file_id: bytes = _RELATED_FILE_ID) -> tuple[int, bytes, int]:
        # [MS-SMB2] 2.2.33 SMB2 QUERY_DIRECTORY Request, FileDirectoryInformation, pattern "*".
        pattern = "*".encode("utf-16-le")
        body = _QUERY.pack(
            33, _FILE_DIRECTORY_INFORMATION, 0, 0, file_id, 64 + _QUERY.size, len(pattern), LIST_BUFFER
        )
        return _CMD_QUERY_DIRECTORY, body + pattern, _charge(LIST_BUFFER)

    def _close(self, file_id: bytes = _RELATED_FILE_ID) -> tuple[int, bytes, int]:
        # [MS-SMB2] 2.2.15 SMB2 CLOSE Request
        return _CMD_CLOSE, _CLOSE.pack(24, 0, 0, file_id), 1

    def _read(self, offset: int, length: int) -> tuple[int, bytes, int]:
        # [MS-SMB2] 2.2.19 SMB2 READ Request
        body = _READ.pack(49, 0x50, 0, length, offset, _RELATED_FILE_ID, 0, 0, 0, 0, 0) + b"\x00"
        return _CMD_READ, body, _charge(length)

    def _take_credits(self, lane: _Lane, charge: int) -> int:
        """Reserve `charge` credits and return the message id; wait while other walks hold them.

        Several share walks may share one connection (one session per identity per host): credits come
        back with every answer, so waiting is bounded by the answers already on their way.
        """
        conn = lane.connection
        deadline = time.monotonic() + self.timeout
        while True:
            with conn.sequence_lock:
                window = conn.sequence_window
                if window["high"] - window["low"] >= charge:
                    message_id = int(window["low"])
                    window["low"] += charge
                    return message_id
            if time.monotonic() > deadline:
                raise CollectError(FailureKind.TIMEOUT, "the server granted no credits in time")
            time.sleep(0.001)

    def _send(self, lane: _Lane, messages: list[tuple[int, bytes, int]]) -> list[object]:
        """Send one chain of messages as a compound, related when it has more than one message."""
        self.rate.take(1)
        try:
            frame, requests = self._pack(lane, messages)
            self._transmit(lane, [frame])
        except SMB_FAILURES as exc:
            raise CollectError(FailureKind.PROTOCOL, f"sending to the server failed: {exc}") from exc
        return requests

    def _send_many(self, lane: _Lane, chains: list[list[tuple[int, bytes, int]]]) -> list[list[object]]:
        """Send several compounds in one write: one system call and fewer TCP segments for many requests."""
        self.rate.take(len(chains))
        try:
            packed = [self._pack(lane, messages) for messages in chains]
            self._transmit(lane, [frame for frame, _ in packed])
        except SMB_FAILURES as exc:
            raise CollectError(FailureKind.PROTOCOL, f"sending to the server failed: {exc}") from exc
        return [requests for _, requests in packed]

    def _transmit(self, lane: _Lane, frames: list[bytes]) -> None:
        """Frame each message for the Direct TCP transport ([MS-SMB2] 2.1) and write them all at once.

        What smbprotocol's `Tcp.send` does for one message, under the same socket lock, for many.
        """
        conn = lane.connection
        conn._check_worker_running()  # raises what killed the receiver thread, if it died
        if any(len(frame) > _DIRECT_TCP_MAX for frame in frames):
            raise ValueError("a message exceeds the Direct TCP frame size")
        wire = b"".join(_DIRECT_TCP.pack(len(frame)) + frame for frame in frames)
        transport = conn.transport
        with transport._sock_lock:
            transport._sock.sendall(wire)

    def _pack(self, lane: _Lane, messages: list[tuple[int, bytes, int]]) -> tuple[bytes, list[object]]:
        """One chain of messages as a compound, related when it has more than one message.

        Packed here with struct: smbprotocol's generic structures cost more CPU than the exchange
        itself. Message ids come from smbprotocol's credit window, signatures and encryption from its
        own functions, and each request goes into its request table, so its receiver thread routes the
        answers (and checks their signatures) as usual.
        """
        conn = lane.connection
        session = lane.tree.session
        sign = bool(session.signing_required and session.signing_key)
        chain: list[bytes] = []
        requests: list[object] = []
        for index, (command, body, charge) in enumerate(messages):
            last = index == len(messages) - 1
            size = 64 + len(body)
            padding = 0 if last else (8 - size % 8) % 8
            message_id = self._take_credits(lane, charge)
            flags = (_FLAG_RELATED if index else 0) | (_FLAG_SIGNED if sign else 0)
            header = _HEADER.pack(
                b"\xfeSMB",
                64,
                charge,
                0,
                command,
                charge + _EXTRA_CREDITS,
                flags,
                0 if last else size + padding,
                message_id,
                0,
                lane.tid,
                lane.sid,
                b"\x00" * 16,
            )
            packet = header + body + b"\x00" * padding
            if sign:
                signature = conn._generate_signature(packet, session.signing_key, message_id, False, command)
                packet = packet[:48] + signature + packet[64:]
            chain.append(packet)
            request: object
            if lane.fast:
                request = WalkRequest(message_id, command, lane.sid)
            else:
                request = Request(_HeaderView(message_id, command, lane.tid), None, conn, lane.sid)
            conn.outstanding_requests[message_id] = request
            requests.append(request)
        data = b"".join(chain)
        if session.encrypt_data or lane.tree.encrypt_data:
            data = conn._encrypt(data, session).pack()  # smbprotocol's transform header around the chain
        self.compounds += 1
        return data, requests

    def _refused(self, status: int) -> str:
        """The status's name, counted (the walk's log line gives the counts, never the paths)."""
        name = status_name(status)
        self.refusals[name] += 1
        return name

    def _answer(self, lane: _Lane, request: object) -> tuple[int, bytes]:
        """(NT status, data) of one response; a refusal is an answer, a dead server an error."""
        if isinstance(request, WalkRequest):
            return self._walk_answer(lane, request)
        try:
            response = lane.connection.receive(request, timeout=self.timeout, resolve_symlinks=False)
        except SMBResponseException as exc:
            return int(exc.status), b""
        except SMB_FAILURES as exc:
            if timed_out(exc):
                raise CollectError(FailureKind.TIMEOUT, f"the server stopped answering: {exc}") from exc
            raise CollectError(FailureKind.PROTOCOL, f"the server's answer could not be read: {exc}") from exc
        return int(response["status"].get_value()), response["data"].get_value()

    def _walk_answer(self, lane: _Lane, request: WalkRequest) -> tuple[int, bytes]:
        """What Connection.receive does for one of our requests, without its generic structures."""
        conn = lane.connection
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                conn._check_worker_running()  # raises what stopped the receiver thread, if it stopped
                if not request.response_event.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise SMBConnectionClosed(f"no answer within {self.timeout:g} s")
                with request.response_event_lock:
                    conn._check_worker_running()
                    if request.response is None:
                        raise SMBConnectionClosed("the connection closed")
                    if request.status == NtStatus.STATUS_PENDING:  # the final answer follows
                        request.response = None
                        request.response_event.clear()
                        continue
                    conn.outstanding_requests.pop(request.message["message_id"].get_value(), None)
                    return request.status, request.body
        except (SMBConnectionClosed, OSError) as exc:  # silent, gone, or the socket failed
            raise CollectError(FailureKind.TIMEOUT, f"the server stopped answering: {exc}") from exc
        except (SMBException, ValueError, struct.error) as exc:  # an answer the receiver could not take
            raise CollectError(FailureKind.PROTOCOL, f"the server's answer could not be read: {exc}") from exc

    def _pipeline(self, items: Sequence[str], build: object, parse: object) -> Iterator[object]:
        """Send one compound per item, keeping at most `in_flight` compounds outstanding on each lane.

        When half of a lane's compounds have been answered, the other half is sent in one write.
        """
        pending: deque[tuple[str, list[object], _Lane]] = deque()
        queue = deque(items)
        refill = max(1, self.in_flight // 2)
        try:
            while queue or pending:
                for lane in self.lanes:
                    if not queue or lane.outstanding > refill:
                        continue
                    batch: list[str] = []
                    credits = lane.credits()
                    while (
                        queue and lane.outstanding + len(batch) < self.in_flight and credits >= _CHAIN_CREDITS
                    ):
                        batch.append(queue.popleft())
                        credits -= _CHAIN_CREDITS
                    if batch:
                        sent = self._send_many(lane, [build(item) for item in batch])  # type: ignore[operator]
                        pending.extend(
                            (item, requests, lane) for item, requests in zip(batch, sent, strict=True)
                        )
                        lane.outstanding += len(batch)
                if not pending:  # no credits at all: nothing outstanding will bring any
                    raise CollectError(FailureKind.PROTOCOL, "the server granted no credits")
                item, requests, lane = pending.popleft()
                answers = [self._answer(lane, r) for r in requests]
                lane.outstanding -= 1
                yield parse(item, answers)  # type: ignore[operator]
        finally:
            for lane in self.lanes:  # a failed or abandoned pipeline leaves nothing counted as outstanding
                lane.outstanding = 0

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        """List each directory (share-relative, '' for the root), pipelined."""

        def build(path: str) -> list[object]:
            access = FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE
            # One query: an entry is at most 574 bytes, so a buffer with 1 KiB left over held them all.
            return [self._create(path, access, FILE_DIRECTORY_FILE), self._query(), self._close()]

        def parse(path: str, answers: list[tuple[int, bytes]]) -> Listing:
            (create_status, _), (status, data), _ = answers
            if create_status != NtStatus.STATUS_SUCCESS:
                return Listing(path, status=self._refused(create_status))
            if status != NtStatus.STATUS_SUCCESS:
                return Listing(path)  # STATUS_NO_MORE_FILES: empty
            buffer = _query_buffer(data)
            # A buffer that came back nearly full may have more entries behind it: list it again, fully.
            partial = len(buffer) > LIST_BUFFER - 1024
            return Listing(path, tuple(parse_directory_information(buffer)), None, partial)

        yield from self._pipeline(paths, build, parse)  # type: ignore[misc]

    def list_directory_fully(self, path: str) -> Listing:
        """List a directory too large for one compound, one QUERY_DIRECTORY at a time."""
        create = self._create(
            path, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE, FILE_DIRECTORY_FILE
        )
        lane = self.lanes[0]
        requests = self._send(lane, [create, self._query()])
        (create_status, create_data), (status, data) = (self._answer(lane, r) for r in requests)
        # The first query of the related pair carried the 0xFF.. file id; follow-ups need the real one.
        if create_status != NtStatus.STATUS_SUCCESS:
            return Listing(path, status=self._refused(create_status))
        file_id = create_data[64:80]  # [MS-SMB2] 2.2.14 FileId within the CREATE response body
        entries = (
            parse_directory_information(_query_buffer(data)) if status == NtStatus.STATUS_SUCCESS else []
        )
        try:
            while status == NtStatus.STATUS_SUCCESS:
                (status, data) = self._answer(lane, self._send(lane, [self._query(file_id)])[0])
                if status == NtStatus.STATUS_SUCCESS:
                    entries.extend(parse_directory_information(_query_buffer(data)))
        finally:
            self._answer(lane, self._send(lane, [self._close(file_id)])[0])
        return Listing(path, tuple(entries))

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        """The first `length` bytes of each file, or the NT status name of the refusal; pipelined."""
        return self.read_ranges([(path, 0, length) for path in paths])

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        """Bytes [offset, offset+length) of each file; pipelined CREATE + READ + CLOSE compounds."""
        by_key = {f"{i}\0{path}": (path, offset, length) for i, (path, offset, length) in enumerate(ranges)}

        def build(key: str) -> list[object]:
            path, offset, length = by_key[key]
            access = FILE_READ_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE
            return [
                self._create(path, access, FILE_NON_DIRECTORY_FILE),
                self._read(offset, length),
                self._close(),
            ]

        def parse(key: str, answers: list[tuple[int, bytes]]) -> tuple[str, bytes | str]:
            (create_status, _), (read_status, data), _ = answers
            path = by_key[key][0]
            if create_status != NtStatus.STATUS_SUCCESS:
                return path, self._refused(create_status)
            if read_status == NtStatus.STATUS_END_OF_FILE:
                return path, b""
            if read_status != NtStatus.STATUS_SUCCESS:
                return path, self._refused(read_status)
            return path, _read_buffer(data)

        yield from self._pipeline(list(by_key), build, parse)  # type: ignore[misc]


def _query_buffer(body: bytes) -> bytes:
    # [MS-SMB2] 2.2.34: StructureSize(2) OutputBufferOffset(2, from the SMB2 header) OutputBufferLength(4).
    offset, length = struct.unpack_from("<HI", body, 2)
    start = offset - 64
    return bytes(body[start : start + length])


def _read_buffer(body: bytes) -> bytes:
    # [MS-SMB2] 2.2.20: StructureSize(2) DataOffset(1) Reserved(1) DataLength(4).
    offset = body[2]
    (length,) = struct.unpack_from("<I", body, 4)
    start = offset - 64
    return bytes(body[start : start + length])
