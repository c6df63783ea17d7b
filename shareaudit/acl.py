"""Access masks, effective rights, security descriptors as data, and well-known SIDs.

Pure logic: nothing here talks to a server or imports an SMB library. The adapter in
`shareaudit.collect.smb.sd` turns raw security-descriptor bytes into the dataclasses defined here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from shareaudit.errors import ShareauditError


class SecurityDescriptorError(ShareauditError, ValueError):
    """Raw security-descriptor bytes that cannot be parsed (truncated, garbage, out-of-range offsets)."""


# --- Access masks -----------------------------------------------------------------------------------------
# [MS-SMB2] 2.2.13.1.1 File_Pipe_Printer_Access_Mask and 2.2.13.1.2 Directory_Access_Mask: the low 16
# bits are object-specific, and the same bit has a file name and a directory name.
FILE_READ_DATA = 0x00000001
FILE_LIST_DIRECTORY = 0x00000001
FILE_WRITE_DATA = 0x00000002
FILE_ADD_FILE = 0x00000002
FILE_APPEND_DATA = 0x00000004
FILE_ADD_SUBDIRECTORY = 0x00000004
FILE_READ_EA = 0x00000008
FILE_WRITE_EA = 0x00000010
FILE_EXECUTE = 0x00000020
FILE_TRAVERSE = 0x00000020
FILE_DELETE_CHILD = 0x00000040
FILE_READ_ATTRIBUTES = 0x00000080
FILE_WRITE_ATTRIBUTES = 0x00000100
# [MS-DTYP] 2.4.3 ACCESS_MASK: standard rights (bits 16-20) ...
DELETE = 0x00010000
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000
SYNCHRONIZE = 0x00100000
# ... and the special and generic bits (24-31).
ACCESS_SYSTEM_SECURITY = 0x01000000
MAXIMUM_ALLOWED = 0x02000000
GENERIC_ALL = 0x10000000
GENERIC_EXECUTE = 0x20000000
GENERIC_WRITE = 0x40000000
GENERIC_READ = 0x80000000

# The file object's generic mapping (winnt.h FILE_GENERIC_* / FILE_ALL_ACCESS; the combinations are spelled
# out under GENERIC_* in [MS-SMB2] 2.2.13.1.1). GENERIC_ALL maps to FILE_ALL_ACCESS, which includes
# DELETE, WRITE_DAC and WRITE_OWNER, not just GENERIC_READ|WRITE|EXECUTE.
FILE_GENERIC_READ = READ_CONTROL | SYNCHRONIZE | FILE_READ_DATA | FILE_READ_EA | FILE_READ_ATTRIBUTES
FILE_GENERIC_WRITE = (
    READ_CONTROL | SYNCHRONIZE | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES
)
FILE_GENERIC_EXECUTE = READ_CONTROL | SYNCHRONIZE | FILE_EXECUTE | FILE_READ_ATTRIBUTES
FILE_ALL_ACCESS = 0x001F01FF

# The three named permission sets of smbcacls (and Windows' "Full control", "Modify", "Read & execute").
MASK_FULL = FILE_ALL_ACCESS  # 0x1f01ff
MASK_CHANGE = 0x001301BF  # read, write, execute, delete; no delete_child, write_dac, write_owner
MASK_READ = 0x001200A9  # read, execute (traverse), read attributes/EA, read_control, synchronize
_SUMMARIES: dict[int, str] = {MASK_FULL: "FULL", MASK_CHANGE: "CHANGE", MASK_READ: "READ"}

# Bit -> (directory name, file name, short form as icacls prints it), in bit order.
_MASK_BITS: tuple[tuple[int, str, str, str], ...] = (
    (FILE_LIST_DIRECTORY, "list", "read_data", "RD"),
    (FILE_ADD_FILE, "add_file", "write_data", "WD"),
    (FILE_ADD_SUBDIRECTORY, "add_subdirectory", "append_data", "AD"),
    (FILE_READ_EA, "read_ea", "read_ea", "REA"),
    (FILE_WRITE_EA, "write_ea", "write_ea", "WEA"),
    (FILE_TRAVERSE, "traverse", "execute", "X"),
    (FILE_DELETE_CHILD, "delete_child", "delete_child", "DC"),
    (FILE_READ_ATTRIBUTES, "read_attributes", "read_attributes", "RA"),
    (FILE_WRITE_ATTRIBUTES, "write_attributes", "write_attributes", "WA"),
    (DELETE, "delete", "delete", "DE"),
    (READ_CONTROL, "read_control", "read_control", "RC"),
    (WRITE_DAC, "write_dac", "write_dac", "WDAC"),
    (WRITE_OWNER, "write_owner", "write_owner", "WO"),
    (SYNCHRONIZE, "synchronize", "synchronize", "S"),
    (ACCESS_SYSTEM_SECURITY, "access_system_security", "access_system_security", "AS"),
    (MAXIMUM_ALLOWED, "maximum_allowed", "maximum_allowed", "MA"),
    (GENERIC_ALL, "generic_all", "generic_all", "GA"),
    (GENERIC_EXECUTE, "generic_execute", "generic_execute", "GE"),
    (GENERIC_WRITE, "generic_write", "generic_write", "GW"),
    (GENERIC_READ, "generic_read", "generic_read", "GR"),
)
_KNOWN_BITS = sum(bit for bit, *_ in _MASK_BITS)  # each bit appears once


def _unknown_bits(mask: int) -> tuple[str, ...]:
    # Reserved bits ([MS-DTYP] 2.4.3 bits 21-23, 26-27; bits 9-15 are unused for files) are shown as hex
    # rather than dropped, so a report never hides part of a mask.
    rest = mask & 0xFFFFFFFF & ~_KNOWN_BITS
    return tuple(f"0x{1 << bit:08x}" for bit in range(32) if rest & (1 << bit))


def mask_names(mask: int, directory: bool = True) -> tuple[str, ...]:
    """Readable names of the bits set in an access mask, in bit order (directory or file wording)."""
    names = tuple(
        dir_name if directory else file_name for bit, dir_name, file_name, _ in _MASK_BITS if mask & bit
    )
    return names + _unknown_bits(mask)


def mask_short_names(mask: int) -> tuple[str, ...]:
    """The bits set in an access mask as icacls abbreviates them (RD, WD, AD, REA, ..., GR)."""
    return tuple(short for bit, _, _, short in _MASK_BITS if mask & bit) + _unknown_bits(mask)


def mask_summary(mask: int) -> str:
    """FULL, CHANGE or READ for smbcacls' named sets, NONE for 0, else the directory names joined by '|'."""
    if mask in _SUMMARIES:
        return _SUMMARIES[mask]
    if mask == 0:
        return "NONE"
    return "|".join(mask_names(mask))


