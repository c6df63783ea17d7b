"""parse_security_descriptor on self-relative descriptors built byte by byte from [MS-DTYP].

The input is built here with struct, following [MS-DTYP] 2.4.2.2 (SID), 2.4.4 (ACE), 2.4.5 (ACL) and
2.4.6 (SECURITY_DESCRIPTOR, self-relative), so the tests do not depend on impacket to build what impacket
then parses.
"""

from __future__ import annotations

import random
import struct

import pytest

from shareaudit.acl import Ace, SecurityDescriptor, SecurityDescriptorError
from shareaudit.collect.smb.sd import parse_security_descriptor

LABNAS = "S-1-5-21-2767244109-144325962-3098173889"
SR_DP = 0x8004  # SE_SELF_RELATIVE | SE_DACL_PRESENT
ALLOW, DENY, ALLOW_OBJECT, DENY_OBJECT = 0x00, 0x01, 0x05, 0x06


def sid_bytes(text: str, revision: int = 1) -> bytes:
    """[MS-DTYP] 2.4.2.2: Revision, SubAuthorityCount, 6-byte big-endian authority, LE sub-authorities."""
    parts = text.split("-")
    authority = int(parts[2], 0)
    subs = [int(part) for part in parts[3:]]
    return (
        struct.pack("<BB", revision, len(subs))
        + authority.to_bytes(6, "big")
        + struct.pack(f"<{len(subs)}I", *subs)
    )


def ace_bytes(ace_type: int, flags: int, body: bytes) -> bytes:
    """[MS-DTYP] 2.4.4.1 ACE_HEADER (AceType, AceFlags, AceSize incl. header) followed by the body."""
    return struct.pack("<BBH", ace_type, flags, 4 + len(body)) + body


def simple_ace(ace_type: int, flags: int, mask: int, sid: str) -> bytes:
    """[MS-DTYP] 2.4.4.2 / 2.4.4.4 ACCESS_ALLOWED_ACE / ACCESS_DENIED_ACE: Mask, Sid."""
    return ace_bytes(ace_type, flags, struct.pack("<I", mask) + sid_bytes(sid))


def object_ace(
    ace_type: int, flags: int, mask: int, sid: str, object_type: bytes = b"", inherited_type: bytes = b""
) -> bytes:
    """[MS-DTYP] 2.4.4.3 ACCESS_ALLOWED_OBJECT_ACE: Mask, Flags, [ObjectType], [InheritedObjectType], Sid."""
    object_flags = (0x1 if object_type else 0) | (0x2 if inherited_type else 0)
    body = struct.pack("<II", mask, object_flags) + object_type + inherited_type + sid_bytes(sid)
    return ace_bytes(ace_type, flags, body)


def acl_bytes(aces: list[bytes], revision: int = 2) -> bytes:
    """[MS-DTYP] 2.4.5 ACL: AclRevision, Sbz1, AclSize, AceCount, Sbz2, then the ACEs."""
    body = b"".join(aces)
    return struct.pack("<BBHHH", revision, 0, 8 + len(body), len(aces), 0) + body


def sd_bytes(control: int, parts: list[tuple[str, bytes]], revision: int = 1) -> bytes:
    """[MS-DTYP] 2.4.6 self-relative SECURITY_DESCRIPTOR; parts ("owner"|"group"|"dacl", bytes) in layout order."""
    offsets = {"owner": 0, "group": 0, "sacl": 0, "dacl": 0}
    body = b""
    for name, data in parts:
        offsets[name] = 20 + len(body)
        body += data
    header = struct.pack(
        "<BBHIIII", revision, 0, control, offsets["owner"], offsets["group"], offsets["sacl"], offsets["dacl"]
    )
    return header + body


def lab_ace(rid: int, mask: int) -> bytes:
    return simple_ace(ALLOW, 0x03, mask, f"{LABNAS}-{rid}")


def imaging_root(acl_revision: int = 2) -> bytes:
    """The lab's imaging share root as Samba returns it (lab notes Q3 c): owner, group, then the DACL."""
    dacl = acl_bytes(
        [lab_ace(1001, 0x1200A9), lab_ace(1003, 0x1200A9), lab_ace(1004, 0x1F01FF), lab_ace(1005, 0x1200A9)],
        revision=acl_revision,
    )
    return sd_bytes(
        SR_DP, [("owner", sid_bytes("S-1-22-1-0")), ("group", sid_bytes(f"{LABNAS}-1005")), ("dacl", dacl)]
    )


