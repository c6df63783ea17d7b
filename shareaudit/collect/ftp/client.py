"""One FTP control connection, over the standard library's ftplib, with deadlines and bounded transfers.

ftplib reads and parses the replies (`getmultiline`) and the passive-mode answers (`parse227`, `parse229`,
`parse257`); this module adds what a scanner needs and ftplib does not do:
- every request has a deadline: a watchdog shuts the sockets of a request that runs past it, so a server
  that drips a byte at a time cannot hold a host longer than a small multiple of --timeout;
- replies are codes to read, not exceptions; names go back and forth byte for byte (surrogateescape);
- TLS: implicit (port 990) or AUTH TLS (RFC 4217), and data connections that resume the control
  connection's TLS session (ProFTPD, vsftpd and FileZilla Server require it; ftplib does not do it,
  python/cpython#63699);
- the data connection goes to the control connection's peer, never to the address a PASV answer names;
- listings are read up to a byte bound, and a file is read only as far as asked (REST for an offset), then
  the transfer is abandoned: the data connection is closed, ABOR sent and the reply stream resynchronised
  with a NOOP. A whole file is never downloaded.

Passwords are sent with PASS only and never logged (`_shown`).
"""

from __future__ import annotations

import contextlib
import ftplib
import heapq
import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from shareaudit.collect.ftp.listing import ENCODING, ERRORS
from shareaudit.collect.net import connect_error, tls_context
from shareaudit.errors import CollectError, FailureKind
from shareaudit.plan.identities import Secret

log = logging.getLogger(__name__)

MAX_LISTING_BYTES = 64 * 1024 * 1024  # one directory's listing; beyond it the listing is cut short
MAX_REPLY_LINES = 200  # a reply longer than this is not a server we can talk to
TRANSFER_FACTOR = 4  # a listing or a read may take this many --timeout in all (each recv: one)
GREETING_CODES = (220, 421)  # how a server's greeting ends (RFC 959 5.4: 120 comes before a 220)


@dataclass(frozen=True, slots=True)
class Reply:
    """A server's reply: its code and its text (lines joined with newlines)."""

    code: int
    text: str

    @property
    def line(self) -> str:
        """The first line, at most 200 characters: what a report may show."""
        return self.text.splitlines()[0][:200] if self.text else str(self.code)

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300


# --- deadlines ------------------------------------------------------------------------------------------


