"""Pure decisions over what a DICOM server answered: counts from C-FIND rows, C-GET / C-MOVE outcomes.

No network here: tests/unit/test_dicom.py feeds these functions answers built in code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from shareaudit.collect.dicom.association import FindAnswer, RetrieveAnswer, StudyRow
from shareaudit.model import RetrieveProbe, StudyReach

PENDING = (0xFF00, 0xFF01)
MOVE_DESTINATION_UNKNOWN = 0xA801
# Statuses that refuse a retrieval outright (PS3.7 C.4, PS3.4 C.4.2.1.5 / C.4.3.1.4).
REFUSED = {
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xA701: "out of resources",
    0xA702: "out of resources: unable to perform sub-operations",
    0xA900: "identifier does not match the SOP class",
}


def hex_status(code: int | None) -> str | None:
    """A DIMSE status as the standard writes it: 0xA801."""
    return None if code is None else f"0x{code:04X}"


def iso_date(text: str | None) -> str | None:
    """YYYYMMDD (DA) as YYYY-MM-DD; None for anything else (a range, a partial or a broken date)."""
    if not text or len(text) != 8 or not text.isdigit():
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    if not (1800 <= year <= 2999 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def _total(values: Sequence[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def reach(answer: FindAnswer) -> StudyReach:
    """The counts a C-FIND answer supports; what identifies a study (its UID) is not carried over."""
    outcome = {"complete": "answered", "truncated": "answered", "refused": "refused"}.get(
        answer.ended, "failed"
    )
    distinct: dict[str, StudyRow] = {}
    for n, row in enumerate(answer.rows):
        distinct.setdefault(row.uid or f"#{n}", row)
    rows = list(distinct.values())
    modalities: Counter[str] = Counter()
    for row in rows:
        modalities.update(set(row.modalities))
    dates = sorted(d for d in (iso_date(row.date) for row in rows) if d)
    note = answer.note
    if answer.ended == "timeout":
        note = "the server stopped answering during the C-FIND"
    return StudyReach(
        outcome=outcome,
        studies=len(rows),
        truncated=answer.ended == "truncated",
        series=_total([row.series for row in rows]),
        instances=_total([row.instances for row in rows]),
        modalities=dict(sorted(modalities.items(), key=lambda kv: (-kv[1], kv[0]))),
        earliest=dates[0] if dates else None,
        latest=dates[-1] if dates else None,
        status=hex_status(answer.status),
        note=note,
    )


def server_ae(rows: Sequence[StudyRow]) -> str | None:
    """The AE title the server most often names as where to retrieve from (RetrieveAETitle)."""
    names = Counter(row.retrieve_ae for row in rows if row.retrieve_ae)
    return names.most_common(1)[0][0] if names else None


def probe_study(rows: Sequence[StudyRow]) -> StudyRow | None:
    """The study a retrieval probe names: the smallest one seen (least for a server to set out to send)."""
    known = [row for row in rows if row.uid]
    return min(known, key=lambda r: r.instances if r.instances is not None else 1 << 30) if known else None


def retrieve_probe(service: str, answer: RetrieveAnswer, study_seen: bool) -> RetrieveProbe:
    """Would the server have carried out the retrieval? Decided from its first answer only.

    accepted: it set out to send (sub-operations counted, or pending); destination_unknown: a C-MOVE
    refused for its destination (0xA801); refused: a refusal status or an abort; undetermined: it answered
    about a study that does not exist (a UID matching nothing says nothing about permission).
    """
    study = "seen" if study_seen else "none"
    status = hex_status(answer.status)
    if answer.ended == "timeout":
        return RetrieveProbe(service, "undetermined", study, status, note="no answer in time")
    if answer.ended == "refused" or answer.status is None:
        return RetrieveProbe(service, "refused", study, status, note=answer.note)
    code = answer.status
    if answer.sub_operations > 0 or code in PENDING:
        return RetrieveProbe(service, "accepted", study, status, answer.sub_operations, answer.note)
    if service == "move" and code == MOVE_DESTINATION_UNKNOWN:
        return RetrieveProbe(service, "destination_unknown", study, status, note=answer.note)
    if code in REFUSED:
        return RetrieveProbe(service, "refused", study, status, note=answer.note or REFUSED[code])
    # Success with nothing to do, or "unable to process": about a real study, the server did not set out
    # to send it (for a C-MOVE to an unknown AE that is the refusal); about a UID matching nothing, it
    # says nothing about permission.
    outcome = "refused" if study_seen and code not in (0x0000, 0xB000) else "undetermined"
    return RetrieveProbe(service, outcome, study, status, note=answer.note)
