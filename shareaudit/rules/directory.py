"""Directory rules: device and service accounts seen through Active Directory (scan --ldap-url).

They read `ScanResult.directory` and the exposures derived from ACLs (`HostResult.exposures`): what a
device or service account could reach without anyone having its password. "Device account" in a rule id
means every candidate of `shareaudit.ad.devices` (printers, scanners, service and managed accounts): the
ids are older than the service accounts and stay stable.
"""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import UNPRIVILEGED, DirectoryAccount, Exposure, HostResult, ScanResult, Severity, Share
from shareaudit.rules.facts import medical_files, medical_summary
from shareaudit.rules.registry import Hit, scan_rule

# The domain logon shares every account reads by design; reaching them is not "broad reach".
_LOGON_SHARES = frozenset({"sysvol", "netlogon"})


def _devices(result: ScanResult) -> dict[str, DirectoryAccount]:
    directory = result.directory
    return {a.name.lower(): a for a in directory.accounts if a.device} if directory else {}


def _rights(exposure: Exposure) -> str:
    names = (
        ("read", exposure.read),
        ("write", exposure.write),
        ("delete", exposure.delete),
        ("change permissions", exposure.change_permissions),
        ("take ownership", exposure.take_ownership),
    )
    return ", ".join(name for name, held in names if held)


def _device_exposures(result: ScanResult) -> Iterator[tuple[HostResult, Share, Exposure, DirectoryAccount]]:
    devices = _devices(result)
    for host in result.hosts:
        shares = {share.name: share for share in host.shares}
        for exposure in host.exposures:
            account = devices.get(exposure.account.lower())
            if account is not None and exposure.share in shares:
                yield host, shares[exposure.share], exposure, account


@scan_rule("device-account-medical-path")
def device_account_medical_path(result: ScanResult) -> Iterator[Hit]:
    """A device account's groups give it a path to a share holding medical data (derived from ACLs)."""
    for host, share, exposure, account in _device_exposures(result):
        if not exposure.read or not medical_files(share.content) or share.content is None:
            continue
        yield Hit(
            Severity.CRITICAL if exposure.write else Severity.HIGH,
            f"{account.name} ({', '.join(account.reasons)}) could {_rights(exposure)} {share.name}, which holds "
            f"{medical_summary(share.content)}. Derived from ACLs, not measured: {'; '.join(exposure.because)}.",
            share=share,
            identity=account.name,
            host=host,
        )


def _kerberoastable(account: DirectoryAccount) -> bool:
    """An SPN, RC4 allowed, and a password a person chose: any domain user can ask for a ticket and crack it."""
    return bool(account.spns) and account.rc4 and account.managed is None


def _measured_reach(result: ScanResult, label: str) -> str:
    """What the scan identity `label` reached on the disk shares of the scan (the access matrix)."""
    hosts = reads = writes = 0
    for host in result.hosts:
        cells = [s.access[label] for s in host.shares if s.type == "disk" and label in s.access]
        hosts += bool(cells)
        reads += sum(1 for cell in cells if cell.sure("read"))
        writes += sum(1 for cell in cells if cell.sure("write"))
    if not hosts:
        return f"It is the scan identity '{label}': nothing of what it reaches was measured."
    where = f"{hosts} host{'s' if hosts != 1 else ''}"
    return (
        f"It is the scan identity '{label}': measured, it reads {reads} and writes {writes} "
        f"disk share{'s' if reads + writes != 1 else ''} on {where}."
    )


