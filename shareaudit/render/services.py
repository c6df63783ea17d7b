"""The doors beside SMB (`HostResult.services`) in words, for the HTML report and the terminal summary.

Facts only: every value comes from the result, and what a server said (AE titles, implementation names)
is plain text that the callers escape (HTML) or print as rich Text (terminal).
"""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.model import (
    Content,
    DicomFacts,
    FtpCertificate,
    FtpFacts,
    FtpLogin,
    FtpTree,
    HostResult,
    RetrieveProbe,
    Service,
    StudyReach,
)
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
    """One line per protocol that was looked for and not found (SMB absent, DICOM and FTP ports closed)."""
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
    for service in host.services:
        if service.protocol == "ftp" and not service.reachable:
            notes.append(f"FTP: nothing on port {service.port}: {service.error or 'no answer'}")
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


# --- FTP ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FtpView:
    """One FTP port that answered, as rows: its posture, then one row per login and per tree."""

    port: int
    rows: tuple[Row, ...]
    error: str | None = None


def ftp_services(host: HostResult) -> tuple[Service, ...]:
    """The host's FTP ports that answered."""
    return tuple(s for s in host.services if s.protocol == "ftp" and s.reachable)


def _transport(ftp: FtpFacts) -> tuple[str, str]:
    if ftp.transport == "implicit_tls":
        return f"implicit TLS ({ftp.tls_version or 'version unknown'})", GOOD
    if ftp.auth_tls:
        note = f"AUTH TLS offered ({ftp.tls_version or 'handshake failed'})"
        return note + (f"; {ftp.tls_error}" if ftp.tls_error else ""), NEUTRAL
    return "plain text only (no AUTH TLS)", BAD


def _certificate(cert: FtpCertificate) -> tuple[str, str]:
    problems = [
        word
        for word, present in (
            ("expired", cert.expired),
            ("not yet valid", cert.not_yet_valid),
            ("self-signed", cert.self_signed),
        )
        if present
    ]
    text = f"{cert.subject}, issued by {cert.issuer}, valid {cert.not_before[:10]} to {cert.not_after[:10]}"
    return (text + f": {', '.join(problems)}", BAD) if problems else (text, GOOD)


def _login(login: FtpLogin) -> Row:
    if not login.tried:
        return Row(f"login {login.identity}", login.reply or "not tried")
    if not login.accepted:
        return Row(f"login {login.identity}", f"refused as {login.username}: {login.reply or '?'}", GOOD)
    over = "inside TLS" if login.tls else "in clear text"
    tone = BAD if login.identity == "anonymous" or not login.tls else NEUTRAL
    return Row(f"login {login.identity}", f"accepted as {login.username}, {over}", tone)


def _content(content: Content) -> str:
    medical = sum(count.count for count in content.medical.values())
    text = f"walked: {content.files_seen} files in {content.dirs_seen} folders"
    if content.denied_dirs:
        text += f", {content.denied_dirs} refused"
    if medical:
        kinds = ", ".join(
            f"{t} {c.count}" for t, c in sorted(content.medical.items(), key=lambda i: -i[1].count)
        )
        text += f"; medical data: {kinds}"
    if content.truncated:
        text += " (stopped by a bound: a lower bound)"
    if content.error:
        text += f" (failed: {content.error})"
    return text


def _tree(tree: FtpTree) -> Row:
    if not tree.list:
        return Row(
            f"tree of {tree.identity}", f"lands in {tree.root or '/'}, which it cannot list ({tree.status})"
        )
    parts = [f"lands in {tree.root or '/'} ({tree.listing.upper()})"]
    if tree.read:
        parts.append(f"reads files ({tree.read_basis or '?'})")
    writable = [f for f in tree.folders if f.writable]
    if writable:
        shown = ", ".join(f"{f.path or '/'} ({f.basis})" for f in writable[:5])
        parts.append(f"adds files to {shown}" + (" ..." if len(writable) > 5 else ""))
    refused = [f for f in tree.folders if not f.writable]
    if refused:
        parts.append(f"probe refused in {', '.join(f.path or '/' for f in refused[:5])}")
    left = [f.probe.path for f in tree.folders if f.probe and f.probe.created and not f.probe.cleaned]
    if left:
        parts.append(f"probe file left behind (delete it by hand): {', '.join(left[:5])}")
    if tree.same_as:
        parts.append(f"the same tree as {tree.same_as} (walked once)")
    elif tree.content is not None:
        parts.append(_content(tree.content))
    medical = tree.content is not None and any(tree.content.medical.values())
    opened = tree.identity == "anonymous" and (writable or medical)
    return Row(f"tree of {tree.identity}", "; ".join(parts), BAD if opened or medical or left else NEUTRAL)


def ftp_rows(ftp: FtpFacts) -> tuple[Row, ...]:
    """An FTP port's posture, logins and trees, line by line."""
    rows = [Row("greeting", ftp.banner or "-")]
    if ftp.software:
        rows.append(Row("software", f"{ftp.software} {ftp.version or ''}".strip()))
    rows.append(Row("transport", *_transport(ftp)))
    if ftp.certificate is not None:
        rows.append(Row("certificate", *_certificate(ftp.certificate)))
    if ftp.plaintext_login is not None or ftp.plaintext_reply:
        rows.append(
            Row(
                "passwords in clear text",
                *_decided(
                    ftp.plaintext_login,
                    f"taken ({ftp.plaintext_reply or 'an account logged on without TLS'})",
                    f"refused ({ftp.plaintext_reply})",
                    "undecided",
                ),
            )
        )
    rows.append(Row("listings", "MLSD with perm facts" if ftp.mlsd else "LIST only (no perm facts)"))
    rows.extend(_login(login) for login in ftp.logins)
    rows.extend(_tree(tree) for tree in ftp.trees)
    return tuple(rows)


def ftp_views(host: HostResult) -> tuple[FtpView, ...]:
    """Every FTP port of the host that answered."""
    return tuple(
        FtpView(s.port, ftp_rows(s.ftp) if s.ftp else (), f"{s.error_kind}: {s.error}" if s.error else None)
        for s in ftp_services(host)
    )


def ftp_cells(service: Service) -> tuple[str, str, str, str, str]:
    """TLS, anonymous, passwords in clear, medical files anonymous reads, logins: the terminal's line per port."""
    ftp = service.ftp
    if ftp is None:
        return "?", "?", "?", "?", "?"
    tls = "implicit" if ftp.transport == "implicit_tls" else "offered" if ftp.auth_tls else "none"
    anonymous = next((t for t in ftp.trees if t.identity == "anonymous"), None)
    if anonymous is None:
        anon = "refused" if any(x.identity == "anonymous" for x in ftp.logins) else "-"
    else:
        anon = "reads" + (" + uploads" if any(f.writable for f in anonymous.folders) else "")
    clear = {True: "taken", False: "refused", None: "-"}[ftp.plaintext_login]
    medical = "-"
    if anonymous is not None and anonymous.content is not None:
        medical = str(sum(count.count for count in anonymous.content.medical.values()))
    accepted = [x.identity for x in ftp.logins if x.accepted and x.identity != "anonymous"]
    return tls, anon, clear, medical, ", ".join(accepted) or "-"
