"""Parse raw self-relative security descriptors ([MS-DTYP] 2.4.6) into `shareaudit.acl` dataclasses.

The bytes come from SMB2 QUERY_INFO (SMB2_0_INFO_SECURITY) on a share root, or from srvsvc
NetrShareGetInfo level 502 (the share ACL). We parse them with impacket's structures, not smbprotocol's
SMB2CreateSDBuffer: ACLs written by Samba's smbcacls come back with AclRevision 3, and smbprotocol's
strict AclRevision enum rejects that with a ValueError (samba-lab-notes Q3 c). impacket does not check the
revision; we accept 2, 3 and 4 and reject anything else as garbage.

impacket trusts its input, so every offset, size and count is checked against the buffer first, and
anything impacket still raises (struct.error, KeyError, bare Exception) becomes SecurityDescriptorError.
impacket is untyped: its values stay inside this module.
"""

from __future__ import annotations

import struct
from typing import Any

from impacket.ldap.ldaptypes import ACE, ACE_TYPE_MAP, LDAP_SID, SR_SECURITY_DESCRIPTOR
from impacket.structure import Structure

from shareaudit.acl import (
    SE_DACL_PRESENT,
    Ace,
    SecurityDescriptor,
    SecurityDescriptorError,
    ace_flag_names,
    ace_kind,
)

SD_HEADER_SIZE = 20  # [MS-DTYP] 2.4.6: Revision, Sbz1, Control, 4 offsets
ACL_HEADER_SIZE = 8  # [MS-DTYP] 2.4.5: AclRevision, Sbz1, AclSize, AceCount, Sbz2
ACE_HEADER_SIZE = 4  # [MS-DTYP] 2.4.4.1: AceType, AceFlags, AceSize
SID_HEADER_SIZE = 8  # [MS-DTYP] 2.4.2.2: Revision, SubAuthorityCount, IdentifierAuthority (6 bytes)
SID_MAX_SUB_AUTHORITIES = 15  # [MS-DTYP] 2.4.2.2
SD_REVISION = 1  # [MS-DTYP] 2.4.6: "MUST be set to 0x01"
# [MS-DTYP] 2.4.5 allows 2 (ACL_REVISION) and 4 (ACL_REVISION_DS); Samba's smbcacls writes 3.
ACL_REVISIONS = frozenset({2, 3, 4})


class _SelfRelativeHeader(SR_SECURITY_DESCRIPTOR):  # type: ignore[misc]  # impacket is untyped
    """impacket's SR_SECURITY_DESCRIPTOR layout, without its eager parse of the SIDs and ACLs.

    Its fromString() parses both ACLs at once and raises KeyError on the first ACE type it has no class
    for, losing the whole descriptor (even for an unknown type in a SACL we never asked for); with
    OffsetDacl = 0 it clears the SACL instead of the DACL. We read the header fields here and decode
    owner, group and each ACE separately, so an unknown ACE becomes kind "other:<n>".
    """

    def fromString(self, data: bytes) -> None:  # impacket's method name
        Structure.fromString(self, data)


def parse_security_descriptor(raw: bytes) -> SecurityDescriptor:
    """Parse self-relative security-descriptor bytes; raise SecurityDescriptorError if they are malformed."""
    data = bytes(raw)
    if len(data) < SD_HEADER_SIZE:
        raise SecurityDescriptorError(
            f"security descriptor truncated: {len(data)} bytes, the header alone needs {SD_HEADER_SIZE}"
        )
    header = _impacket(_SelfRelativeHeader, data[:SD_HEADER_SIZE], "security descriptor header")
    revision = int.from_bytes(header["Revision"], "little")
    if revision != SD_REVISION:
        raise SecurityDescriptorError(
            f"not a security descriptor: revision {revision}, [MS-DTYP] 2.4.6 requires {SD_REVISION}"
        )
    control = int(header["Control"])
    owner = _sid_at(data, int(header["OffsetOwner"]), "owner")
    group = _sid_at(data, int(header["OffsetGroup"]), "group")
    # [MS-DTYP] 2.4.6: without SE_DACL_PRESENT there is no DACL; with it but OffsetDacl = 0 the DACL is
    # NULL. Both grant everyone full access, so both are dacl=None (an empty DACL, dacl=(), denies all).
    offset_dacl = int(header["OffsetDacl"])
    dacl = _acl_at(data, offset_dacl) if control & SE_DACL_PRESENT and offset_dacl else None
    return SecurityDescriptor(owner=owner, group=group, dacl=dacl, control=control)


def _impacket(structure: Any, data: bytes, what: str) -> Any:
    # impacket reports short or odd input with struct.error, KeyError, IndexError or a bare Exception.
    try:
        return structure(data=data)
    except Exception as exc:
        raise SecurityDescriptorError(f"malformed {what}: {exc}") from exc