def lab_allow(rid: int, mask: int) -> Ace:
    return Ace(kind="allow", flags=0x03, flag_names=("OI", "CI"), mask=mask, sid=f"{LABNAS}-{rid}")


IMAGING = SecurityDescriptor(
    owner="S-1-22-1-0",
    group=f"{LABNAS}-1005",
    dacl=(
        lab_allow(1001, 0x1200A9),
        lab_allow(1003, 0x1200A9),
        lab_allow(1004, 0x1F01FF),
        lab_allow(1005, 0x1200A9),
    ),
    control=SR_DP,
)


# --- well-formed descriptors ------------------------------------------------------------------------------
def test_lab_imaging_root() -> None:
    sd = parse_security_descriptor(imaging_root())
    assert sd == IMAGING
    assert sd.dacl is not None
    assert [ace.rights[:2] for ace in sd.dacl] == [("list", "read_ea")] * 2 + [("list", "add_file")] + [
        ("list", "read_ea")
    ]


@pytest.mark.parametrize("revision", [2, 3, 4])
def test_acl_revisions_2_3_and_4(revision: int) -> None:
    # Samba's smbcacls writes AclRevision 3, which smbprotocol's parser rejects (lab notes Q3 c).
    raw = imaging_root(acl_revision=revision)
    assert raw[64] == revision  # 20 header + 16 owner SID + 28 group SID: the DACL's first byte
    assert parse_security_descriptor(raw) == IMAGING


def test_windows_layout_dacl_before_owner_and_group() -> None:
    dacl = acl_bytes(
        [simple_ace(ALLOW, 0x13, 0x1F01FF, "S-1-5-18"), simple_ace(ALLOW, 0x13, 0x1301BF, "S-1-5-11")]
    )
    raw = sd_bytes(
        0x9404,  # SR | DACL protected | DACL auto-inherited | DACL present
        [("dacl", dacl), ("owner", sid_bytes("S-1-5-32-544")), ("group", sid_bytes(f"{LABNAS}-513"))],
    )
    assert parse_security_descriptor(raw) == SecurityDescriptor(
        owner="S-1-5-32-544",
        group=f"{LABNAS}-513",
        dacl=(
            Ace(kind="allow", flags=0x13, flag_names=("OI", "CI", "ID"), mask=0x1F01FF, sid="S-1-5-18"),
            Ace(kind="allow", flags=0x13, flag_names=("OI", "CI", "ID"), mask=0x1301BF, sid="S-1-5-11"),
        ),
        control=0x9404,
    )


def test_deny_before_allow_keeps_order_and_kind() -> None:
    dacl = acl_bytes(
        [simple_ace(DENY, 0x00, 0x000D0116, "S-1-5-7"), simple_ace(ALLOW, 0x0B, 0x1200A9, "S-1-1-0")],
    )
    raw = sd_bytes(SR_DP, [("owner", sid_bytes("S-1-5-32-544")), ("dacl", dacl)])
    sd = parse_security_descriptor(raw)
    assert sd.dacl == (
        Ace(kind="deny", flags=0x00, flag_names=(), mask=0x000D0116, sid="S-1-5-7"),
        Ace(kind="allow", flags=0x0B, flag_names=("OI", "CI", "IO"), mask=0x1200A9, sid="S-1-1-0"),
    )
    assert (sd.owner, sd.group) == ("S-1-5-32-544", None)


def test_no_dacl_present_is_none() -> None:
    # SE_DACL_PRESENT clear: no DACL, which grants everyone full access.
    raw = sd_bytes(0x8000, [("owner", sid_bytes("S-1-22-1-0")), ("group", sid_bytes("S-1-22-2-0"))])
    assert parse_security_descriptor(raw) == SecurityDescriptor(
        owner="S-1-22-1-0", group="S-1-22-2-0", dacl=None, control=0x8000
    )


def test_dacl_present_flag_clear_ignores_a_dacl_offset() -> None:
    dacl = acl_bytes([simple_ace(ALLOW, 0, 0x1F01FF, "S-1-1-0")])
    raw = sd_bytes(0x8000, [("dacl", dacl)])
    assert parse_security_descriptor(raw).dacl is None


