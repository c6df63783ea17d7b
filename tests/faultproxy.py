"""A TCP proxy in front of a real lab server that misbehaves on purpose, for the fault tests.

The server's answers are real (Samba's own); the proxy cuts the stream into its NetBIOS frames
([MS-SMB2] 2.1: a 4-byte length, then the message) and, from a chosen point on, either drips them one
byte at a time or damages the answers to chosen SMB2 commands. Everything the client sends passes
unchanged. Only loopback addresses are used.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# [MS-SMB2] 2.2.1 command codes
SESSION_SETUP = 0x0001
CREATE = 0x0005
CLOSE = 0x0006
READ = 0x0008
QUERY_DIRECTORY = 0x000E
# The walker's listing: CREATE, QUERY_DIRECTORY and CLOSE related in one compound.
WALK_LISTING = [CREATE, QUERY_DIRECTORY, CLOSE]
# The walker's sniff of a file's head: CREATE, READ and CLOSE related in one compound.
WALK_READ = [CREATE, READ, CLOSE]


def commands(message: bytes) -> list[int]:
    """The SMB2 commands in one message (a compound has several, chained by NextCommand)."""
    found: list[int] = []
    offset = 0
    while offset + 64 <= len(message) and message[offset : offset + 4] == b"\xfeSMB":
        found.append(struct.unpack_from("<H", message, offset + 12)[0])
        following = struct.unpack_from("<I", message, offset + 20)[0]
        if not following:
            break
        offset += following
    return found


def truncated(message: bytes) -> bytes:
    """The header and the first bytes of the body: the answer ends where its structure says it goes on."""
    return message[:70]


def garbled(message: bytes) -> bytes:
    """The header kept, every byte of the body turned to 0xff (lengths and offsets included)."""
    return message[:64] + b"\xff" * (len(message) - 64)


@dataclass
class FaultProxy:
    """Listens on `listen`, forwards to `upstream`, and misbehaves as told.

    drip_when: which answers to send one byte every `drip_every` seconds, told the answer's number on its
    connection (1 is the first) and its SMB2 commands.
    cut_when: on which answer the server "dies": the connection is closed instead of answering.
    damage: a command code and a function applied to every answer carrying that command.
    """

    listen: tuple[str, int]
    upstream: tuple[str, int]
    drip_when: Callable[[int, list[int]], bool] | None = None
    drip_every: float = 0.2
    cut_when: Callable[[int, list[int]], bool] | None = None
    cut: int = 0  # connections closed instead of answering
    dead: bool = False
    damage: tuple[int, Callable[[bytes], bytes]] | None = None
    dripped: int = 0  # bytes sent one at a time, over all connections
    damaged: int = 0  # answers damaged
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                server.sendall(data)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _read(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _server_to_client(self, server: socket.socket, client: socket.socket) -> None:
        answers = 0
        with contextlib.suppress(OSError, ConnectionError):
            while not self._stop.is_set():
                length = struct.unpack(">I", self._read(server, 4))[0] & 0xFFFFFF
                message = self._read(server, length)
                answers += 1
                if self.cut_when is not None and self.cut_when(answers, commands(message)):
                    with self._lock:
                        self.cut += 1
                    self.dead = True  # and stays dead: later connections are closed at once
                    break
                if self.damage is not None and self.damage[0] in commands(message):
                    message = self.damage[1](message)
                    with self._lock:
                        self.damaged += 1
                frame = struct.pack(">I", len(message)) + message
                if self.drip_when is not None and self.drip_when(answers, commands(message)):
                    for byte in frame:
                        if self._stop.is_set():
                            return
                        client.sendall(bytes([byte]))
                        with self._lock:
                            self.dripped += 1
                        time.sleep(self.drip_every)
                else:
                    client.sendall(frame)
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.close()

    def _serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.dead:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            for target, args in (
                (self._client_to_server, (client, server)),
                (self._server_to_client, (server, client)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        listener = socket.create_server(self.listen)
        thread = threading.Thread(target=self._serve, args=(listener,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            listener.close()
            thread.join(timeout=5)
