"""pynetdicom, wrapped: associations, C-ECHO, a counting C-FIND, and the C-GET / C-MOVE probes.

The only module that imports pynetdicom and pydicom. Every answer leaves here as plain values: a C-FIND
identifier is reduced to the keys asked for (`StudyRow`) the moment it arrives, so a patient name or ID a
server sends unasked is never kept, logged or returned. pynetdicom's own logging of identifiers and of
its event handlers is switched off.

pydicom and pynetdicom are imported on first use (`_dicom`), not with this module: they cost about half
of a scan's start-up CPU (profiled), which a scan whose hosts have no DICOM port open need not pay.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from shareaudit.collect.dicom.first_contact import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION
from shareaudit.collect.net import tls_context

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pynetdicom import AE
    from pynetdicom.association import Association
    from pynetdicom.events import EventHandlerType


@cache
def _dicom() -> SimpleNamespace:
    """pydicom and pynetdicom, imported once, with pynetdicom's identifier logging off before any use."""
    from pydicom import config as pydicom_config
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid
    from pynetdicom import AE, _config, evt

    # Never let pynetdicom print a request or response identifier, whoever configures logging.
    _config.LOG_RESPONSE_IDENTIFIERS = False
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_HANDLER_LEVEL = "none"
    # Nor pydicom a value it finds invalid: its warning quotes the value, and every value read here is
    # reduced by this module (study_row) whatever it holds.
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    return SimpleNamespace(AE=AE, Dataset=Dataset, generate_uid=generate_uid, evt=evt)


log = logging.getLogger(__name__)

