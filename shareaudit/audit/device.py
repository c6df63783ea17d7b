"""The after-install device check: is a printer/scanner account confined to its drop folder?

Four questions, each a pass/fail check over a scan result (facts only, no network):
- does the device account reach anything beyond its drop folder, and is any of it medical data;
- does the server accept SMB1, guest or guest fallback, or not require signing (the usual side effects
  of "making the scanner work");
- is the drop folder readable by anyone other than the device account and administrators;
- does the device account have delete, change-permission or take-ownership rights where it should
  only add files.
"""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.acl import FILE_READ_DATA, expand_generic
from shareaudit.model import HostResult, ScanResult, Share

# Principals that may read a drop folder besides the device: administrators and the system itself.
_TRUSTED_SIDS = {
    "S-1-5-18",
    "S-1-5-32-544",
    "S-1-3-0",
    "S-1-22-1-0",
}  # SYSTEM, Administrators, CREATOR OWNER, root
_ADMIN_RIDS = ("-500", "-512", "-519")  # Administrator, Domain Admins, Enterprise Admins


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    host: str
    name: str
    passed: bool
    reasons: tuple[str, ...] = ()


def _is_admin_principal(sid: str, name: str | None) -> bool:
    return sid in _TRUSTED_SIDS or sid.endswith(_ADMIN_RIDS) or bool(name and "admin" in name.lower())


def _beyond_drop(host: HostResult, label: str, drop: str | None) -> Check:
    reasons = []
    for share in host.shares:
        access = share.access.get(label)
        # IPC$ and print queues are how any client talks to a server; data exposure is on disk shares.
        if share.type != "disk" or access is None or not access.connect or share.name == drop:
            continue
        if share.type == "disk" and not (access.read or access.write):
            continue
        rights = (
            "/".join(word for word, granted in (("read", access.read), ("write", access.write)) if granted)
            or "connect"
        )
        medical = ""
        if share.content and share.content.medical and access.read:
            total = sum(m.count for m in share.content.medical.values())
            kinds = ", ".join(sorted(share.content.medical))
            medical = f", holding medical data ({total} files: {kinds})"
        reasons.append(f"{label} can {rights} share {share.name}{medical}")
    return Check(host.target, "reaches nothing beyond its drop folder", not reasons, tuple(reasons))


def _posture(host: HostResult) -> Check:
    reasons = []
    p = host.posture
    if p is not None:
        if p.smb1:
            reasons.append("the server accepts SMB1")
        if p.guest_account:
            reasons.append("the server accepts the Guest account")
        if p.guest_fallback:
            reasons.append("the server lets unknown users in as guest")
        if not p.signing_required:
            reasons.append("the server does not require signing")
    return Check(host.target, "no SMB1, no guest, signing required", not reasons, tuple(reasons))


def _drop_readers(host: HostResult, label: str, share: Share) -> Check:
    reasons = []
    for other, access in share.access.items():
        if other != label and access.read and other in ("anonymous", "guest"):
            reasons.append(f"{other} can read the drop folder {share.name}")
    for ace in (share.root_sd.dacl or ()) if share.root_sd else ():
        if ace.kind != "allow" or "IO" in ace.flag_names or not expand_generic(ace.mask) & FILE_READ_DATA:
            continue
        if _is_admin_principal(ace.sid, ace.name) or (ace.name or "").lower().endswith("\\" + label.lower()):
            continue
        reasons.append(f"the ACL of {share.name} lets {ace.name or ace.sid} read it")
    return Check(
        host.target, "drop folder readable only by the device and administrators", not reasons, tuple(reasons)
    )


def _drop_rights(host: HostResult, label: str, share: Share) -> Check:
    access = share.access.get(label)
    reasons = []
    if access is None or not access.connect:
        reasons.append(f"{label} cannot connect to its drop folder {share.name}")
    else:
        if not access.write:
            reasons.append(f"{label} cannot add files to {share.name}")
        for right, granted in (
            ("delete", access.delete),
            ("change permissions on", access.change_permissions),
            ("take ownership of", access.take_ownership),
        ):
            if granted:
                reasons.append(f"{label} can {right} files in {share.name}")
    return Check(host.target, "device may only add files to its drop folder", not reasons, tuple(reasons))


def checks(result: ScanResult, label: str, drop_share: str | None) -> list[Check]:
    """The checklist for every host of the result."""
    found: list[Check] = []
    for host in result.hosts:
        if host.error and host.posture is None:
            found.append(Check(host.target, "host scanned", False, (host.error,)))
            continue
        found.append(_beyond_drop(host, label, drop_share))
        found.append(_posture(host))
        drop = next((s for s in host.shares if drop_share and s.name.lower() == drop_share.lower()), None)
        if drop_share and drop is None:
            found.append(Check(host.target, f"drop folder {drop_share} exists", False, ("no such share",)))
        elif drop is not None:
            found.append(_drop_readers(host, label, drop))
            found.append(_drop_rights(host, label, drop))
    return found
