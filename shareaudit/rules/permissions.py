"""ACL rules: broad principals (Everyone, Authenticated Users, Domain Users, Guests...) with write or
full control in a share-level ACL or in the file-system ACL of a share root.

The ACEs are read as written: deny ACEs and group nesting are not evaluated here (the access matrix
measures what identities really get); an ACE that lets everyone write is worth fixing either way.
"""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.acl import (
    DELETE,
    FILE_ADD_FILE,
    FILE_ADD_SUBDIRECTORY,
    FILE_DELETE_CHILD,
    INHERIT_ONLY_ACE,
    WRITE_DAC,
    WRITE_OWNER,
    SecurityDescriptor,
    expand_generic,
    is_broad,
    is_valid_sid,
    mask_summary,
    well_known_name,
)
from shareaudit.model import Severity, Share
from shareaudit.rules.facts import AUDIT, HostFacts, medical_files, medical_summary
from shareaudit.rules.registry import Hit, host_rule

_WRITE = FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY
_DELETE = DELETE | FILE_DELETE_CHILD
_TAKEOVER = WRITE_DAC | WRITE_OWNER
_EVERYONE = "S-1-1-0"


def _grant(mask: int) -> str | None:
    """'full control', 'modify' or 'write' for a mask that lets its holder change things, else None."""
    if mask & _TAKEOVER:
        return "full control"
    if mask & _WRITE and mask & _DELETE:
        return "modify"
    if mask & (_WRITE | _DELETE):
        return "write"
    return None


def _broad_grants(sd: SecurityDescriptor) -> Iterator[tuple[str, str, int, bool]]:
    """(sid, name, combined mask, inherit-only) for each broad principal allowed to change things."""
    if sd.dacl is None:
        # No DACL at all: Windows and Samba grant everyone every right.
        yield _EVERYONE, "Everyone (no DACL)", 0x001F01FF, False
        return
    masks: dict[str, int] = {}
    names: dict[str, str] = {}
    applies_to_root: dict[str, bool] = {}
    for ace in sd.dacl:
        if ace.kind not in ("allow", "allow_object") or not ace.sid or not is_broad(ace.sid):
            continue
        masks[ace.sid] = masks.get(ace.sid, 0) | expand_generic(ace.mask)
        names[ace.sid] = ace.name or well_known_name(ace.sid) or ace.sid
        applies_to_root[ace.sid] = applies_to_root.get(ace.sid, False) or not ace.flags & INHERIT_ONLY_ACE
    for sid, mask in masks.items():
        if _grant(mask):
            yield sid, names[sid], mask, not applies_to_root[sid]


_LOWER = {
    Severity.CRITICAL: Severity.HIGH,
    Severity.HIGH: Severity.MEDIUM,
    Severity.MEDIUM: Severity.LOW,
    Severity.LOW: Severity.LOW,
}


def _severity(grant: str, share: Share, writers: tuple[str, ...]) -> Severity:
    severity = (
        Severity.CRITICAL
        if medical_files(share.content)
        else Severity.MEDIUM
        if grant == "write"
        else Severity.HIGH
    )
    # Context: when none of the measured identities (besides the audit account) can really write, another
    # gate still holds (share settings, the other ACL); the grant is a weakness in depth, one level lower.
    return severity if writers else _LOWER[severity]


def _writers(facts: HostFacts, share: Share) -> tuple[str, ...]:
    return tuple(label for label in facts.labels if label != AUDIT and facts.can_write(share, label))


def _hits(facts: HostFacts, share: Share, sd: SecurityDescriptor, which: str) -> Iterator[Hit]:
    writers = _writers(facts, share)
    for sid, name, mask, inherit_only in _broad_grants(sd):
        grant = _grant(mask) or "write"
        evidence = (
            f"The {which} of {share.name} allows {name} ({sid}) {grant}: 0x{mask:08x} ({mask_summary(mask)})"
        )
        evidence += " (inherited by the contents only)." if inherit_only else "."
        if writers:
            evidence += f" Measured: {', '.join(writers)} can write."
        else:
            evidence += " None of the identities measured (besides the audit account) can write."
        if share.content and medical_files(share.content):
            evidence += f" The share holds medical data ({medical_summary(share.content)})."
        yield Hit(
            _severity(grant, share, writers),
            evidence,
            share=share,
            identity=name,
            identity_key=sid,  # names depend on an LSA lookup; the SID does not
            # The SID goes into commands; it comes from our own parser, but a command gets only a valid one.
            values={"principal": name, "sid": sid if is_valid_sid(sid) else "<sid>"},
        )


def _root_grants(share: Share) -> set[str]:
    return {sid for sid, *_ in _broad_grants(share.root_sd)} if share.root_sd is not None else set()


@host_rule("broad-share-acl-write")
def broad_share_acl_write(facts: HostFacts) -> Iterator[Hit]:
    """A broad principal may write through a share-level ACL (srvsvc level 502) that does not narrow access.

    Everyone: Full control at share level is the default of Samba and a common Windows practice when the
    folder ACL is the gate. It is reported only when it matters: an identity measured can really write,
    or the folder ACL lets the same principal write too.
    """
    for share in facts.disk_shares():
        if share.share_sd is None:
            continue
        open_below = bool(_writers(facts, share))
        root = _root_grants(share)
        for hit in _hits(facts, share, share.share_sd, "share-level ACL"):
            if open_below or hit.identity_key in root:
                yield hit


@host_rule("broad-root-acl-write")
def broad_root_acl_write(facts: HostFacts) -> Iterator[Hit]:
    """A broad principal holds write or full control in the file-system ACL of a share root."""
    for share in facts.disk_shares():
        if share.root_sd is not None:
            yield from _hits(facts, share, share.root_sd, "root folder ACL")
