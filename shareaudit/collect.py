"""Per-host collection: posture, sessions and shares, one host per worker thread.

This is the one boundary where a host's failure is recorded: an adapter raises CollectError, and the
host's result keeps whatever was gathered before it, with the error in one line. Other hosts go on.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Protocol

from shareaudit.crawl import CrawlBounds, MedicalFile, ShareCrawl, share_selected
from shareaudit.errors import CollectError, FailureKind
from shareaudit.identities import ANONYMOUS, AUDIT_LABEL, GUEST, Identity, IdentityKind
from shareaudit.matrix import measure_host_access
from shareaudit.model import (
    Access,
    Content,
    Enumeration,
    HostResult,
    Logon,
    Posture,
    ServerInfo,
    SessionProbe,
    Share,
)
from shareaudit.redact import Redactor
from shareaudit.smb import access as smb_access
from shareaudit.smb import client, logon, negotiate, rpc
from shareaudit.targets import Target


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Knobs of a scan that are not identities or targets."""

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


@dataclass
class _HostState:
    """What has been learned about a host so far; turned into a HostResult whatever happens."""

    target: Target
    address: str = ""
    reachable: bool = False
    negotiated: negotiate.NegotiatePosture | None = None
    sessions: dict[str, SessionProbe] = field(default_factory=dict)
    server: ServerInfo = field(default_factory=ServerInfo)
    shares: tuple[Share, ...] = ()
    enumeration: list[Enumeration] = field(default_factory=list)
    refused_logons: list[CollectError] = field(default_factory=list)  # named accounts the server refused
    logons: list[Logon] = field(default_factory=list)
    share_sds: dict[str, bytes] = field(default_factory=dict)  # share name -> level-502 SD (admins only)
    matrix: dict[str, Identity] = field(default_factory=dict)  # label -> identity as used on this host

    def posture(self) -> Posture | None:
        if self.negotiated is None:
            return None
        null = self.sessions.get("anonymous")
        named = self.sessions.get("guest_account")
        fallback = self.sessions.get("guest_fallback")
        return Posture(
            smb1=self.negotiated.smb1,
            dialects=self.negotiated.dialects,
            signing_required=self.negotiated.signing_required,
            encryption=self.negotiated.encryption,
            null_session=bool(null and null.accepted and null.ipc),
            guest_account=bool(named and named.accepted),
            guest_fallback=bool(fallback and fallback.accepted and fallback.guest),
            smb1_signing_required=self.negotiated.smb1_signing_required,
            server=self.server,
            sessions=dict(self.sessions),
        )

    def result(self, elapsed: float, error: CollectError | None = None) -> HostResult:
        error = error or (self.refused_logons[0] if self.refused_logons else None)
        return HostResult(
            target=self.target.spec,
            address=self.address or self.target.host,
            port=self.target.port,
            reachable=self.reachable,
            error=str(error) if error else None,
            error_kind=error.kind.value if error else None,
            posture=self.posture(),
            shares=self.shares,
            enumeration=tuple(self.enumeration),
            logons=tuple(self.logons),
            elapsed_s=round(elapsed, 3),
        )


