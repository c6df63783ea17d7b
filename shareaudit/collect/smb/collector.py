"""The SMB collector: posture, sessions, shares, the access matrix and the share walks of one host.

Stages run in order and each adds to `_HostState`; an adapter's `CollectError` stops the host and
everything learned before it is kept in the result. Log lines: stages, and per share walk its counts
(never a name below the share root).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from shareaudit.collect.crawl import MedicalFile, ShareCrawl, share_selected
from shareaudit.collect.hosts import CollectOptions, HostJob
from shareaudit.collect.plan import refused_logon, walker_for
from shareaudit.collect.smb import access as smb_access
from shareaudit.collect.smb import client, logon, negotiate, rpc, samr
from shareaudit.collect.smb.matrix import Actor, measure_host_access
from shareaudit.collect.smb.walk import Walker
from shareaudit.collect.walk import RateLimit
from shareaudit.errors import CollectError, FailureKind, unexpected
from shareaudit.model import (
    AccountDisclosure,
    Content,
    Enumeration,
    HostResult,
    Logon,
    PasswordPolicy,
    Posture,
    ServerInfo,
    SessionProbe,
    Share,
)
from shareaudit.plan.identities import ANONYMOUS, AUDIT_LABEL, GUEST, Identity, IdentityKind, privilege
from shareaudit.plan.targets import Target

log = logging.getLogger(__name__)


@dataclass
class _HostState:
    """What has been learned about a host so far; turned into a HostResult whatever happens."""

    job: HostJob
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
    accounts: AccountDisclosure | None = None  # local accounts over SAMR, as anonymous or guest
    password_policy: PasswordPolicy | None = None
    walked: dict[str, Content] = field(default_factory=dict)  # share name -> its finished walk
    walking: dict[str, ShareCrawl] = field(default_factory=dict)  # share name -> its walk still running

    @property
    def address(self) -> str:
        return self.job.address

    @property
    def port(self) -> int:
        return self.job.target.port

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
            accounts=self.accounts,
            password_policy=self.password_policy,
        )

    def _shares(self, interrupted: bool) -> tuple[Share, ...]:
        """The shares with every walk that finished, and on Ctrl-C what each running walk had found."""
        contents = dict(self.walked)
        if interrupted:
            for name, crawl in list(self.walking.items()):
                if name not in contents and (partial := crawl.snapshot("interrupted (Ctrl-C)")) is not None:
                    contents[name] = partial
        return tuple(
            replace(share, content=contents[share.name]) if share.name in contents else share
            for share in self.shares
        )

    def result(self, elapsed: float, error: CollectError | None = None) -> HostResult:
        error = error or (self.refused_logons[0] if self.refused_logons else None)
        target = self.job.target
        return HostResult(
            target=target.spec,
            address=self.address,
            port=target.port,
            reachable=self.reachable,
            error=str(error) if error else None,
            error_kind=error.kind.value if error else None,
            posture=self.posture(),
            shares=self._shares(error is not None and error.kind is FailureKind.INTERRUPTED),
            enumeration=tuple(self.enumeration),
            logons=tuple(self.logons),
            elapsed_s=round(elapsed, 3),
        )


def _server_info(info: logon.ServerIdentity, server_string: str | None) -> ServerInfo:
    return ServerInfo(
        info.netbios_name, info.netbios_domain, info.dns_name, info.dns_domain, info.os, server_string
    )


def _probe_sessions(state: _HostState, timeout: float) -> None:
    """Null session, named Guest with an empty password, and an unknown user: three different doors."""
    answer, ipc = logon.probe_null_session(state.address, state.port, timeout)
    state.sessions["anonymous"] = SessionProbe(answer.accepted, answer.guest, answer.status, ipc, "")
    if answer.server:
        state.server = _server_info(answer.server, None)
    identities = {"guest_account": logon.NAMED_GUEST, "guest_fallback": logon.unknown_user()}
    for key, identity in identities.items():
        probe = logon.probe_logon(state.address, state.port, identity, timeout)
        state.sessions[key] = SessionProbe(probe.accepted, probe.guest, probe.status, None, identity.username)


def _read_accounts(state: _HostState) -> None:
    """Local accounts and the password policy over SAMR, as the least privileged identity let in.

    Never fails the host: samr.survey records a refusal or a failure as the fact.
    """
    unprivileged = (
        [ANONYMOUS] if state.sessions["anonymous"].accepted and state.sessions["anonymous"].ipc else []
    )
    guest = _guest_actor(state)
    if guest is not None:
        unprivileged.append(guest.identity)
    audit = next(
        (i for i in state.job.identities if i.label == AUDIT_LABEL and i.kind is IdentityKind.USER), None
    )
    state.accounts, state.password_policy = samr.survey(
        state.address, state.port, unprivileged, audit, state.job.options.timeout
    )


def _listing_identities(state: _HostState, identities: Sequence[Identity]) -> list[Identity]:
    """Who may list shares and ask LSA for names, most privileged first: accounts, guest, null session."""
    chosen = [i for i in identities if i.kind is IdentityKind.USER]
    if state.sessions["anonymous"].accepted and state.sessions["anonymous"].ipc:
        chosen.append(ANONYMOUS)
    if state.sessions["guest_account"].accepted:
        chosen.append(GUEST)
    return sorted(chosen, key=privilege, reverse=True)


def _enumerate_as(state: _HostState, identity: Identity, timeout: float) -> list[rpc.ShareEntry] | None:
    """List shares as one identity, at level 502 when allowed; record the attempt."""
    try:
        with logon.session(state.address, state.port, identity, timeout) as conn:
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


def _enumerate_shares(state: _HostState, identities: Sequence[Identity], timeout: float) -> None:
    listings: list[tuple[Identity, list[rpc.ShareEntry]]] = []
    for identity in _listing_identities(state, identities):
        entries = _enumerate_as(state, identity, timeout)
        if entries is not None:
            listings.append((identity, entries))
    if not listings:
        return
    best = listings[0][1]
    # Who a disclosed path was disclosed to is the worst case: the least privileged identity told wins.
    disclosed: dict[str, tuple[str, str]] = {}
    for identity, entries in listings:
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


def _guest_actor(state: _HostState) -> Actor | None:
    """How this host lets a guest in, if it does: the named Guest account, else an unknown user."""
    if state.sessions["guest_account"].accepted:
        return Actor(GUEST, "guest_account")
    if state.sessions["guest_fallback"].accepted:
        unknown = replace(logon.unknown_user(), label=GUEST.label, kind=IdentityKind.GUEST)
        return Actor(unknown, "guest_fallback")
    return None


def _measure_access(state: _HostState) -> None:
    """The identity x share matrix, root security descriptors and share ACLs, with names."""
    options = state.job.options
    actors: list[Actor] = []
    refused: dict[str, str] = {}
    for identity in state.job.identities:
        actor = _guest_actor(state) if identity.kind is IdentityKind.GUEST else Actor(identity)
        if actor is None:
            refused[identity.label] = state.sessions["guest_account"].status or "STATUS_LOGON_FAILURE"
            state.logons.append(refused_logon(identity.label, refused[identity.label])[0])
            continue
        actors.append(actor)
        state.matrix[identity.label] = actor.identity
    selected = [
        s for s in state.shares if share_selected(s.name, options.include_shares, options.exclude_shares)
    ]
    measured = measure_host_access(
        state.address,
        state.port,
        actors,
        selected,
        state.share_sds,
        options.timeout,
        options.active_write_probe,
        _listing_identities(state, state.job.identities),
    )
    state.logons.extend(measured.logons)
    state.refused_logons.extend(measured.refused_users)
    done = {share.name: share for share in measured.shares}
    refused_access = {label: refused_logon(label, status)[1] for label, status in refused.items()}
    state.shares = tuple(
        replace(done[s.name], access={**done[s.name].access, **refused_access})
        if s.name in done
        else replace(s, excluded=True)
        for s in state.shares
    )


class _Sessions:
    """Data sessions of one host, one per identity, opened on first use and shared by share walks.

    smbprotocol connections are safe to share between threads; the walker waits for credits.
    """

    def __init__(self, state: _HostState, timeout: float) -> None:
        self.state = state
        self.timeout = timeout
        self.open: dict[str, client.SmbSession] = {}
        # More sessions per identity, each on its own connection: the other lanes of its walks. An
        # identity whose extra session could not be opened is not tried again (its walks use fewer lanes).
        self.spare: dict[str, list[client.SmbSession]] = {}
        self.spare_refused: set[str] = set()
        self.lock = threading.Lock()

    def get(self, identity: Identity) -> client.SmbSession:
        with self.lock:
            if identity.label not in self.open:
                self.open[identity.label] = client.open_session(
                    self.state.address, self.state.port, identity, self.timeout
                )
            return self.open[identity.label]

    def more(self, identity: Identity, count: int) -> list[client.SmbSession]:
        """Up to `count` more sessions as `identity`, each on a connection of its own."""
        with self.lock:
            spare = self.spare.setdefault(identity.label, [])
            while len(spare) < count and identity.label not in self.spare_refused:
                try:
                    spare.append(
                        client.open_session(self.state.address, self.state.port, identity, self.timeout)
                    )
                except CollectError as exc:
                    log.info("%s: another session as %s: %s", self.state.address, identity.label, exc)
                    self.spare_refused.add(identity.label)
            return spare[:count]

    def drop(self, identity: Identity) -> None:
        """Forget the sessions of a walk whose connection broke; the next share opens new ones."""
        with self.lock:
            dead = [self.open.pop(identity.label, None), *self.spare.pop(identity.label, [])]
        for smb in dead:
            if smb is not None:
                smb.close()

    def close(self) -> None:
        with self.lock:
            for smb in [*self.open.values(), *(s for spare in self.spare.values() for s in spare)]:
                smb.close()
            self.open.clear()
            self.spare.clear()


def _crawl_shares(state: _HostState) -> None:
    """Walk every readable disk share as its least privileged reader, several shares at a time."""
    options = state.job.options
    sessions = _Sessions(state, options.timeout)
    jobs = []
    for index, share in enumerate(state.shares):
        identity = walker_for(share, state.matrix) if share.type == "disk" and not share.excluded else None
        if identity is not None:
            jobs.append((index, share, identity))
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.max_shares), thread_name_prefix="share") as pool:
            futures = {
                pool.submit(_crawl_one, state, share, identity, sessions): share.name
                for _, share, identity in jobs
            }
            for future in as_completed(futures):
                state.walked[futures[future]] = future.result()  # kept at once: Ctrl-C may come next
    finally:
        sessions.close()
    state.shares = state._shares(interrupted=False)


def _crawl_one(state: _HostState, share: Share, identity: Identity, sessions: _Sessions) -> Content:
    """One share's walk; a failure is recorded in its Content and the next share goes on."""
    options = state.job.options
    if options.crawl is None or options.redactor is None:
        raise ValueError("crawling needs bounds and a redactor")
    target = state.job.target
    sink = None
    if options.on_medical is not None:
        report = options.on_medical

        def sink(found: MedicalFile) -> None:
            report(target.spec, share.name, found)

    walked = None
    if options.progress is not None:
        progress = options.progress

        def walked(count: int) -> None:
            progress.entries_walked(target, share.name, count)

    where = f"{state.address}: share {share.name} as {identity.label}"
    walker = None
    try:
        tree = smb_access.connect_tree(sessions.get(identity), share.name, options.timeout)
        if isinstance(tree, str):
            return Content(identity.label, 0, 0, 0, False, False, 0.0, error=f"tree connect refused: {tree}")
        bounds = options.crawl
        more = _more_trees(sessions, identity, share.name, options.timeout, bounds.connections - 1)
        try:
            rate = RateLimit(bounds.rate)
            walker = Walker(tree, rate, options.timeout, bounds.in_flight, more)
            crawl = ShareCrawl(
                walker, identity.label, bounds, options.redactor, sink, on_entries=walked, rate_limit=rate
            )
            state.walking[share.name] = crawl
            content = crawl.run()
        finally:
            state.walking.pop(share.name, None)
            for connected in (tree, *more):
                connected.disconnect()
    except CollectError as exc:
        log.info("%s: walk failed: %s", where, exc)
        _log_walker(where, walker)
        sessions.drop(identity)  # a broken connection is not reused
        return Content(identity.label, 0, 0, 0, True, False, 0.0, error=str(exc))
    if content.error:  # the walk failed part-way (kept in `content`): its connection is not reused
        log.info("%s: %s", where, content.error)
        sessions.drop(identity)
    log.info(
        "%s: walked %d entries (%d directories, %d refused; %d files, %d sniffed), %d medical%s in %.1f s",
        where,
        content.entries_seen,
        content.dirs_seen,
        content.denied_dirs,
        content.files_seen,
        content.sniffed,
        sum(m.count for m in content.medical.values()),
        f", stopped by {', '.join(content.bounds_hit)}" if content.bounds_hit else "",
        content.elapsed_s,
    )
    _log_walker(where, walker)
    return content


