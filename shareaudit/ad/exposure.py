"""Access derived from ACLs: what a directory account could do on a share without anyone logging on as it.

Pure logic over `acl.SecurityDescriptor` and the account's expanded groups. The share-level ACL and the
root's ACL are each evaluated as Windows evaluates a MAXIMUM_ALLOWED request ([MS-DTYP] 2.5.3.2): ACEs in
stored order, an allow granting only what no earlier deny took away and a deny taking only what no
earlier allow granted. Windows tools store explicit denies before allows (canonical order), so in
practice a deny beats a broad allow. The effective mask is the AND of both, as on the wire
(`acl.effective_rights`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shareaudit.acl import (
    FILE_ALL_ACCESS,
    INHERIT_ONLY_ACE,
    READ_CONTROL,
    WRITE_DAC,
    Ace,
    SecurityDescriptor,
    effective_rights,
    expand_generic,
    mask_summary,
    well_known_name,
)
from shareaudit.model import DirectoryAccount, Exposure, GroupMembership, HostResult, Share

# [MS-DTYP] 2.4.2.4 / [MS-WSO] token groups every network logon of a domain account carries, whatever
# its group memberships: Everyone, NETWORK, Authenticated Users, This Organization.
LOGON_SIDS: tuple[str, ...] = ("S-1-1-0", "S-1-5-2", "S-1-5-11", "S-1-5-15")
OWNER_RIGHTS = "S-1-3-4"
# The owner is implicitly granted READ_CONTROL and WRITE_DAC unless an OWNER RIGHTS ACE says otherwise
# ([MS-DTYP] 2.5.3.2, "owner implicit rights").
_OWNER_IMPLICIT = READ_CONTROL | WRITE_DAC


@dataclass(frozen=True, slots=True)
class Principal:
    """An account as the access check sees it: its SIDs, and how it came to hold each one."""

    name: str
    sid: str
    groups: tuple[GroupMembership, ...]

    def sids(self) -> frozenset[str]:
        """The account's own SID, its groups' SIDs and the SIDs of every network logon."""
        return frozenset({self.sid, *(g.sid for g in self.groups), *LOGON_SIDS})

    def how(self, sid: str) -> str:
        """Why the account holds a SID, in words: directly, through a chain of groups, or by logging on."""
        if sid == self.sid:
            return f"{self.name} itself"
        for group in self.groups:
            if group.sid == sid:
                chain = group.path or (group.name,)
                return f"{self.name} is in " + ", which is in ".join(chain)
        return f"every logon of {self.name} is {well_known_name(sid) or sid}"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of evaluating one DACL for one principal."""

    mask: int
    because: tuple[str, ...]


def _applies(ace: Ace, sids: frozenset[str]) -> bool:
    # An inherit-only ACE is a template for children: it does not apply to the object itself.
    return ace.kind in ("allow", "deny") and not ace.flags & INHERIT_ONLY_ACE and ace.sid in sids


def evaluate_dacl(sd: SecurityDescriptor, principal: Principal, what: str) -> Evaluation:
    """The maximal access a DACL grants the principal ([MS-DTYP] 2.5.3.2), and the ACEs that decided it."""
    if sd.dacl is None:  # no DACL: everyone has full access
        return Evaluation(FILE_ALL_ACCESS, (f"{what} has no DACL, which grants everyone full access",))
    sids = principal.sids()
    granted = denied = 0
    because: list[str] = []
    owner_rights_ace = any(
        ace.sid == OWNER_RIGHTS and _applies(ace, frozenset({OWNER_RIGHTS})) for ace in sd.dacl
    )
    if sd.owner in sids and not owner_rights_ace:
        granted |= _OWNER_IMPLICIT
        because.append(
            f"{principal.how(sd.owner)}, the owner in {what} (owners may read and change permissions)"
        )
    for ace in sd.dacl:
        if not _applies(ace, sids):
            continue
        mask = expand_generic(ace.mask)
        trustee = ace.name or well_known_name(ace.sid) or ace.sid
        if ace.kind == "allow":
            gained = mask & ~denied & ~granted
            granted |= mask & ~denied
            if gained:
                because.append(
                    f"{principal.how(ace.sid)}; {what} grants {trustee} {mask_summary(mask).lower()}"
                )
        else:
            taken = mask & ~granted & ~denied
            denied |= mask & ~granted
            if taken:
                because.append(
                    f"{principal.how(ace.sid)}; {what} denies {trustee} {mask_summary(mask).lower()}"
                )
    return Evaluation(granted, tuple(because))


def share_exposure(share: Share, principal: Principal, measured_as: str | None = None) -> Exposure | None:
    """What the principal could do on a disk share, from its share ACL (if known) and root ACL; None if unknown."""
    if share.type != "disk" or share.root_sd is None:
        return None
    root = evaluate_dacl(share.root_sd, principal, f"the root ACL of {share.name}")
    because = list(root.because)
    share_mask = FILE_ALL_ACCESS
    if share.share_sd is not None:
        level = evaluate_dacl(share.share_sd, principal, f"the share ACL of {share.name}")
        share_mask = level.mask
        because.extend(level.because)
    rights = effective_rights(share_mask, root.mask)
    return Exposure(
        account=principal.name,
        share=share.name,
        read=rights.read,
        write=rights.write,
        delete=rights.delete,
        change_permissions=rights.change_permissions,
        take_ownership=rights.take_ownership,
        mask=f"0x{share_mask & root.mask:08x}",
        because=tuple(because),
        share_acl_known=share.share_sd is not None,
        measured_as=measured_as,
    )


def host_exposures(
    host: HostResult, accounts: Sequence[DirectoryAccount], measured: Mapping[str, str] | None = None
) -> tuple[Exposure, ...]:
    """Every account's derived access to every disk share of a host whose root ACL was read.

    Only exposures that grant something are kept: an account that could do nothing on a share is the
    normal case and not worth a line. `measured` maps account names to the scan identity that measured them.
    """
    found: list[Exposure] = []
    for account in accounts:
        principal = Principal(account.name, account.sid, account.groups)
        for share in host.shares:
            exposure = share_exposure(share, principal, (measured or {}).get(account.name.lower()))
            if exposure is not None and _grants_anything(exposure):
                found.append(exposure)
    return tuple(found)


def _grants_anything(exposure: Exposure) -> bool:
    return any(
        (exposure.read, exposure.write, exposure.delete, exposure.change_permissions, exposure.take_ownership)
    )


def member_of_domain(host: HostResult, netbios_domain: str | None, dns_domain: str) -> bool:
    """The server says (in its NTLM challenge) that it belongs to the domain, so domain accounts can log on."""
    server = host.posture.server if host.posture else None
    if server is None:
        return False
    names = {n.lower() for n in (server.netbios_domain, server.dns_domain) if n}
    return bool(names & {n.lower() for n in (netbios_domain, dns_domain) if n})


def sids_in(hosts: Iterable[HostResult]) -> set[str]:
    """Every SID the root and share ACLs of the hosts mention."""
    found: set[str] = set()
    for host in hosts:
        for share in host.shares:
            for sd in (share.root_sd, share.share_sd):
                if sd is not None:
                    found |= sd.sids()
    return found