def resolve(host: str, port: int) -> str:
    """The address to connect to (the first one the resolver gives)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CollectError(FailureKind.UNRESOLVED, f"name does not resolve ({exc.strerror})") from exc
    return str(infos[0][4][0])


def _server_info(info: logon.ServerIdentity, server_string: str | None) -> ServerInfo:
    return ServerInfo(
        info.netbios_name, info.netbios_domain, info.dns_name, info.dns_domain, info.os, server_string
    )


def _probe_sessions(state: _HostState, timeout: float) -> None:
    """Null session, named Guest with an empty password, and an unknown user: three different doors."""
    host, port = state.address, state.target.port
    answer, ipc = logon.probe_null_session(host, port, timeout)
    state.sessions["anonymous"] = SessionProbe(answer.accepted, answer.guest, answer.status, ipc, "")
    if answer.server:
        state.server = _server_info(answer.server, None)
    identities = {"guest_account": logon.NAMED_GUEST, "guest_fallback": logon.unknown_user()}
    for key, identity in identities.items():
        probe = logon.probe_logon(host, port, identity, timeout)
        state.sessions[key] = SessionProbe(probe.accepted, probe.guest, probe.status, None, identity.username)


def _enumeration_identities(state: _HostState, identities: Sequence[Identity]) -> list[Identity]:
    """Who to list shares as, best first: named accounts, then the null session, then guest."""
    users = [i for i in identities if i.kind is IdentityKind.USER]
    chosen = list(users)
    if state.sessions["anonymous"].accepted and state.sessions["anonymous"].ipc:
        chosen.append(ANONYMOUS)
    if state.sessions["guest_account"].accepted:
        chosen.append(GUEST)
    return chosen


def _enumerate_as(state: _HostState, identity: Identity, timeout: float) -> list[rpc.ShareEntry] | None:
    """List shares as one identity, at level 502 when allowed; record the attempt."""
    try:
        with logon.session(state.address, state.target.port, identity, timeout) as conn:
            if state.server.server_string is None:
                with contextlib.suppress(CollectError):  # a nicety: enumeration below says whether RPC works
                    state.server = replace(state.server, server_string=rpc.server_comment(conn))
            try:
                entries, level = rpc.enum_shares(conn, 502), 502
            except CollectError as exc:
                if exc.kind is not FailureKind.DENIED:
                    raise
                entries, level = rpc.enum_shares(conn, 1), 1
    except CollectError as exc:
        if exc.kind not in (FailureKind.DENIED, FailureKind.LOGIN):
            raise
        if exc.kind is FailureKind.LOGIN and identity.kind is IdentityKind.USER:
            state.refused_logons.append(exc)  # a wrong password must not pass for a clean scan
        state.enumeration.append(Enumeration(identity.label, False, error=str(exc)))
        return None
    state.enumeration.append(Enumeration(identity.label, True, level, len(entries)))
    for entry in entries:
        if entry.security_descriptor and entry.name not in state.share_sds:
            state.share_sds[entry.name] = entry.security_descriptor
    return entries


# Least privileged first: who a disclosed path was disclosed to is the worst case.
_PRIVILEGE_ORDER = {IdentityKind.ANONYMOUS: 0, IdentityKind.GUEST: 1, IdentityKind.USER: 2}


def _enumerate_shares(state: _HostState, identities: Sequence[Identity], timeout: float) -> None:
    listings: list[tuple[Identity, list[rpc.ShareEntry]]] = []
    for identity in _enumeration_identities(state, identities):
        entries = _enumerate_as(state, identity, timeout)
        if entries is not None:
            listings.append((identity, entries))
    if not listings:
        return
    best = listings[0][1]
    disclosed: dict[str, tuple[str, str]] = {}
    for identity, entries in sorted(listings, key=lambda item: _PRIVILEGE_ORDER[item[0].kind], reverse=True):
        for entry in entries:
            if entry.path:
                disclosed[entry.name] = (entry.path, identity.label)
    state.shares = tuple(
        Share(
            name=e.name,
            type=e.type,
            hidden=e.hidden,
            remark=e.remark,
            special=e.special,
            path=disclosed.get(e.name, (None, None))[0],
            path_disclosed_to=disclosed.get(e.name, (None, None))[1],
        )
        for e in best
    )


def _guest_identity(state: _HostState) -> tuple[Identity, str] | None:
    """How this host lets a guest in, if it does: the named Guest account, else an unknown user."""
    if state.sessions["guest_account"].accepted:
        return GUEST, "guest_account"
    if state.sessions["guest_fallback"].accepted:
        return replace(logon.unknown_user(), label=GUEST.label, kind=IdentityKind.GUEST), "guest_fallback"
    return None


def _measure_access(state: _HostState, identities: Sequence[Identity], options: ScanOptions) -> None:
    """The identity x share matrix, root security descriptors and share ACLs, with names."""
    routes: dict[str, str | None] = {}
    matrix: list[Identity] = []
    refused: dict[str, str] = {}
    for identity in identities:
        if identity.kind is IdentityKind.GUEST:
            guest = _guest_identity(state)
            if guest is None:
                refused[identity.label] = state.sessions["guest_account"].status or "STATUS_LOGON_FAILURE"
                state.logons.append(Logon(identity.label, False, status=refused[identity.label]))
                continue
            identity, routes[identity.label] = guest
        matrix.append(identity)
        state.matrix[identity.label] = identity
    selected = [
        s for s in state.shares if share_selected(s.name, options.include_shares, options.exclude_shares)
    ]
    measured = measure_host_access(
        state.address,
        state.target.port,
        matrix,
        selected,
        state.share_sds,
        routes,
        options.timeout,
        options.active_write_probe,
        # Who may ask LSA for names: the same order as for listing shares.
        _enumeration_identities(state, identities),
    )
    state.logons.extend(measured.logons)
    state.refused_logons.extend(measured.refused_users)
    done = {share.name: share for share in measured.shares}
    refused_access = {label: _refused_access(status) for label, status in refused.items()}
    state.shares = tuple(
        replace(done[s.name], access={**done[s.name].access, **refused_access})
        if s.name in done
        else replace(s, excluded=True)
        for s in state.shares
    )


# Who walks a share: the least privileged identity that can read it, because what matters is what
# *that* identity reaches; the audit account only where nobody else can read.
_CRAWL_ORDER = {IdentityKind.ANONYMOUS: 0, IdentityKind.GUEST: 1, IdentityKind.USER: 2}


def _crawler_for(share: Share, identities: dict[str, Identity]) -> Identity | None:
    readers = [
        identities[label]
        for label, access in share.access.items()
        if label in identities and access.read and access.list
    ]
    if not readers:
        return None
    return min(readers, key=lambda i: (i.label == AUDIT_LABEL, _CRAWL_ORDER[i.kind]))


def _crawl_shares(state: _HostState, options: ScanOptions) -> None:
    """Walk every readable disk share as its least privileged reader, several shares at a time.

    One session per identity per host serves all the shares walked as that identity (smbprotocol
    connections are safe to share between threads; the walker waits for credits).
    """
    sessions = _Sessions(state, options.timeout)
    jobs = []
    for index, share in enumerate(state.shares):
        identity = _crawler_for(share, state.matrix) if share.type == "disk" and not share.excluded else None
        if identity is not None:
            jobs.append((index, share, identity))
    contents: dict[int, Content] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.max_shares), thread_name_prefix="share") as pool:
            futures = {
                pool.submit(_crawl_one, state, share, identity, sessions, options): i
                for i, share, identity in jobs
            }
            for future in as_completed(futures):
                contents[futures[future]] = future.result()
    finally:
        sessions.close()
    state.shares = tuple(
        replace(share, content=contents[i]) if i in contents else share
        for i, share in enumerate(state.shares)
    )


class _Sessions:
    """Data sessions of one host, one per identity, opened on first use and shared by share walks."""

    def __init__(self, state: _HostState, timeout: float) -> None:
        self.state = state
        self.timeout = timeout
        self.open: dict[str, client.SmbSession] = {}
        self.lock = threading.Lock()

    def get(self, identity: Identity) -> client.SmbSession:
        with self.lock:
            if identity.label not in self.open:
                self.open[identity.label] = client.open_session(
                    self.state.address, self.state.target.port, identity, self.timeout
                )
            return self.open[identity.label]

    def drop(self, identity: Identity) -> None:
        """Forget a session whose connection broke; the next share opens a new one."""
        with self.lock:
            dead = self.open.pop(identity.label, None)
        if dead is not None:
            dead.close()

    def close(self) -> None:
        with self.lock:
            for smb in self.open.values():
                smb.close()
            self.open.clear()


def _crawl_one(
    state: _HostState,
    share: Share,
    identity: Identity,
    sessions: _Sessions,
    options: ScanOptions,
) -> Content:
    """One share's walk; a failure is recorded in its Content and the next share goes on."""
    if options.crawl is None or options.redactor is None:
        raise ValueError("crawling needs bounds and a redactor")
    sink = None
    if options.on_medical is not None:
        report, host = options.on_medical, state.target.spec

        def sink(found: MedicalFile) -> None:
            report(host, share.name, found)

    try:
        tree = smb_access.connect_tree(sessions.get(identity), share.name, options.timeout)
        if isinstance(tree, str):
            return Content(identity.label, 0, 0, 0, False, False, 0.0, error=f"tree connect refused: {tree}")
        try:
            progress = options.progress
            walked = None
            if progress is not None:

                def walked(count: int) -> None:
                    progress.entries_walked(state.target, share.name, count)

            walk = ShareCrawl(
                tree,
                identity.label,
                options.crawl,
                options.redactor,
                options.timeout,
                sink,
                on_entries=walked,
            )
            return walk.run()
        finally:
            tree.disconnect()
    except CollectError as exc:
        sessions.drop(identity)  # a broken connection is not reused
        return Content(identity.label, 0, 0, 0, True, False, 0.0, error=str(exc))