def _more_trees(
    sessions: _Sessions, identity: Identity, share: str, timeout: float, count: int
) -> list[smb_access.Tree]:
    """The share connected on up to `count` more connections as the same identity; those refused are left out."""
    trees = []
    for session in sessions.more(identity, count) if count > 0 else ():
        try:
            tree = smb_access.connect_tree(session, share, timeout)
        except CollectError as exc:
            log.info("%s: share %s on another connection: %s", identity.label, share, exc)
            continue
        if not isinstance(tree, str):
            trees.append(tree)
    return trees


def _log_walker(where: str, walker: Walker | None) -> None:
    """The walk's protocol counts: compounds sent and refusals by status (never the paths refused)."""
    if walker is not None:
        refused = ", ".join(f"{status} x{count}" for status, count in sorted(walker.refusals.items()))
        log.debug("%s: %d compounds sent; refused: %s", where, walker.compounds, refused or "none")


class SmbCollector:
    """SMB (TCP 445): posture, guest doors, shares, the access matrix, and the share walks."""

    protocol = "smb"

    def ports(self, target: Target, options: CollectOptions) -> tuple[int, ...]:
        """The target's own port (445 unless the target names another)."""
        return (target.port,)

    def collect(self, job: HostJob) -> HostResult:
        """Everything SMB says about one host; a failure keeps what was learned before it."""
        started = time.monotonic()
        state = _HostState(job)
        in_flight = job.options.in_flight
        if in_flight is not None:  # on Ctrl-C, what this host has learned so far is kept, marked interrupted
            interrupted = CollectError(
                FailureKind.INTERRUPTED, "interrupted (Ctrl-C) while it was being scanned"
            )
            in_flight.started(job.target, lambda: state.result(time.monotonic() - started, interrupted))
        where = f"{job.address}:{job.target.port}"
        log.info("%s: scanning %s", where, job.target.spec)
        try:
            state.negotiated = negotiate.probe_negotiate(job.address, job.target.port, job.options.timeout)
            state.reachable = True
            log.info("%s: probing the null session, the Guest account and an unknown user", where)
            _probe_sessions(state, job.options.timeout)
            log.info("%s: reading local accounts and the password policy (SAMR)", where)
            _read_accounts(state)
            log.info("%s: enumerating shares", where)
            _enumerate_shares(state, job.identities, job.options.timeout)
            log.info("%s: %d shares; measuring access", where, len(state.shares))
            _measure_access(state)
            if job.options.crawl is not None:
                log.info("%s: walking the readable disk shares", where)
                _crawl_shares(state)
        except CollectError as exc:
            log.info("%s: stopped (%s): %s", where, exc.kind, exc)
            return state.result(time.monotonic() - started, exc)
        except (
            Exception
        ) as exc:  # a library choking on an answer, or a bug: this host stops, the others go on
            log.debug("%s: unexpected failure", where, exc_info=True)
            return state.result(time.monotonic() - started, unexpected(exc))
        log.info("%s: done in %.1f s", where, time.monotonic() - started)
        return state.result(time.monotonic() - started)
