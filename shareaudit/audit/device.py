"""The after-install device checklist, read from the device rules' findings (shareaudit/rules/device.py).

Four questions per host, each PASS or FAIL with the findings' evidence as reasons:
- does the device account reach anything beyond its drop folder, and is any of it medical data;
- does the server accept SMB1, guest or guest fallback, or not require signing (the usual side effects
  of "making the scanner work");
- is the drop folder readable by anyone other than the device account and administrators;
- does the device account have delete, change-permission or take-ownership rights where it should
  only add files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from shareaudit.model import ScanResult
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
        if host.posture is None:
            found.append(Check(label, "host scanned", False, (host.error or "not scanned",)))
            continue
        wanted = list(_CHECKS)
        if any(s.nfs and device_label in s.nfs.identities for s in host.services if s.protocol == "nfs"):
            wanted.append(_NFS_CHECK)
        if drop:
            missing = tuple(reasons.get((label, "device-drop-missing"), ()))
            if missing:  # nothing to say about a folder that is not there
                found.append(Check(label, f"drop folder {drop} exists", False, missing))
            else:
                wanted += _DROP_CHECKS
        for rule, name in wanted:
            why = tuple(reasons.get((label, rule), ()))
            found.append(Check(label, name, not why, why))
    return found
