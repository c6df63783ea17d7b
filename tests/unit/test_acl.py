"""Access masks, effective rights, SID names and the security-descriptor dataclasses (pure logic)."""

from __future__ import annotations

import dataclasses

import pytest

from shareaudit.acl import (
    FILE_ALL_ACCESS,
    FILE_GENERIC_EXECUTE,
    FILE_GENERIC_READ,
    FILE_GENERIC_WRITE,
    GENERIC_ALL,
    GENERIC_EXECUTE,
    GENERIC_READ,
    GENERIC_WRITE,
    MAXIMUM_ALLOWED,
    NO_RIGHTS,
    WELL_KNOWN_SIDS,
    Ace,
    Rights,
    SecurityDescriptor,
    SecurityDescriptorError,
    ace_flag_names,
    ace_kind,
    effective_rights,
    expand_generic,
    is_broad,
    is_valid_sid,
    mask_names,
    mask_short_names,
    mask_summary,
    well_known_name,
)
from shareaudit.errors import ShareauditError

LABNAS = "S-1-5-21-2767244109-144325962-3098173889"
DOMAINS = (LABNAS, "S-1-5-21-1-2-3", "S-1-5-21-4294967295-0-123456789")

READ_NAMES = ("list", "read_ea", "traverse", "read_attributes", "read_control", "synchronize")
FULL_NAMES = (
    "list",
    "add_file",
    "add_subdirectory",
    "read_ea",
    "write_ea",
    "traverse",
    "delete_child",
    "read_attributes",
    "write_attributes",
    "delete",
    "read_control",
    "write_dac",
    "write_owner",
    "synchronize",
)


# --- masks ------------------------------------------------------------------------------------------------
def test_composite_constants_match_the_file_generic_mapping() -> None:
    assert (FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS) == (
        0x120089,
        0x120116,
        0x1200A0,
        0x1F01FF,
    )


def test_mask_names_directory_wording() -> None:
    assert mask_names(0x1200A9) == READ_NAMES
    assert mask_names(0x1F01FF) == FULL_NAMES
    assert mask_names(0) == ()


def test_mask_names_file_wording() -> None:
    assert mask_names(0x1200A9, directory=False) == (
        "read_data",
        "read_ea",
        "execute",
        "read_attributes",
        "read_control",
        "synchronize",
    )
    assert mask_names(0x6, directory=False) == ("write_data", "append_data")
    assert mask_names(0x6) == ("add_file", "add_subdirectory")


def test_mask_names_generic_special_and_reserved_bits() -> None:
    assert mask_names(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL) == (
        "generic_all",
        "generic_execute",
        "generic_write",
        "generic_read",
    )
    assert mask_names(MAXIMUM_ALLOWED | 0x01000000) == ("access_system_security", "maximum_allowed")
    # Reserved bits are shown, not dropped.
    assert mask_names(0x200 | 0x00800000 | 0x1) == ("list", "0x00000200", "0x00800000")


def test_mask_short_names_like_icacls() -> None:
    # The lab's labscan on print$: MxAc 0x1301ff.
    assert "|".join(mask_short_names(0x1301FF)) == "RD|WD|AD|REA|WEA|X|DC|RA|WA|DE|RC|S"
    assert mask_short_names(0x000C0000 | GENERIC_ALL) == ("WDAC", "WO", "GA")


@pytest.mark.parametrize(
    ("mask", "summary"),
    [
        (0x1F01FF, "FULL"),
        (0x1301BF, "CHANGE"),
        (0x1200A9, "READ"),
        (0, "NONE"),
        (
            0x1F00A9,
            "list|read_ea|traverse|read_attributes|delete|read_control|write_dac|write_owner|synchronize",
        ),
        (
            0x1301FF,
            "list|add_file|add_subdirectory|read_ea|write_ea|traverse|delete_child|read_attributes|"
            "write_attributes|delete|read_control|synchronize",
        ),
        (GENERIC_ALL, "generic_all"),
    ],
)
def test_mask_summary(mask: int, summary: str) -> None:
    assert mask_summary(mask) == summary


@pytest.mark.parametrize(
    ("mask", "expanded"),
    [
        (GENERIC_READ, 0x120089),
        (GENERIC_WRITE, 0x120116),
        (GENERIC_EXECUTE, 0x1200A0),
        (GENERIC_ALL, 0x1F01FF),
        (GENERIC_READ | GENERIC_EXECUTE, 0x1200A9),
        (GENERIC_READ | 0x40000, 0x160089),  # specific bits are kept
        (GENERIC_ALL | MAXIMUM_ALLOWED, 0x1F01FF | MAXIMUM_ALLOWED),  # only GENERIC_* are mapped
        (0x1200A9, 0x1200A9),
        (0, 0),
    ],
)
def test_expand_generic(mask: int, expanded: int) -> None:
    assert expand_generic(mask) == expanded


