"""FTP rules: anonymous reads and uploads, passwords in clear text, certificates, a door not fully scanned,
and the device check's FTP questions (is the printer's account confined over FTP too?).

Findings name the door as their share (`ftp:21`); remediation is written for the FTP daemons and the NAS
firmwares that configure theirs (platform.FTP_PLATFORMS), shown first for the one detected (`detect_ftp`).
"""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import (
    Basis,
    Content,
    FtpFacts,
    FtpTree,
    HostResult,
    ScanResult,
    Service,
    Severity,
    Share,
)
from shareaudit.rules.device import device_of
from shareaudit.rules.facts import HostFacts, content_note, medical_files, medical_summary, plural
from shareaudit.rules.platform import detect_ftp, detect_platform
from shareaudit.rules.registry import Hit, host_rule, scan_rule

ANONYMOUS = "anonymous"
_BASIS = {
    Basis.GRANTED: "the server's perm fact",
    Basis.UNCERTAIN: "LIST mode bits only, uncertain",
    Basis.MEASURED: "stored and deleted a probe file",
}


def ftp_services(host: HostResult) -> Iterator[tuple[Service, FtpFacts]]:
    """The host's FTP ports that answered, with their facts."""
    for service in host.services:
        if service.protocol == "ftp" and service.reachable and service.ftp is not None:
            yield service, service.ftp


def door(service: Service) -> Share:
    """The FTP door as the finding's share: `ftp:21`."""
    return Share(name=f"ftp:{service.port}", type="ftp", hidden=False)


def tree_of(ftp: FtpFacts, label: str) -> FtpTree | None:
    """The tree an identity's login landed in, if it was accepted and listed."""
    return next((tree for tree in ftp.trees if tree.identity == label), None)


def content_of(ftp: FtpFacts, tree: FtpTree) -> Content | None:
    """A tree's walk: its own, or that of the less privileged identity that landed in the same tree."""
    if tree.content is not None:
        return tree.content
    same = tree_of(ftp, tree.same_as) if tree.same_as else None
    return same.content if same is not None else None


def _where(service: Service, ftp: FtpFacts) -> str:
    transport = "implicit FTPS" if ftp.transport == "implicit_tls" else "FTP"
    return f"{transport} port {service.port}"


def _hit(
    severity: Severity,
    evidence: str,
    service: Service,
    ftp: FtpFacts,
    platform: str | None,
    identity: str | None = None,
    path: str | None = None,
    host: HostResult | None = None,
) -> Hit:
    return Hit(
        severity,
        evidence,
        share=door(service),
        identity=identity,
        path=path,
        values={"port": str(service.port)},
        platform=detect_ftp(ftp, platform),
        host=host,
    )


@host_rule("ftp-anonymous-read")
def anonymous_read(facts: HostFacts) -> Iterator[Hit]:
    """Anonymous FTP logs in and lists what it lands in (critical with medical data)."""
    for service, ftp in ftp_services(facts.host):
        tree = tree_of(ftp, ANONYMOUS)
        if tree is None or not tree.list:
            continue
        login = next((x for x in ftp.logins if x.identity == ANONYMOUS and x.accepted), None)
        name = login.username if login else ANONYMOUS
        content = content_of(ftp, tree)
        said = f"{_where(service, ftp)}: anonymous login ({name}, an e-mail address as the password) lands in {tree.root or '/'}"
        if content is None:
            severity = Severity.HIGH
            said += f" and lists {plural(len(tree.landing), 'entry')} there; the tree was not walked, so what it holds is unknown."
        elif medical_files(content):
            severity = Severity.CRITICAL
            said += f"; it reads {plural(medical_files(content), 'medical file')}: {medical_summary(content)} ({content_note(content)})."
        elif content.files_seen:
            severity = Severity.MEDIUM
            said += f"; no medical data was found ({content_note(content)})."
        else:
            severity = Severity.LOW
            said += f"; the tree is empty ({content_note(content)})."
        yield _hit(severity, said, service, ftp, facts.platform, ANONYMOUS)


@host_rule("ftp-anonymous-upload")
def anonymous_upload(facts: HostFacts) -> Iterator[Hit]:
    """Anonymous FTP may add files to a folder (uncertain from LIST mode bits alone: medium)."""
    for service, ftp in ftp_services(facts.host):
        tree = tree_of(ftp, ANONYMOUS)
        if tree is None:
            continue
        folders = [f for f in tree.folders if f.writable]
        if not folders:
            continue
        sure = [f for f in folders if f.basis is not Basis.UNCERTAIN]
        shown = ", ".join(f"{f.path or '/'} ({_BASIS[f.basis]})" for f in (sure or folders)[:10])
        content = content_of(ftp, tree)
        medical = medical_files(content) if content else 0
        severity = (Severity.CRITICAL if medical else Severity.HIGH) if sure else Severity.MEDIUM
        evidence = f"{_where(service, ftp)}: anonymous may add files to {plural(len(sure or folders), 'folder')}: {shown}."
        if not sure:
            evidence += " Only the LIST mode bits say so: --active-write-probe decides it."
        if medical:
            evidence += f" The same anonymous tree holds {plural(medical, 'medical file')}."
        yield _hit(
            severity, evidence, service, ftp, facts.platform, ANONYMOUS, path=(sure or folders)[0].path
        )


