"""The doors beside SMB (`HostResult.services`) in words, for the HTML report and the terminal summary.

Facts only: every value comes from the result, and what a server said (AE titles, implementation names)
is plain text that the callers escape (HTML) or print as rich Text (terminal).
"""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.model import DicomFacts, HostResult, RetrieveProbe, Service, StudyReach
from shareaudit.rules.platform import PACS_PLATFORMS, detect_pacs

BAD, GOOD, NEUTRAL = "bad", "good", ""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a service's table: what, the fact, and whether it is bad, good or neither."""

    label: str
    text: str
    tone: str = NEUTRAL


@dataclass(frozen=True, slots=True)
class DicomView:
    """One DICOM port that answered, as rows."""

    port: int
    rows: tuple[Row, ...]
    error: str | None = None


def dicom_services(host: HostResult) -> tuple[Service, ...]:
    """The host's DICOM ports that answered."""
    return tuple(s for s in host.services if s.protocol == "dicom" and s.reachable)


def absent_notes(host: HostResult) -> tuple[str, ...]:
    """One line per protocol that was looked for and not found (SMB absent, DICOM ports closed)."""
    notes = []
    for service in host.services:
        if service.protocol == "smb" and not service.reachable:
            notes.append(f"SMB: no SMB server on port {service.port} ({service.error or 'no answer'})")
    closed: dict[str, list[int]] = {}
    for service in host.services:
        if service.protocol == "dicom" and not service.reachable:
            closed.setdefault(service.error or "no answer", []).append(service.port)
    for error, ports in closed.items():
        notes.append(
            f"DICOM: nothing on port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}: {error}"
        )
    return tuple(notes)


def studies_text(query: StudyReach | None) -> str:
    """'3 studies (CT 1, MR 1), 2019-03-14 to 2023-01-02, 4 series, 6 images', or why there is no count."""
    if query is None:
        return "not asked (no association accepted)"
    if query.outcome == "not_offered":
        return "not offered (the Study Root FIND context was refused)"
    if query.outcome != "answered":
        status = f", status {query.status}" if query.status else ""
        return f"{query.outcome}{status}" + (f": {query.note}" if query.note else "")
    count = (
        f"{'at least ' if query.truncated else ''}{query.studies} stud{'y' if query.studies == 1 else 'ies'}"
    )
    parts = [
        count
        + (f" ({', '.join(f'{m} {n}' for m, n in query.modalities.items())})" if query.modalities else "")
    ]
    if query.earliest:
        parts.append(
            query.earliest if query.earliest == query.latest else f"{query.earliest} to {query.latest}"
        )
    if query.series is not None:
        parts.append(f"{query.series} series")
    if query.instances is not None:
        parts.append(f"{query.instances} image{'' if query.instances == 1 else 's'}")
    return ", ".join(parts) + (" (counting stopped at the bound)" if query.truncated else "")


_OUTCOMES = {
    "accepted": "would be carried out",
    "refused": "refused",
    "destination_unknown": "refused: move destination unknown",
    "undetermined": "undetermined",
    "not_offered": "not offered (context refused)",
    "not_tried": "not tried (the association was refused)",
}


def retrieve_text(probe: RetrieveProbe | None) -> tuple[str, str]:
    """A retrieval probe's outcome in words, and its tone."""
    if probe is None:
        return "not asked", NEUTRAL
    text = _OUTCOMES.get(probe.outcome, probe.outcome)
    details = [f"status {probe.status}"] if probe.status else []
    if probe.sub_operations:
        details.append(
            f"{probe.sub_operations} sub-operation{'' if probe.sub_operations == 1 else 's'} set out"
        )
    details.append("about a study it holds" if probe.study == "seen" else "about a UID matching nothing")
    if probe.note:
        details.append(probe.note)
    tone = (
        BAD
        if probe.outcome == "accepted"
        else GOOD
        if probe.outcome in ("refused", "destination_unknown")
        else NEUTRAL
    )
    return f"{text} ({'; '.join(details)})", tone


def _decided(value: bool | None, yes: str, no: str, undecided: str) -> tuple[str, str]:
    if value is None:
        return undecided, NEUTRAL
    return (yes, BAD) if value else (no, GOOD)


