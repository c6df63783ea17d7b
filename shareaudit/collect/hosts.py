"""Per-host collection, protocol by protocol: resolve, hand each protocol's collector its job, keep the result.

This is the one boundary where a host's failure is recorded: a collector keeps whatever it gathered
before an adapter raised `CollectError`, with the error in one line. Other hosts go on.

SMB's collector returns the HostResult itself; every other protocol's `ServiceCollector` (DICOM, FTP,
NFS) returns `Service`s that are merged into it (`merge`). The service collectors of a
host run beside SMB, in their own threads: a dead port of one protocol never holds up another.

With a sweep (`CollectOptions.sweep`, collect/sweep.py), every port the collectors declare (`ports()`)
is tried first with one connect, all hosts at once; only a host where a port accepted is scanned
deeply, each collector only on its ports that accepted. A host where nothing answered is reported from
the sweep's verdicts, in the same shape (`merge`) and words as if its collectors had tried.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from shareaudit import interrupt
from shareaudit.collect.crawl import CrawlBounds, MedicalFile
from shareaudit.collect.dicom.options import DicomOptions
from shareaudit.collect.ftp.options import FtpOptions
from shareaudit.collect.nfs.options import NfsOptions
from shareaudit.collect.sweep import HostSweep, SweepOptions, SweepProcess, budget
from shareaudit.errors import CollectError, FailureKind, unexpected
from shareaudit.model import DicomFacts, FtpFacts, HostResult, NfsFacts, Service
from shareaudit.plan.identities import Identity, privilege
from shareaudit.plan.targets import Target
from shareaudit.redact import Redactor

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CollectOptions:
    """Knobs of collection that are not identities or targets."""

    timeout: float = 5.0  # seconds, per connection attempt and per request
    max_hosts: int = 16  # hosts in flight at once
    active_write_probe: bool = False  # opt-in: create and delete a file to confirm write access
    crawl: CrawlBounds | None = None  # None: do not walk shares
    max_shares: int = 4  # shares of one host walked at the same time
    include_shares: tuple[str, ...] = ()  # globs; applied before any connection to a share
    exclude_shares: tuple[str, ...] = ()
    redactor: Redactor | None = None  # required when crawling
    on_medical: Callable[[str, str, MedicalFile], None] | None = None  # (host, share, file) as found
    progress: Progress | None = None  # told about hosts and entries walked; None: nobody listens
    protocols: tuple[str, ...] = ("smb", "dicom", "ftp")  # --protocols: which collectors run
    in_flight: InFlight | None = None  # where collectors publish partial results (kept on Ctrl-C)
    dicom: DicomOptions = field(default_factory=DicomOptions)  # ports, called AE titles, studies counted
    ftp: FtpOptions = field(default_factory=FtpOptions)  # ports (21, 990 and --ftp-port)
    nfs: NfsOptions = field(default_factory=NfsOptions)  # ports, AUTH_SYS uids tried besides nobody
    sweep: SweepOptions | None = None  # a connect sweep of every declared port first; None: scan every host


class Progress(Protocol):
    """How collection reports progress; the CLI draws it, the core never prints."""

    def host_started(self, target: Target) -> None: ...

    def host_finished(self, result: HostResult) -> None: ...

    def entries_walked(self, target: Target, share: str, count: int) -> None: ...


class NoProgress:
    """Progress that goes nowhere (quiet runs, tests)."""

    def host_started(self, target: Target) -> None:
        """Ignore."""

    def host_finished(self, result: HostResult) -> None:
        """Ignore."""

    def entries_walked(self, target: Target, share: str, count: int) -> None:
        """Ignore."""


class InFlight:
    """Hosts being collected, each with a way to say what it has learned so far (kept on Ctrl-C)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, Callable[[], HostResult]] = {}

    def started(self, target: Target, snapshot: Callable[[], HostResult]) -> None:
        """A collector says how to read its partial result for this target."""
        with self._lock:
            self._snapshots[target.spec] = snapshot

    def finished(self, target: Target) -> None:
        with self._lock:
            self._snapshots.pop(target.spec, None)

    def snapshots(self) -> dict[str, HostResult]:
        """What every host still in flight has learned, by target spec; a snapshot that fails is skipped."""
        with self._lock:
            pending = dict(self._snapshots)
        taken = {}
        for spec, snapshot in pending.items():
            try:
                taken[spec] = snapshot()
            except (RuntimeError, ValueError, AttributeError):  # the worker changed it under us: skip it
                continue
        return taken