# SOP classes (PS3.4): pynetdicom's sop_class names are made at run time, which a type checker cannot see.
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
# The presentation contexts of the posture association: what the server agrees to talk about.
CONTEXTS: dict[str, str] = {
    "verification": VERIFICATION,
    "find": STUDY_ROOT_FIND,
    "move": STUDY_ROOT_MOVE,
    "get": STUDY_ROOT_GET,
    # Two common storage classes: accepted contexts are recorded, nothing is ever stored (docs/design.md).
    "store": CT_IMAGE_STORAGE,
    "store_sc": SECONDARY_CAPTURE_STORAGE,
}
# The only keys a C-FIND asks for, and the only ones read from an answer (PatientName, PatientID: never).
STUDY_KEYS = (
    "StudyInstanceUID",
    "ModalitiesInStudy",
    "StudyDate",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
PENDING = (0xFF00, 0xFF01)
CANCEL = 0xFE00
# Answers still drained after a C-CANCEL before the association is aborted.
DRAIN_AFTER_CANCEL = 1_000


def random_ae(prefix: str = "SA") -> str:
    """An AE title no server can know: the prefix and 8 random hex digits."""
    return f"{prefix}{secrets.token_hex(4).upper()}"


@dataclass(frozen=True, slots=True)
class Peer:
    """Where and how to associate: one port, plain or TLS, one random calling AE title for all attempts."""

    address: str
    port: int
    tls: bool
    timeout: float
    calling: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """An association that was not accepted: rejected (with the reason) or aborted."""

    outcome: str  # rejected | aborted
    reason: str | None


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One C-FIND answer, reduced to the keys asked for. The UID stays in memory, for the probes only."""

    uid: str
    modalities: tuple[str, ...]
    date: str | None
    series: int | None
    instances: int | None
    retrieve_ae: str | None


@dataclass(frozen=True, slots=True)
class FindAnswer:
    """What a counting C-FIND got: the rows (at most the bound), and how it ended."""

    rows: tuple[StudyRow, ...]
    ended: str  # complete | truncated | refused | timeout
    status: int | None  # the final status (None: aborted or timed out)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RetrieveAnswer:
    """The first (and usually only) answer to a C-GET or C-MOVE probe."""

    ended: str  # answered | refused | timeout
    status: int | None
    sub_operations: int = 0  # completed + failed + warning + remaining
    note: str | None = None


def _ae(calling: str, timeout: float, contexts: Sequence[str]) -> AE:
    ae: AE = _dicom().AE(ae_title=calling)
    ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    ae.implementation_version_name = IMPLEMENTATION_VERSION
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    ae.maximum_associations = 1
    for uid in contexts:
        ae.add_requested_context(uid)
    return ae


def _refuse_store(event: Any) -> int:
    """A C-STORE the server sends anyway (it has no context for it): refused, the data set never decoded."""
    return 0xA700  # Refused: out of resources


class Session:
    """One accepted association (release it with `close`)."""

    def __init__(self, assoc: Association, timeout: float) -> None:
        self.assoc = assoc
        self.timeout = timeout
        acceptor = assoc.acceptor
        self.implementation_class_uid: str | None = str(acceptor.implementation_class_uid or "") or None
        self.implementation_version: str | None = (acceptor.implementation_version_name or "").strip() or None
        accepted = {str(cx.abstract_syntax) for cx in assoc.accepted_contexts}
        self.contexts = {key: uid in accepted for key, uid in CONTEXTS.items() if key != "store_sc"}
        self.contexts["store"] = CONTEXTS["store"] in accepted or CONTEXTS["store_sc"] in accepted

    @property
    def alive(self) -> bool:
        return bool(self.assoc.is_established)

    def close(self) -> None:
        """Release (or abort, when the peer does not answer the release)."""
        if self.assoc.is_established:
            self.assoc.release()
        if self.assoc.is_established:
            self.assoc.abort()

    def echo(self) -> bool:
        """C-ECHO: True when the server answered success."""
        status = self.assoc.send_c_echo()
        return bool(status) and int(status.get("Status", -1)) == 0

    def _waited_out(self, since: float) -> bool:
        return time.monotonic() - since >= self.timeout * 0.9

    def find_studies(self, limit: int) -> FindAnswer:
        """Count studies with a study-level C-FIND; C-CANCEL after `limit` answers."""
        query = _dicom().Dataset()
        query.QueryRetrieveLevel = "STUDY"
        for key in STUDY_KEYS:
            setattr(query, key, "")
        rows: list[StudyRow] = []
        cancelled, drained = False, 0
        since = time.monotonic()
        for status, identifier in self.assoc.send_c_find(query, STUDY_ROOT_FIND):
            if not status:  # aborted by the server, or no answer in time (pynetdicom aborted)
                ended = "timeout" if self._waited_out(since) else "refused"
                if rows and ended == "refused" and cancelled:
                    ended = "truncated"  # the server answered the cancel with an abort
                return FindAnswer(tuple(rows), ended, None, "the association was aborted")
            since = time.monotonic()
            code = int(status.Status)
            if code in PENDING:
                if cancelled:
                    drained += 1
                    if drained > DRAIN_AFTER_CANCEL:
                        self.assoc.abort()
                        return FindAnswer(tuple(rows), "truncated", None, "the cancel was not honoured")
                    continue
                if identifier is not None:
                    rows.append(study_row(identifier))
                del identifier  # nothing but the row outlives this line
                if len(rows) >= limit:
                    self.assoc.send_c_cancel(1, query_model=STUDY_ROOT_FIND)
                    cancelled = True
                continue
            ended = "truncated" if cancelled else "complete" if code in (0x0000, CANCEL) else "refused"
            return FindAnswer(tuple(rows), ended, code, _comment(status))
        return FindAnswer(tuple(rows), "refused", None, "no answer")

    def get(self, study_uid: str) -> RetrieveAnswer:
        """A study-level C-GET, on an association with no storage context: nothing can come back."""
        identifier = _retrieve_identifier(study_uid)
        since = time.monotonic()
        for status, _ in self.assoc.send_c_get(identifier, STUDY_ROOT_GET):
            return self._first(status, since)
        return RetrieveAnswer("refused", None, note="no answer")

    def move(self, study_uid: str, destination: str) -> RetrieveAnswer:
        """A study-level C-MOVE to `destination`; aborted at once if the server starts sending."""
        identifier = _retrieve_identifier(study_uid)
        since = time.monotonic()
        for status, _ in self.assoc.send_c_move(identifier, destination, STUDY_ROOT_MOVE):
            return self._first(status, since)
        return RetrieveAnswer("refused", None, note="no answer")

    def _first(self, status: Dataset, since: float) -> RetrieveAnswer:
        """The first answer decides; a pending one means the server set out to send: abort at once."""
        if not status:
            ended = "timeout" if self._waited_out(since) else "refused"
            return RetrieveAnswer(ended, None, note="the association was aborted")
        code = int(status.Status)
        subs = sum(
            int(status.get(key, 0) or 0)
            for key in (
                "NumberOfRemainingSuboperations",
                "NumberOfCompletedSuboperations",
                "NumberOfFailedSuboperations",
                "NumberOfWarningSuboperations",
            )
        )
        if code in PENDING:
            self.assoc.abort()  # stop whatever it started; nothing is waited for
        return RetrieveAnswer("answered", code, subs, _comment(status))


def _comment(status: Dataset) -> str | None:
    comment = status.get("ErrorComment")
    return str(comment)[:200] if comment else None


def _retrieve_identifier(study_uid: str) -> Dataset:
    identifier: Dataset = _dicom().Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = study_uid
    return identifier


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _first_text(value: object) -> str | None:
    """The first value of a possibly multi-valued element, as stripped text."""
    if value is None or isinstance(value, bytes):
        return None
    if not isinstance(value, str):
        try:
            value = next(iter(value))  # type: ignore[call-overload]
        except (TypeError, StopIteration):
            return None
    return str(value).strip() or None


def study_row(identifier: Dataset) -> StudyRow:
    """The keys asked for, as plain values; nothing else of the identifier is read."""
    modalities = identifier.get("ModalitiesInStudy")
    if modalities is None or modalities == "":
        found: tuple[str, ...] = ()
    elif isinstance(modalities, str):
        found = tuple(m for m in modalities.split("\\") if m)
    else:
        found = tuple(str(m) for m in modalities if m)
    date = identifier.get("StudyDate")
    retrieve = _first_text(identifier.get("RetrieveAETitle"))
    return StudyRow(
        uid=str(identifier.get("StudyInstanceUID", "") or ""),
        modalities=tuple(m.strip().upper()[:16] for m in found if m.strip()),
        date=str(date)[:8] if date else None,
        series=_int(identifier.get("NumberOfStudyRelatedSeries")),
        instances=_int(identifier.get("NumberOfStudyRelatedInstances")),
        retrieve_ae=retrieve[:16] if retrieve else None,
    )


def nothing_uid() -> str:
    """A study UID that matches nothing anywhere (UUID-derived, PS3.5 B.2)."""
    return str(_dicom().generate_uid(prefix="2.25."))


@contextmanager
def associate(peer: Peer, called: str, contexts: Sequence[str]) -> Iterator[Session | Refusal]:
    """An association with `called` over the peer's transport, released (or aborted) on the way out."""
    ae = _ae(peer.calling, peer.timeout, contexts)
    tls = (tls_context(), peer.address) if peer.tls else None
    handlers: list[EventHandlerType] = [(_dicom().evt.EVT_C_STORE, _refuse_store)]
    assoc = ae.associate(peer.address, peer.port, ae_title=called, tls_args=tls, evt_handlers=handlers)
    try:
        if assoc.is_established:
            session = Session(assoc, peer.timeout)
            try:
                yield session
            finally:
                session.close()
        elif assoc.is_rejected:
            primitive = assoc.acceptor.primitive
            reason = getattr(primitive, "reason_str", None) if primitive is not None else None
            yield Refusal("rejected", str(reason).lower() if reason else None)
        else:
            yield Refusal("aborted", "the server aborted or dropped the association")
    finally:
        if assoc.is_alive():
            assoc.abort()
        ae.shutdown()