# --- effective rights -------------------------------------------------------------------------------------
def rights(*names: str) -> Rights:
    return dataclasses.replace(NO_RIGHTS, **dict.fromkeys(names, True))


@pytest.mark.parametrize(
    ("share_mask", "root_mask", "expected"),
    [
        # Lab Q3 d, guest on the `read only = yes` share: the tree-connect mask still carries DEL|WDAC|WO.
        (0x1F00A9, 0x1200A9, rights("read")),
        # Guest-writable drop folder (scans).
        (0x1F01FF, 0x1F01FF, rights("read", "write", "delete", "change_permissions", "take_ownership")),
        # labscan on print$.
        (0x1F01FF, 0x1301FF, rights("read", "write", "delete")),
        # labscan on imaging.
        (0x1200A9, 0x1200A9, rights("read")),
        # Only one side known: that side is used as it is.
        (None, 0x1200A9, rights("read")),
        (0x1F00A9, None, rights("read", "delete", "change_permissions", "take_ownership")),
        (None, None, NO_RIGHTS),
        (0, 0x1F01FF, NO_RIGHTS),
        # Single bits map to single rights.
        (None, 0x2, rights("write")),
        (None, 0x4, rights("write")),
        (None, 0x40, rights("delete")),
        (None, 0x10000, rights("delete")),
        (None, 0x40000, rights("change_permissions")),
        (None, 0x80000, rights("take_ownership")),
        (None, 0x1, rights("read")),
        (None, 0x120088, NO_RIGHTS),  # read_ea, read_attributes, read_control, synchronize: no data access
        # Generic bits are expanded before the AND.
        (GENERIC_ALL, 0x1301FF, rights("read", "write", "delete")),
        (GENERIC_READ, 0x1F01FF, rights("read")),
        (GENERIC_WRITE, None, rights("write")),
        (GENERIC_READ | GENERIC_WRITE, GENERIC_ALL, rights("read", "write")),
    ],
)
def test_effective_rights(share_mask: int | None, root_mask: int | None, expected: Rights) -> None:
    assert effective_rights(share_mask, root_mask) == expected


def test_rights_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        NO_RIGHTS.read = True  # type: ignore[misc]


# --- well-known SIDs --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sid", "name"),
    [
        ("S-1-0-0", "Nobody"),
        ("S-1-1-0", "Everyone"),
        ("S-1-2-0", "LOCAL"),
        ("S-1-3-0", "CREATOR OWNER"),
        ("S-1-3-1", "CREATOR GROUP"),
        ("S-1-5-2", "NT AUTHORITY\\NETWORK"),
        ("S-1-5-4", "NT AUTHORITY\\INTERACTIVE"),
        ("S-1-5-6", "NT AUTHORITY\\SERVICE"),
        ("S-1-5-7", "NT AUTHORITY\\ANONYMOUS LOGON"),
        ("S-1-5-9", "NT AUTHORITY\\ENTERPRISE DOMAIN CONTROLLERS"),
        ("S-1-5-10", "NT AUTHORITY\\SELF"),
        ("S-1-5-11", "NT AUTHORITY\\Authenticated Users"),
        ("S-1-5-18", "NT AUTHORITY\\SYSTEM"),
        ("S-1-5-19", "NT AUTHORITY\\LOCAL SERVICE"),
        ("S-1-5-20", "NT AUTHORITY\\NETWORK SERVICE"),
        ("S-1-5-32-544", "BUILTIN\\Administrators"),
        ("S-1-5-32-545", "BUILTIN\\Users"),
        ("S-1-5-32-546", "BUILTIN\\Guests"),
        ("S-1-5-32-547", "BUILTIN\\Power Users"),
        ("S-1-5-32-548", "BUILTIN\\Account Operators"),
        ("S-1-5-32-549", "BUILTIN\\Server Operators"),
        ("S-1-5-32-550", "BUILTIN\\Print Operators"),
        ("S-1-5-32-551", "BUILTIN\\Backup Operators"),
        ("S-1-5-32-554", "BUILTIN\\Pre-Windows 2000 Compatible Access"),
        ("S-1-5-32-555", "BUILTIN\\Remote Desktop Users"),
        ("s-1-1-0", "Everyone"),  # [MS-DTYP] 2.4.2.1 ABNF literals are case-insensitive
    ],
)
def test_well_known_name_table(sid: str, name: str) -> None:
    assert well_known_name(sid) == name
    assert WELL_KNOWN_SIDS[sid.upper()] == name


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize(
    ("rid", "name"),
    [
        (500, "Administrator"),
        (501, "Guest"),
        (502, "krbtgt"),
        (512, "Domain Admins"),
        (513, "Domain Users"),
        (514, "Domain Guests"),
        (515, "Domain Computers"),
        (516, "Domain Controllers"),
        (518, "Schema Admins"),
        (519, "Enterprise Admins"),
        (520, "Group Policy Creator Owners"),
    ],
)
def test_well_known_domain_rids(domain: str, rid: int, name: str) -> None:
    assert well_known_name(f"{domain}-{rid}") == f"(domain)\\{name}"
    assert well_known_name(f"{domain}-{rid}", domain_name="LABNAS") == f"LABNAS\\{name}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_relative_sids_without_a_fixed_meaning(domain: str) -> None:
    assert well_known_name(f"{domain}-1004") is None
    assert well_known_name(f"{domain}-1000", domain_name="LABNAS") is None
    assert well_known_name(domain) is None  # the domain SID itself