def test_dacl_present_with_offset_zero_is_a_null_dacl() -> None:
    raw = sd_bytes(SR_DP, [("owner", sid_bytes("S-1-5-18"))])
    assert parse_security_descriptor(raw) == SecurityDescriptor(
        owner="S-1-5-18", group=None, dacl=None, control=SR_DP
    )


def test_empty_dacl_is_an_empty_tuple() -> None:
    raw = sd_bytes(SR_DP, [("owner", sid_bytes("S-1-5-18")), ("dacl", acl_bytes([]))])
    sd = parse_security_descriptor(raw)
    assert sd.dacl == ()
    assert sd.dacl is not None  # an empty DACL denies everyone; it is not "no DACL"


def test_without_owner_and_group() -> None:
    dacl = acl_bytes([simple_ace(ALLOW, 0x03, 0x1F01FF, "S-1-1-0")])
    raw = sd_bytes(SR_DP, [("dacl", dacl)])
    assert parse_security_descriptor(raw) == SecurityDescriptor(
        owner=None,
        group=None,
        dacl=(Ace(kind="allow", flags=0x03, flag_names=("OI", "CI"), mask=0x1F01FF, sid="S-1-1-0"),),
        control=SR_DP,
    )


def test_share_acl_everyone_full() -> None:
    # srvsvc level 502 for a share without an explicit share ACL (lab notes Q3 b): a DACL only.
    raw = sd_bytes(SR_DP, [("dacl", acl_bytes([simple_ace(ALLOW, 0, 0x1F01FF, "S-1-1-0")]))])
    sd = parse_security_descriptor(raw)
    assert sd.dacl == (Ace(kind="allow", flags=0, flag_names=(), mask=0x1F01FF, sid="S-1-1-0"),)
    assert sd.with_names({}).dacl == (
        Ace(kind="allow", flags=0, flag_names=(), mask=0x1F01FF, sid="S-1-1-0", name="Everyone", broad=True),
    )


def test_object_aces() -> None:
    guid_a = bytes(range(16))
    guid_b = bytes(range(16, 32))
    dacl = acl_bytes(
        [
            object_ace(ALLOW_OBJECT, 0x02, 0x00000130, "S-1-5-11", object_type=guid_a, inherited_type=guid_b),
            object_ace(DENY_OBJECT, 0x00, 0x00000010, "S-1-1-0", inherited_type=guid_a),
            object_ace(ALLOW_OBJECT, 0x00, 0x00020094, f"{LABNAS}-513"),
        ]
    )
    sd = parse_security_descriptor(sd_bytes(SR_DP, [("dacl", dacl)]))
    assert sd.dacl == (
        Ace(kind="allow_object", flags=0x02, flag_names=("CI",), mask=0x130, sid="S-1-5-11"),
        Ace(kind="deny_object", flags=0x00, flag_names=(), mask=0x10, sid="S-1-1-0"),
        Ace(kind="allow_object", flags=0x00, flag_names=(), mask=0x20094, sid=f"{LABNAS}-513"),
    )


def test_unknown_ace_types_do_not_stop_the_parse() -> None:
    dacl = acl_bytes(
        [
            ace_bytes(0x42, 0x03, struct.pack("<I", 0x1F01FF) + b"\x00" * 12),  # no such ACE type
            ace_bytes(0x14, 0x00, struct.pack("<I", 0x1) + sid_bytes("S-1-19-512-8192")),  # trust label
            ace_bytes(0x33, 0x00, b""),  # a bare header
            simple_ace(ALLOW, 0x03, 0x1200A9, "S-1-1-0"),
        ]
    )
    sd = parse_security_descriptor(sd_bytes(SR_DP, [("dacl", dacl)]))
    assert sd.dacl == (
        Ace(kind="other:66", flags=0x03, flag_names=("OI", "CI"), mask=0x1F01FF, sid=""),
        Ace(kind="other:20", flags=0x00, flag_names=(), mask=0x1, sid=""),
        Ace(kind="other:51", flags=0x00, flag_names=(), mask=0, sid=""),
        Ace(kind="allow", flags=0x03, flag_names=("OI", "CI"), mask=0x1200A9, sid="S-1-1-0"),
    )
    assert sd.sids() == {"S-1-1-0"}