class Alarm:
    """One request's deadline: when it passes, the control socket (as it is then) and the data sockets are shut."""

    def __init__(self, when: float, control: Callable[[], socket.socket]) -> None:
        self.when = when
        self.control = control  # the control connection's socket changes at the TLS handshake
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.cancelled = False
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        """A socket opened during the request (its data connection) is cut with it."""
        with self._lock:
            self.sockets.append(sock)
            fired = self.fired
        if fired:
            _cut(sock)

    def fire(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.fired = True
            sockets = [self.control(), *self.sockets]
        for sock in sockets:
            _cut(sock)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True


def _cut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: a reader blocked in it returns at once, and
    # the TLS object of the other thread is left alone.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One thread for every connection of the process: fires the alarms whose time has come."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, control: Callable[[], socket.socket]) -> Alarm:
        alarm = Alarm(time.monotonic() + seconds, control)
        with self._cond:
            heapq.heappush(self._heap, (alarm.when, next(self._count), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ftp-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is alarm:  # the thread sleeps until an earlier deadline otherwise
                self._cond.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, alarm = heapq.heappop(self._heap)
            alarm.fire()


WATCHDOG = Watchdog()


# --- the connection ------------------------------------------------------------------------------------


class _Ftp(ftplib.FTP):
    """ftplib's reply reader over our socket; names in any encoding (surrogateescape), both ways."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__(timeout=timeout, encoding=ENCODING)
        self.channel = sock
        self.attach(sock)

    def attach(self, sock: socket.socket) -> None:
        """Read and write over `sock` (after the TLS handshake, the wrapped socket)."""
        self.channel = sock
        self.sock = sock
        self.af = sock.family
        self.file = sock.makefile("r", encoding=ENCODING, errors=ERRORS)

    def putline(self, line: str) -> None:
        if "\r" in line or "\n" in line:
            raise ValueError("a line break in an FTP command")
        self.channel.sendall((line + "\r\n").encode(ENCODING, ERRORS))


# Commands whose argument may be shown in a debug log: never a password, never a path (a folder or file
# name may identify a patient, and the log is an output like any other).
_ARGUMENT_SHOWN = frozenset({"USER", "TYPE", "PBSZ", "PROT", "AUTH", "REST", "OPTS"})
# Replies that never name a path (PWD's does, and so may any reply to a command about a path).
_REPLY_SHOWN = frozenset(
    {"USER", "PASS", "TYPE", "PBSZ", "PROT", "AUTH", "FEAT", "SYST", "PASV", "EPSV", "NOOP"}
)


def _shown(line: str) -> str:
    verb, _, argument = line.partition(" ")
    if not argument or verb.upper() in _ARGUMENT_SHOWN:
        return line
    return f"{verb} <{'password' if verb.upper() == 'PASS' else 'path'}>"


@dataclass(frozen=True, slots=True)
class Data:
    """What a transfer brought: the bytes, the final reply, and whether it was cut short on purpose."""

    data: bytes
    reply: Reply
    cut: bool = False


class FtpClient:
    """A control connection to one FTP port; every method has a deadline and raises only CollectError."""

    def __init__(self, address: str, port: int, timeout: float, implicit_tls: bool = False) -> None:
        self.address = address
        self.port = port
        self.timeout = timeout
        self.tls = False
        self.tls_version: str | None = None
        self.certificate: bytes | None = None  # the server's certificate, DER
        self.protected = False  # PROT P: data connections are in TLS too
        self.dead = False
        self._context = tls_context()
        try:
            raw = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            raise connect_error(exc, timeout) from None
        self._raw = raw
        self._ftp = _Ftp(raw, timeout)
        if implicit_tls:
            with self._limit(timeout, "the TLS handshake"):
                self._handshake()
        self.greeting = self._greeting()

    # -- plumbing ----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _limit(self, seconds: float, what: str) -> Iterator[Alarm]:
        """Run a request within `seconds`; a server that does not finish in time loses the connection."""
        if self.dead:
            raise CollectError(FailureKind.TIMEOUT, "the connection was lost earlier")
        alarm = WATCHDOG.arm(seconds, lambda: self._raw)
        try:
            yield alarm
        except (OSError, EOFError, ftplib.Error, ValueError) as exc:
            self.dead = True
            if alarm.fired:
                raise CollectError(
                    FailureKind.TIMEOUT, f"the server did not finish {what} within {seconds:g} s"
                ) from None
            raise _failure(exc, what, self.timeout) from None
        finally:
            alarm.cancel()
        if alarm.fired:  # it finished, but only just: the sockets are shut already
            self.dead = True
            raise CollectError(FailureKind.TIMEOUT, f"the server did not finish {what} within {seconds:g} s")

    def _handshake(self) -> None:
        # wrap_socket takes the file descriptor over: from here on the deadline must cut the TLS socket.
        sock = self._context.wrap_socket(self._raw, do_handshake_on_connect=False)
        self._raw = sock
        sock.do_handshake()
        self.tls = True
        self.tls_version = sock.version()
        self.certificate = sock.getpeercert(binary_form=True)
        self._ftp.attach(sock)

    def _read_reply(self) -> Reply:
        # ftplib's getmultiline, with the code checked on the first line (an SSH banner, "SSH-2.0-...", would
        # otherwise read as the start of a multi-line reply) and the number of lines bounded.
        first = self._ftp.getline()
        code = first[:3]
        if not code.isdigit() or first[3:4] not in ("", " ", "-"):
            raise ftplib.error_proto(f"not an FTP reply: {first[:60]!r}")
        lines = [first]
        while lines[-1][3:4] == "-" or (len(lines) > 1 and lines[-1][:3] != code):
            if len(lines) > MAX_REPLY_LINES:
                raise ftplib.error_proto("a reply of more than 200 lines")
            lines.append(self._ftp.getline())
        return Reply(int(code), "\n".join(lines))

    def _greeting(self) -> Reply:
        with self._limit(self.timeout, "its greeting"):
            greeting = self._read_reply()
            while 100 <= greeting.code < 200:  # 120: ready in a while; the 220 follows (within the deadline)
                greeting = self._read_reply()
        if greeting.code not in GREETING_CODES:
            self.close()
            raise CollectError(FailureKind.PROTOCOL, f"an unexpected greeting: {greeting.line}")
        return greeting

    def _send(self, line: str) -> Reply:
        shown = _shown(line)
        log.debug("%s:%d > %s", self.address, self.port, shown)
        self._ftp.putline(line)
        reply = self._read_reply()
        # A reply to a command about a path may name the path: only its code is logged then.
        shown_reply = reply.line if line.split(" ", 1)[0].upper() in _REPLY_SHOWN else reply.code
        log.debug("%s:%d < %s", self.address, self.port, shown_reply)
        return reply

    # -- commands ------------------------------------------------------------------------------------------

    def command(self, line: str) -> Reply:
        """Send one command and read its reply (whatever its code) within --timeout."""
        with self._limit(self.timeout, _shown(line).split(" ", 1)[0]):
            return self._send(line)

    def auth_tls(self) -> Reply:
        """AUTH TLS, and the handshake when the server agrees (234)."""
        with self._limit(self.timeout, "AUTH TLS"):
            reply = self._send("AUTH TLS")
            if reply.code == 234:
                self._handshake()
        return reply

    def login(self, user: str, password: Secret) -> Reply:
        """USER, then PASS when asked; the final reply (230 or 202: logged in)."""
        reply = self.command(f"USER {user}")
        if reply.code in (331, 332):
            reply = self.command(f"PASS {password.reveal()}")
        return reply

    def protect(self) -> None:
        """PBSZ 0 and PROT P on a TLS connection: data connections in TLS too (RFC 4217 9)."""
        if not self.tls:
            return
        self.command("PBSZ 0")
        self.protected = self.command("PROT P").ok

    def pwd(self) -> str | None:
        """Where the session is (PWD), or None when the server does not say."""
        reply = self.command("PWD")
        if reply.code != 257:
            return None
        try:
            return ftplib.parse257(reply.text.splitlines()[0])
        except ftplib.Error:
            return None

    # -- data connections --------------------------------------------------------------------------------

    def _open_data(self, alarm: Alarm, line: str, rest: int | None) -> tuple[socket.socket | None, Reply]:
        """A passive data connection to the control connection's peer, then the command; (None, refusal)."""
        extended = self._ftp.af == socket.AF_INET6
        reply = self._send("EPSV" if extended else "PASV")
        if reply.code not in (227, 229):
            return None, reply
        peer = self._raw.getpeername()[0]
        try:
            port = ftplib.parse229(reply.text, (peer, 0))[1] if extended else ftplib.parse227(reply.text)[1]
        except ftplib.Error:
            raise ftplib.error_proto(f"a passive-mode answer that cannot be read: {reply.line}") from None
        try:
            conn = socket.create_connection((peer, port), timeout=self.timeout)
        except OSError as exc:
            raise CollectError(
                FailureKind.PROTOCOL, f"the data connection to port {port} failed ({exc.strerror or exc})"
            ) from None
        alarm.watch(conn)
        if rest:
            answer = self._send(f"REST {rest}")
            if answer.code != 350:
                conn.close()
                return None, answer
        answer = self._send(line)
        if not 100 <= answer.code < 200:
            conn.close()
            return None, answer
        if self.protected:
            session = getattr(self._ftp.channel, "session", None)
            conn = self._context.wrap_socket(conn, session=session, do_handshake_on_connect=False)
            alarm.watch(conn)
            conn.do_handshake()
        return conn, answer

    def _finish(self, cut: bool) -> Reply:
        """After a transfer: its final reply; a transfer cut short is aborted and the replies resynchronised."""
        if not cut:
            return self._read_reply()
        self._ftp.putline("ABOR")
        first = self._read_reply()
        self._ftp.putline("NOOP")
        for _ in range(4):  # the transfer's own reply, ABOR's, then NOOP's 200
            reply = self._read_reply()
            if reply.code == 200:
                return first
        raise ftplib.error_proto("no answer to NOOP after ABOR")

    def listing(self, verb: str, path: str | None) -> Data | Reply:
        """MLSD/LIST (of `path`, or of where the session is): the listing, or the refusal."""
        line = verb if path is None else f"{verb} {path}"
        seconds = self.timeout * TRANSFER_FACTOR
        with self._limit(seconds, f"a {verb} listing") as alarm:
            conn, first = self._open_data(alarm, line, None)
            if conn is None:
                return first
            chunks: list[bytes] = []
            total = 0
            cut = False
            with conn:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    total += len(chunk)
                    chunks.append(chunk)
                    if total > MAX_LISTING_BYTES:
                        cut = True
                        break
            reply = self._finish(cut)
        return Data(b"".join(chunks), reply, cut)

    def read(self, path: str, offset: int, length: int) -> Data | Reply:
        """At most `length` bytes of a file from `offset` (REST), the rest never transferred; or the refusal."""
        seconds = self.timeout * TRANSFER_FACTOR
        with self._limit(seconds, "a read") as alarm:
            conn, first = self._open_data(alarm, f"RETR {path}", offset or None)
            if conn is None:
                return first
            data = bytearray()
            with conn:
                while len(data) < length:
                    chunk = conn.recv(min(65536, length - len(data)))
                    if not chunk:
                        break
                    data += chunk
                cut = len(data) >= length
            reply = self._finish(cut)
        return Data(bytes(data), reply, cut)

    def store_empty(self, path: str) -> Reply:
        """STOR an empty file (the opt-in write probe): the final reply, or the refusal."""
        with self._limit(self.timeout * TRANSFER_FACTOR, "STOR") as alarm:
            conn, first = self._open_data(alarm, f"STOR {path}", None)
            if conn is None:
                return first
            with conn:
                if isinstance(conn, ssl.SSLSocket):
                    with contextlib.suppress(OSError, ssl.SSLError):
                        conn.unwrap()  # a clean TLS end, so the server sees a complete (empty) file
            return self._read_reply()

    def close(self) -> None:
        """QUIT politely when the connection still works; close it in any case."""
        if not self.dead:
            with contextlib.suppress(CollectError), self._limit(min(self.timeout, 2.0), "QUIT"):
                self._ftp.putline("QUIT")
                self._read_reply()
        self.dead = True
        with contextlib.suppress(OSError):
            self._ftp.channel.close()
        with contextlib.suppress(OSError):
            self._raw.close()

    def __enter__(self) -> FtpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failure(exc: BaseException, what: str, timeout: float) -> CollectError:
    """A failed request in one line (never a traceback, never the command's argument)."""
    if isinstance(exc, CollectError):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return CollectError(FailureKind.TIMEOUT, f"no answer to {what} within {timeout:g} s")
    if isinstance(exc, ssl.SSLError):
        return CollectError(FailureKind.PROTOCOL, f"TLS failed during {what}: {exc.reason or exc}")
    if isinstance(exc, EOFError | ConnectionError):
        return CollectError(FailureKind.PROTOCOL, f"the server closed the connection during {what}")
    if isinstance(exc, ftplib.Error | ValueError):
        return CollectError(FailureKind.PROTOCOL, f"{what}: {str(exc)[:200]}")
    return CollectError(FailureKind.PROTOCOL, f"{what} failed ({getattr(exc, 'strerror', None) or exc})")