def _refused_access(status: str) -> Access:
    return Access(connect=False, status=f"logon refused: {status}")


def scan_host(target: Target, identities: Sequence[Identity], options: ScanOptions) -> HostResult:
    """Everything about one host; never raises for a host problem."""
    started = time.monotonic()
    state = _HostState(target)
    try:
        state.address = resolve(target.host, target.port)
        state.negotiated = negotiate.probe_negotiate(state.address, target.port, options.timeout)
        state.reachable = True
        _probe_sessions(state, options.timeout)
        _enumerate_shares(state, identities, options.timeout)
        _measure_access(state, identities, options)
        if options.crawl is not None:
            _crawl_shares(state, options)
    except CollectError as exc:
        return state.result(time.monotonic() - started, exc)
    return state.result(time.monotonic() - started)


def scan(
    targets: Sequence[Target],
    identities: Sequence[Identity],
    options: ScanOptions,
    progress: Progress | None = None,
) -> Iterator[tuple[Target, HostResult]]:
    """Scan hosts in parallel (bounded), yielding each target and its result as soon as it is complete."""
    progress = progress or options.progress or NoProgress()
    with ThreadPoolExecutor(max_workers=max(1, options.max_hosts), thread_name_prefix="host") as pool:
        futures = {}
        for target in targets:
            progress.host_started(target)
            futures[pool.submit(scan_host, target, identities, options)] = target
        for future in as_completed(futures):
            result = future.result()
            progress.host_finished(result)
            yield futures[future], result
