"""The FTP collector: one `Service` per FTP port of a host, with its posture, logins, trees and walks.

Per port, in order, each step only when the one before allows it:
1. first contact: TCP and the greeting, in TLS from the first byte on an implicit-FTPS port (990), or on
   any port that greets nobody in plain text; then FEAT, SYST and AUTH TLS (the certificate is read,
   never trusted) on that connection;
2. plain-text logins: on a plain port, a second connection sends USER with a random name before any TLS;
   331 means the server would take a password in clear text (no password is sent);
3. logins, least privileged first: anonymous (`anonymous`, then `ftp`, with an e-mail address as the
   password), then each named identity. A named identity's password goes inside TLS whenever the server
   offers it; where it does not, a service account logs in as its device does, but the audit account's
   password is never sent in clear (the login is recorded as not tried);
4. each accepted login lists the folder it lands in; logins that land in the same tree (same folder, same
   entries) are walked once, by the least privileged of them, with the crawl's bounds (crawl.py over
   walk.FtpLister); the listings' perm facts (or LIST mode bits) say which folders take new files;
5. with --active-write-probe, a unique empty file is stored in each such folder and deleted at once.
Nothing else is ever written. Ports are probed in parallel.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shareaudit.collect.crawl import MedicalFile, ShareCrawl
from shareaudit.collect.ftp import judge
from shareaudit.collect.ftp.certificate import certificate_facts
from shareaudit.collect.ftp.client import FtpClient, Reply
from shareaudit.collect.ftp.options import (
    ANONYMOUS_PASSWORD,
    ANONYMOUS_USERS,
    MAX_PROBED_FOLDERS,
)
from shareaudit.collect.ftp.walk import FtpLister
from shareaudit.collect.hosts import HostJob, port_service
from shareaudit.collect.walk import RateLimit
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import (
    Basis,
    Content,
    FtpCertificate,
    FtpFacts,
    FtpFolder,
    FtpLogin,
    FtpTree,
    Service,
    WriteProbe,
)
from shareaudit.plan.identities import AUDIT_LABEL, Identity, IdentityKind, Secret

log = logging.getLogger(__name__)

PROTOCOL = "ftp"
MAX_PARALLEL_PORTS = 4
MAX_LANDING = 50  # entries of the landing folder kept per tree (for the report and the device check)
# Connections of one identity that a walk lists and reads over at once: FTP answers one request at a time
# per connection, so a walk is bound by round trips (bench/ftp_bench.py).
WALK_SESSIONS = 4
IMPLICIT, PLAIN = "implicit_tls", "plain"


def share_name(port: int) -> str:
    """How findings, the inventory and progress name an FTP door: 'ftp:21'."""
    return f"{PROTOCOL}:{port}"


@dataclass
class _Session:
    """One identity's accepted login, kept open for its survey, walk and probes."""

    identity: Identity
    login: FtpLogin
    client: FtpClient
    lister: FtpLister
    root: str | None
    key: tuple[str, tuple[str, ...]] | None = None  # (landing folder, its entries): the tree it lands in
    listed: bool = False
    status: str | None = None
    landing: tuple[str, ...] = ()  # the landing folder's entries (folders with a trailing '/')
    content: Content | None = None
    same_as: str | None = None
    probes: dict[str, WriteProbe] = field(default_factory=dict)  # folder path -> probe


