"""The discovery sweep (shareaudit/collect/sweep.py) and its wiring (collect.hosts.scan) on loopback.

Silence (a range that drops SYNs) needs a network namespace: tests/test_sweep_lab.py. Here: open and
refused ports, names that do not resolve, the descriptor budget, and what the deep scans are given.
"""

from __future__ import annotations

import errno
import queue
import socket
import time
from collections.abc import Iterator

import pytest

from shareaudit.collect import sweep
from shareaudit.collect.hosts import CollectOptions, HostJob, scan
from shareaudit.collect.sweep import HostSweep, PortState, PortVerdict, Sweeper, SweepOptions
from shareaudit.errors import FailureKind
from shareaudit.model import HostResult, Service
from shareaudit.plan.targets import Target


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def _closed_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: a connect is refused
    return port


def _sweep(hosts: list[tuple[Target, tuple[int, ...]]], high: bool = True) -> list[HostSweep]:
    delivered: queue.SimpleQueue[HostSweep | BaseException] = queue.SimpleQueue()
    sweeper = Sweeper(hosts, 5.0, 64, delivered.put, high_descriptors=high)
    sweeper.start()
    found = []
    for _ in hosts:
        item = delivered.get(timeout=30)
        assert not isinstance(item, BaseException), item
        found.append(item)
    sweeper.stop()
    assert delivered.empty()  # each host delivered once
    return found


def test_open_refused_unresolved_and_portless_hosts(listener: int) -> None:
    closed = _closed_port()
    hosts = [
        (Target("lo", "127.0.0.1"), (closed, listener)),
        (Target("ghost", "no-such-host.invalid"), (445, 104)),
        (Target("name", "localhost"), (listener,)),
        (Target("none", "127.0.0.1"), ()),
    ]
    found = {h.target.spec: h for h in _sweep(hosts)}
    lo = found["lo"]
    assert [(v.port, v.state) for v in lo.verdicts] == [
        (closed, PortState.REFUSED),
        (listener, PortState.OPEN),
    ]
    assert lo.answered() and lo.open_ports() == {listener} and lo.address == "127.0.0.1"
    ghost = found["ghost"]
    assert ghost.error is not None and ghost.error.kind is FailureKind.UNRESOLVED and ghost.verdicts == ()
    assert found["name"].address in ("127.0.0.1", "::1") and found["name"].answered()
    assert found["none"].verdicts == () and not found["none"].answered()


def test_sweep_sockets_stay_above_the_select_limit(listener: int) -> None:
    seen: list[int] = []

    class Watching(Sweeper):
        def _socket(self, family: socket.AddressFamily) -> socket.socket:
            sock = super()._socket(family)
            seen.append(sock.fileno())
            return sock

    delivered: queue.SimpleQueue[HostSweep | BaseException] = queue.SimpleQueue()
    limit, _ = sweep.budget(0, 16)  # raises the soft limit: room above 1024 on this machine
    watching = Watching([(Target("lo", "127.0.0.1"), (listener, _closed_port()))], 5.0, 8, delivered.put)
    watching.start()
    assert isinstance(delivered.get(timeout=30), HostSweep)
    watching.stop()
    assert limit > 0 and len(seen) == 2 and min(seen) >= sweep.SELECT_LIMIT


def test_the_budget_follows_the_descriptor_limit() -> None:
    assert sweep.budget(0, 16, limit=20_000) == (20_000 - 1024 - sweep.BASE_RESERVE, True)
    assert sweep.budget(500, 16, limit=20_000) == (500, True)  # asked for less: granted
    assert sweep.budget(10**6, 16, limit=20_000)[0] == 20_000 - 1024 - sweep.BASE_RESERVE  # never more
    low, above = sweep.budget(0, 16, limit=1024)  # no room above 1024: share the low numbers, keep a reserve
    assert not above and low == 1024 - sweep.BASE_RESERVE - 16 * sweep.PER_HOST_RESERVE
    assert sweep.budget(0, 1024, limit=256) == (sweep.MIN_CONCURRENCY, False)


