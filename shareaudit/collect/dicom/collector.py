"""The DICOM collector: one `Service` per port of a host, with its association posture and reach.

Per port, in order, each step only when the one before allows it:
1. first contact (first_contact.py): TCP, one A-ASSOCIATE-RQ in plain text, then in TLS when a plain
   request is dropped; a dead port costs one connect timeout, a silent one one more, and ends here;
2. association posture: a random calling AE title to a random called AE title, then to the titles given
   with --dicom-ae and the common defaults until one is accepted (bounded: one attempt per title);
3. on the accepted association: C-ECHO and a counting study-level C-FIND (only counts are kept);
4. retrieval, decided without retrieving: a C-GET with no storage context and a C-MOVE to a random
   destination AE title, each on its own association (judge.retrieve_probe says what the answer means).
Nothing is ever stored, even with --active-write-probe (docs/design.md). Ports are probed in parallel.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shareaudit.collect.dicom import judge
from shareaudit.collect.dicom.association import (
    CONTEXTS,
    FindAnswer,
    Peer,
    Refusal,
    Session,
    StudyRow,
    associate,
    nothing_uid,
    random_ae,
)
from shareaudit.collect.dicom.first_contact import Answer, Contact, contact
from shareaudit.collect.dicom.options import DicomOptions
from shareaudit.collect.hosts import HostJob, port_service
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import AssociationAttempt, DicomFacts, RetrieveProbe, Service, StudyReach

log = logging.getLogger(__name__)

PROTOCOL = "dicom"
MAX_PARALLEL_PORTS = 8
# Association attempts that end in an abort (no A-ASSOCIATE-RJ) before the posture is given up: a server
# that drops or stalls associations would otherwise cost a timeout per called AE title.
MAX_ABORTED = 2
_CALLING_REFUSED = "calling ae title not recognised"
_CALLED_REFUSED = "called ae title not recognised"


@dataclass
class _Port:
    """What has been learned about one port so far; a Service whatever happens."""

    address: str
    port: int
    transport: str = "plain"
    tls_version: str | None = None
    handshake_refused: bool = False
    attempts: list[AssociationAttempt] = field(default_factory=list)
    called_ae: str | None = None
    implementation: tuple[str | None, str | None] = (None, None)
    echo: bool | None = None
    contexts: dict[str, bool] = field(default_factory=dict)
    query: StudyReach | None = None
    rows: tuple[StudyRow, ...] = ()
    get: RetrieveProbe | None = None
    move: RetrieveProbe | None = None

    def any_calling(self) -> bool | None:
        """Accepted from a random calling AE: True; refused for the calling AE: False; else undecided."""
        if self.called_ae is not None:
            return True
        if any(a.reason and _CALLING_REFUSED in a.reason for a in self.attempts):
            return False
        return None

    def any_called(self) -> bool | None:
        """The random called AE title was accepted: True; refused as unknown: False; else undecided."""
        first = next((a for a in self.attempts if a.random_called), None)
        if first is None:
            return None
        if first.outcome == "accepted":
            return True
        return False if first.reason and _CALLED_REFUSED in first.reason else None

    def facts(self) -> DicomFacts:
        return DicomFacts(
            transport=self.transport,
            tls_version=self.tls_version,
            tls_handshake_refused=self.handshake_refused,
            any_calling_ae=self.any_calling(),
            any_called_ae=self.any_called(),
            called_ae=self.called_ae,
            server_ae=judge.server_ae(self.rows),
            implementation_class_uid=self.implementation[0],
            implementation_version=self.implementation[1],
            echo=self.echo,
            contexts=dict(self.contexts),
            query=self.query,
            get=self.get,
            move=self.move,
            attempts=tuple(self.attempts),
        )


class DicomCollector:
    """The DICOM door of a host: every port of `job.options.dicom`, in parallel; never raises."""

    protocol = PROTOCOL

    def collect(self, job: HostJob) -> tuple[Service, ...]:
        options = job.options.dicom
        # After a sweep, only the ports that accepted a connection (collect.hosts reports the others).
        ports = tuple(p for p in options.ports if job.open_ports is None or p in job.open_ports)
        if not ports:
            return ()
        timeout = job.options.timeout
        with ThreadPoolExecutor(
            max_workers=min(len(ports), MAX_PARALLEL_PORTS), thread_name_prefix="dicom"
        ) as pool:
            return tuple(pool.map(lambda port: probe_port(job.address, port, options, timeout), ports))


def probe_port(address: str, port: int, options: DicomOptions, timeout: float) -> Service:
    """Everything about one DICOM port; what was learned before a failure is kept."""
    started = time.monotonic()
    state = _Port(address, port)

    def service(reachable: bool, error: CollectError | None = None) -> Service:
        return port_service(
            PROTOCOL, port, started, reachable, error, dicom=state.facts() if reachable else None
        )

    calling, called = random_ae("SA"), random_ae("NO")
    try:
        first = _first_contact(address, port, called, calling, timeout)
    except CollectError as exc:
        log.info("%s:%d: no DICOM: %s", address, port, exc)
        return service(False, exc)
    if first.answer is Answer.SILENT:
        return service(
            False, CollectError(FailureKind.TIMEOUT, f"connected, but no DICOM answer within {timeout:g} s")
        )
    state.transport = "tls" if first.tls else "plain"
    state.tls_version = first.tls_version
    if first.answer is Answer.TLS_REFUSED:
        state.handshake_refused = True
        log.info("%s:%d: TLS refused the handshake (a client certificate is required?)", address, port)
        return service(True)
    if not first.answer.dicom:
        return service(
            False, CollectError(FailureKind.PROTOCOL, "something answers on this port, but not DICOM")
        )
    peer = Peer(address, port, first.tls, timeout, calling)
    try:
        _posture(state, peer, called, options)
        if state.called_ae is not None:
            _retrieval(state, peer, state.called_ae)
    except CollectError as exc:
        log.info("%s:%d: DICOM probe stopped: %s", address, port, exc)
        return service(True, exc)
    except (OSError, RuntimeError, ValueError, AttributeError, KeyError, TypeError) as exc:
        # pynetdicom's own failures: one line, the facts kept, the host's other doors untouched.
        log.debug("%s:%d: DICOM probe failed", address, port, exc_info=True)
        return service(True, CollectError(FailureKind.PROTOCOL, f"DICOM probe failed: {exc}"[:300]))
    log.info(
        "%s:%d: DICOM over %s; unknown calling AE %s; %s",
        address,
        port,
        state.transport,
        {True: "accepted", False: "refused", None: "undecided"}[state.any_calling()],
        f"{state.query.studies} studies" if state.query else "no query",
    )
    error = _timeout_error(state, timeout)
    return service(True, error)


def _first_contact(address: str, port: int, called: str, calling: str, timeout: float) -> Contact:
    """Plain first; TLS when the plain request was dropped or answered with a TLS alert."""
    first = contact(address, port, called, calling, timeout, tls=False)
    if first.answer in (Answer.CLOSED, Answer.TLS_ALERT):
        secured = contact(address, port, called, calling, timeout, tls=True)
        if secured.answer.dicom or secured.answer is Answer.TLS_REFUSED:
            return secured
        return Contact(Answer.FOREIGN, tls=False)
    return first


def _posture(state: _Port, peer: Peer, random_called: str, options: DicomOptions) -> None:
    """Associate with a random called AE title, then the known and default ones, until one is accepted."""
    contexts = list(CONTEXTS.values())
    aborted = 0
    for n, called in enumerate((random_called, *options.candidates())):
        with associate(peer, called, contexts) as answer:
            if isinstance(answer, Refusal):
                state.attempts.append(
                    AssociationAttempt(called, peer.calling, n == 0, peer.tls, answer.outcome, answer.reason)
                )
                log.debug(
                    "%s:%d: association with %s: %s (%s)",
                    peer.address,
                    peer.port,
                    called,
                    answer.outcome,
                    answer.reason,
                )
                if answer.reason and _CALLING_REFUSED in answer.reason:
                    return  # the calling AE is what it refuses: no called AE title will change that
                aborted += answer.outcome == "aborted"
                if aborted >= MAX_ABORTED:
                    return
                continue
            state.attempts.append(AssociationAttempt(called, peer.calling, n == 0, peer.tls, "accepted"))
            state.called_ae = called
            _on_accepted(state, answer, options)
            return


def _on_accepted(state: _Port, session: Session, options: DicomOptions) -> None:
    state.implementation = (session.implementation_class_uid, session.implementation_version)
    state.contexts = dict(session.contexts)
    if session.contexts.get("verification"):
        state.echo = session.echo()
    if not session.contexts.get("find"):
        state.query = StudyReach(outcome="not_offered")
        return
    if not session.alive:
        state.query = StudyReach(outcome="refused", note="the association was aborted before the C-FIND")
        return
    answer: FindAnswer = session.find_studies(options.max_studies)
    state.rows = answer.rows
    state.query = judge.reach(answer)


def _retrieval(state: _Port, peer: Peer, called: str) -> None:
    """C-GET with no storage context, then C-MOVE to a random destination: each on its own association."""
    study = judge.probe_study(state.rows)
    uid = study.uid if study else nothing_uid()
    for service in ("get", "move"):
        if not state.contexts.get(service):
            probe = RetrieveProbe(service, "not_offered", "seen" if study else "none")
        else:
            probe = _retrieve(peer, called, service, uid, study is not None)
        setattr(state, service, probe)


def _retrieve(peer: Peer, called: str, service: str, uid: str, seen: bool) -> RetrieveProbe:
    with associate(peer, called, [CONTEXTS[service]]) as answer:
        if isinstance(answer, Refusal):
            return RetrieveProbe(service, "not_tried", "seen" if seen else "none", note=answer.reason)
        reply = answer.get(uid) if service == "get" else answer.move(uid, random_ae("SD"))
        return judge.retrieve_probe(service, reply, seen)


def _timeout_error(state: _Port, timeout: float) -> CollectError | None:
    """A probe the server stopped answering: the port is reached, but not everything was learned."""
    stalled = [
        what
        for what, stopped in (
            ("C-FIND", state.query is not None and state.query.outcome == "failed"),
            ("C-GET", state.get is not None and state.get.note == "no answer in time"),
            ("C-MOVE", state.move is not None and state.move.note == "no answer in time"),
        )
        if stopped
    ]
    if not stalled:
        return None
    return CollectError(
        FailureKind.TIMEOUT,
        f"the server stopped answering during the {', '.join(stalled)} (no reply within {timeout:g} s)",
    )