def dicom_rows(dicom: DicomFacts) -> tuple[Row, ...]:
    """A DICOM port's posture and reach, line by line."""
    if dicom.transport == "tls":
        transport = Row("transport", f"TLS ({dicom.tls_version or 'version unknown'})", GOOD)
    else:
        transport = Row("transport", "plain (no TLS)", BAD)
    rows = [transport]
    if dicom.tls_handshake_refused:
        rows.append(
            Row("TLS handshake", "refused (a client certificate is required?): nothing more was asked", GOOD)
        )
        return tuple(rows)
    rows.append(
        Row(
            "unknown calling AE title",
            *_decided(
                dicom.any_calling_ae,
                "accepted",
                "refused",
                "undecided: no called AE title it answers to was found (give --dicom-ae)",
            ),
        )
    )
    rows.append(
        Row(
            "unknown called AE title",
            *_decided(
                dicom.any_called_ae, "accepted (it does not check its own AE title)", "refused", "undecided"
            ),
        )
    )
    names = [f"answers as {dicom.server_ae}"] if dicom.server_ae else []
    if dicom.called_ae:
        names.append(f"accepted as {dicom.called_ae}")
    if names:
        rows.append(Row("AE title", "; ".join(names)))
    if dicom.implementation_version or dicom.implementation_class_uid:
        product = detect_pacs(dicom)
        guess = f"; probably {PACS_PLATFORMS[product]}" if product else ""
        rows.append(
            Row(
                "implementation",
                f"{dicom.implementation_version or '?'} ({dicom.implementation_class_uid or '?'}){guess}",
            )
        )
    if dicom.echo is not None:
        rows.append(Row("C-ECHO", "answered" if dicom.echo else "refused"))
    if dicom.query is not None or dicom.any_calling_ae:
        answered = dicom.query is not None and dicom.query.outcome == "answered"
        rows.append(Row("C-FIND, study level", studies_text(dicom.query), BAD if answered else NEUTRAL))
    if dicom.get is not None:
        rows.append(Row("C-GET (no storage context offered)", *retrieve_text(dicom.get)))
    if dicom.move is not None:
        rows.append(Row("C-MOVE to a random destination", *retrieve_text(dicom.move)))
    if "store" in dicom.contexts:
        store = "accepted (nothing was stored)" if dicom.contexts["store"] else "refused"
        rows.append(Row("storage contexts", store))
    tried = "; ".join(
        f"{a.called_ae}{' (random)' if a.random_called else ''}: {a.outcome}"
        + (f" ({a.reason})" if a.reason else "")
        for a in dicom.attempts
    )
    if tried:
        calling = dicom.attempts[0].calling_ae
        rows.append(Row(f"associations from {calling}", tried))
    return tuple(rows)


def dicom_views(host: HostResult) -> tuple[DicomView, ...]:
    """Every DICOM port of the host that answered."""
    return tuple(
        DicomView(
            s.port, dicom_rows(s.dicom) if s.dicom else (), f"{s.error_kind}: {s.error}" if s.error else None
        )
        for s in dicom_services(host)
    )


def summary_cells(service: Service) -> tuple[str, str, str, str]:
    """Transport, unknown calling AE, studies, retrieval: the terminal's one line per DICOM port."""
    dicom = service.dicom
    if dicom is None:
        return "?", "?", "?", "?"
    transport = "TLS" if dicom.transport == "tls" else "plain"
    calling = {True: "accepted", False: "refused", None: "undecided"}[dicom.any_calling_ae]
    query = dicom.query
    if query is None:
        studies = "-"
    elif query.outcome == "answered":
        studies = f"{'>=' if query.truncated else ''}{query.studies}"
    else:
        studies = query.outcome
    retrieval = [
        p.service.replace("get", "C-GET").replace("move", "C-MOVE")
        for p in (dicom.get, dicom.move)
        if p and p.outcome == "accepted"
    ]
    if retrieval:
        retrieve = ", ".join(retrieval)
    elif dicom.get is None and dicom.move is None:
        retrieve = "-"
    else:
        retrieve = "refused"
    return transport, calling, studies, retrieve