@dataclass
class _Port:
    """What has been learned about one port so far; a Service whatever happens."""

    job: HostJob
    port: int
    transport: str = PLAIN
    greeting: Reply | None = None
    features: tuple[str, ...] = ()
    system: str | None = None
    auth_tls: bool | None = None
    tls_version: str | None = None
    tls_error: str | None = None
    certificate: FtpCertificate | None = None
    plaintext: bool | None = None
    plaintext_reply: str | None = None
    logins: list[FtpLogin] = field(default_factory=list)
    sessions: list[_Session] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.job.address

    @property
    def timeout(self) -> float:
        return self.job.options.timeout

    @property
    def mlsd(self) -> bool:
        return judge.has_feature(self.features, "MLST")

    def connect(self) -> FtpClient:
        return FtpClient(self.address, self.port, self.timeout, implicit_tls=self.transport == IMPLICIT)

    def redact(self, path: str) -> str:
        redactor = self.job.options.redactor
        return redactor.path(path, None) if redactor is not None else path

    def facts(self) -> FtpFacts:
        banner = self.greeting.line if self.greeting else None
        product, version = judge.software([t for t in (banner, self.system) if t])
        plaintext = self.plaintext
        if any(login.accepted and not login.tls and login.identity != "anonymous" for login in self.logins):
            plaintext = True  # a password was taken in clear text: decided, whatever USER said
        return FtpFacts(
            transport=self.transport,
            banner=banner,
            software=product,
            version=version,
            system=self.system,
            features=self.features,
            mlsd=self.mlsd,
            auth_tls=self.auth_tls,
            tls_version=self.tls_version,
            tls_error=self.tls_error,
            plaintext_login=plaintext,
            plaintext_reply=self.plaintext_reply,
            certificate=self.certificate,
            logins=tuple(self.logins),
            trees=tuple(self._tree(s) for s in self.sessions),
        )

    def _tree(self, session: _Session) -> FtpTree:
        rights = session.lister.rights
        folders = []
        for folder in rights.folders.values():
            probe = session.probes.get(folder.path)
            basis, writable = folder.basis, True
            if probe is not None:
                basis, writable = Basis.MEASURED, probe.created
            folders.append(
                FtpFolder(self.redact(folder.path), basis, writable, folder.perm, folder.mode, probe)
            )
        for path, probe in session.probes.items():  # folders probed without a claim (bare listings)
            if path not in rights.folders:
                folders.append(FtpFolder(self.redact(path), Basis.MEASURED, probe.created, probe=probe))
        if rights.read_worked:
            read, read_basis = True, Basis.MEASURED
        elif rights.retrievable:
            read, read_basis = True, Basis.GRANTED
        elif rights.files_listed and not session.lister.mlsd:
            read, read_basis = True, Basis.UNCERTAIN
        else:
            read, read_basis = False, None
        return FtpTree(
            identity=session.identity.label,
            root=self.redact(session.root or ""),
            listing="mlsd" if session.lister.mlsd else "list",
            list=session.listed,
            status=self.redact(session.status) if session.status else None,
            landing=tuple(self.redact(name) for name in session.landing),
            read=read,
            read_basis=read_basis,
            folders=tuple(folders),
            folders_checked=rights.folders_checked,
            content=session.content,
            same_as=session.same_as,
        )


class FtpCollector:
    """The FTP door of a host: every port of `job.options.ftp`, in parallel; never raises."""

    protocol = PROTOCOL

    def collect(self, job: HostJob) -> tuple[Service, ...]:
        # After a sweep, only the ports that accepted a connection (collect.hosts reports the others).
        ports = tuple(p for p in job.options.ftp.ports if job.open_ports is None or p in job.open_ports)
        if not ports:
            return ()
        with ThreadPoolExecutor(
            max_workers=min(len(ports), MAX_PARALLEL_PORTS), thread_name_prefix="ftp"
        ) as pool:
            return tuple(pool.map(lambda port: probe_port(job, port), ports))


def probe_port(job: HostJob, port: int) -> Service:
    """Everything about one FTP port; what was learned before a failure is kept."""
    started = time.monotonic()
    state = _Port(job, port)

    def service(reachable: bool, error: CollectError | None = None) -> Service:
        return port_service(
            PROTOCOL, port, started, reachable, error, ftp=state.facts() if reachable else None
        )

    try:
        first = _first_contact(state)
    except CollectError as exc:
        log.info("%s:%d: no FTP: %s", job.address, port, exc)
        return service(False, exc)
    try:
        with first:
            _posture(state, first)
        if state.greeting is not None and state.greeting.code == 421:
            return service(
                True, CollectError(FailureKind.DENIED, f"the server refuses service: {state.greeting.line}")
            )
        if state.transport == PLAIN:
            _plaintext_probe(state)
        _logins(state)
        _walks(state)
        if job.options.active_write_probe:
            _write_probes(state)
    except CollectError as exc:
        log.info("%s:%d: FTP probe stopped: %s", job.address, port, exc)
        return service(True, exc)
    finally:
        for session in state.sessions:
            session.client.close()
    error = _walk_error(state)
    log.info(
        "%s:%d: FTP (%s) over %s; %d of %d logins accepted",
        job.address,
        port,
        state.greeting.line if state.greeting else "?",
        state.transport,
        sum(login.accepted for login in state.logins),
        len(state.logins),
    )
    return service(True, error)


def _first_contact(state: _Port) -> FtpClient:
    """The greeting: TLS first on an implicit port; a port that greets nobody in plain text gets TLS tried."""
    implicit = state.port in state.job.options.ftp.implicit_tls_ports
    if implicit:
        try:
            state.transport = IMPLICIT
            return state.connect()
        except CollectError as exc:
            if exc.kind in (FailureKind.REFUSED, FailureKind.UNREACHABLE):
                raise
            log.info("%s:%d: no implicit TLS (%s); trying plain FTP", state.address, state.port, exc)
    state.transport = PLAIN
    try:
        return state.connect()
    except CollectError as exc:
        if exc.kind is FailureKind.PROTOCOL:
            raise CollectError(FailureKind.PROTOCOL, "something answers on this port, but not FTP") from None
        if exc.kind is not FailureKind.TIMEOUT or implicit:
            raise
        silent = exc
    try:  # silent in plain text: implicit FTPS on a port of its own?
        state.transport = IMPLICIT
        return state.connect()
    except CollectError:
        state.transport = PLAIN
        raise CollectError(
            FailureKind.TIMEOUT, f"connected, but no FTP greeting within {state.timeout:g} s"
        ) from silent