def test_callback_ace_is_other_but_keeps_its_trustee() -> None:
    # [MS-DTYP] 2.4.4.6 ACCESS_ALLOWED_CALLBACK_ACE: Mask, Sid, ApplicationData (a condition).
    body = struct.pack("<I", 0x1F01FF) + sid_bytes("S-1-5-11") + b"artx\x00\x00\x00\x00"
    sd = parse_security_descriptor(sd_bytes(SR_DP, [("dacl", acl_bytes([ace_bytes(0x09, 0, body)]))]))
    assert sd.dacl == (Ace(kind="other:9", flags=0, flag_names=(), mask=0x1F01FF, sid="S-1-5-11"),)


def test_acl_size_may_exceed_the_aces_and_aces_may_be_padded() -> None:
    padded = simple_ace(ALLOW, 0, 0x1200A9, "S-1-1-0")
    padded = struct.pack("<BBH", 0, 0, len(padded) + 4) + padded[4:] + b"\x00" * 4
    acl = acl_bytes([padded])
    acl = acl[:2] + struct.pack("<H", len(acl) + 8) + acl[4:] + b"\x00" * 8
    sd = parse_security_descriptor(sd_bytes(SR_DP, [("dacl", acl)]))
    assert sd.dacl == (Ace(kind="allow", flags=0, flag_names=(), mask=0x1200A9, sid="S-1-1-0"),)


def test_sid_with_a_48_bit_identifier_authority() -> None:
    # [MS-DTYP] 2.4.2.1: authorities >= 2**32 are written as 0x + 12 hex digits.
    raw = sd_bytes(
        0x8000, [("owner", sid_bytes("S-1-0x123456789ABC-7")), ("group", sid_bytes("S-1-16-12288"))]
    )
    sd = parse_security_descriptor(raw)
    assert (sd.owner, sd.group) == ("S-1-0x123456789ABC-7", "S-1-16-12288")


def test_sacl_is_not_parsed() -> None:
    # A SACL with an ACE type impacket doesn't know must not break the DACL (we never ask for the SACL).
    sacl = acl_bytes([ace_bytes(0x15, 0, b"\xff" * 4)])
    dacl = acl_bytes([simple_ace(ALLOW, 0, 0x1200A9, "S-1-1-0")])
    raw = bytearray(sd_bytes(0x8014, [("dacl", dacl), ("owner", sid_bytes("S-1-5-18"))]))
    struct.pack_into("<I", raw, 12, len(raw))  # OffsetSacl
    raw += sacl
    sd = parse_security_descriptor(bytes(raw))
    assert sd.dacl == (Ace(kind="allow", flags=0, flag_names=(), mask=0x1200A9, sid="S-1-1-0"),)
    assert sd.control == 0x8014


# --- malformed input --------------------------------------------------------------------------------------
def test_every_truncation_of_the_imaging_root_is_rejected() -> None:
    raw = imaging_root()
    for length in range(len(raw)):
        with pytest.raises(SecurityDescriptorError):
            parse_security_descriptor(raw[:length])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "truncated"),
        (b"\x01\x00\x04\x80", "truncated"),
        (b"\xff" * 64, "revision 255"),
        (b"\x00" * 20, "revision 0"),
        (bytes(range(256)), "revision 0"),
    ],
)
def test_garbage_is_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(SecurityDescriptorError, match=message):
        parse_security_descriptor(raw)


def with_header(raw: bytes, **fields: int) -> bytes:
    """raw with some of the [MS-DTYP] 2.4.6 header fields replaced."""
    names = ("revision", "sbz1", "control", "owner", "group", "sacl", "dacl")
    values = dict(zip(names, struct.unpack_from("<BBHIIII", raw), strict=True))
    values.update(fields)
    return struct.pack("<BBHIIII", *(values[name] for name in names)) + raw[20:]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"owner": 4}, "owner SID at offset 4"),  # points back into the header
        ({"group": 10_000}, "group SID at offset 10000"),
        ({"dacl": 10_000}, "DACL at offset 10000"),
        ({"dacl": 19}, "DACL at offset 19"),
        ({"revision": 2}, "revision 2"),
    ],
)
def test_bad_header_fields(fields: dict[str, int], message: str) -> None:
    with pytest.raises(SecurityDescriptorError, match=message):
        parse_security_descriptor(with_header(imaging_root(), **fields))


