"""What the server claims versus what it can do: each right of the access matrix with its basis.

The tree connect's MaximalAccess and the root's MxAc are the server's claim. Some claims are known to
be false without writing anything (measured in the lab: ../shared/reference/samba-lab-notes.md,
addendum "what Samba claims vs what it does"; tests/test_truth_lab.py does each right for real):
- a share whose share mask grants no write right is read-only: Samba keeps DELETE, WRITE_DAC and
  WRITE_OWNER in both masks of a `read only = yes` share and refuses every change;
- a root whose security descriptor Samba maps from POSIX permissions (owner or ACEs are its `Unix User\\`
  / `Unix Group\\` SIDs, S-1-22-1/2) grants FULL to every mode class with rwx, but only the owner can
  change the permissions and only root can take ownership.
Such rights are dropped with the reason in `Access.why`; the write the opt-in probe did for real (a
self-deleting file) is `measured`. Change permissions is not probed: setting a POSIX-mapped folder's DACL
to its own current value is no no-op on Samba (it adds a POSIX ACL and can change the mode; measured in
tests/test_truth_lab.py), so it could not clean up after itself.
Pure: no network.
"""

from __future__ import annotations

from dataclasses import replace

from shareaudit.acl import (
    FILE_APPEND_DATA,
    FILE_DELETE_CHILD,
    FILE_WRITE_ATTRIBUTES,
    FILE_WRITE_DATA,
    FILE_WRITE_EA,
    SecurityDescriptor,
)
from shareaudit.model import RIGHTS, Access, Basis
from shareaudit.plan.identities import Identity, IdentityKind

# Any of these in the share mask lets something be changed; none of them: the share is read-only.
_WRITE_BITS = FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_DELETE_CHILD | FILE_WRITE_ATTRIBUTES
_CHANGES = ("write", "delete", "change_permissions", "take_ownership")
_UNIX_SIDS = ("S-1-22-1-", "S-1-22-2-")  # Samba's Unix User\ and Unix Group\ ([MS-DTYP] does not have them)
_GUEST_ACCOUNT = "nobody"  # smb.conf `guest account` default


def read_only(share_mask: str | None) -> bool:
    """The share mask grants no right to change anything."""
    return share_mask is not None and not int(share_mask, 16) & _WRITE_BITS


def posix_mapped(sd: SecurityDescriptor | None) -> bool:
    """Samba built this descriptor from POSIX permissions: its owner, group or an ACE is a Unix SID."""
    if sd is None:
        return False
    sids = [sd.owner or "", sd.group or "", *(ace.sid for ace in sd.dacl or ())]
    return any(sid.startswith(_UNIX_SIDS) for sid in sids)


def _account(name: str | None) -> str:
    return (name or "").rpartition("\\")[2].lower()


def owns(identity: Identity, sd: SecurityDescriptor) -> bool:
    """The identity is the root's owner, by the owner's name (DOMAIN\\user or Unix User\\user).

    Samba runs guest and null sessions as its `guest account`, `nobody` unless configured otherwise.
    """
    owner = _account(sd.owner_name)
    if not owner:
        return False
    if identity.kind in (IdentityKind.ANONYMOUS, IdentityKind.GUEST):
        return owner == _GUEST_ACCOUNT
    return owner == identity.username.lower()


def reconcile(access: Access, identity: Identity, root_sd: SecurityDescriptor | None) -> Access:
    """The access with every right's basis, and the rights the server cannot honour dropped with the reason."""
    if not access.connect or access.root_mask is None:
        return access
    values = {right: bool(getattr(access, right)) for right in RIGHTS}
    basis = dict.fromkeys(RIGHTS, Basis.GRANTED)
    why: dict[str, str] = {}
    if read_only(access.share_mask):
        for right in _CHANGES:
            if values[right]:
                values[right] = False
                why[right] = (
                    "claimed by the server, but the share is read-only (its share mask grants no write right): "
                    "every change is refused"
                )
    control = [right for right in ("change_permissions", "take_ownership") if values[right]]
    if control and root_sd is None:
        # Without the descriptor nobody can tell a POSIX-mapped folder (only its owner may) from an NT ACL.
        for right in control:
            basis[right] = Basis.UNCERTAIN
            why[right] = (
                "claimed by the server, but the folder's security descriptor could not be read: whether only "
                "its owner can really do this cannot be decided without writing"
            )
    elif control and root_sd is not None and posix_mapped(root_sd):
        owner = root_sd.owner_name or root_sd.owner or "its owner"
        if root_sd.owner_name is None and identity.kind is IdentityKind.USER:
            for right in control:  # the owner's SID has no name: is it this account? Unknown.
                basis[right] = Basis.UNCERTAIN
                why[right] = (
                    f"claimed by the server; Samba maps this folder's permissions from POSIX modes, so only its "
                    f"owner ({owner}, whose name could not be looked up) can really do this"
                )
        elif not owns(identity, root_sd):
            for right in control:
                values[right] = False
                why[right] = (
                    f"claimed by the server, but Samba maps this folder's permissions from POSIX modes: only "
                    f"the owner ({owner}) can change them, and only root can take ownership"
                )
    probe = access.probe
    if probe is not None and (probe.created or probe.status):
        values["write"] = probe.created
        basis["write"] = Basis.MEASURED
        why.pop("write", None)
    return replace(
        access,
        read=values["read"],
        write=values["write"],
        delete=values["delete"],
        change_permissions=values["change_permissions"],
        take_ownership=values["take_ownership"],
        basis=basis,
        why=why,
    )
