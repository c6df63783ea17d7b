"""Discovery before the deep scans: one TCP connect per (host, port), thousands in flight at once.

Every port a chosen collector declares (`ports()`: SMB's is the target's own, DICOM's are its
options' ports, every later protocol declares its own) is tried with one non-blocking connect in
an asyncio loop running in its own thread. A port is `open` (the connection was accepted, then closed
at once without a byte sent), `refused` (RST), `silent` (nothing within the timeout: no host, or a
firewall dropping SYNs) or `unreachable` (an ICMP error, no route). A host is handed to the deep
scans (collect.hosts) only when one of its ports was open; a host where nothing answered is reported
from these verdicts alone, so a silent address costs one timeout, in parallel with all the others.

File descriptors: the soft RLIMIT_NOFILE is raised to the hard limit, and every sweep socket is moved
to a descriptor number of at least 1024 (F_DUPFD). smbprotocol's receive thread, impacket and
pynetdicom wait with select(), which cannot take a descriptor of 1024 or more (glibc's FD_SETSIZE;
jborean93/smbprotocol#219), and the deep scans run while the sweep still holds thousands of sockets:
the numbers below 1024 are left to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import ipaddress
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
# Pacing of new connects: at most START_BURST every START_TICK seconds (100,000 a second).
START_BURST = 1000
START_TICK = 0.01
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
    """A target in the sweep: its address (resolved once, by the first probe that needs it) and verdicts."""

    __slots__ = ("address", "error", "family", "ports", "resolving", "skipped", "target", "verdicts")

    def __init__(self, target: Target, ports: tuple[int, ...]) -> None:
        self.target = target
        self.ports = ports
        self.verdicts: list[PortVerdict] = []
        self.skipped = 0  # ports not tried because the name did not resolve
        self.error: CollectError | None = None
        self.resolving: asyncio.Task[None] | None = None
        literal = _literal(target.host)
        self.address, self.family = literal if literal else ("", socket.AF_INET)

    async def resolved(self) -> None:
        """Resolve the name once; every probe of this host waits for the same answer."""
        if self.resolving is None:
            self.resolving = asyncio.create_task(self._resolve())
        await asyncio.shield(self.resolving)

    async def _resolve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.target.host, self.target.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            self.error = CollectError(FailureKind.UNRESOLVED, f"name does not resolve ({exc.strerror})")
            return
        family, _, _, _, sockaddr = infos[0]
        self.address, self.family = str(sockaddr[0]), family

    def settled(self) -> bool:
        return len(self.verdicts) + self.skipped == len(self.ports)

    def done(self) -> HostSweep:
        order = {port: n for n, port in enumerate(self.ports)}
        verdicts = tuple(sorted(self.verdicts, key=lambda v: order[v.port]))
        return HostSweep(self.target, self.address or self.target.host, verdicts, self.error)


class Sweeper:
    """The sweep of many hosts in a thread of its own; each host is handed to `deliver` once all its ports
    have answered (or stayed silent). `deliver` gets an exception instead if the sweep itself fails.

    Probes are taken host by host, so at most about `concurrency / ports` hosts are open at once and
    memory stays flat in the number of targets.
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = threading.Event()
        self.counts = dict.fromkeys(PortState, 0)  # verdicts so far, by state
        self._starts: asyncio.Semaphore | None = None  # made inside the loop (pacing of new connects)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Cancel what is in flight (Ctrl-C): connects are abandoned, their sockets closed; no host is delivered."""
        self._stopped.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=5)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - a bug in the sweep: handed to the caller, who raises it (exit 4)
            self._deliver(exc)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self._stopped.is_set():
            return
        probes = self._probes()
        total = sum(len(ports) for _, ports in self._hosts)
        in_flight = min(self._concurrency, total) or 1
        workers = [asyncio.create_task(self._worker(probes)) for _ in range(in_flight)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()

    def _probes(self) -> Iterator[tuple[_Host, int]]:
        for target, ports in self._hosts:
            host = _Host(target, ports)
            if not ports:
                self._deliver(host.done())
                continue
            for port in ports:
                yield host, port

    async def _worker(self, probes: Iterator[tuple[_Host, int]]) -> None:
        # One shared generator: each next() runs between two awaits, so no two workers take the same probe.
        for host, port in probes:
            if not host.address:
                await host.resolved()
            if host.error is None:
                verdict = await self._connect(host.address, host.family, port)
                host.verdicts.append(verdict)
                self.counts[verdict.state] += 1
            else:
                host.skipped += 1
            if host.settled():
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

    async def _connect(self, address: str, family: socket.AddressFamily, port: int) -> PortVerdict:
        loop = asyncio.get_running_loop()
        await self._paced(loop)
        started = loop.time()
        deadline = started + self._timeout
        while True:
            try:
                sock = self._socket(family)
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS and loop.time() < deadline:
                    await asyncio.sleep(RESOURCE_RETRY)  # our own limit, not the host's: wait for a socket
                    continue
                raise
            try:
                async with asyncio.timeout_at(deadline):
                    await loop.sock_connect(sock, (address, port))
            except (OSError, TimeoutError) as exc:
                if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRORS and loop.time() < deadline:
                    await asyncio.sleep(RESOURCE_RETRY)
                    continue
                state, detail = _settled(sock) if isinstance(exc, TimeoutError) else classify(exc)
                return PortVerdict(port, state, round(loop.time() - started, 3), detail)
            finally:
                sock.close()
            return PortVerdict(port, PortState.OPEN, round(loop.time() - started, 3))

    async def _paced(self, loop: asyncio.AbstractEventLoop) -> None:
        """At most START_BURST connects start per START_TICK: the loop keeps polling between bursts (a
        single burst of 16,000 connects held it for seconds on a busy machine), and no network sees
        more than START_BURST / START_TICK new connections a second from us."""
        if self._starts is None:
            self._starts = asyncio.Semaphore(START_BURST)
        await self._starts.acquire()
        loop.call_later(START_TICK, self._starts.release)


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
        asyncio.run(sweeper._run())
        counts = {state.value: n for state, n in sweeper.counts.items()}
        out.write(_dumps({"done": counts, "seconds": round(time.monotonic() - started, 2)}))
        out.flush()
    except BrokenPipeError:  # the parent went away
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(float(sys.argv[1]), int(sys.argv[2])))