def _posture(state: _Port, client: FtpClient) -> None:
    """Greeting, FEAT, SYST; on a plain port AUTH TLS and the certificate; on an implicit one the certificate."""
    state.greeting = client.greeting
    if client.greeting.code == 421:
        return
    feat = client.command("FEAT")
    if feat.code == 211:
        state.features = judge.parse_features(feat.text)
    syst = client.command("SYST")
    if syst.code == 215:
        state.system = syst.line[4:].strip()[:100] or None
    if state.transport == PLAIN:
        try:
            state.auth_tls = client.auth_tls().code == 234
        except CollectError as exc:
            state.auth_tls, state.tls_error = True, str(exc)
            client.dead = True
            return
    if client.tls:
        state.tls_version = client.tls_version
        if client.certificate:
            state.certificate = certificate_facts(client.certificate, datetime.now(UTC))


def _plaintext_probe(state: _Port) -> None:
    """USER with a random name before any TLS: would the server take a password in clear text?"""
    name = f"shareaudit-{secrets.token_hex(4)}"
    with state.connect() as client:
        reply = client.command(f"USER {name}")
    state.plaintext_reply = reply.line
    state.plaintext = judge.password_wanted(reply.code)


def _over_tls(state: _Port, identity: Identity) -> bool | None:
    """Whether this identity logs in inside TLS: True, False (plain text), or None (not at all)."""
    if state.transport == IMPLICIT:
        return True
    if identity.kind is IdentityKind.ANONYMOUS:
        return state.plaintext is False and bool(state.auth_tls)  # plain, unless only TLS is let in
    if state.auth_tls and state.tls_error is None:
        return True
    return None if identity.label == AUDIT_LABEL else False


def _logins(state: _Port) -> None:
    for identity in state.job.identities:
        if identity.kind is IdentityKind.GUEST:
            continue  # FTP has no guest session of its own: anonymous is its open door
        tls = _over_tls(state, identity)
        if tls is None:
            state.logins.append(
                FtpLogin(
                    identity.label,
                    identity.qualified_name,
                    False,
                    False,
                    "not sent: the server offers no TLS, and the audit account's password never goes in clear text",
                    tried=False,
                )
            )
            continue
        session = _login(state, identity, tls)
        if session is not None:
            state.sessions.append(session)
    for session in state.sessions:
        _survey(state, session)


def _login(state: _Port, identity: Identity, tls: bool) -> _Session | None:
    """Log one identity in on a connection of its own; the session when accepted."""
    anonymous = identity.kind is IdentityKind.ANONYMOUS
    names = ANONYMOUS_USERS if anonymous else (identity.qualified_name,)
    secret = Secret(ANONYMOUS_PASSWORD) if anonymous else identity.secret
    client = state.connect()
    try:
        if tls and not client.tls:
            answer = client.auth_tls()
            if answer.code != 234:
                state.logins.append(
                    FtpLogin(identity.label, names[0], False, False, f"AUTH TLS: {answer.line}")
                )
                client.close()
                return None
        reply = Reply(0, "")
        for name in names:
            reply = client.login(name, secret)
            if reply.code in (230, 202):
                return _accepted(state, identity, client, name, secret)
        state.logins.append(FtpLogin(identity.label, names[-1], False, client.tls, reply.line))
        log.info("%s:%d: %s refused: %s", state.address, state.port, identity.label, reply.line)
    except CollectError:
        client.close()
        raise
    client.close()
    return None


def _accepted(state: _Port, identity: Identity, client: FtpClient, name: str, secret: Secret) -> _Session:
    """A login that worked: its data connections protected, binary mode, where it landed, its lister."""
    login = FtpLogin(identity.label, name, True, client.tls)
    _ready(client)
    root = client.pwd()
    tls = client.tls

    def another() -> FtpClient:
        """One more connection logged in as the same name, for the walk (closed after it)."""
        extra = state.connect()
        try:
            if tls and not extra.tls and extra.auth_tls().code != 234:
                raise CollectError(FailureKind.LOGIN, "AUTH TLS refused on another connection")
            if extra.login(name, secret).code not in (230, 202):
                raise CollectError(FailureKind.LOGIN, "another login refused")
            _ready(extra)
        except CollectError:
            extra.close()
            raise
        return extra

    crawl = state.job.options.crawl
    lister = FtpLister(
        client,
        root,
        state.mlsd,
        RateLimit(crawl.rate if crawl else 0),
        name,
        identity.kind is IdentityKind.ANONYMOUS,
        datetime.now(UTC),
        connect=another,
        sessions=WALK_SESSIONS,
    )
    state.logins.append(login)
    log.info("%s:%d: %s logged in%s", state.address, state.port, identity.label, " over TLS" if tls else "")
    return _Session(identity, login, client, lister, root)


