"""The after-install device checklist, read from the device rules' findings (shareaudit/rules/device.py).

The questions per host, each PASS or FAIL with the findings' evidence as reasons:
- does the device account reach anything beyond its drop folder, and is any of it medical data;
- does the server accept SMB1, guest or guest fallback, or not require signing (the usual side effects
  of "making the scanner work");
- is the drop folder readable by anyone other than the device account and administrators;
- does the device account have delete, change-permission or take-ownership rights where it should
  only add files;
- where the device account logs on over FTP: does its password cross in clear text, and does it reach
  more than its drop folder (or medical data) there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from shareaudit.model import HostResult, ScanResult
from shareaudit.rules.device import device_of
from shareaudit.rules.facts import host_label

# Each check: the rule whose findings fail it, and the line the checklist shows.
_CHECKS = (
    ("device-beyond-drop", "reaches nothing beyond its drop folder"),
    ("device-server-posture", "no SMB1, no guest, signing required"),
)
# Only where the host's NFS door was scanned as the device's uid (device --device-nfs-uid).
_NFS_CHECK = ("nfs-device-reach", "its NFS uid reaches no export beyond its drop folder")
_DROP_CHECKS = (
    ("device-drop-readable", "drop folder readable only by the device and administrators"),
    ("device-drop-rights", "device may only add files to its drop folder"),
)
# On a host where the device account logs on over FTP (rules/ftp.py).
_FTP_CHECKS = (
    ("device-ftp-plaintext", "over FTP: its password never crosses in clear text"),
    ("device-ftp-reach", "over FTP: reaches nothing beyond its drop folder, no medical data"),
)


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    host: str
    name: str
    passed: bool
    reasons: tuple[str, ...] = ()


def checks(result: ScanResult) -> list[Check]:
    """The checklist for every host of a device check's result (findings already evaluated)."""
    device = device_of(result)
    if device is None:
        return []
    device_label, drop = device
    reasons: dict[tuple[str, str], list[str]] = defaultdict(list)
    for finding in result.findings:
        reasons[(finding.host, finding.rule)].append(finding.evidence)
    found: list[Check] = []
    for host in result.hosts:
        label = host_label(host)
        over_ftp = _logs_on_over_ftp(host, device[0])
        if host.posture is None and not over_ftp:
            found.append(Check(label, "host scanned", False, (host.error or "not scanned",)))
            continue
        wanted = list(_CHECKS) if host.posture is not None else []
        if any(s.nfs and device_label in s.nfs.identities for s in host.services if s.protocol == "nfs"):
            wanted.append(_NFS_CHECK)
        if drop and host.posture is not None:
            missing = tuple(reasons.get((label, "device-drop-missing"), ()))
            if missing:  # nothing to say about a folder that is not there
                found.append(Check(label, f"drop folder {drop} exists", False, missing))
            else:
                wanted += _DROP_CHECKS
        if over_ftp:  # an FTP-only host (SMB absent) gets these checks alone
            wanted += _FTP_CHECKS
        for rule, name in wanted:
            why = tuple(reasons.get((label, rule), ()))
            found.append(Check(label, name, not why, why))
    return found


def _logs_on_over_ftp(host: HostResult, device: str) -> bool:
    return any(
        login.identity == device and login.accepted
        for service in host.services
        if service.ftp is not None
        for login in service.ftp.logins
    )
