"""Discovery before the deep scans: one TCP connect per (host, port), thousands in flight at once.

Every port a chosen collector declares (`ports()`: SMB's is the target's own, DICOM's are its
options' ports, every later protocol declares its own) is tried with one non-blocking connect, in one
epoll loop (`Sweeper`) run by a process of its own (`SweepProcess`). A port is `open` (the connection
was accepted, then closed at once without a byte sent), `refused` (RST), `silent` (nothing within the
timeout: no host, or a firewall dropping SYNs) or `unreachable` (an ICMP error, no route). A host is
handed to the deep scans (collect.hosts) only when one of its ports was open; a host where nothing
answered is reported from these verdicts alone, so a silent address costs one timeout, in parallel
with all the others.

File descriptors: the soft RLIMIT_NOFILE is raised to the hard limit. The sweep's sockets live in its
own process, so the scan's descriptors stay low: smbprotocol's receive thread, impacket and pynetdicom
wait with select(), which cannot take a descriptor of 1024 or more (glibc's FD_SETSIZE;
jborean93/smbprotocol#219). A Sweeper run inside the scanning process instead (a library caller)
moves its sockets to numbers of at least 1024 (F_DUPFD) and leaves the low ones to those libraries.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import fcntl
import ipaddress
import json
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shareaudit.errors import CollectError, FailureKind
from shareaudit.plan.targets import Target

log = logging.getLogger(__name__)

# Descriptors below this are left to libraries that wait with select() (FD_SETSIZE is 1024 in glibc).
SELECT_LIMIT = 1024
PR_SET_PDEATHSIG = 1  # prctl(2): the signal the sweep process gets when the scan that started it dies
# Descriptors kept free for the deep scans beside the sweep: per host scanned at once, and for the rest of
# the process (the journal, the inventory, the history, LDAP, the interpreter's own files).
PER_HOST_RESERVE = 32
BASE_RESERVE = 128
MIN_CONCURRENCY = 8
# A socket() or connect() refused for want of a descriptor or a buffer is tried again after this long.
RESOURCE_RETRY = 0.05
# Connects started between two polls: the loop goes on seeing answers and deadlines during a long ramp.
START_BURST = 1000
_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN}


class PortState(StrEnum):
    """What one connect to one port said."""

    OPEN = "open"  # the connection was accepted
    REFUSED = "refused"  # RST: the host is there, nothing listens on the port
    SILENT = "silent"  # nothing within the timeout: no host, or a firewall drops the connection
    UNREACHABLE = "unreachable"  # an ICMP error or no route


@dataclass(frozen=True, slots=True)
class SweepOptions:
    """How the sweep runs: connections in flight at once (0: as many as the descriptor limit allows)."""

    concurrency: int = 0


@dataclass(frozen=True, slots=True)
class PortVerdict:
    """One port's answer to one connect."""

    port: int
    state: PortState
    elapsed: float  # seconds the connect took
    detail: str = ""  # for unreachable: the system's words (e.g. "No route to host")

    def error(self, timeout: float) -> CollectError | None:
        """Why nothing was learned on this port, in the words the collectors use; None when it was open."""
        if self.state is PortState.OPEN:
            return None
        if self.state is PortState.REFUSED:
            return CollectError(FailureKind.REFUSED, "connection refused (nothing listens on the port)")
        if self.state is PortState.SILENT:
            return CollectError(
                FailureKind.TIMEOUT,
                f"silent: no answer to a connection within {timeout:g} s "
                "(no host there, or a firewall drops the connection)",
            )
        return CollectError(FailureKind.UNREACHABLE, f"host unreachable ({self.detail or 'no route'})")


@dataclass(frozen=True, slots=True)
class HostSweep:
    """Every verdict of one target; `error` when its name did not resolve (then no port was tried)."""

    target: Target
    address: str
    verdicts: tuple[PortVerdict, ...]
    error: CollectError | None = None

    def open_ports(self) -> frozenset[int]:
        return frozenset(v.port for v in self.verdicts if v.state is PortState.OPEN)

    def answered(self) -> bool:
        """Something accepted a connection: the host gets a deep scan."""
        return any(v.state is PortState.OPEN for v in self.verdicts)

    def verdict(self, port: int) -> PortVerdict | None:
        return next((v for v in self.verdicts if v.port == port), None)


