"""Vantage point rules: what an untrusted network segment reaches (docs/design.md, "Vantage points").

Segmentation is the first advice against medical data leaks, and a scan from a segment shows what that
segment reaches. A vantage point marked untrusted in the config (`[vantage.guest-wifi] trusted = false`)
must reach no door to medical data and no door anonymous or guest may write through. The rule reads the
views of a merged result (`shareaudit merge`), or the one view of a labelled run (`scan --vantage`), so it
fires the same on both. One finding per door and untrusted vantage point: each segment is its own
firewall change and is tracked on its own (fingerprinted by door and vantage point).

Services other than SMB are judged by protocol (`_SERVICE_REACH`): a DICOM port is a door to medical data
by nature, an NFS port by the exports it let mount, an FTP port by what anonymous logins reach; the merge
itself needs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from shareaudit.model import (
    UNPRIVILEGED,
    Access,
    HostResult,
    ScanResult,
    Service,
    Severity,
    Share,
    VantageView,
)
from shareaudit.rules.dicom import reach_text
from shareaudit.rules.facts import content_note, identity_class, medical_files, medical_summary
from shareaudit.rules.registry import Hit, scan_rule
from shareaudit.vantage import smb_answered, untrusted_views

RULE = "untrusted-vantage"


def _from(view: VantageView) -> str:
    return f"From the untrusted vantage point {view.vantage}"


def _who(access: dict[str, Access], right: Callable[[Access], bool]) -> list[str]:
    return [label for label, a in access.items() if a.connect and right(a)]


def _share_hit(host: HostResult, share: Share, view: VantageView) -> Hit | None:
    """A share with medical data behind a door the view reached, or one anonymous/guest wrote to from there."""
    medical = medical_files(share.content)
    access = view.access.get(share.name, {})
    readers = _who(access, lambda a: a.read or a.list)
    open_readers = [label for label in readers if identity_class(label) in UNPRIVILEGED]
    open_writers = [
        label for label in _who(access, lambda a: a.write) if identity_class(label) in UNPRIVILEGED
    ]
    sure = any(access[label].sure("write") for label in open_writers)
    said: list[str] = []
    severity: Severity | None = None
    if medical and smb_answered(view):
        if open_readers:
            severity = Severity.CRITICAL
            said.append(f"{', '.join(open_readers)} read the share")
        elif readers:
            severity = Severity.HIGH
            said.append(f"{', '.join(readers)} read the share (anyone there with that password does)")
        else:
            severity = Severity.MEDIUM
            listed = (
                "the share is listed" if share.name in view.access else "the share was not listed from there"
            )
            said.append(
                f"the file server answers on port {host.port} and {listed}; no identity of that run read it"
            )
    if open_writers:
        # Anyone there may plant files (or encrypt them); next to medical data that is the worst case. A
        # write the server claims and nobody could confirm without writing is a medium finding at most.
        writing = (Severity.CRITICAL if medical else Severity.HIGH) if sure else Severity.MEDIUM
        severity = writing if severity is None else min(severity, writing, key=lambda s: s.rank)
        said.append(f"{', '.join(open_writers)} write to it" + ("" if sure else " (claimed, uncertain)"))
    if severity is None:
        return None
    evidence = f"{_from(view)}: {'; '.join(said)}."
    if medical and share.content is not None:
        evidence += (
            f" Medical data on the share: {medical_summary(share.content)} ({content_note(share.content)})."
        )
    return Hit(
        severity,
        evidence,
        share=share,
        identity_key=f"vantage/{view.vantage}",
        values={"vantage": view.vantage, "port": str(host.port)},
        host=host,
    )


def _dicom_reach(service: Service) -> tuple[Severity, str]:
    """A DICOM port that answered from an untrusted segment: how bad, in words."""
    dicom = service.dicom
    query = dicom.query if dicom is not None else None
    if dicom is not None and dicom.any_calling_ae and query is not None and query.outcome == "answered":
        severity = Severity.CRITICAL if query.studies else Severity.HIGH
        return severity, f"a study-level C-FIND from an unknown AE title was answered: {reach_text(query)}"
    if dicom is not None and dicom.any_calling_ae:
        return Severity.HIGH, "an association from an unknown AE title was accepted"
    return Severity.MEDIUM, "the port answers DICOM (an archive or modality: medical data by nature)"


def _nfs_reach(service: Service) -> tuple[Severity, str]:
    """An NFS port that answered from an untrusted segment: exports mounted, and medical data on them."""
    nfs = service.nfs
    exports = nfs.exports if nfs is not None else ()
    mounted = [e for e in exports if any(a.mount for a in e.access.values())]
    medical = sum(m.count for e in mounted if e.content is not None for m in e.content.medical.values())
    if medical:
        return (
            Severity.CRITICAL,
            f"{len(mounted)} export(s) mounted with AUTH_SYS, {medical} medical file(s) on them",
        )
    if mounted:
        return Severity.HIGH, f"{len(mounted)} export(s) mounted with AUTH_SYS"
    return Severity.MEDIUM, "the port answers NFS"


def _ftp_reach(service: Service) -> tuple[Severity, str]:
    """An FTP port that answered from an untrusted segment: anonymous logins, their medical data and uploads."""
    ftp = service.ftp
    trees = [t for t in (ftp.trees if ftp is not None else ()) if t.identity == "anonymous"]
    medical = sum(m.count for t in trees if t.content is not None for m in t.content.medical.values())
    uploads = any(f.writable for t in trees for f in t.folders)
    if medical:
        return Severity.CRITICAL, f"anonymous FTP logs in and reads {medical} medical file(s)"
    if uploads:
        return Severity.HIGH, "anonymous FTP may add files"
    if trees:
        return Severity.HIGH, "anonymous FTP logs in"
    return Severity.MEDIUM, "the port answers FTP"


# Protocol -> how reaching one of its ports from an untrusted segment is judged. A protocol without an
# entry raises no finding (its facts are not understood here).
_SERVICE_REACH: dict[str, Callable[[Service], tuple[Severity, str]]] = {
    "dicom": _dicom_reach,
    "nfs": _nfs_reach,
    "ftp": _ftp_reach,
}


def _service_hit(host: HostResult, service: Service, view: VantageView) -> Hit | None:
    judge = _SERVICE_REACH.get(service.protocol)
    seen = next((s for s in view.services if (s.protocol, s.port) == (service.protocol, service.port)), None)
    if judge is None or seen is None or not seen.reachable:
        return None
    severity, said = judge(seen)
    door = f"{service.protocol.upper()} port {service.port}"
    return Hit(
        severity,
        f"{_from(view)}: {door} answered; {said}.",
        identity_key=f"{service.protocol}/{service.port}/vantage/{view.vantage}",
        values={"vantage": view.vantage, "port": str(service.port)},
        host=host,
    )


@scan_rule(RULE)
def untrusted_vantage(result: ScanResult) -> Iterator[Hit]:
    """Medical data, or a door anonymous/guest may write through, reachable from an untrusted vantage point."""
    for host in result.hosts:
        for view in untrusted_views(result, host):
            for share in host.shares:
                if share.type == "disk" and not share.excluded:
                    hit = _share_hit(host, share, view)
                    if hit is not None:
                        yield hit
            for service in host.services:
                hit = _service_hit(host, service, view)
                if hit is not None:
                    yield hit