def expand_generic(mask: int) -> int:
    """Replace GENERIC_* bits by the file object's specific rights ([MS-DTYP] 2.4.3, file generic mapping)."""
    expanded = mask & ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL)
    if mask & GENERIC_READ:
        expanded |= FILE_GENERIC_READ
    if mask & GENERIC_WRITE:
        expanded |= FILE_GENERIC_WRITE
    if mask & GENERIC_EXECUTE:
        expanded |= FILE_GENERIC_EXECUTE
    if mask & GENERIC_ALL:
        expanded |= FILE_ALL_ACCESS
    return expanded


# --- Effective rights -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rights:
    """What an identity can do on a share root, reduced to the questions an auditor asks."""

    read: bool
    write: bool
    delete: bool
    change_permissions: bool
    take_ownership: bool


NO_RIGHTS = Rights(read=False, write=False, delete=False, change_permissions=False, take_ownership=False)


def effective_rights(share_mask: int | None, root_mask: int | None) -> Rights:
    """Rights from the AND of the tree-connect MaximalAccess and the root's MxAc; None means unknown."""
    # The share-level mask ([MS-SMB2] 2.2.10 MaximalAccess) alone overstates: Samba answers 0x1f00a9
    # (DELETE|WRITE_DAC|WRITE_OWNER still set) for a `read only = yes` share, while the root's MxAc
    # ([MS-SMB2] 2.2.14.2.5) is 0x1200a9. Access needs both, so the AND is the truth (lab notes Q3 d).
    known = [expand_generic(m) for m in (share_mask, root_mask) if m is not None]
    if not known:
        return NO_RIGHTS
    mask = 0xFFFFFFFF
    for m in known:
        mask &= m
    return Rights(
        read=bool(mask & FILE_LIST_DIRECTORY),
        write=bool(mask & (FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY)),
        delete=bool(mask & (DELETE | FILE_DELETE_CHILD)),
        change_permissions=bool(mask & WRITE_DAC),
        take_ownership=bool(mask & WRITE_OWNER),
    )