@dataclass(frozen=True, slots=True)
class HostJob:
    """What a protocol collector is given for one host: where, as whom (least privileged first), how."""

    target: Target
    address: str
    identities: tuple[Identity, ...]
    options: CollectOptions
    open_ports: frozenset[int] | None = None  # ports that accepted the sweep's connect; None: not swept


class Collector(Protocol):
    """One protocol's collection of one host: facts only, never findings; never raises for a host problem.

    A collector keeps what it gathered before a failure and records the failure in the result.
    """

    protocol: str

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        """The TCP ports this collector would connect to on `target` (what the sweep tries)."""
        ...

    def collect(self, job: HostJob) -> HostResult: ...


class ServiceCollector(Protocol):
    """A protocol beside SMB (DICOM, FTP, NFS): one `Service` per port it tried; never raises."""

    protocol: str

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        """The TCP ports this collector would connect to on `target`; it need only probe `job.open_ports`."""
        ...

    def collect(self, job: HostJob) -> tuple[Service, ...]: ...


# What the scan's main loop waits for: a host's deep scan, a sweep verdict, or the sweep's failure.
_Event = tuple[Target, Future[HostResult]] | HostSweep | BaseException

# Protocols --protocols may name, in the order they are run and reported.
PROTOCOLS = ("smb", "dicom", "ftp", "nfs")
# Those looked at when --protocols is not given: every door of the box (a closed port costs little).
DEFAULT_PROTOCOLS = PROTOCOLS
# How SMB fails when there is no SMB server at all: on a host where another protocol answered, SMB is
# recorded as absent (a Service), not as a failed target.
_ABSENT = {FailureKind.REFUSED, FailureKind.TIMEOUT, FailureKind.NOT_SMB, FailureKind.UNREACHABLE}


