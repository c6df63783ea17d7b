"""Device rules: is a printer/scanner account confined to its drop folder? (the `device` command's checklist).

They fire only on a result that names a device account (`options["device"]`, set by `shareaudit device`),
one hit per reason, so the checklist is the findings of this family and nothing beside the registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.acl import FILE_READ_DATA, expand_generic
from shareaudit.model import HostResult, ScanResult, Severity, Share
from shareaudit.rules.facts import ANONYMOUS, GUEST
from shareaudit.rules.registry import Hit, scan_rule

DEVICE = "device"  # options key: the device account's identity label
DROP_SHARE = "drop_share"  # options key: the share it should only add files to

# Principals that may read a drop folder besides the device: administrators and the system itself.
_TRUSTED_SIDS = {
    "S-1-5-18",
    "S-1-5-32-544",
    "S-1-3-0",
    "S-1-22-1-0",
}  # SYSTEM, Administrators, CREATOR OWNER, root
_ADMIN_RIDS = ("-500", "-512", "-519")  # Administrator, Domain Admins, Enterprise Admins


def device_of(result: ScanResult) -> tuple[str, str | None] | None:
    """The device label and drop share this result was checked for, if any."""
    label = result.options.get(DEVICE)
    if not isinstance(label, str) or not label:
        return None
    drop = result.options.get(DROP_SHARE)
    return label, drop if isinstance(drop, str) and drop else None


def _scanned(result: ScanResult) -> Iterator[tuple[HostResult, str, str | None]]:
    device = device_of(result)
    if device is None:
        return
    for host in result.hosts:
        if host.posture is not None:  # a host that was not scanned is target-not-scanned's
            yield host, *device


def drop_folder(host: HostResult, drop: str | None) -> Share | None:
    """The drop share of a host (names compare case-insensitively, as SMB does)."""
    return next((s for s in host.shares if drop and s.name.lower() == drop.lower()), None)


def _is_admin_principal(sid: str, name: str | None) -> bool:
    return sid in _TRUSTED_SIDS or sid.endswith(_ADMIN_RIDS) or bool(name and "admin" in name.lower())


@scan_rule("device-beyond-drop")
def beyond_drop(result: ScanResult) -> Iterator[Hit]:
    """The device account reads or writes a disk share other than its drop folder."""
    for host, label, drop in _scanned(result):
        for share in host.shares:
            access = share.access.get(label)
            # IPC$ and print queues are how any client talks to a server; data exposure is on disk shares.
            if (
                share.type != "disk"
                or share.name == drop
                or access is None
                or not (access.read or access.write)
            ):
                continue
            rights = "/".join(
                word for word, granted in (("read", access.read), ("write", access.write)) if granted
            )
            medical = share.content.medical if share.content and access.read else {}
            total = sum(m.count for m in medical.values())
            held = f", holding medical data ({total} files: {', '.join(sorted(medical))})" if medical else ""
            yield Hit(
                Severity.CRITICAL if medical else Severity.HIGH,
                f"{label} can {rights} share {share.name}{held}",
                share=share,
                identity=label,
                host=host,
            )


@scan_rule("device-server-posture")
def server_posture(result: ScanResult) -> Iterator[Hit]:
    """What "making the scanner work" usually turned on: SMB1, guest, guest fallback, no signing."""
    for host, label, _ in _scanned(result):
        p = host.posture
        assert p is not None
        for reason, present in (
            ("the server accepts SMB1", p.smb1),
            ("the server accepts an account named Guest with an empty password", p.guest_account_of_its_own),
            ("the server lets unknown users in as guest", p.guest_fallback),
            ("the server does not require signing", not p.signing_required),
        ):
            if present:
                yield Hit(Severity.MEDIUM, reason, identity=label, identity_key=reason, host=host)


@scan_rule("device-drop-missing")
def drop_missing(result: ScanResult) -> Iterator[Hit]:
    """The drop folder the device was installed for is not a share of the host."""
    for host, label, drop in _scanned(result):
        if drop and drop_folder(host, drop) is None:
            yield Hit(Severity.MEDIUM, f"no share named {drop}", identity=label, identity_key=drop, host=host)


@scan_rule("device-drop-readable")
def drop_readable(result: ScanResult) -> Iterator[Hit]:
    """Someone other than the device and administrators can read what is scanned into the drop folder."""
    for host, label, drop in _scanned(result):
        share = drop_folder(host, drop)
        if share is None:
            continue
        for other, access in share.access.items():
            if other != label and access.read and other in (ANONYMOUS, GUEST):
                yield Hit(
                    Severity.HIGH,
                    f"{other} can read the drop folder {share.name}",
                    share=share,
                    identity=other,
                    host=host,
                )
        for ace in (share.root_sd.dacl or ()) if share.root_sd else ():
            if ace.kind != "allow" or "IO" in ace.flag_names or not expand_generic(ace.mask) & FILE_READ_DATA:
                continue
            if _is_admin_principal(ace.sid, ace.name) or (ace.name or "").lower().endswith(
                "\\" + label.lower()
            ):
                continue
            yield Hit(
                Severity.HIGH,
                f"the ACL of {share.name} lets {ace.name or ace.sid} read it",
                share=share,
                identity=ace.name or ace.sid,
                identity_key=ace.sid,
                values={"principal": ace.name or ace.sid, "sid": ace.sid},
                host=host,
            )


@scan_rule("device-drop-rights")
def drop_rights(result: ScanResult) -> Iterator[Hit]:
    """The device cannot add files to its drop folder, or can do more than add them."""
    for host, label, drop in _scanned(result):
        share = drop_folder(host, drop)
        if share is None:
            continue
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
        for reason in reasons:
            yield Hit(Severity.MEDIUM, reason, share=share, identity=label, identity_key=reason, host=host)