# --- Security descriptors ---------------------------------------------------------------------------------
# [MS-DTYP] 2.4.6 SECURITY_DESCRIPTOR Control flags.
SE_OWNER_DEFAULTED = 0x0001
SE_GROUP_DEFAULTED = 0x0002
SE_DACL_PRESENT = 0x0004
SE_DACL_DEFAULTED = 0x0008
SE_SACL_PRESENT = 0x0010
SE_SACL_DEFAULTED = 0x0020
SE_DACL_TRUSTED = 0x0040
SE_SERVER_SECURITY = 0x0080
SE_DACL_AUTO_INHERIT_REQ = 0x0100
SE_SACL_AUTO_INHERIT_REQ = 0x0200
SE_DACL_AUTO_INHERITED = 0x0400
SE_SACL_AUTO_INHERITED = 0x0800
SE_DACL_PROTECTED = 0x1000
SE_SACL_PROTECTED = 0x2000
SE_RM_CONTROL_VALID = 0x4000
SE_SELF_RELATIVE = 0x8000

# [MS-DTYP] 2.4.4.1 ACE_HEADER AceType.
ACCESS_ALLOWED_ACE_TYPE = 0x00
ACCESS_DENIED_ACE_TYPE = 0x01
SYSTEM_AUDIT_ACE_TYPE = 0x02
ACCESS_ALLOWED_OBJECT_ACE_TYPE = 0x05
ACCESS_DENIED_OBJECT_ACE_TYPE = 0x06
SYSTEM_AUDIT_OBJECT_ACE_TYPE = 0x07
_ACE_KINDS: dict[int, str] = {
    ACCESS_ALLOWED_ACE_TYPE: "allow",
    ACCESS_DENIED_ACE_TYPE: "deny",
    SYSTEM_AUDIT_ACE_TYPE: "audit",
    ACCESS_ALLOWED_OBJECT_ACE_TYPE: "allow_object",
    ACCESS_DENIED_OBJECT_ACE_TYPE: "deny_object",
    SYSTEM_AUDIT_OBJECT_ACE_TYPE: "audit",
}

# [MS-DTYP] 2.4.4.1 ACE_HEADER AceFlags, with the short forms icacls/SDDL use.
OBJECT_INHERIT_ACE = 0x01
CONTAINER_INHERIT_ACE = 0x02
NO_PROPAGATE_INHERIT_ACE = 0x04
INHERIT_ONLY_ACE = 0x08
INHERITED_ACE = 0x10
SUCCESSFUL_ACCESS_ACE_FLAG = 0x40
FAILED_ACCESS_ACE_FLAG = 0x80
_ACE_FLAGS: tuple[tuple[int, str], ...] = (
    (OBJECT_INHERIT_ACE, "OI"),
    (CONTAINER_INHERIT_ACE, "CI"),
    (NO_PROPAGATE_INHERIT_ACE, "NP"),
    (INHERIT_ONLY_ACE, "IO"),
    (INHERITED_ACE, "ID"),
    (SUCCESSFUL_ACCESS_ACE_FLAG, "SA"),
    (FAILED_ACCESS_ACE_FLAG, "FA"),
)