def _ready(client: FtpClient) -> None:
    client.protect()
    client.command("TYPE I")


def _survey(state: _Port, session: _Session) -> None:
    """The landing folder's listing: whether it lists, which tree it is."""
    listing = session.lister.landing()
    session.listed = listing.status is None
    session.status = listing.status
    if session.listed:
        names = sorted(e.name + ("/" if e.is_dir else "") for e in listing.entries)
        session.key = (session.root or "", tuple(names))
        session.landing = tuple(names[:MAX_LANDING])


def _walks(state: _Port) -> None:
    """Walk each tree once, as the least privileged identity that lands in it."""
    options = state.job.options
    walkers: dict[tuple[str, tuple[str, ...]], _Session] = {}
    for session in state.sessions:  # least privileged first (the job's order)
        if session.key is None:
            continue
        first = walkers.setdefault(session.key, session)
        if first is not session:
            session.same_as = first.identity.label
    if options.crawl is None or options.redactor is None:
        return
    for session in walkers.values():
        session.content = _walk(state, session)


def _walk(state: _Port, session: _Session) -> Content:
    options = state.job.options
    assert options.crawl is not None and options.redactor is not None
    target = state.job.target
    share = share_name(state.port)
    sink = None
    if options.on_medical is not None:
        report = options.on_medical

        def sink(found: MedicalFile) -> None:
            report(target.spec, share, found)

    walked = None
    if options.progress is not None:
        progress = options.progress

        def walked(count: int) -> None:
            progress.entries_walked(target, share, count)

    crawl = ShareCrawl(session.lister, session.identity.label, options.crawl, options.redactor, sink, walked)
    try:
        content = crawl.run()
    finally:
        session.lister.close_extra()
    log.info(
        "%s:%d: walked as %s: %d entries (%d folders, %d refused; %d files, %d sniffed), %d medical%s in %.1f s",
        state.address,
        state.port,
        session.identity.label,
        content.entries_seen,
        content.dirs_seen,
        content.denied_dirs,
        content.files_seen,
        content.sniffed,
        sum(m.count for m in content.medical.values()),
        f", stopped by {', '.join(content.bounds_hit)}" if content.bounds_hit else "",
        content.elapsed_s,
    )
    return content


def _walk_error(state: _Port) -> CollectError | None:
    """A walk the server cut short: the port was reached, but not everything was learned."""
    failed = [(s.identity.label, s.content.error) for s in state.sessions if s.content and s.content.error]
    if not failed:
        return None
    label, error = failed[0]
    return CollectError(FailureKind.TIMEOUT, f"the walk as {label} failed: {error}")


# --- the opt-in write probe ------------------------------------------------------------------------------


def _probe_candidates(session: _Session) -> list[str]:
    rights = session.lister.rights
    candidates = sorted(rights.folders, key=lambda path: (path.count("/"), path))
    if not candidates and rights.bare and session.listed:
        candidates = [""]  # a listing that tells nothing about rights: try where the login lands
    return candidates[:MAX_PROBED_FOLDERS]


def _write_probes(state: _Port) -> None:
    for session in state.sessions:
        if session.client.dead:
            continue
        for path in _probe_candidates(session):
            session.probes[path] = _probe(state, session, path)


def _probe(state: _Port, session: _Session, folder: str) -> WriteProbe:
    """Store a unique empty file in `folder` and delete it; whether it is gone is checked (DELE, then SIZE)."""
    client, lister = session.client, session.lister
    name = f"shareaudit-probe-{uuid.uuid4().hex[:12]}.tmp"
    relative = f"{folder}/{name}" if folder else name
    path = lister.server_path(relative) or name
    where = state.redact(relative)
    stored = client.store_empty(path)
    if not stored.ok:
        log.info(
            "%s:%d: write probe as %s refused (%d)",
            state.address,
            state.port,
            session.identity.label,
            stored.code,
        )
        return WriteProbe(where, False, True, state.redact(stored.line))
    deleted = client.command(f"DELE {path}")
    # Gone when DELE worked and SIZE finds no size (550 may also mean SIZE is refused there, so a refused
    # DELE alone decides "still there").
    gone = deleted.ok and client.command(f"SIZE {path}").code != 213
    note = None if gone else f"DELE answered {state.redact(deleted.line)}; the file may still be there"
    log.info(
        "%s:%d: write probe as %s: stored%s",
        state.address,
        state.port,
        session.identity.label,
        ", deleted" if gone else ", NOT deleted",
    )
    return WriteProbe(where, True, gone, None if gone else state.redact(deleted.line), note)