@scan_rule("device-account-privileged")
def device_account_privileged(result: ScanResult) -> Iterator[Hit]:
    """A device/service account is, directly or through nested groups, in an administrative group."""
    directory = result.directory
    for account in _devices(result).values():
        privileged = [g for g in account.groups if g.privileged]
        if not privileged or directory is None:
            continue
        chains = "; ".join(
            f"{account.name} is in " + ", which is in ".join(g.path or (g.name,)) for g in privileged
        )
        notes = []
        if _kerberoastable(account):
            types = (
                "not set"
                if account.encryption_types is None
                else f"0x{account.encryption_types:x}, which includes RC4"
                if account.encryption_types
                else "0"
            )
            notes.append(
                f"Kerberoastable: it has a servicePrincipalName ({account.spns[0]}) and Kerberos may use RC4 with "
                f"it (msDS-SupportedEncryptionTypes {types}): any domain user can ask for a ticket and try its "
                "password offline."
            )
        if account.managed:
            notes.append(
                "Its password is managed by the domain (long, random, rotated): the risk is whoever may "
                "retrieve it, and every computer it runs on."
            )
        elif account.workstations:
            notes.append(f"It may log on only from {', '.join(account.workstations)}.")
        else:
            notes.append("It may log on from any computer (no userWorkstations).")
        if not account.enabled:
            notes.append("Disabled: it cannot log on until someone enables it again.")
        if account.identity:
            notes.append(_measured_reach(result, account.identity))
        if not account.enabled:
            severity = Severity.MEDIUM
        elif account.managed:  # a managed password is in no device and cannot be guessed from a ticket
            severity = Severity.HIGH
        else:
            severity = Severity.CRITICAL
        yield Hit(
            severity,
            f"{account.name} ({'enabled' if account.enabled else 'disabled'}; {', '.join(account.reasons)}): "
            f"{chains}. " + " ".join(notes),
            identity=account.name,
            host_label=directory.dns_domain,
        )


@scan_rule("device-account-password-never-expires")
def device_account_password_never_expires(result: ScanResult) -> Iterator[Hit]:
    """A device account whose password never expires reaches medical data, writes, or many shares."""
    directory = result.directory
    if directory is None:
        return
    reach: dict[str, list[str]] = {}
    broad: set[str] = set()
    for host, share, exposure, account in _device_exposures(result):
        if share.name.lower() in _LOGON_SHARES or not (exposure.read or exposure.write):
            continue
        reach.setdefault(account.name, []).append(f"{host.target}/{share.name} ({_rights(exposure)})")
        if exposure.write or medical_files(share.content):
            broad.add(account.name)
    for account in _devices(result).values():
        shares = reach.get(account.name, [])
        if not (account.enabled and account.password_never_expires and shares):
            continue
        if account.name not in broad and len(shares) < 3:
            continue
        yield Hit(
            Severity.HIGH,
            f"{account.name}'s password never expires, and its groups give it: {', '.join(shares)} "
            "(derived from ACLs).",
            identity=account.name,
            host_label=directory.dns_domain,
        )


def _guest_readable(host: HostResult) -> list[str]:
    return [
        share.name
        for share in host.shares
        if share.type == "disk"
        and any(share.access.get(label) and share.access[label].read for label in UNPRIVILEGED)
    ]


@scan_rule("published-printer-guest-server")
def published_printer_guest_server(result: ScanResult) -> Iterator[Hit]:
    """A printer is published in the directory on a server that also lets guests read shares."""
    directory = result.directory
    if directory is None:
        return
    addresses = {c.dns_name: c.address for c in directory.computers if c.dns_name}
    for printer in directory.printers:
        address = addresses.get(printer.server)
        host = next(
            (
                h
                for h in result.hosts
                if h.target.lower() == printer.server or (address and h.address == address)
            ),
            None,
        )
        open_shares = _guest_readable(host) if host else []
        if host is None or not open_shares:
            continue
        yield Hit(
            Severity.HIGH,
            f"{printer.name} ({printer.unc}) is published in {directory.dns_domain}; its server also lets guest "
            f"or anonymous read: {', '.join(open_shares)}. Every client that adds the printer is pointed at it.",
            host=host,
            identity_key=printer.name,
            values={"shares": ", ".join(open_shares)},
        )
