"""NFS rules: exports open to any host, no_root_squash, AUTH_SYS trusted from anywhere, medical data on
an open export, an NFS door not fully scanned, and the device check's NFS reach.

One finding per export (the export path is the finding's path, fingerprinted with `nfs/<port>`);
remediation is written for the NFS servers (platform.NFS_PLATFORMS) and shown first for the host's NAS
firmware when SMB named it (Synology, QNAP, TrueNAS).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from shareaudit.collect.nfs import judge
from shareaudit.collect.nfs.options import ANONYMOUS
from shareaudit.model import NfsAccess, NfsExport, NfsFacts, ScanResult, Service, Severity, Share
from shareaudit.rules.device import device_of
from shareaudit.rules.facts import HostFacts, medical_files, medical_summary
from shareaudit.rules.registry import Hit, host_rule, scan_rule


def nfs_doors(services: tuple[Service, ...]) -> Iterator[tuple[Service, NfsFacts]]:
    """The host's NFS ports that answered, with their facts (rpcbind's port is not a door)."""
    for service in services:
        if service.protocol == "nfs" and service.reachable and service.nfs and service.nfs.role == "nfs":
            yield service, service.nfs


def _exports(facts: HostFacts) -> Iterator[tuple[Service, NfsFacts, NfsExport]]:
    for service, nfs in nfs_doors(facts.host.services):
        for export in nfs.exports:
            yield service, nfs, export


def _hit(
    severity: Severity,
    evidence: str,
    service: Service,
    export: NfsExport | None,
    identity: str | None = None,
    extra: dict[str, str] | None = None,
) -> Hit:
    values = {"port": str(service.port), "export": export.path if export else "/"}
    values.update(extra or {})
    return Hit(
        severity,
        evidence,
        # The export stands where a share does (reports' share column, the fingerprint); it is not an SMB share.
        share=Share(name=export.path, type="nfs", hidden=False) if export else None,
        identity=identity,
        identity_key=f"nfs/{service.port}" + (f"/{identity}" if identity else ""),
        values=values,
    )


def _clients(export: NfsExport) -> str:
    return ", ".join(export.clients) if export.clients else "no client named (everyone)"


def _anonymous(export: NfsExport) -> NfsAccess:
    return export.access.get(ANONYMOUS) or NfsAccess(mount=False)


def _as(nfs: NfsFacts, label: str) -> str:
    return f"{label} ({nfs.identities.get(label, '?')})"


@host_rule("nfs-export-everyone")
def export_everyone(facts: HostFacts) -> Iterator[Hit]:
    """The MOUNT export list names any host as a client of an export."""
    for service, nfs, export in _exports(facts):
        if not export.everyone:
            continue
        nobody = _anonymous(export)
        if nobody.list:
            said, severity = (
                f"it was mounted and listed as {_as(nfs, ANONYMOUS)} from the scanner",
                Severity.HIGH,
            )
        elif nobody.mount:
            said, severity = (
                f"it was mounted as {_as(nfs, ANONYMOUS)}; its root refused a listing",
                Severity.HIGH,
            )
        else:
            refused = nobody.status or "refused"
            said, severity = f"mounting it as {_as(nfs, ANONYMOUS)} was refused ({refused})", Severity.MEDIUM
        yield _hit(
            severity,
            f"NFS export {export.path} is exported to any host (clients: {_clients(export)}); {said}.",
            service,
            export,
        )


@host_rule("nfs-no-root-squash")
def no_root_squash(facts: HostFacts) -> Iterator[Hit]:
    """uid 0 read a file only root may read: the export does not squash root."""
    for service, _, export in _exports(facts):
        squash = export.root_squash
        if squash is None or squash.squashed is not False:
            continue
        reach = judge.broadest(export.clients) or f"the hosts {_clients(export)}"
        yield _hit(
            Severity.CRITICAL if judge.broad_network(export.clients) else Severity.HIGH,
            f"NFS export {export.path}: AUTH_SYS uid 0 read the first byte of {squash.path}, a file only root "
            f"may read (nothing else was read): root on any client of {reach} is root on these files.",
            service,
            export,
        )


@host_rule("nfs-auth-sys-any-host")
def auth_sys_any_host(facts: HostFacts) -> Iterator[Hit]:
    """An export takes AUTH_SYS uids on trust from a wide set of hosts, or a claimed uid opened more."""
    for service, nfs, export in _exports(facts):
        mounted = [label for label, access in export.access.items() if access.mount]
        if not mounted:
            continue
        gained = judge.gained(export.access, ANONYMOUS)
        broad = judge.broad_network(export.clients)
        if not gained and not broad:
            continue
        parts = [
            f"NFS export {export.path} accepted AUTH_SYS (a uid and gid the client merely states) from the "
            f"scanner as {', '.join(_as(nfs, label) for label in mounted)}"
        ]
        if broad:
            parts.append(f"its clients are {judge.broadest(export.clients)}")
        for label in gained:
            granted = export.access[label]
            rights = [
                r
                for r, ok in (("list", granted.list), ("read", granted.read), ("write", granted.write))
                if ok
            ]
            parts.append(
                f"claiming {_as(nfs, label)} gave {'/'.join(rights)} that nobody (65534) did not have"
            )
        yield _hit(Severity.HIGH if gained else Severity.MEDIUM, "; ".join(parts) + ".", service, export)


@host_rule("nfs-medical-open")
def medical_open(facts: HostFacts) -> Iterator[Hit]:
    """Medical data on an export that anyone who can reach it may mount and read."""
    for service, nfs, export in _exports(facts):
        content = export.content
        if content is None or not medical_files(content):
            continue
        anyone = content.crawled_as == ANONYMOUS
        who = (
            f"as {_as(nfs, ANONYMOUS)}, which any client may claim"
            if anyone
            else f"as {_as(nfs, content.crawled_as)}, a uid any client may claim under AUTH_SYS"
        )
        scope = judge.broadest(export.clients) or f"the hosts {_clients(export)}"
        yield _hit(
            Severity.CRITICAL if anyone or judge.broad_network(export.clients) else Severity.HIGH,
            f"NFS export {export.path} (clients: {scope}) holds medical data, walked {who}: "
            f"{medical_summary(content)}.",
            service,
            export,
        )


@host_rule("nfs-not-scanned")
def not_scanned(facts: HostFacts) -> Iterator[Hit]:
    """An NFS port answered, but the export list, an export or its walk could not be finished."""
    for service in facts.host.services:
        if service.protocol != "nfs" or not service.reachable:
            continue
        nfs = service.nfs or NfsFacts()
        reasons = []
        if service.error:
            reasons.append(f"{service.error_kind or 'error'}: {service.error}")
        if nfs.exports_error:
            reasons.append(f"the export list could not be read ({nfs.exports_error})")
        for export in nfs.exports:
            if export.content is not None and export.content.error:
                reasons.append(f"the walk of {export.path} stopped: {export.content.error}")
        if reasons:
            yield _hit(
                Severity.MEDIUM,
                f"NFS port {service.port}: " + "; ".join(reasons) + " (what was learned before is kept).",
                service,
                None,
            )


@scan_rule("nfs-device-reach")
def device_reach(result: ScanResult) -> Iterator[Hit]:
    """The device account's NFS uid reaches an export other than its drop folder (the device check)."""
    device = device_of(result)
    if device is None:
        return
    label, drop = device
    for host in result.hosts:
        for service, nfs in nfs_doors(host.services):
            if label not in nfs.identities:
                continue
            for export in nfs.exports:
                access = export.access.get(label)
                if access is None or not (access.list or access.read or access.write):
                    continue
                if drop and export.path.rstrip("/").rsplit("/", 1)[-1].lower() == drop.lower():
                    continue
                rights = [
                    r
                    for r, ok in (("list", access.list), ("read", access.read), ("write", access.write))
                    if ok
                ]
                medical = export.content is not None and bool(medical_files(export.content))
                hit = _hit(
                    Severity.CRITICAL if medical else Severity.HIGH,
                    f"{label} ({nfs.identities[label]}) can {'/'.join(rights)} NFS export {export.path}"
                    + (" holding medical data" if medical else ""),
                    service,
                    export,
                    identity=label,
                )
                yield replace(hit, host=host)