def test_dacl_offset_pointing_at_a_sid_is_rejected() -> None:
    # The owner SID's first byte (Revision 1) is not a valid ACL revision.
    with pytest.raises(SecurityDescriptorError, match="DACL: revision 1"):
        parse_security_descriptor(with_header(imaging_root(), dacl=20))


@pytest.mark.parametrize("revision", [0, 1, 5, 0xFF])
def test_unknown_acl_revision(revision: int) -> None:
    with pytest.raises(SecurityDescriptorError, match=f"revision {revision}"):
        parse_security_descriptor(imaging_root(acl_revision=revision))


def dacl_only(acl: bytes) -> bytes:
    return sd_bytes(SR_DP, [("dacl", acl)])


def test_more_aces_announced_than_present() -> None:
    acl = bytearray(acl_bytes([simple_ace(ALLOW, 0, 0x1200A9, "S-1-1-0")]))
    struct.pack_into("<H", acl, 4, 2)  # AceCount 2
    with pytest.raises(SecurityDescriptorError, match="ACE 2 of 2"):
        parse_security_descriptor(dacl_only(bytes(acl)))


@pytest.mark.parametrize("ace_size", [0, 3, 200])
def test_bad_ace_size(ace_size: int) -> None:
    acl = bytearray(acl_bytes([simple_ace(ALLOW, 0, 0x1200A9, "S-1-1-0")]))
    struct.pack_into("<H", acl, 8 + 2, ace_size)
    with pytest.raises(SecurityDescriptorError, match=f"AceSize {ace_size}"):
        parse_security_descriptor(dacl_only(bytes(acl)))


@pytest.mark.parametrize("acl_size", [0, 7, 500])
def test_bad_acl_size(acl_size: int) -> None:
    acl = bytearray(acl_bytes([simple_ace(ALLOW, 0, 0x1200A9, "S-1-1-0")]))
    struct.pack_into("<H", acl, 2, acl_size)
    with pytest.raises(SecurityDescriptorError, match="DACL"):
        parse_security_descriptor(dacl_only(bytes(acl)))


def test_known_ace_type_with_a_body_too_short_for_its_sid() -> None:
    acl = acl_bytes([ace_bytes(ALLOW, 0, struct.pack("<I", 0x1F01FF) + b"\x01\x01")])
    with pytest.raises(SecurityDescriptorError, match="ACE 1"):
        parse_security_descriptor(dacl_only(acl))


def test_ace_sid_claiming_more_sub_authorities_than_the_ace_holds() -> None:
    ace = bytearray(simple_ace(ALLOW, 0, 0x1F01FF, "S-1-1-0"))
    ace[4 + 4 + 1] = 5  # SubAuthorityCount 5, but only 4 bytes follow
    with pytest.raises(SecurityDescriptorError, match="ACE 1 SID"):
        parse_security_descriptor(dacl_only(acl_bytes([bytes(ace)])))


def test_object_ace_flags_announcing_a_missing_guid() -> None:
    body = struct.pack("<II", 0x10, 0x3) + sid_bytes("S-1-1-0")  # both GUIDs announced, none present
    with pytest.raises(SecurityDescriptorError, match="ACE 1"):
        parse_security_descriptor(dacl_only(acl_bytes([ace_bytes(ALLOW_OBJECT, 0, body)])))


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        (sid_bytes("S-1-5-18", revision=2), "owner SID: revision 2"),
        (sid_bytes("S-1-5-" + "-".join(["1"] * 16)), "16 sub-authorities"),
    ],
)
def test_bad_owner_sid(owner: bytes, message: str) -> None:
    with pytest.raises(SecurityDescriptorError, match=message):
        parse_security_descriptor(sd_bytes(0x8000, [("owner", owner)]))


def test_random_corruption_never_leaks_another_exception() -> None:
    # Flip bytes of a valid descriptor: each result either parses or raises SecurityDescriptorError;
    # an impacket exception, struct.error, IndexError or KeyError escaping fails the test.
    rng = random.Random(20240517)
    valid = imaging_root()
    parsed = rejected = 0
    for _ in range(3000):
        raw = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            parse_security_descriptor(bytes(raw))
            parsed += 1
        except SecurityDescriptorError:
            rejected += 1
    assert parsed > 0 and rejected > 0