def test_failed_connects_in_an_admins_words() -> None:
    assert sweep.classify(TimeoutError()) == (PortState.SILENT, "")
    assert sweep.classify(ConnectionRefusedError()) == (PortState.REFUSED, "")
    assert sweep.classify(OSError(errno.ETIMEDOUT, "Connection timed out")) == (PortState.SILENT, "")
    assert sweep.classify(OSError(errno.EHOSTUNREACH, "No route to host")) == (
        PortState.UNREACHABLE,
        "No route to host",
    )
    silent = PortVerdict(445, PortState.SILENT, 5.0).error(5.0)
    assert silent is not None and silent.kind is FailureKind.TIMEOUT
    assert (
        str(silent)
        == "silent: no answer to a connection within 5 s (no host there, or a firewall drops the connection)"
    )
    refused = PortVerdict(445, PortState.REFUSED, 0.0).error(5.0)
    assert refused is not None and refused.kind is FailureKind.REFUSED
    assert PortVerdict(445, PortState.OPEN, 0.0).error(5.0) is None


class Smb:
    """SMB that records whom it was asked to scan and with which open ports."""

    protocol = "smb"

    def __init__(self) -> None:
        self.jobs: list[HostJob] = []

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        return (target.port,)

    def collect(self, job: HostJob) -> HostResult:
        self.jobs.append(job)
        return HostResult(job.target.spec, job.address, job.target.port, reachable=True)


class Door:
    """A protocol beside SMB on two ports; it probes only the ports the sweep found open."""

    protocol = "door"

    def __init__(self, ports: tuple[int, ...]) -> None:
        self.declared = ports
        self.jobs: list[HostJob] = []

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        return self.declared

    def collect(self, job: HostJob) -> tuple[Service, ...]:
        self.jobs.append(job)
        tried = [p for p in self.declared if job.open_ports is None or p in job.open_ports]
        return tuple(Service("door", port, True) for port in tried)


def test_only_hosts_that_answered_are_scanned_deeply_and_each_door_on_its_open_ports(listener: int) -> None:
    closed, other = _closed_port(), _closed_port()
    smb, door = Smb(), Door((closed, listener))
    targets = [Target("answers", "127.0.0.1", other), Target("nothing", "127.0.0.2", other)]
    options = CollectOptions(timeout=5.0, sweep=SweepOptions(), protocols=())
    # 127.0.0.2: nothing listens on any loopback port there but the listener's (bound to 127.0.0.1).
    results = dict((t.spec, r) for t, r in scan(targets, (), options, smb, [door]))
    assert [j.target.spec for j in door.jobs] == ["answers"]
    assert door.jobs[0].open_ports == {listener}
    assert smb.jobs == []  # SMB's own port was closed everywhere: never collected
    answers = results["answers"]
    # SMB absent (refused) while the door answered: not a failed target (collect.hosts.merge).
    assert answers.error is None and answers.reachable
    assert [(s.protocol, s.port, s.reachable, s.error_kind) for s in answers.services] == [
        ("smb", other, False, "refused"),
        ("door", closed, False, "refused"),  # from the sweep's verdict, in the declared order
        ("door", listener, True, None),
    ]
    nothing = results["nothing"]
    assert (nothing.reachable, nothing.error_kind) == (False, "refused")
    assert nothing.error == "connection refused (nothing listens on the port)"
    assert [(s.port, s.error_kind) for s in nothing.services] == [(closed, "refused"), (listener, "refused")]


def test_a_collector_that_declares_no_ports_turns_the_sweep_off() -> None:
    class Legacy:
        protocol = "smb"

        def __init__(self) -> None:
            self.seen: list[HostJob] = []

        def collect(self, job: HostJob) -> HostResult:
            self.seen.append(job)
            return HostResult(job.target.spec, job.address, job.target.port, reachable=True)

    legacy = Legacy()
    options = CollectOptions(sweep=SweepOptions(), protocols=())
    targets = [Target("a", "127.0.0.1", _closed_port())]
    assert [r.reachable for _, r in scan(targets, (), options, legacy, [])] == [True]  # type: ignore[arg-type]
    assert len(legacy.seen) == 1 and legacy.seen[0].open_ports is None


def test_a_connect_seen_only_at_its_deadline_is_judged_by_the_kernel(listener: int) -> None:
    """A busy loop may process a finished connect in the same turn as its timeout: not silence."""
    for port, state in ((listener, PortState.OPEN), (_closed_port(), PortState.REFUSED)):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)  # the kernel has its answer; nobody has looked yet
        try:
            assert sweep._settled(sock)[0] is state
        finally:
            sock.close()
