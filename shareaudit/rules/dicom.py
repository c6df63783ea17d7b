"""DICOM rules: a PACS door open to any AE title: queries, retrievals, plain text, an incomplete probe.

One finding per port (fingerprinted by `dicom/<port>`); remediation is written for the PACS products
(platform.PACS_PLATFORMS) and shown first for the one detected (`platform.detect_pacs`).
"""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import DicomFacts, Service, Severity, StudyReach
from shareaudit.rules.facts import HostFacts, plural
from shareaudit.rules.platform import detect_pacs
from shareaudit.rules.registry import Hit, host_rule


def dicom_services(facts: HostFacts) -> Iterator[tuple[Service, DicomFacts]]:
    """The host's DICOM ports that answered, with their facts."""
    for service in facts.host.services:
        if service.protocol == "dicom" and service.reachable and service.dicom is not None:
            yield service, service.dicom


def _hit(severity: Severity, evidence: str, service: Service, dicom: DicomFacts) -> Hit:
    aet = dicom.server_ae or dicom.called_ae or "ANY-SCP"
    return Hit(
        severity,
        evidence,
        identity_key=f"dicom/{service.port}",
        values={"port": str(service.port), "aet": aet},
        platform=detect_pacs(dicom),
    )


def _where(service: Service, dicom: DicomFacts) -> str:
    transport = f"TLS ({dicom.tls_version})" if dicom.transport == "tls" and dicom.tls_version else "plain"
    return f"DICOM port {service.port} ({transport})"


def _calling(dicom: DicomFacts) -> str:
    accepted = next((a for a in dicom.attempts if a.outcome == "accepted"), None)
    return accepted.calling_ae if accepted else "?"


def reach_text(query: StudyReach) -> str:
    """'3 studies (CT 2, MR 1), 2019-03-14 to 2023-01-02, 5 series, 12 images' with its caveats."""
    count = f"{query.studies} stud{'y' if query.studies == 1 else 'ies'}"
    if query.truncated:
        count = f"at least {count} (counting stopped at the bound)"
    parts = [count]
    if query.modalities:
        parts[0] += " (" + ", ".join(f"{m} {n}" for m, n in query.modalities.items()) + ")"
    if query.earliest:
        parts.append(
            query.earliest if query.earliest == query.latest else f"{query.earliest} to {query.latest}"
        )
    if query.series is not None:
        parts.append(f"{query.series} series")
    if query.instances is not None:
        parts.append(plural(query.instances, "image"))
    return ", ".join(parts)


@host_rule("dicom-open-query")
def open_query(facts: HostFacts) -> Iterator[Hit]:
    """A study-level C-FIND from an AE title nobody configured is answered."""
    for service, dicom in dicom_services(facts):
        query = dicom.query
        if not dicom.any_calling_ae or query is None or query.outcome != "answered":
            continue
        severity = Severity.CRITICAL if query.studies else Severity.MEDIUM
        yield _hit(
            severity,
            f"{_where(service, dicom)}: a study-level C-FIND from the unknown calling AE title "
            f"{_calling(dicom)} was answered: {reach_text(query)}. Only counts were asked and kept: "
            "no patient name or ID.",
            service,
            dicom,
        )


@host_rule("dicom-any-ae")
def any_ae(facts: HostFacts) -> Iterator[Hit]:
    """An association from an AE title nobody configured is accepted."""
    for service, dicom in dicom_services(facts):
        if not dicom.any_calling_ae:
            continue
        called = (
            f"the random called AE title {dicom.called_ae} (any called AE title is accepted)"
            if dicom.any_called_ae
            else f"the called AE title {dicom.called_ae}"
        )
        offered = [name for name in ("find", "move", "get", "store") if dicom.contexts.get(name)]
        echo = {True: "answered", False: "refused", None: "not asked"}[dicom.echo]
        yield _hit(
            Severity.HIGH,
            f"{_where(service, dicom)}: an association from the random calling AE title {_calling(dicom)} "
            f"to {called} was accepted; C-ECHO {echo}; presentation contexts accepted: "
            f"{', '.join(offered) or 'verification only'}"
            + (" (storage: nothing was stored)" if dicom.contexts.get("store") else "")
            + ".",
            service,
            dicom,
        )


@host_rule("dicom-open-retrieve")
def open_retrieve(facts: HostFacts) -> Iterator[Hit]:
    """C-GET or C-MOVE to an AE title nobody configured would be carried out."""
    for service, dicom in dicom_services(facts):
        said = []
        if dicom.get is not None and dicom.get.outcome == "accepted":
            said.append(
                f"a C-GET of a study from the unknown AE title {_calling(dicom)} was taken on "
                f"({plural(dicom.get.sub_operations, 'sub-operation')} set out, status {dicom.get.status}); "
                "the association offered no storage context, so nothing was sent"
            )
        if dicom.move is not None and dicom.move.outcome == "accepted":
            said.append(
                f"a C-MOVE to a random destination AE title was taken on (status {dicom.move.status}); "
                "the association was aborted at once"
            )
        if not said:
            continue
        studies = dicom.query.studies if dicom.query is not None else 0
        yield _hit(
            Severity.CRITICAL if studies else Severity.HIGH,
            f"{_where(service, dicom)}: " + "; ".join(said) + ".",
            service,
            dicom,
        )


@host_rule("dicom-no-tls")
def no_tls(facts: HostFacts) -> Iterator[Hit]:
    """A DICOM port speaks plain text."""
    services = list(dicom_services(facts))
    secured = [str(s.port) for s, d in services if d.transport == "tls"]
    for service, dicom in services:
        if dicom.transport != "plain":
            continue
        also = f" DICOM TLS is offered on port {', '.join(secured)} too." if secured else ""
        yield _hit(
            Severity.MEDIUM,
            f"DICOM port {service.port} answers in plain text: AE titles, queries and images cross the "
            f"network readable and alterable by anyone on the path.{also}",
            service,
            dicom,
        )


@host_rule("dicom-not-scanned")
def not_scanned(facts: HostFacts) -> Iterator[Hit]:
    """A DICOM port answered, but the probe stopped before it was done."""
    for service in facts.host.services:
        if service.protocol != "dicom" or not service.reachable or not service.error:
            continue
        dicom = service.dicom or DicomFacts(transport="plain")
        yield _hit(
            Severity.MEDIUM,
            f"DICOM port {service.port}: {service.error_kind or 'error'}: {service.error} "
            "(what was learned before is kept).",
            service,
            dicom,
        )