def ace_kind(ace_type: int) -> str:
    """Ace.kind for an [MS-DTYP] 2.4.4.1 AceType: allow, deny, allow_object, deny_object, audit, other:<n>."""
    # Callback (conditional) ACEs, 0x09-0x0C, are "other": whether they apply depends on a condition
    # expression that this tool does not evaluate.
    return _ACE_KINDS.get(ace_type, f"other:{ace_type}")


def ace_flag_names(flags: int) -> tuple[str, ...]:
    """Short names (OI CI NP IO ID SA FA) of the ACE flags that are set."""
    return tuple(name for bit, name in _ACE_FLAGS if flags & bit)


@dataclass(frozen=True, slots=True)
class Ace:
    """One access control entry ([MS-DTYP] 2.4.4); sid is '' when the ACE type's layout is unknown."""

    kind: str  # "allow" | "deny" | "allow_object" | "deny_object" | "audit" | "other:<n>"
    flags: int
    flag_names: tuple[str, ...]  # OI CI NP IO ID SA FA
    mask: int
    sid: str
    name: str | None = None
    broad: bool = False

    @property
    def rights(self) -> tuple[str, ...]:
        """The mask's bit names in directory wording."""
        return mask_names(self.mask)


@dataclass(frozen=True, slots=True)
class SecurityDescriptor:
    """Owner, group and DACL of an object ([MS-DTYP] 2.4.6).

    dacl is None when no DACL is present (SE_DACL_PRESENT clear, or a NULL DACL): Windows and Samba then
    grant everyone full access. An empty tuple is an empty DACL, which denies everyone (only the owner can
    still read and change the permissions).
    """

    owner: str | None
    group: str | None
    dacl: tuple[Ace, ...] | None
    control: int
    owner_name: str | None = None
    group_name: str | None = None

    def sids(self) -> set[str]:
        """Every SID the descriptor mentions: owner, group and each ACE's trustee."""
        found = {sid for sid in (self.owner, self.group) if sid}
        found.update(ace.sid for ace in self.dacl or () if ace.sid)
        return found

    def with_names(self, names: Mapping[str, str]) -> SecurityDescriptor:
        """A copy with names from the mapping (SID -> name) or well-known names, and ACE broad flags set."""

        def name_of(sid: str | None, current: str | None) -> str | None:
            if not sid:
                return current
            return names.get(sid) or _well_known_with_domain(sid, names) or current

        dacl = None
        if self.dacl is not None:
            dacl = tuple(
                replace(ace, name=name_of(ace.sid, ace.name), broad=is_broad(ace.sid)) for ace in self.dacl
            )
        return replace(
            self,
            dacl=dacl,
            owner_name=name_of(self.owner, self.owner_name),
            group_name=name_of(self.group, self.group_name),
        )