def resolve(host: str, port: int) -> str:
    """The address to connect to (the first one the resolver gives)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CollectError(FailureKind.UNRESOLVED, f"name does not resolve ({exc.strerror})") from exc
    return str(infos[0][4][0])


def failed(target: Target, error: CollectError, elapsed: float) -> HostResult:
    """A host that failed before any protocol could say anything about it."""
    return HostResult(
        target=target.spec,
        address=target.host,
        port=target.port,
        reachable=False,
        error=str(error),
        error_kind=error.kind.value,
        elapsed_s=round(elapsed, 3),
    )


def merge(target: Target, address: str, smb: HostResult | None, services: Sequence[Service]) -> HostResult:
    """One HostResult from SMB's (when SMB was asked) and the other protocols' services.

    A host where SMB did not answer at all (refused, silent, not SMB, unreachable) but another protocol
    did is not a failed target: SMB's failure becomes a `Service` (protocol smb, reachable false) and the
    host's own error is cleared. A host where nothing answered keeps SMB's error (or says that no service
    answered), so it still reads as failed (rules/coverage.py, exit code 3).
    """
    answered = any(s.reachable for s in services)
    if smb is None:
        first = services[0] if services else None
        return HostResult(
            target=target.spec,
            address=address,
            port=target.port,
            reachable=answered,
            error=None if answered else _nothing_answered(services),
            error_kind=None if answered else (first.error_kind if first else FailureKind.REFUSED.value),
            elapsed_s=max((s.elapsed_s for s in services), default=0.0),
            services=tuple(services),
        )
    absent = smb.posture is None and not smb.reachable and smb.error_kind in {k.value for k in _ABSENT}
    if absent and answered:
        gone = Service("smb", smb.port, False, smb.error, smb.error_kind, smb.elapsed_s)
        return replace(smb, reachable=True, error=None, error_kind=None, services=(gone, *services))
    return replace(smb, services=tuple(services)) if services else smb


def _nothing_answered(services: Sequence[Service]) -> str:
    tried = ", ".join(f"{s.protocol} {s.port}: {s.error or 'no answer'}" for s in services)
    return f"no service answered ({tried})" if tried else "no protocol was asked"


def scan_host(
    target: Target,
    identities: Sequence[Identity],
    options: CollectOptions,
    collector: Collector | None,
    services: Sequence[ServiceCollector] = (),
    swept: HostSweep | None = None,
) -> HostResult:
    """Everything about one host; never raises for a host problem. `swept`: its sweep (address, open ports)."""
    started = time.monotonic()
    try:
        if swept is not None and swept.error is not None:
            raise swept.error
        address = swept.address if swept is not None else resolve(target.host, target.port)
    except CollectError as exc:
        return failed(target, exc, time.monotonic() - started)
    open_ports = swept.open_ports() if swept is not None else None
    job = HostJob(target, address, tuple(sorted(identities, key=privilege)), options, open_ports)
    if not services:
        if collector is None:
            return failed(target, CollectError(FailureKind.PROTOCOL, "no protocol was asked"), 0.0)
        return _smb_or_verdict(collector, job, swept, started)
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="service") as pool:
        pending = [(other, pool.submit(_services_or_verdicts, other, job, swept)) for other in services]
        smb = _smb_or_verdict(collector, job, swept, started) if collector is not None else None
        found = [service for other, future in pending for service in _services(other, future, job)]
    return merge(target, address, smb, found)


# The last boundary: collectors never raise for a host problem, but a library choking on an answer (or a
# bug) must cost this one host, never the scan. The traceback goes to the --debug log.
def _collect_smb(collector: Collector, job: HostJob, started: float) -> HostResult:
    try:
        return collector.collect(job)
    except Exception as exc:
        log.debug("%s: %s collector failed", job.target.spec, collector.protocol, exc_info=True)
        return failed(job.target, unexpected(exc), time.monotonic() - started)


def _services(
    other: ServiceCollector, future: Future[tuple[Service, ...]], job: HostJob
) -> tuple[Service, ...]:
    try:
        return future.result()
    except Exception as exc:
        log.debug("%s: %s collector failed", job.target.spec, other.protocol, exc_info=True)
        error = unexpected(exc)
        return (Service(other.protocol, 0, False, str(error), error.kind.value),)


def declared_ports(
    collector: Collector | ServiceCollector, target: Target, options: CollectOptions
) -> tuple[int, ...] | None:
    """The ports a collector says it would try on `target`; None when it declares none (then it is never skipped)."""
    ports = getattr(collector, "ports", None)
    return tuple(ports(target, options)) if callable(ports) else None


def _unanswered(
    job: HostJob, swept: HostSweep, ports: tuple[int, ...]
) -> list[tuple[int, CollectError, float]]:
    """The sweep's verdicts on `ports` when none of them accepted a connection; [] when one did."""
    closed = []
    for port in ports:
        verdict = swept.verdict(port)
        error = verdict.error(job.options.timeout) if verdict is not None else None
        if verdict is None or error is None:
            return []
        closed.append((port, error, verdict.elapsed))
    return closed


def _smb_or_verdict(
    collector: Collector, job: HostJob, swept: HostSweep | None, started: float
) -> HostResult:
    """SMB's result: collected, or, when the sweep found its port closed, the sweep's verdict on it."""
    ports = declared_ports(collector, job.target, job.options)
    closed = _unanswered(job, swept, ports) if swept is not None and ports else []
    if not closed:
        return _collect_smb(collector, job, started)
    _, error, elapsed = closed[0]
    return replace(failed(job.target, error, elapsed), address=job.address)