@host_rule("ftp-plaintext-login")
def plaintext_login(facts: HostFacts) -> Iterator[Hit]:
    """The server takes passwords in clear text (high without any TLS, or when an account's password did cross)."""
    for service, ftp in ftp_services(facts.host):
        if not ftp.plaintext_login:
            continue
        crossed = [x for x in ftp.logins if x.accepted and not x.tls and x.identity != ANONYMOUS]
        if crossed:
            who = ", ".join(f"{x.identity} ({x.username})" for x in crossed)
            evidence = f"{_where(service, ftp)}: the password of {who} was accepted without TLS: it crossed the network in clear text."
        else:
            evidence = f"{_where(service, ftp)}: USER before any TLS is answered {ftp.plaintext_reply or 'with a password prompt'}: the server takes passwords in clear text."
        if ftp.auth_tls:
            evidence += " AUTH TLS is offered, but not required."
        else:
            evidence += " The server offers no TLS at all."
        severity = Severity.HIGH if crossed or not ftp.auth_tls else Severity.MEDIUM
        yield _hit(severity, evidence, service, ftp, facts.platform, crossed[0].identity if crossed else None)


@host_rule("ftp-tls-certificate")
def tls_certificate(facts: HostFacts) -> Iterator[Hit]:
    """The FTPS certificate has expired, is not yet valid, or is self-signed."""
    for service, ftp in ftp_services(facts.host):
        cert = ftp.certificate
        if cert is None or not (cert.expired or cert.not_yet_valid or cert.self_signed):
            continue
        problems = []
        if cert.expired:
            problems.append(f"it expired on {cert.not_after}")
        if cert.not_yet_valid:
            problems.append(f"it is valid only from {cert.not_before}")
        if cert.self_signed:
            problems.append("it is self-signed")
        severity = Severity.MEDIUM if cert.expired or cert.not_yet_valid else Severity.LOW
        yield _hit(
            severity,
            f"{_where(service, ftp)}: the TLS certificate for {cert.subject} (SHA-256 {cert.sha256[:16]}...): "
            f"{', '.join(problems)}. Clients that accept it accept any certificate, and with it a machine in the middle.",
            service,
            ftp,
            facts.platform,
        )


@host_rule("ftp-not-scanned")
def not_scanned(facts: HostFacts) -> Iterator[Hit]:
    """An FTP port answered, then the probe or a walk stopped before it was done."""
    for service in facts.host.services:
        if service.protocol != "ftp" or not service.reachable or not service.error:
            continue
        ftp = service.ftp or FtpFacts(transport="plain")
        anonymous = tree_of(ftp, ANONYMOUS)
        severity = Severity.HIGH if anonymous is not None and anonymous.list else Severity.MEDIUM
        yield _hit(
            severity,
            f"FTP port {service.port}: {service.error_kind or 'error'}: {service.error} (what was learned before is kept).",
            service,
            ftp,
            facts.platform,
        )


# --- the device check over FTP (active only on a result whose options name a device account) ------------


def _device_logins(result: ScanResult) -> Iterator[tuple[HostResult, str, str | None, Service, FtpFacts]]:
    device = device_of(result)
    if device is None:
        return
    label, drop = device
    for host in result.hosts:
        for service, ftp in ftp_services(host):
            if any(login.identity == label and login.accepted for login in ftp.logins):
                yield host, label, drop, service, ftp


@scan_rule("device-ftp-plaintext")
def device_plaintext(result: ScanResult) -> Iterator[Hit]:
    """The device account's FTP password crosses (or may cross) the network in clear text."""
    for host, label, _, service, ftp in _device_logins(result):
        login = next(x for x in ftp.logins if x.identity == label and x.accepted)
        if not login.tls:
            severity = Severity.HIGH
            said = f"{label} logs on to {_where(service, ftp)} without TLS: its password crosses the network in clear text"
        elif ftp.plaintext_login:
            severity = Severity.MEDIUM
            said = f"{label} logged on inside TLS, but {_where(service, ftp)} also takes passwords in clear text: a device set to plain FTP sends it in clear"
        else:
            continue
        yield _hit(severity, said, service, ftp, detect_platform(host.posture), label, host=host)


def _beyond_drop(tree: FtpTree, drop: str | None) -> list[str]:
    """What the device lands next to besides its drop folder.

    Landing in the drop folder itself (by name, or chrooted into it: "/" with no entry named like it) is
    confined; landing above it, everything beside it is beyond.
    """
    if not drop:
        return []
    wanted = drop.lower()
    if tree.root.rstrip("/").rsplit("/", 1)[-1].lower() == wanted:
        return []
    names = [name.rstrip("/").lower() for name in tree.landing]
    if wanted not in names:
        return []
    return [name for name in tree.landing if name.rstrip("/").lower() != wanted]


@scan_rule("device-ftp-reach")
def device_reach(result: ScanResult) -> Iterator[Hit]:
    """Over FTP, the device account reaches medical data, or more than its drop folder."""
    for host, label, drop, service, ftp in _device_logins(result):
        tree = tree_of(ftp, label)
        if tree is None or not tree.list:
            continue
        content = content_of(ftp, tree)
        medical = medical_files(content) if content else 0
        beyond = _beyond_drop(tree, drop)
        if not medical and not beyond:
            continue
        said = f"Over {_where(service, ftp)}, {label} lands in {tree.root or '/'}"
        if beyond:
            said += f" and reaches {', '.join(beyond[:10])}{' ...' if len(beyond) > 10 else ''} beyond its drop folder {drop}"
        if medical and content is not None:
            said += f"; it reads {plural(medical, 'medical file')}: {medical_summary(content)}"
        yield _hit(
            Severity.CRITICAL if medical else Severity.HIGH,
            said + ".",
            service,
            ftp,
            detect_platform(host.posture),
            label,
            host=host,
        )
