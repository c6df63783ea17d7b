"""Deadlines a server cannot stretch by answering slowly.

Protocol libraries time out per read: impacket waits `timeout` for each chunk, so a server that drips one
byte just inside the timeout holds a connection for as long as it likes (measured: 154 s with
`--timeout 5`). A `Deadline` bounds the whole of a connection's work instead. While one is watching
(`with deadline.watching():`) every socket its thread connects is remembered, seen through Python's
`socket.connect` audit event, so no library is patched and none needs to hand its socket over. When the
deadline passes, those sockets are shut down: the read blocked in the library returns at once, the library
raises whatever it raises for a dead peer, and the `Deadline` turns that into one `CollectError(TIMEOUT)`
naming the work and the bound.

Deadlines are per thread (a socket is remembered by the deadlines its connecting thread is watching) and
nest: a socket connected inside two deadlines is shut down by whichever passes first.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from shareaudit.errors import CollectError, FailureKind

_watching = threading.local()


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process: the comparison comes first and costs nothing else.
    if event != "socket.connect":
        return
    deadlines: list[Deadline] | None = getattr(_watching, "deadlines", None)
    if deadlines and isinstance(args[0], socket.socket):
        for deadline in deadlines:
            deadline.adopt(args[0])


sys.addaudithook(_on_audit)


class Deadline:
    """At most `seconds` for the work of one connection (or one phase), whatever the server does."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.expired = False
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def adopt(self, sock: socket.socket) -> None:
        """Remember a socket; shut it down at once if the deadline has already passed."""
        with self._lock:
            self._sockets.add(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def error(self) -> CollectError:
        """The one line for work cut off at the deadline."""
        return CollectError(
            FailureKind.TIMEOUT,
            f"{self.what}: the server answered too slowly (not done within {self.seconds:g} s)",
        )

    @contextlib.contextmanager
    def watching(self) -> Iterator[Deadline]:
        """Start the clock; sockets this thread connects in the block are shut down when it runs out.

        Any exception raised in the block after the deadline passed (the library's view of a socket shut
        under it) becomes this deadline's `CollectError(TIMEOUT)`.
        """
        stack: list[Deadline] = getattr(_watching, "deadlines", None) or []
        _watching.deadlines = [*stack, self]
        timer = threading.Timer(self.seconds, self._expire)
        timer.daemon = True
        timer.start()
        try:
            yield self
        except CollectError as exc:
            if self.expired and exc.kind is not FailureKind.INTERRUPTED:
                raise self.error() from None
            raise
        except Exception:
            if self.expired:
                raise self.error() from None
            raise
        finally:
            timer.cancel()
            _watching.deadlines = stack


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