def _services_or_verdicts(
    collector: ServiceCollector, job: HostJob, swept: HostSweep | None
) -> tuple[Service, ...]:
    """A protocol's services: its ports the sweep found closed from the verdicts, the others collected."""
    ports = declared_ports(collector, job.target, job.options)
    if swept is None or ports is None:
        return collector.collect(job)
    verdicts = {
        port: Service(collector.protocol, port, False, str(error), error.kind.value, elapsed)
        for port in ports
        for _, error, elapsed in _unanswered(job, swept, (port,))
    }
    collected = {s.port: s for s in collector.collect(job)} if len(verdicts) < len(ports) else {}
    # In the declared order; a collector that probed a closed port anyway has its own answer kept.
    ordered = [
        collected.pop(port) if port in collected else verdicts[port]
        for port in ports
        if port in collected or port in verdicts
    ]
    return (*ordered, *collected.values())


def unanswered(
    target: Target,
    swept: HostSweep,
    options: CollectOptions,
    collector: Collector | None,
    services: Sequence[ServiceCollector],
) -> HostResult:
    """The result of a host where no port accepted a connection, from the sweep alone (no thread, no network)."""
    if swept.error is not None:
        return failed(target, swept.error, 0.0)
    job = HostJob(target, swept.address, (), options, frozenset())
    smb = _smb_or_verdict(collector, job, swept, 0.0) if collector is not None else None
    found = [service for other in services for service in _services_or_verdicts(other, job, swept)]
    if smb is not None and not found:
        return smb
    return merge(target, swept.address, smb, found)


def default_collector() -> Collector:
    """The SMB collector."""
    from shareaudit.collect.smb.collector import SmbCollector

    return SmbCollector()


def port_service(
    protocol: str,
    port: int,
    started: float,
    reachable: bool,
    error: CollectError | None = None,
    *,
    dicom: DicomFacts | None = None,
    ftp: FtpFacts | None = None,
    nfs: NfsFacts | None = None,
) -> Service:
    """What a service collector learned about one port since `started` (time.monotonic()), and why not more."""
    return Service(
        protocol,
        port,
        reachable,
        str(error) if error else None,
        error.kind.value if error else None,
        round(time.monotonic() - started, 3),
        dicom=dicom,
        ftp=ftp,
        nfs=nfs,
    )


class _Collects(Protocol):
    def collect(self, job: HostJob) -> tuple[Service, ...]: ...


class _Door:
    """A protocol beside SMB whose collector is imported when a host first answers on one of its ports.

    Its ports come from the options alone (its defaults and --PROTOCOL-port, on every target), so a scan
    where no host answers on them never loads the protocol's libraries (nfs_rs with asyncio, cryptography's
    x509, pydicom): about a tenth of a second of every scan's start-up, measured.
    """

    def __init__(
        self, protocol: str, ports: Callable[[CollectOptions], tuple[int, ...]], load: Callable[[], _Collects]
    ) -> None:
        self.protocol = protocol
        self._ports = ports
        self._load = load
        self._collector: _Collects | None = None
        self._lock = threading.Lock()

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        return self._ports(options)

    def collect(self, job: HostJob) -> tuple[Service, ...]:
        with self._lock:
            if self._collector is None:
                self._collector = self._load()
        return self._collector.collect(job)


def _next(events: queue.SimpleQueue[_Event]) -> _Event:
    """The next event; a Ctrl-C swallowed where it could not be raised is raised here (shareaudit.interrupt)."""
    while True:
        interrupt.check()
        try:
            return events.get(timeout=0.25)
        except queue.Empty:
            continue


def _dicom() -> _Collects:
    from shareaudit.collect.dicom.collector import DicomCollector

    return DicomCollector()


def _ftp() -> _Collects:
    from shareaudit.collect.ftp.collector import FtpCollector

    return FtpCollector()


def _nfs() -> _Collects:
    from shareaudit.collect.nfs.collector import NfsCollector

    return NfsCollector()