# --- Well-known SIDs --------------------------------------------------------------------------------------
# [MS-DTYP] 2.4.2.4 Well-Known SID Structures; names as Windows' LookupAccountSid spells them, except
# S-1-0-0 ("NULL SID" there, "Nobody" in Samba and in this project's reports).
WELL_KNOWN_SIDS: dict[str, str] = {
    "S-1-0-0": "Nobody",
    "S-1-1-0": "Everyone",
    "S-1-2-0": "LOCAL",
    "S-1-2-1": "CONSOLE LOGON",
    "S-1-3-0": "CREATOR OWNER",
    "S-1-3-1": "CREATOR GROUP",
    "S-1-3-2": "CREATOR OWNER SERVER",
    "S-1-3-3": "CREATOR GROUP SERVER",
    "S-1-3-4": "OWNER RIGHTS",
    "S-1-5-1": "NT AUTHORITY\\DIALUP",
    "S-1-5-2": "NT AUTHORITY\\NETWORK",
    "S-1-5-3": "NT AUTHORITY\\BATCH",
    "S-1-5-4": "NT AUTHORITY\\INTERACTIVE",
    "S-1-5-6": "NT AUTHORITY\\SERVICE",
    "S-1-5-7": "NT AUTHORITY\\ANONYMOUS LOGON",
    "S-1-5-8": "NT AUTHORITY\\PROXY",
    "S-1-5-9": "NT AUTHORITY\\ENTERPRISE DOMAIN CONTROLLERS",
    "S-1-5-10": "NT AUTHORITY\\SELF",
    "S-1-5-11": "NT AUTHORITY\\Authenticated Users",
    "S-1-5-12": "NT AUTHORITY\\RESTRICTED",
    "S-1-5-13": "NT AUTHORITY\\TERMINAL SERVER USER",
    "S-1-5-14": "NT AUTHORITY\\REMOTE INTERACTIVE LOGON",
    "S-1-5-15": "NT AUTHORITY\\This Organization",
    "S-1-5-17": "NT AUTHORITY\\IUSR",
    "S-1-5-18": "NT AUTHORITY\\SYSTEM",
    "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
    "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE",
    "S-1-5-32": "BUILTIN",
    "S-1-5-32-544": "BUILTIN\\Administrators",
    "S-1-5-32-545": "BUILTIN\\Users",
    "S-1-5-32-546": "BUILTIN\\Guests",
    "S-1-5-32-547": "BUILTIN\\Power Users",
    "S-1-5-32-548": "BUILTIN\\Account Operators",
    "S-1-5-32-549": "BUILTIN\\Server Operators",
    "S-1-5-32-550": "BUILTIN\\Print Operators",
    "S-1-5-32-551": "BUILTIN\\Backup Operators",
    "S-1-5-32-552": "BUILTIN\\Replicator",
    "S-1-5-32-554": "BUILTIN\\Pre-Windows 2000 Compatible Access",
    "S-1-5-32-555": "BUILTIN\\Remote Desktop Users",
    "S-1-5-32-556": "BUILTIN\\Network Configuration Operators",
    "S-1-5-32-558": "BUILTIN\\Performance Monitor Users",
    "S-1-5-32-559": "BUILTIN\\Performance Log Users",
    "S-1-5-32-562": "BUILTIN\\Distributed COM Users",
    "S-1-5-32-568": "BUILTIN\\IIS_IUSRS",
    "S-1-5-32-569": "BUILTIN\\Cryptographic Operators",
    "S-1-5-32-573": "BUILTIN\\Event Log Readers",
    "S-1-5-32-578": "BUILTIN\\Hyper-V Administrators",
    "S-1-5-32-579": "BUILTIN\\Access Control Assistance Operators",
    "S-1-5-32-580": "BUILTIN\\Remote Management Users",
    "S-1-5-64-10": "NT AUTHORITY\\NTLM Authentication",
    "S-1-5-113": "NT AUTHORITY\\Local account",
    "S-1-5-114": "NT AUTHORITY\\Local account and member of Administrators group",
    "S-1-15-2-1": "APPLICATION PACKAGE AUTHORITY\\ALL APPLICATION PACKAGES",
}

# [MS-DTYP] 2.4.2.4: RIDs with a fixed meaning in every domain (and machine) S-1-5-21-a-b-c.
DOMAIN_RIDS: dict[int, str] = {
    500: "Administrator",
    501: "Guest",
    502: "krbtgt",
    512: "Domain Admins",
    513: "Domain Users",
    514: "Domain Guests",
    515: "Domain Computers",
    516: "Domain Controllers",
    517: "Cert Publishers",
    518: "Schema Admins",
    519: "Enterprise Admins",
    520: "Group Policy Creator Owners",
    521: "Read-only Domain Controllers",
    522: "Cloneable Domain Controllers",
    525: "Protected Users",
    526: "Key Admins",
    527: "Enterprise Key Admins",
    553: "RAS and IAS Servers",
    571: "Allowed RODC Password Replication Group",
    572: "Denied RODC Password Replication Group",
}
UNKNOWN_DOMAIN = "(domain)"

