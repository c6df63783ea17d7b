"""The identity x share access matrix of one host, with the ACLs that explain it.

One data session per identity per host, reused for every share. For each share and identity: the
tree connect and its share-level maximal access; for disk shares, the root's MxAc and a one-entry
listing; the effective rights are the AND of both (acl.effective_rights). Printer queues and IPC$ are
recorded (connect and share mask), not probed. Root security descriptors are read by the most
privileged identity that can; share ACLs come from srvsvc level 502 (administrators only). SIDs get
names from the well-known table, then from LSA, asked once per host.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from shareaudit.acl import (
    NO_RIGHTS,
    SecurityDescriptor,
    SecurityDescriptorError,
    effective_rights,
    well_known_name,
)
from shareaudit.collect.plan import refused_logon
from shareaudit.collect.smb import access as smb_access
from shareaudit.collect.smb import client, logon, lsa
from shareaudit.collect.smb.claims import reconcile
from shareaudit.collect.smb.sd import parse_security_descriptor
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import Access, Logon, Share, WriteProbe
from shareaudit.plan.identities import Identity, IdentityKind, privilege

log = logging.getLogger(__name__)


def _hex(mask: int | None) -> str | None:
    return None if mask is None else f"0x{mask:08x}"


@dataclass(frozen=True, slots=True)
class Actor:
    """An identity as it logs on to this host; `route` says how a guest got in (guest_account, guest_fallback)."""

    identity: Identity
    route: str | None = None


@dataclass
class HostAccess:
    """The host's shares with access filled in, and how each identity's logon went."""

    shares: tuple[Share, ...]
    logons: list[Logon] = field(default_factory=list)
    refused_users: list[CollectError] = field(default_factory=list)


@dataclass
class _Descriptors:
    """Root security descriptors as they are found, share by share."""

    raw: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # share -> (bytes, identity label)
    errors: dict[str, str] = field(default_factory=dict)


def _probe(tree: smb_access.Tree, share: str) -> WriteProbe:
    outcome = smb_access.write_probe(tree, share)
    return WriteProbe(outcome.name, outcome.created, outcome.cleaned, outcome.status, outcome.note)


def _measure_share(
    smb: client.SmbSession,
    share: Share,
    route: str | None,
    timeout: float,
    active_probe: bool,
    descriptors: _Descriptors,
) -> Access:
    tree = smb_access.connect_tree(smb, share.name, timeout)
    if isinstance(tree, str):
        return Access(connect=False, status=tree, route=route)
    try:
        if share.type != "disk":
            return Access(connect=True, share_mask=_hex(tree.maximal_access), route=route)
        root = smb_access.measure_root(tree, share.name)
        # A root the identity may not even open grants nothing, whatever the share level allows.
        root_mask = root.maximal_access if root.status is None else 0
        rights = effective_rights(tree.maximal_access, root_mask) if root_mask != 0 else NO_RIGHTS
        if share.name not in descriptors.raw:
            answer = smb_access.root_security_descriptor(tree, share.name)
            if isinstance(answer, bytes):
                descriptors.raw[share.name] = (answer, smb.identity.label)
                descriptors.errors.pop(share.name, None)
            else:
                descriptors.errors.setdefault(share.name, f"not readable as {smb.identity.label}: {answer}")
        probe = _probe(tree, share.name) if active_probe else None
        return Access(
            connect=True,
            share_mask=_hex(tree.maximal_access),
            root_mask=_hex(root.maximal_access),
            root_status=root.status,
            list=root.listable,
            read=rights.read,
            write=rights.write,
            delete=rights.delete,
            change_permissions=rights.change_permissions,
            take_ownership=rights.take_ownership,
            route=route,
            probe=probe,
        )
    finally:
        tree.disconnect()


def _parse(raw: bytes, what: str, errors: dict[str, str], key: str) -> SecurityDescriptor | None:
    try:
        return parse_security_descriptor(raw)
    except SecurityDescriptorError as exc:
        errors[key] = f"{what} could not be parsed: {exc}"
        return None


def _names(
    address: str, port: int, sids: set[str], lookup_as: Sequence[Identity], timeout: float
) -> dict[str, str]:
    """Well-known names first; the rest from LSA as the first identity that may ask."""
    # Universal well-known SIDs by table; domain and Unix SIDs by LSA first (it knows the real account,
    # e.g. that RID 501 is "nobody" on Samba), with the table as the fallback below.
    local = ("S-1-22-", "S-1-5-21-")
    names = {sid: name for sid in sids if not sid.startswith(local) and (name := well_known_name(sid))}
    remaining = sids - set(names)
    for identity in lookup_as:
        if not remaining:
            break
        try:
            with logon.session(address, port, identity, timeout) as conn:
                names.update(lsa.lookup_sids(conn, remaining))
                break
        except CollectError as exc:
            if exc.kind not in (FailureKind.DENIED, FailureKind.LOGIN):
                raise
            log.info(
                "%s: SID names: LSA refused %s (%s), trying the next identity",
                address,
                identity.label,
                exc.kind,
            )
    for sid in sids - set(names):
        if name := well_known_name(sid):
            names[sid] = name
    return names


def measure_host_access(
    address: str,
    port: int,
    actors: Sequence[Actor],
    shares: Sequence[Share],
    share_sds: Mapping[str, bytes],
    timeout: float,
    active_probe: bool,
    lookup_as: Sequence[Identity],
) -> HostAccess:
    """Measure every identity on every share of one host; the most privileged reads the ACLs first."""
    result = HostAccess(tuple(shares))
    log.info("%s: access matrix: %d identities x %d shares", address, len(actors), len(shares))
    matrix: dict[str, dict[str, Access]] = {share.name: {} for share in shares}
    descriptors = _Descriptors()
    identities = [actor.identity for actor in actors]
    for actor in sorted(actors, key=lambda a: privilege(a.identity), reverse=True):
        identity, route = actor.identity, actor.route
        try:
            smb = client.open_session(address, port, identity, timeout)
        except CollectError as exc:
            if exc.kind is not FailureKind.LOGIN:
                raise
            refused_row, refused = refused_logon(identity.label, exc.status or str(exc), route)
            result.logons.append(refused_row)
            if identity.kind is IdentityKind.USER:
                result.refused_users.append(exc)
            for share in shares:
                matrix[share.name][identity.label] = refused
            continue
        if route is None and smb.guest and identity.kind is IdentityKind.USER:
            route = "mapped_to_guest"  # the server did not know the account and let it in as guest
        result.logons.append(Logon(identity.label, True, smb.guest, route))
        try:
            for share in shares:
                matrix[share.name][identity.label] = _measure_share(
                    smb, share, route, timeout, active_probe, descriptors
                )
        finally:
            smb.close()

    errors: dict[str, str] = {}
    share_acls = {name: _parse(raw, "share ACL", errors, "share:" + name) for name, raw in share_sds.items()}
    root_acls = {
        name: _parse(raw, "root ACL", errors, "root:" + name) for name, (raw, _) in descriptors.raw.items()
    }
    sids: set[str] = set()
    for sd in (*share_acls.values(), *root_acls.values()):
        if sd is not None:
            sids |= {sid for sid in sd.sids() if sid}
    names = _names(address, port, sids, lookup_as, timeout) if sids else {}
    log.info(
        "%s: ACLs: %d share ACLs, %d root ACLs, %d SIDs, %d named",
        address,
        sum(1 for sd in share_acls.values() if sd is not None),
        sum(1 for sd in root_acls.values() if sd is not None),
        len(sids),
        len(names),
    )

    users = [i.label for i in identities if i.kind is IdentityKind.USER]
    tried = ", ".join(users) if users else "no named account"
    updated = []
    by_label = {actor.identity.label: actor.identity for actor in actors}
    for share in shares:
        share_sd = share_acls.get(share.name)
        root_sd = root_acls.get(share.name)
        named_root = root_sd.with_names(names) if root_sd else None
        claims = {
            label: reconcile(access, by_label[label], named_root) if label in by_label else access
            for label, access in matrix[share.name].items()
        }
        share_error = errors.get("share:" + share.name)
        if share_sd is None and share_error is None:
            share_error = f"not returned to {tried} (srvsvc level 502 gives it to administrators only)"
        root_error = errors.get("root:" + share.name) or descriptors.errors.get(share.name)
        if share.type != "disk":
            root_error = None
        elif root_sd is None and root_error is None:
            root_error = "no identity could connect to the share"
        updated.append(
            replace(
                share,
                access={**share.access, **claims},
                share_sd=share_sd.with_names(names) if share_sd else None,
                share_sd_error=share_error,
                root_sd=named_root,
                root_sd_error=None if root_sd else root_error,
                root_sd_read_as=descriptors.raw[share.name][1] if share.name in descriptors.raw else None,
            )
        )
    result.shares = tuple(updated)
    return result