# --- the descriptor budget ------------------------------------------------------------------------------------


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit when allowed; the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # a container may forbid it: work within the soft limit
            log.info("could not raise the open-file limit from %d to %d: %s", soft, wanted, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def budget(requested: int, max_hosts: int, limit: int | None = None) -> tuple[int, bool]:
    """Connections the sweep may have in flight, and whether its sockets go above SELECT_LIMIT.

    Above SELECT_LIMIT when the limit leaves room there (the usual case once raised); otherwise the
    sweep shares the low numbers with the deep scans and keeps a reserve for them. `requested` (0: the
    budget) is never allowed past the budget.
    """
    limit = raise_descriptor_limit() if limit is None else limit
    reserve = BASE_RESERVE + PER_HOST_RESERVE * max(1, max_hosts)
    high = limit - SELECT_LIMIT - BASE_RESERVE
    above = high >= MIN_CONCURRENCY
    room = high if above else max(MIN_CONCURRENCY, limit - reserve)
    return (min(requested, room) if requested > 0 else room), above


# --- the sweep ---------------------------------------------------------------------------------------------


def classify(exc: BaseException) -> tuple[PortState, str]:
    """A failed connect in an admin's words."""
    if isinstance(exc, TimeoutError):
        return PortState.SILENT, ""
    if isinstance(exc, ConnectionRefusedError | ConnectionResetError):
        return PortState.REFUSED, ""
    if isinstance(exc, OSError):
        if exc.errno == errno.ETIMEDOUT:  # the kernel gave up before our timeout (few SYN retries)
            return PortState.SILENT, ""
        return PortState.UNREACHABLE, exc.strerror or str(exc)
    return PortState.UNREACHABLE, str(exc)


def _literal(host: str) -> tuple[str, socket.AddressFamily] | None:
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(parsed), socket.AF_INET6 if parsed.version == 6 else socket.AF_INET


class _Host:
    """A target in the sweep: its address and the verdicts so far."""

    __slots__ = ("address", "error", "family", "ports", "target", "verdicts")

    def __init__(self, target: Target, ports: tuple[int, ...]) -> None:
        self.target = target
        self.ports = ports
        self.verdicts: list[PortVerdict] = []
        self.error: CollectError | None = None
        literal = _literal(target.host)
        self.address, self.family = literal if literal else ("", socket.AF_INET)

    def resolve(self) -> None:
        """Resolve a name (the first address, as collect.hosts.resolve does); the error when it does not."""
        try:
            infos = socket.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            self.error = CollectError(FailureKind.UNRESOLVED, f"name does not resolve ({exc.strerror})")
            return
        family, _, _, _, sockaddr = infos[0]
        self.address, self.family = str(sockaddr[0]), family

    def done(self) -> HostSweep:
        order = {port: n for n, port in enumerate(self.ports)}
        verdicts = tuple(sorted(self.verdicts, key=lambda v: order[v.port]))
        return HostSweep(self.target, self.address or self.target.host, verdicts, self.error)


@dataclass(slots=True)
class _Probe:
    host: _Host
    port: int
    sock: socket.socket
    started: float


class Sweeper:
    """The sweep of many hosts in a thread of its own; each host is handed to `deliver` once all its ports
    have answered (or stayed silent). `deliver` gets an exception instead if the sweep itself fails.

    One epoll loop over non-blocking sockets, no asyncio: a probe costs a socket(), a connect() and an
    epoll registration (the asyncio version spent about 150 us of CPU per probe, and a /16 has 262,144
    probes). Every probe has the same timeout, so the deadlines are a FIFO queue. Probes are taken host
    by host, so about `concurrency / ports` hosts are open at once and memory stays flat in the number
    of targets. At most START_BURST connects start between two polls.
    """

    def __init__(
        self,
        hosts: Sequence[tuple[Target, tuple[int, ...]]],
        timeout: float,
        concurrency: int,
        deliver: Callable[[HostSweep | BaseException], None],
        high_descriptors: bool = True,
    ) -> None:
        self._hosts = hosts
        self._timeout = timeout
        self._concurrency = max(1, concurrency)
        self._deliver = deliver
        self._high = high_descriptors
        self._thread = threading.Thread(target=self._main, name="sweep", daemon=True)
        self._stopped = threading.Event()
        self.counts = dict.fromkeys(PortState, 0)  # verdicts so far, by state

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Abandon what is in flight (Ctrl-C): sockets closed, no further host delivered."""
        self._stopped.set()
        self._thread.join(timeout=5)

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - a bug in the sweep: handed to the caller, who raises it (exit 4)
            self._deliver(exc)

    def run(self) -> None:
        """The sweep, in the calling thread, until every host is delivered or stop() is called."""
        hosts = [_Host(target, ports) for target, ports in self._hosts]
        named = [host for host in hosts if not host.address and host.ports]
        if named:  # names are few (addresses and ranges are literals): resolved together, first
            with ThreadPoolExecutor(max_workers=min(32, len(named)), thread_name_prefix="resolve") as pool:
                list(pool.map(_Host.resolve, named))
        poller = select.epoll()
        pending: dict[int, _Probe] = {}
        deadlines: collections.deque[tuple[float, int, _Probe]] = collections.deque()
        probes = ((host, port) for host in hosts for port in host.ports)
        waiting = {id(host): len(host.ports) for host in hosts}
        for host in hosts:
            if not host.ports or host.error is not None:
                self._deliver(host.done())
        more = True
        try:
            while (more or pending) and not self._stopped.is_set():
                started = 0
                while more and len(pending) < self._concurrency and started < START_BURST:
                    item = next(probes, None)
                    if item is None:
                        more = False
                        break
                    host, port = item
                    if host.error is not None:
                        continue
                    started += 1
                    verdict = self._start(host, port, poller, pending, deadlines)
                    if verdict is not None:
                        self._settle(host, verdict, waiting)
                now = time.monotonic()
                wait = max(0.0, deadlines[0][0] - now) if deadlines else 0.05
                for fd, _ in poller.poll(0 if started >= START_BURST else min(wait, 0.05), 4096):
                    probe = pending.pop(fd)
                    poller.unregister(fd)
                    error = probe.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    state, detail = (
                        classify(OSError(error, os.strerror(error))) if error else (PortState.OPEN, "")
                    )
                    self._finish(probe, state, detail, waiting)
                now = time.monotonic()
                while deadlines and deadlines[0][0] <= now:
                    _, fd, probe = deadlines.popleft()
                    if pending.get(fd) is not probe:
                        continue  # answered already (the descriptor may serve another probe now)
                    del pending[fd]
                    poller.unregister(fd)
                    self._finish(probe, *_settled(probe.sock), waiting)
        finally:
            for probe in pending.values():
                probe.sock.close()
            poller.close()

    def _start(
        self,
        host: _Host,
        port: int,
        poller: select.epoll,
        pending: dict[int, _Probe],
        deadlines: collections.deque[tuple[float, int, _Probe]],
    ) -> PortVerdict | None:
        """Start one connect; its verdict at once when the kernel answers at once (refused, no route)."""
        now = time.monotonic()
        while True:
            try:
                sock = self._socket(host.family)
                break
            except OSError as exc:  # our own limit, not the host's: wait for a socket to be freed
                if exc.errno not in _RESOURCE_ERRORS or time.monotonic() - now > self._timeout:
                    raise
                time.sleep(RESOURCE_RETRY)
        code = sock.connect_ex((host.address, port))
        if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            probe = _Probe(host, port, sock, now)
            pending[sock.fileno()] = probe
            poller.register(sock.fileno(), select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP)
            deadlines.append((now + self._timeout, sock.fileno(), probe))
            return None
        sock.close()
        elapsed = round(time.monotonic() - now, 3)
        if code == 0:
            return PortVerdict(port, PortState.OPEN, elapsed)
        state, detail = classify(OSError(code, os.strerror(code)))
        return PortVerdict(port, state, elapsed, detail)

    def _finish(self, probe: _Probe, state: PortState, detail: str, waiting: dict[int, int]) -> None:
        probe.sock.close()
        verdict = PortVerdict(probe.port, state, round(time.monotonic() - probe.started, 3), detail)
        self._settle(probe.host, verdict, waiting)

    def _settle(self, host: _Host, verdict: PortVerdict, waiting: dict[int, int]) -> None:
        host.verdicts.append(verdict)
        self.counts[verdict.state] += 1
        waiting[id(host)] -= 1
        if not waiting[id(host)]:
            del waiting[id(host)]
            self._deliver(host.done())

    def _socket(self, family: socket.AddressFamily) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        if self._high:
            try:
                fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, SELECT_LIMIT)
            finally:
                sock.close()
            sock = socket.socket(family, socket.SOCK_STREAM, fileno=fd)
        sock.setblocking(False)
        return sock


def _settled(sock: socket.socket) -> tuple[PortState, str]:
    """What the kernel knows of a connect whose timeout fired: a completion the loop saw only as late as
    the deadline (a busy loop, a starved thread) is not silence."""
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        return classify(OSError(error, os.strerror(error)))
    try:
        sock.getpeername()
    except OSError:
        return PortState.SILENT, ""  # still in progress: nothing came back
    return PortState.OPEN, ""


# --- the sweep in a process of its own ---------------------------------------------------------------------


class SweepProcess:
    """The sweep run by a child process (`python -m shareaudit.collect.sweep`), same interface as Sweeper.

    In the scanning process the sweep's event loop shares the GIL with the deep scans' threads: with 20
    live hosts being walked, the sweep of 4,096 silent addresses took 40 s instead of 10 (measured), and
    a connect the loop saw late would have been taken for silence. A child has an interpreter and a
    descriptor table of its own. Targets go to it on stdin and verdicts come back on stdout, one JSON
    line per host; it ignores Ctrl-C (the parent stops it) and ends when the parent goes away.
    """

    def __init__(
        self,
        hosts: Sequence[tuple[Target, tuple[int, ...]]],
        timeout: float,
        concurrency: int,
        deliver: Callable[[HostSweep | BaseException], None],
    ) -> None:
        self._hosts = hosts
        self._deliver = deliver
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _read
        command = [sys.executable, "-m", "shareaudit.collect.sweep", f"{timeout:g}", str(concurrency)]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, close_fds=True
        )
        self._feeder = threading.Thread(target=self._feed, name="sweep-feed", daemon=True)
        self._reader = threading.Thread(target=self._read, name="sweep-read", daemon=True)
        self._stopped = threading.Event()
        self.seconds = 0.0
        self.counts: dict[str, int] = {}

    def start(self) -> None:
        self._feeder.start()
        self._reader.start()

    def stop(self, finished: bool = False) -> None:
        """Stop the child: at once (Ctrl-C), or once it has said it is done (every host delivered)."""
        if finished:
            self._reader.join(timeout=5)
        self._stopped.set()
        if self._proc.poll() is None:
            self._proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        self._reader.join(timeout=5)

    def _feed(self) -> None:
        stdin = self._proc.stdin
        if stdin is None:
            return
        try:
            for n, (target, ports) in enumerate(self._hosts):
                stdin.write(_dumps({"i": n, "host": target.host, "port": target.port, "ports": list(ports)}))
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):  # the child was stopped (Ctrl-C): nothing to feed
            pass

    def _read(self) -> None:
        stdout = self._proc.stdout
        if stdout is None:
            return
        delivered = 0
        try:
            for line in stdout:
                entry = json.loads(line)
                if "done" in entry:
                    self.counts, self.seconds = entry["done"], entry["seconds"]
                    continue
                self._deliver(_host_sweep(self._hosts[entry["i"]][0], entry))
                delivered += 1
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._deliver(RuntimeError(f"the sweep process sent something unexpected: {exc}"))
            return
        code = self._proc.wait()
        self._errors.seek(0)
        errors = self._errors.read().decode(errors="replace").strip().splitlines()
        self._errors.close()
        if not self._stopped.is_set() and (code != 0 or delivered < len(self._hosts)):
            detail = errors[-1] if errors else f"exit code {code}"
            self._deliver(RuntimeError(f"the sweep process failed: {detail}"))


def _dumps(entry: dict[str, object]) -> bytes:
    return (json.dumps(entry, separators=(",", ":")) + "\n").encode()


def _host_sweep(target: Target, entry: dict[str, Any]) -> HostSweep:
    error = entry.get("error")
    verdicts = tuple(PortVerdict(int(p), PortState(state), float(t), str(d)) for p, state, t, d in entry["v"])
    failure = CollectError(FailureKind(error[0]), str(error[1])) if error else None
    return HostSweep(target, str(entry["address"]), verdicts, failure)


def _child(timeout: float, concurrency: int) -> int:
    """The sweep process: targets from stdin, one line per host to stdout, a summary line at the end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    with contextlib.suppress(OSError, AttributeError):  # Linux: end with the scan, even a killed one
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the scan died before prctl took effect
        return 1
    out = sys.stdout.buffer
    hosts = []
    for line in sys.stdin.buffer:
        entry = json.loads(line)
        hosts.append((Target(str(entry["i"]), entry["host"], int(entry["port"])), tuple(entry["ports"])))

    def deliver(item: HostSweep | BaseException) -> None:
        if isinstance(item, BaseException):
            raise item
        error = [item.error.kind.value, str(item.error)] if item.error else None
        verdicts = [[v.port, v.state.value, v.elapsed, v.detail] for v in item.verdicts]
        out.write(
            _dumps({"i": int(item.target.spec), "address": item.address, "error": error, "v": verdicts})
        )

    started = time.monotonic()
    raise_descriptor_limit()
    sweeper = Sweeper(hosts, timeout, concurrency, deliver, high_descriptors=False)
    try:
        sweeper.run()
        counts = {state.value: n for state, n in sweeper.counts.items()}
        out.write(_dumps({"done": counts, "seconds": round(time.monotonic() - started, 2)}))
        out.flush()
    except BrokenPipeError:  # the parent went away
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(float(sys.argv[1]), int(sys.argv[2])))