def test_rid_names_need_exactly_three_domain_sub_authorities() -> None:
    assert well_known_name("S-1-5-21-1-2-513") is None
    assert well_known_name("S-1-5-21-1-2-3-4-513") is None
    assert well_known_name("S-1-5-22-1-2-3-513") is None


@pytest.mark.parametrize(
    ("sid", "name"),
    [
        ("S-1-22-1-0", "Unix User\\0"),
        ("S-1-22-1-1000", "Unix User\\1000"),
        ("S-1-22-2-65534", "Unix Group\\65534"),
        ("S-1-22-2-0", "Unix Group\\0"),
    ],
)
def test_samba_unix_sids(sid: str, name: str) -> None:
    assert well_known_name(sid) == name


@pytest.mark.parametrize(
    "sid", ["S-1-22-3-5", "S-1-22-1", "S-1-22-1-0-1", "S-1-5-99", "S-1-9-1", "", "Everyone"]
)
def test_unknown_sids_have_no_well_known_name(sid: str) -> None:
    assert well_known_name(sid) is None


@pytest.mark.parametrize(
    "sid",
    [
        "S-1-1-0",
        "S-1-5-7",
        "S-1-5-11",
        "S-1-5-2",
        "S-1-5-32-545",
        "S-1-5-32-546",
        *(f"{domain}-{rid}" for domain in DOMAINS for rid in (501, 513, 514, 515)),
    ],
)
def test_broad_principals(sid: str) -> None:
    assert is_broad(sid) is True


@pytest.mark.parametrize(
    "sid",
    [
        "S-1-5-32-544",  # Administrators
        "S-1-5-32-551",
        "S-1-5-18",
        "S-1-3-0",
        "S-1-0-0",
        "S-1-22-1-0",
        "S-1-22-2-65534",
        "S-1-5-21-1-2-3-1004",
        f"{LABNAS}-1004",
        f"{LABNAS}-500",
        f"{LABNAS}-512",
        f"{LABNAS}-1513",
        "S-1-5-21-1-2-513",  # not a domain-relative SID: only two domain sub-authorities
        "",
    ],
)
def test_not_broad(sid: str) -> None:
    assert is_broad(sid) is False


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("S-1-1-0", True),
        ("S-1-5-21-2767244109-144325962-3098173889-1005", True),
        ("S-1-22-1-0", True),
        ("s-1-5-18", True),
        ("S-1-0x000000000005-18", True),  # hexadecimal identifier authority, 12 digits
        ("S-1-5-" + "-".join(["1"] * 15), True),  # 15 sub-authorities is the maximum
        ("S-1-5-" + "-".join(["1"] * 16), False),
        ("S-1-5-4294967295", True),
        ("S-1-5-4294967296", False),  # sub-authority >= 2**32
        ("S-1-4294967296-1", False),  # decimal authority >= 2**32
        ("S-1-5", False),  # needs at least one sub-authority
        ("S-2-5-18", False),
        ("S-1-0x5-18", False),
        ("S-1-5-18-", False),
        ("S-1--5", False),
        (" S-1-1-0", False),
        ("S-1-1-0\n", False),
        ("Everyone", False),
        ("", False),
    ],
)
def test_is_valid_sid(text: str, valid: bool) -> None:
    assert is_valid_sid(text) is valid