def service_collectors(protocols: Sequence[str]) -> tuple[ServiceCollector, ...]:
    """The collectors of the protocols beside SMB that `protocols` names, in PROTOCOLS order."""
    doors = (
        _Door("dicom", lambda options: options.dicom.ports, _dicom),
        _Door("ftp", lambda options: options.ftp.ports, _ftp),
        _Door("nfs", lambda options: options.nfs.ports, _nfs),
    )
    return tuple(door for door in doors if door.protocol in protocols)


def scan(
    targets: Sequence[Target],
    identities: Sequence[Identity],
    options: CollectOptions,
    collector: Collector | None = None,
    services: Sequence[ServiceCollector] | None = None,
) -> Iterator[tuple[Target, HostResult]]:
    """Scan hosts in parallel (bounded), yielding each target and its result as soon as it is complete.

    Without collectors given, `options.protocols` chooses them; a caller that hands in its own SMB
    collector (a test) gets no other protocol unless it hands in `services` too. With `options.sweep`,
    the sweep runs first (in its own thread) and only hosts where a port answered are scanned deeply,
    as soon as their sweep is done; the others are yielded from the sweep's verdicts.
    """
    progress = options.progress or NoProgress()
    if collector is None and services is None:
        chosen = default_collector() if "smb" in options.protocols else None
        others = service_collectors(options.protocols)
    else:
        chosen, others = collector, tuple(services or ())
    everyone = [c for c in (chosen, *others) if c is not None]
    # A collector that declares no ports may answer anywhere: then nothing can be skipped, nothing is swept.
    sweeping = (
        options.sweep is not None
        and bool(targets)
        and all(declared_ports(c, targets[0], options) is not None for c in everyone)
    )
    events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(max_workers=max(1, options.max_hosts), thread_name_prefix="host")
    sweeper = None

    def deep(target: Target, swept: HostSweep | None) -> None:
        progress.host_started(target)
        future = pool.submit(scan_host, target, identities, options, chosen, others, swept)
        future.add_done_callback(lambda done: events.put((target, done)))

    finished = False
    try:
        if sweeping and options.sweep is not None:
            concurrency, _ = budget(options.sweep.concurrency, options.max_hosts)
            plan = [(t, _sweep_ports(t, everyone, options)) for t in targets]
            probes = sum(len(ports) for _, ports in plan)
            log.info(
                "sweep: %d targets, %d ports to try, %d connections in flight at most",
                len(plan),
                probes,
                min(concurrency, probes),
            )
            sweeper = SweepProcess(plan, options.timeout, concurrency, events.put)
            sweeper.start()
        else:
            for target in targets:
                deep(target, None)
        for _ in range(len(targets)):
            while True:
                event = _next(events)
                if isinstance(event, BaseException):
                    raise event
                if isinstance(event, HostSweep):
                    if event.answered():
                        deep(event.target, event)
                        continue
                    target, result = event.target, unanswered(event.target, event, options, chosen, others)
                else:
                    target, result = event[0], event[1].result()
                    if options.in_flight is not None:
                        options.in_flight.finished(target)
                break
            progress.host_finished(result)
            yield target, result
        finished = True
    finally:
        # Ctrl-C (or a caller that stops early) must not wait for hosts still in flight: queued hosts are
        # dropped and running ones left to their threads, which the command line does not wait for.
        if sweeper is not None:
            sweeper.stop(finished)
            if finished:
                counts = ", ".join(f"{state} {n}" for state, n in sweeper.counts.items() if n)
                log.info("sweep done in %.1f s: %s", sweeper.seconds, counts or "nothing tried")
        pool.shutdown(wait=finished, cancel_futures=not finished)


def _sweep_ports(
    target: Target, collectors: Sequence[Collector | ServiceCollector], options: CollectOptions
) -> tuple[int, ...]:
    """Every port the collectors would try on `target`, each once, in the collectors' order."""
    ports = (declared_ports(c, target, options) or () for c in collectors)
    return tuple(dict.fromkeys(port for declared in ports for port in declared))