# Everyone-like principals: granting them something grants it to (nearly) anyone who can reach the server.
BROAD_SIDS: frozenset[str] = frozenset(
    {
        "S-1-1-0",  # Everyone
        "S-1-5-7",  # Anonymous Logon
        "S-1-5-11",  # Authenticated Users
        "S-1-5-2",  # NETWORK: every logon over the network, which is every SMB session
        "S-1-5-32-545",  # BUILTIN\Users (contains Authenticated Users / Domain Users)
        "S-1-5-32-546",  # BUILTIN\Guests
    }
)
BROAD_DOMAIN_RIDS: frozenset[int] = frozenset({501, 513, 514, 515})  # Guest, Domain Users/Guests/Computers

# [MS-DTYP] 2.4.2.1 SID string format: "S-1-" authority (decimal below 2**32, or 0x + 12 hex digits), then
# 1 to 15 sub-authorities, each below 2**32. ABNF literals are case-insensitive, so "s-1-..." is accepted.
_SID_RE = re.compile(r"S-1-(?:(\d{1,10})|0x([0-9A-F]{12}))((?:-\d{1,10}){1,15})", re.IGNORECASE)
# S-1-5-21-a-b-c-RID: a domain or machine account/group ([MS-DTYP] 2.4.2.4 "domain-relative" SIDs).
_DOMAIN_SID_RE = re.compile(r"(S-1-5-21-\d+-\d+-\d+)-(\d+)")
# Samba's Unix-only principals: S-1-22-1-<uid> users, S-1-22-2-<gid> groups (lab notes Q3 c, g).
_UNIX_SID_RE = re.compile(r"S-1-22-([12])-(\d+)")


def is_valid_sid(text: str) -> bool:
    """True if text is a SID in [MS-DTYP] 2.4.2.1 string form."""
    match = _SID_RE.fullmatch(text)
    if match is None:
        return False
    decimal_authority, _, subs = match.groups()
    if decimal_authority is not None and int(decimal_authority) >= 2**32:
        return False
    return all(int(sub) < 2**32 for sub in subs[1:].split("-"))


def _canonical(sid: str) -> str:
    return "S" + sid[1:] if sid[:1] == "s" else sid


def domain_of(sid: str) -> tuple[str, int] | None:
    """(domain SID, RID) for a domain-relative S-1-5-21-a-b-c-RID SID, else None."""
    match = _DOMAIN_SID_RE.fullmatch(_canonical(sid))
    if match is None:
        return None
    return match.group(1), int(match.group(2))


def well_known_name(sid: str, domain_name: str | None = None) -> str | None:
    """The well-known name of a SID, or None; domain RIDs are prefixed by domain_name or '(domain)'."""
    sid = _canonical(sid)
    if sid in WELL_KNOWN_SIDS:
        return WELL_KNOWN_SIDS[sid]
    domain = domain_of(sid)
    if domain is not None:
        rid_name = DOMAIN_RIDS.get(domain[1])
        return None if rid_name is None else f"{domain_name or UNKNOWN_DOMAIN}\\{rid_name}"
    unix = _UNIX_SID_RE.fullmatch(sid)
    if unix is not None:
        kind = "Unix User" if unix.group(1) == "1" else "Unix Group"
        return f"{kind}\\{unix.group(2)}"
    return None


def _well_known_with_domain(sid: str, names: Mapping[str, str]) -> str | None:
    # If the resolver named the domain SID itself (e.g. S-1-5-21-a-b-c -> LABNAS), use it as the prefix.
    domain = domain_of(sid)
    return well_known_name(sid, names.get(domain[0]) if domain else None)


def is_broad(sid: str) -> bool:
    """True for everyone-like principals (Everyone, Anonymous, Authenticated Users, Domain Users, ...)."""
    sid = _canonical(sid)
    if sid in BROAD_SIDS:
        return True
    domain = domain_of(sid)
    return domain is not None and domain[1] in BROAD_DOMAIN_RIDS