def _check_offset(data: bytes, offset: int, need: int, what: str) -> None:
    # Offsets are relative to the start of the descriptor ([MS-DTYP] 2.4.6) and must not point back
    # into the fixed header.
    if offset < SD_HEADER_SIZE or offset + need > len(data):
        raise SecurityDescriptorError(
            f"malformed security descriptor: {what} at offset {offset} (+{need} bytes) is outside "
            f"the {len(data)}-byte buffer"
        )


def _sid_at(data: bytes, offset: int, what: str) -> str | None:
    # OffsetOwner / OffsetGroup = 0 means the descriptor carries no owner / group ([MS-DTYP] 2.4.6).
    if offset == 0:
        return None
    _check_offset(data, offset, SID_HEADER_SIZE, f"{what} SID")
    size = SID_HEADER_SIZE + 4 * data[offset + 1]
    _check_offset(data, offset, size, f"{what} SID")
    return _sid_text(_impacket(LDAP_SID, data[offset : offset + size], f"{what} SID"), what)


def _sid_text(sid: Any, what: str) -> str:
    # [MS-DTYP] 2.4.2.2 SID: Revision 1, at most 15 sub-authorities (little-endian), a 48-bit big-endian
    # IdentifierAuthority. impacket's formatCanonical() prints only the authority's last byte, so the
    # string form ([MS-DTYP] 2.4.2.1) is built here.
    revision = int(sid["Revision"])
    count = int(sid["SubAuthorityCount"])
    sub_bytes = bytes(sid["SubAuthority"])
    if revision != 1 or count > SID_MAX_SUB_AUTHORITIES or len(sub_bytes) != 4 * count:
        raise SecurityDescriptorError(
            f"malformed {what} SID: revision {revision}, {count} sub-authorities in {len(sub_bytes)} bytes"
        )
    authority = int.from_bytes(bytes(sid["IdentifierAuthority"]["Value"]), "big")
    authority_text = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    subs = struct.unpack(f"<{count}I", sub_bytes)
    return "-".join(["S-1", authority_text, *(str(sub) for sub in subs)])


def _acl_at(data: bytes, offset: int) -> tuple[Ace, ...]:
    # [MS-DTYP] 2.4.5 ACL header, then AceCount ACEs inside AclSize bytes. impacket's ACL class would
    # parse all ACEs at once (see _SelfRelativeHeader), so the list is walked here.
    _check_offset(data, offset, ACL_HEADER_SIZE, "DACL")
    revision, _sbz1, acl_size, ace_count, _sbz2 = struct.unpack_from("<BBHHH", data, offset)
    if revision not in ACL_REVISIONS:
        raise SecurityDescriptorError(f"malformed DACL: revision {revision}, expected one of 2, 3, 4")
    if acl_size < ACL_HEADER_SIZE:
        raise SecurityDescriptorError(f"malformed DACL: AclSize {acl_size} is smaller than its header")
    _check_offset(data, offset, acl_size, "DACL")
    end = offset + acl_size
    position = offset + ACL_HEADER_SIZE
    aces: list[Ace] = []
    for index in range(ace_count):
        if position + ACE_HEADER_SIZE > end:
            raise SecurityDescriptorError(
                f"malformed DACL: ACE {index + 1} of {ace_count} starts beyond the {acl_size}-byte ACL"
            )
        ace_size = int.from_bytes(data[position + 2 : position + 4], "little")
        if ace_size < ACE_HEADER_SIZE or position + ace_size > end:
            raise SecurityDescriptorError(
                f"malformed DACL: ACE {index + 1} of {ace_count} has AceSize {ace_size}, "
                f"{end - position} bytes left in the ACL"
            )
        aces.append(_ace(data[position : position + ace_size], index + 1))
        position += ace_size
    return tuple(aces)


def _ace(ace_bytes: bytes, number: int) -> Ace:
    ace_type, flags = ace_bytes[0], ace_bytes[1]
    kind = ace_kind(ace_type)
    flag_names = ace_flag_names(flags)
    if ace_type not in ACE_TYPE_MAP:
        # Every ACE body in [MS-DTYP] 2.4.4 starts with the 32-bit Mask; what follows differs by type, so
        # for a type impacket cannot decode the trustee is left empty rather than guessed.
        body = ace_bytes[ACE_HEADER_SIZE:]
        mask = int.from_bytes(body[:4], "little") if len(body) >= 4 else 0
        return Ace(kind=kind, flags=flags, flag_names=flag_names, mask=mask, sid="")
    what = f"ACE {number}"
    parsed = _impacket(ACE, ace_bytes, what)
    try:
        mask = int(parsed["Ace"]["Mask"]["Mask"])
        sid = parsed["Ace"]["Sid"]
    except Exception as exc:  # a body too short for its type leaves fields unset
        raise SecurityDescriptorError(f"malformed {what}: {exc}") from exc
    return Ace(kind=kind, flags=flags, flag_names=flag_names, mask=mask, sid=_sid_text(sid, what))
