"""Questions the rules ask of one host's facts: who is this identity, who can read this share, ...

Pure reads of the model: nothing here talks to a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shareaudit.model import UNPRIVILEGED as UNPRIVILEGED
from shareaudit.model import Access, Content, HostResult, Posture, Role, Share

AUDIT = Role.AUDIT
ANONYMOUS = Role.ANONYMOUS
GUEST = Role.GUEST
SERVICE = Role.SERVICE

# A share an MFP or scanner drops files into, by its name or comment ("scans", "ScanInbox", "Scanner
# drop folder", "MFP ward 2"). A heuristic: the device account's rights elsewhere are judged against it.
_SCAN_DROP = re.compile(r"scan|inbox|drop|mfp|copier", re.IGNORECASE)
# Administrative shares: the drive roots (C$, D$, ...) and ADMIN$ (the Windows directory).
_ADMIN_SHARE = re.compile(r"[A-Za-z]\$|ADMIN\$", re.IGNORECASE)


def identity_class(label: str) -> Role:
    """audit, anonymous, guest, or service (every other label is a service or device account)."""
    return Role.of(label)


def host_label(host: HostResult) -> str:
    """How findings name a host: the target as given, or the address of a member of a CIDR range."""
    if "/" in host.target:
        return host.address if host.port == 445 else f"{host.address}:{host.port}"
    return host.target


def is_scan_drop(share: Share) -> bool:
    """The share looks like a scan-to-folder drop (name or comment)."""
    return share.type == "disk" and bool(_SCAN_DROP.search(share.name) or _SCAN_DROP.search(share.remark))


def is_admin_share(share: Share) -> bool:
    """C$, D$, ..., ADMIN$: administrative shares that expose a whole drive or the system directory."""
    return share.type == "disk" and bool(_ADMIN_SHARE.fullmatch(share.name))


def is_printer_drivers(share: Share) -> bool:
    """print$: the printer driver share clients download drivers from (Point and Print)."""
    return share.type == "disk" and share.name.lower() == "print$"


def plural(count: int, noun: str) -> str:
    """'1 file', '3 files'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def medical_files(content: Content | None) -> int:
    """How many medical files a share walk found (0 when the share was not walked)."""
    return sum(count.count for count in content.medical.values()) if content else 0


def medical_summary(content: Content) -> str:
    """'dicom 9, hl7v2 3' with the biggest types first."""
    ranked = sorted(content.medical.items(), key=lambda item: (-item[1].count, item[0]))
    return ", ".join(f"{type_id} {count.count}" for type_id, count in ranked)


def content_note(content: Content) -> str:
    """What the walk saw, in a few words, with its caveats (bounded, estimated, failed)."""
    note = f"walked as {content.crawled_as}: {plural(content.files_seen, 'file')} in {plural(content.dirs_seen, 'folder')}"
    if content.truncated:
        note += f" (walk stopped by {', '.join(content.bounds_hit) or 'a bound'}; counts are a lower bound)"
    if content.estimated:
        note += " (counts extrapolated)"
    if content.error:
        note += f" (walk failed: {content.error})"
    return note


def rights_text(access: Access | None) -> str:
    """'read, write, delete' for the rights an identity holds on a share root."""
    if access is None:
        return "no rights on the root"
    names = (
        ("read", access.read),
        ("write", access.write),
        ("delete", access.delete),
        ("change permissions", access.change_permissions),
        ("take ownership", access.take_ownership),
    )
    return ", ".join(name for name, held in names if held) or "no rights on the root"


@dataclass(frozen=True, slots=True)
class HostFacts:
    """One host's facts plus what the scan says about its identities and the host's platform."""

    host: HostResult
    labels: tuple[str, ...]  # the identity labels of the scan, in the order they were given
    accounts: Mapping[str, str]  # label -> DOMAIN\user as configured (empty for anonymous)
    platform: str | None

    @property
    def posture(self) -> Posture | None:
        """The host's posture (None when nothing answered)."""
        return self.host.posture

    @property
    def service_accounts(self) -> tuple[str, ...]:
        """Labels of the service/device accounts measured on this scan."""
        return tuple(label for label in self.labels if identity_class(label) == SERVICE)

    def disk_shares(self) -> tuple[Share, ...]:
        """Disk shares that were measured (not excluded by --include/--exclude-share)."""
        return tuple(s for s in self.host.shares if s.type == "disk" and not s.excluded)

    def access(self, share: Share, label: str) -> Access | None:
        """What one identity may do on a share (None when it was not measured)."""
        return share.access.get(label)

    def can_connect(self, share: Share, label: str) -> bool:
        """The identity's tree connect succeeded."""
        access = share.access.get(label)
        return bool(access and access.connect)

    def can_read(self, share: Share, label: str) -> bool:
        """The identity may list or read the share root."""
        access = share.access.get(label)
        return bool(access and access.connect and (access.read or access.list))

    def can_write(self, share: Share, label: str) -> bool:
        """The identity may add files or folders to the share root."""
        access = share.access.get(label)
        return bool(access and access.connect and access.write)

    def readers(self, share: Share, *classes: str) -> tuple[str, ...]:
        """Labels of the given classes that can read the share, in scan order."""
        return tuple(
            label for label in self.labels if identity_class(label) in classes and self.can_read(share, label)
        )

    def account(self, label: str) -> str:
        """The account name behind a label, or the label itself for anonymous."""
        return self.accounts.get(label) or label
