"""Access rules: what the null session, guest and service accounts may really do on each share."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Severity
from shareaudit.rules.facts import (
    AUDIT,
    SERVICE,
    UNPRIVILEGED,
    HostFacts,
    content_note,
    identity_class,
    is_admin_share,
    is_printer_drivers,
    medical_files,
    medical_summary,
    rights_text,
)
from shareaudit.rules.registry import Hit, host_rule


def _read_severity(files: int, walked: bool, seen: int) -> Severity:
    # Context: a guest-readable share holding medical data is the breach this tool exists to find;
    # an empty one is barely worth a look; one we did not walk is an unknown, so medium.
    if files:
        return Severity.CRITICAL
    if walked and seen == 0:
        return Severity.LOW
    return Severity.MEDIUM


@host_rule("unprivileged-read")
def unprivileged_read(facts: HostFacts) -> Iterator[Hit]:
    """The null session or guest can read a disk share."""
    for share in facts.disk_shares():
        if is_admin_share(share):
            continue  # admin-share-reachable says it louder
        for label in facts.readers(share, *UNPRIVILEGED):
            content = share.content
            files = medical_files(content)
            if content is None:
                what = "The share was not walked, so what it holds is unknown."
            elif files:
                what = f"It holds medical data: {medical_summary(content)} ({content_note(content)})."
            else:
                what = f"No medical data was found ({content_note(content)})."
            severity = _read_severity(files, content is not None, content.entries_seen if content else 0)
            yield Hit(
                severity,
                f"{label} connects to {share.name} and may {rights_text(facts.access(share, label))}. "
                + what,
                share=share,
                identity=label,
            )


@host_rule("unprivileged-write")
def unprivileged_write(facts: HostFacts) -> Iterator[Hit]:
    """The null session or guest can add files to a disk share."""
    for share in facts.disk_shares():
        for label in UNPRIVILEGED:
            if not facts.can_write(share, label):
                continue
            files = medical_files(share.content)
            evidence = f"{label} may {rights_text(facts.access(share, label))} on {share.name}."
            access = facts.access(share, label)
            if access and access.probe and access.probe.created:
                evidence += " The active write probe confirmed it by creating a file."
            if files and share.content:
                evidence += f" The share holds medical data ({medical_summary(share.content)})."
            yield Hit(Severity.CRITICAL if files else Severity.HIGH, evidence, share=share, identity=label)


@host_rule("permission-takeover")
def permission_takeover(facts: HostFacts) -> Iterator[Hit]:
    """An identity other than the audit account may change a share root's permissions or take ownership."""
    for share in facts.disk_shares():
        for label in facts.labels:
            # The audit account may legitimately be an administrator; it is the operator's own identity.
            if label == AUDIT:
                continue
            access = facts.access(share, label)
            if not (access and access.connect and (access.change_permissions or access.take_ownership)):
                continue
            unprivileged = label in UNPRIVILEGED
            files = medical_files(share.content)
            severity = Severity.CRITICAL if unprivileged or files else Severity.HIGH
            # No finding above medium rests on a right the server claims but nobody could confirm.
            sure = access.sure("change_permissions") or access.sure("take_ownership")
            if not sure:
                severity = Severity.MEDIUM
            rights = [
                name
                for name, held in (
                    ("change permissions (WRITE_DAC)", access.change_permissions),
                    ("take ownership (WRITE_OWNER)", access.take_ownership),
                )
                if held
            ]
            evidence = f"{label} may {' and '.join(rights)} on the root of {share.name}"
            evidence += (
                f" (root maximal access {access.root_mask}, share maximal access {access.share_mask})."
            )
            if files and share.content:
                evidence += f" The share holds medical data ({medical_summary(share.content)})."
            if not sure:
                reason = access.why.get("change_permissions") or access.why.get("take_ownership") or ""
                evidence += f" Uncertain: {reason}."
            yield Hit(severity, evidence, share=share, identity=label)


@host_rule("printer-share-guest")
def printer_share_guest(facts: HostFacts) -> Iterator[Hit]:
    """A printer queue accepts the null session or guest."""
    for share in facts.host.shares:
        if share.type != "printer" or share.excluded:
            continue
        for label in UNPRIVILEGED:
            if facts.can_connect(share, label):
                yield Hit(
                    Severity.LOW,
                    f"{label} connects to the printer queue {share.name}"
                    + (f" ({share.remark})." if share.remark else "."),
                    share=share,
                    identity=label,
                )


@host_rule("admin-share-reachable")
def admin_share_reachable(facts: HostFacts) -> Iterator[Hit]:
    """An administrative share (C$, ADMIN$) accepts an identity that is not the audit account."""
    for share in facts.disk_shares():
        if not is_admin_share(share):
            continue
        for label in facts.labels:
            if label == AUDIT or not facts.can_connect(share, label):
                continue
            access = facts.access(share, label)
            severity = Severity.CRITICAL if label in UNPRIVILEGED else Severity.HIGH
            yield Hit(
                severity,
                f"{label} connects to the administrative share {share.name} and may {rights_text(access)}.",
                share=share,
                identity=label,
            )


@host_rule("printer-drivers-writable")
def printer_drivers_writable(facts: HostFacts) -> Iterator[Hit]:
    """print$ (the driver share) is writable by guest, the null session or a service account."""
    for share in facts.disk_shares():
        if not is_printer_drivers(share):
            continue
        for label in facts.labels:
            if label == AUDIT or not facts.can_write(share, label):
                continue
            kind = "a service account" if identity_class(label) == SERVICE else label
            yield Hit(
                Severity.CRITICAL if label in UNPRIVILEGED else Severity.HIGH,
                f"{label} ({kind}) may {rights_text(facts.access(share, label))} on {share.name}: "
                "drivers placed here are installed by clients that print to this server.",
                share=share,
                identity=label,
            )
