"""Per-host collection, protocol by protocol: resolve, hand each protocol's collector its job, keep the result.

This is the one boundary where a host's failure is recorded: a collector keeps whatever it gathered
before an adapter raised `CollectError`, with the error in one line. Other hosts go on.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Protocol

from shareaudit.collect.crawl import CrawlBounds, MedicalFile
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import HostResult
from shareaudit.plan.identities import Identity, privilege
from shareaudit.plan.targets import Target
from shareaudit.redact import Redactor


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


@dataclass(frozen=True, slots=True)
class HostJob:
    """What a protocol collector is given for one host: where, as whom (least privileged first), how."""

    target: Target
    address: str
    identities: tuple[Identity, ...]
    options: CollectOptions


class Collector(Protocol):
    """One protocol's collection of one host: facts only, never findings; never raises for a host problem.

    A collector keeps what it gathered before a failure and records the failure in the result.
    """

    protocol: str

    def collect(self, job: HostJob) -> HostResult: ...


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


def scan_host(
    target: Target, identities: Sequence[Identity], options: CollectOptions, collector: Collector
) -> HostResult:
    """Everything about one host; never raises for a host problem."""
    started = time.monotonic()
    try:
        address = resolve(target.host, target.port)
    except CollectError as exc:
        return failed(target, exc, time.monotonic() - started)
    ordered = tuple(sorted(identities, key=privilege))
    return collector.collect(HostJob(target, address, ordered, options))


def default_collector() -> Collector:
    """The protocol collectors a scan runs (SMB today)."""
    from shareaudit.collect.smb.collector import SmbCollector

    return SmbCollector()


def scan(
    targets: Sequence[Target],
    identities: Sequence[Identity],
    options: CollectOptions,
    collector: Collector | None = None,
) -> Iterator[tuple[Target, HostResult]]:
    """Scan hosts in parallel (bounded), yielding each target and its result as soon as it is complete."""
    progress = options.progress or NoProgress()
    chosen = collector or default_collector()
    with ThreadPoolExecutor(max_workers=max(1, options.max_hosts), thread_name_prefix="host") as pool:
        futures = {}
        for target in targets:
            progress.host_started(target)
            futures[pool.submit(scan_host, target, identities, options, chosen)] = target
        for future in as_completed(futures):
            result = future.result()
            progress.host_finished(result)
            yield futures[future], result