# --- ACE and security-descriptor data ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ace_type", "kind"),
    [
        (0, "allow"),
        (1, "deny"),
        (2, "audit"),
        (5, "allow_object"),
        (6, "deny_object"),
        (7, "audit"),
        (9, "other:9"),
        (0x11, "other:17"),
        (0xFF, "other:255"),
    ],
)
def test_ace_kind(ace_type: int, kind: str) -> None:
    assert ace_kind(ace_type) == kind


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (0x00, ()),
        (0x03, ("OI", "CI")),
        (0x0B, ("OI", "CI", "IO")),
        (0x13, ("OI", "CI", "ID")),
        (0x04, ("NP",)),
        (0xC0, ("SA", "FA")),
        (0xFF, ("OI", "CI", "NP", "IO", "ID", "SA", "FA")),
    ],
)
def test_ace_flag_names(flags: int, names: tuple[str, ...]) -> None:
    assert ace_flag_names(flags) == names


def allow(sid: str, mask: int = 0x1200A9) -> Ace:
    return Ace(kind="allow", flags=0x03, flag_names=("OI", "CI"), mask=mask, sid=sid)


IMAGING = SecurityDescriptor(
    owner="S-1-22-1-0",
    group=f"{LABNAS}-1005",
    dacl=(
        allow(f"{LABNAS}-1001"),
        allow(f"{LABNAS}-1003"),
        allow(f"{LABNAS}-1004", 0x1F01FF),
        allow("S-1-1-0"),
    ),
    control=0x8004,
)


def test_ace_rights() -> None:
    assert allow("S-1-1-0").rights == READ_NAMES
    assert allow("S-1-1-0", 0x1F01FF).rights == FULL_NAMES


def test_sids_collects_owner_group_and_trustees() -> None:
    assert IMAGING.sids() == {
        "S-1-22-1-0",
        f"{LABNAS}-1005",
        f"{LABNAS}-1001",
        f"{LABNAS}-1003",
        f"{LABNAS}-1004",
        "S-1-1-0",
    }


def test_sids_without_owner_group_or_dacl() -> None:
    assert SecurityDescriptor(owner=None, group=None, dacl=None, control=0x8000).sids() == set()
    unknown = Ace(kind="other:20", flags=0, flag_names=(), mask=0, sid="")
    sd = SecurityDescriptor(owner=None, group="S-1-5-32-544", dacl=(unknown,), control=0x8004)
    assert sd.sids() == {"S-1-5-32-544"}


def test_with_names_uses_mapping_then_well_known_names_and_sets_broad() -> None:
    named = IMAGING.with_names(
        {
            f"{LABNAS}-1001": "LABNAS\\labaudit",
            f"{LABNAS}-1004": "LABNAS\\labadmins",
            "S-1-22-1-0": "Unix User\\root",
        }
    )
    assert named.owner_name == "Unix User\\root"
    assert named.group_name is None  # -1005 is neither in the mapping nor well known
    assert named.dacl is not None
    assert [(ace.name, ace.broad) for ace in named.dacl] == [
        ("LABNAS\\labaudit", False),
        (None, False),
        ("LABNAS\\labadmins", False),
        ("Everyone", True),
    ]
    # Everything else is unchanged, and the original is untouched.
    assert dataclasses.replace(named, owner_name=None, dacl=IMAGING.dacl) == IMAGING
    assert IMAGING.owner_name is None
    assert IMAGING.dacl is not None and IMAGING.dacl[3].name is None and IMAGING.dacl[3].broad is False


def test_with_names_prefixes_domain_rids_with_the_resolved_domain_name() -> None:
    sd = SecurityDescriptor(
        owner=f"{LABNAS}-501",
        group="S-1-22-2-65534",
        dacl=(allow(f"{LABNAS}-513"), allow("S-1-5-21-1-2-3-513")),
        control=0x8004,
    )
    named = sd.with_names({LABNAS: "LABNAS"})
    assert (named.owner_name, named.group_name) == ("LABNAS\\Guest", "Unix Group\\65534")
    assert named.dacl is not None
    assert [(ace.name, ace.broad) for ace in named.dacl] == [
        ("LABNAS\\Domain Users", True),
        ("(domain)\\Domain Users", True),
    ]
    # A name from the resolver wins over the well-known one.
    assert sd.with_names({f"{LABNAS}-501": "LABNAS\\nobody"}).owner_name == "LABNAS\\nobody"


def test_with_names_keeps_a_null_dacl_and_existing_names() -> None:
    sd = SecurityDescriptor(
        owner="S-1-5-21-9-9-9-1234", group=None, dacl=None, control=0x8000, owner_name="X\\y"
    )
    named = sd.with_names({})
    assert named == sd
    assert named.dacl is None


def test_security_descriptor_error_is_a_value_error_and_a_project_error() -> None:
    assert issubclass(SecurityDescriptorError, ValueError)
    assert issubclass(SecurityDescriptorError, ShareauditError)
