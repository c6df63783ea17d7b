"""Access derived from ACLs ([MS-DTYP] 2.5.3.2), device heuristics, and the LDAP value decoders.

The service-account scoring in full: tests/unit/test_service_accounts.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shareaudit.acl import (
    CONTAINER_INHERIT_ACE,
    GENERIC_READ,
    INHERIT_ONLY_ACE,
    MASK_CHANGE,
    MASK_FULL,
    MASK_READ,
    OBJECT_INHERIT_ACE,
    Ace,
    SecurityDescriptor,
)
from shareaudit.ad.devices import AccountFacts, ServiceRules, has_device_word, judge
from shareaudit.ad.directory import (
    ComputerFilter,
    address_from_dns_record,
    datetime_from_filetime,
    is_privileged,
    managed_kind,
    sid_from_bytes,
)
from shareaudit.ad.exposure import Principal, evaluate_dacl, member_of_domain, share_exposure
from shareaudit.model import DirectoryComputer, GroupMembership, HostResult, Posture, ServerInfo, Share

DOMAIN = "S-1-5-21-1-2-3"
SCANNERS, DEVICES, STAFF, ADMINS = (f"{DOMAIN}-{rid}" for rid in (1103, 1104, 1105, 512))
INHERIT = OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE
SVC_SCAN = Principal(
    "svc-scan",
    f"{DOMAIN}-1107",
    (
        GroupMembership(SCANNERS, "Scanners", ("Scanners",)),
        GroupMembership(DEVICES, "Device Accounts", ("Scanners", "Device Accounts")),
        GroupMembership(STAFF, "All Staff", ("Scanners", "Device Accounts", "All Staff")),
        GroupMembership(f"{DOMAIN}-513", "Domain Users", ("Domain Users",)),
    ),
)


def _ace(kind: str, sid: str, mask: int, flags: int = INHERIT, name: str | None = None) -> Ace:
    return Ace(kind, flags, (), mask, sid, name)


def _sd(*aces: Ace, owner: str = ADMINS) -> SecurityDescriptor:
    return SecurityDescriptor(owner, ADMINS, aces, 0x8004)


def test_nested_group_grant_is_explained_through_the_chain() -> None:
    result = evaluate_dacl(
        _sd(_ace("allow", STAFF, MASK_READ, name="LAB\\All Staff")), SVC_SCAN, "the root ACL of x"
    )
    assert result.mask == MASK_READ
    assert result.because == (
        "svc-scan is in Scanners, which is in Device Accounts, which is in All Staff; "
        "the root ACL of x grants LAB\\All Staff read",
    )


def test_deny_before_allow_takes_the_denied_bits() -> None:
    write = 0x116
    result = evaluate_dacl(
        _sd(_ace("deny", SCANNERS, write), _ace("allow", STAFF, MASK_CHANGE)), SVC_SCAN, "acl"
    )
    assert result.mask == MASK_CHANGE & ~write


def test_allow_before_deny_keeps_what_was_granted() -> None:
    # [MS-DTYP] 2.5.3.2: a deny only removes bits no earlier ACE granted (non-canonical order).
    result = evaluate_dacl(
        _sd(_ace("allow", STAFF, MASK_CHANGE), _ace("deny", SCANNERS, 0x116)), SVC_SCAN, "acl"
    )
    assert result.mask == MASK_CHANGE


def test_inherit_only_and_foreign_aces_do_not_apply() -> None:
    result = evaluate_dacl(
        _sd(
            _ace("allow", STAFF, MASK_FULL, INHERIT | INHERIT_ONLY_ACE),
            _ace("allow", f"{DOMAIN}-9999", MASK_FULL),
        ),
        SVC_SCAN,
        "acl",
    )
    assert result.mask == 0


def test_generic_bits_are_expanded() -> None:
    result = evaluate_dacl(_sd(_ace("allow", "S-1-5-11", GENERIC_READ)), SVC_SCAN, "acl")
    assert result.mask & 0x1 and result.mask & 0x00020000  # list (read data) and READ_CONTROL
    assert "every logon of svc-scan is" in result.because[0]


def test_owner_gets_read_control_and_write_dac_unless_owner_rights_says_otherwise() -> None:
    owned = evaluate_dacl(_sd(owner=SCANNERS), SVC_SCAN, "acl")
    assert owned.mask == 0x00060000
    limited = evaluate_dacl(_sd(_ace("allow", "S-1-3-4", MASK_READ, 0), owner=SCANNERS), SVC_SCAN, "acl")
    assert limited.mask == 0


def test_null_dacl_grants_everything_and_empty_dacl_nothing() -> None:
    assert evaluate_dacl(SecurityDescriptor(ADMINS, ADMINS, None, 0), SVC_SCAN, "acl").mask == MASK_FULL
    assert evaluate_dacl(SecurityDescriptor(ADMINS, ADMINS, (), 0), SVC_SCAN, "acl").mask == 0


def test_share_acl_and_root_acl_are_both_needed() -> None:
    root = _sd(_ace("allow", SCANNERS, MASK_CHANGE))
    share = Share("scans", "disk", False, root_sd=root, share_sd=_sd(_ace("allow", "S-1-1-0", MASK_READ, 0)))
    exposure = share_exposure(share, SVC_SCAN)
    assert exposure is not None
    assert (exposure.read, exposure.write, exposure.delete, exposure.share_acl_known) == (
        True,
        False,
        False,
        True,
    )
    unknown = share_exposure(Share("scans", "disk", False, root_sd=root), SVC_SCAN, measured_as="scanner")
    assert unknown is not None and unknown.write and not unknown.share_acl_known
    assert unknown.measured_as == "scanner" and unknown.derived_from == "acl"
    assert share_exposure(Share("scans", "disk", False), SVC_SCAN) is None  # root ACL not read: unknown


def test_member_of_domain_from_the_ntlm_challenge() -> None:
    def host(domain: str) -> HostResult:
        posture = Posture(
            False, ("3.1.1",), True, True, False, False, False, server=ServerInfo(netbios_domain=domain)
        )
        return HostResult("x", "127.0.0.1", 445, True, posture=posture)

    assert member_of_domain(host("LABDOM"), "labdom", "lab.test")
    assert not member_of_domain(host("LABACL"), "LABDOM", "lab.test")
    assert not member_of_domain(HostResult("x", "127.0.0.1", 445, False), "LABDOM", "lab.test")


@pytest.mark.parametrize(
    ("text", "device"),
    [
        ("svc-scan", True),
        ("Scanners", True),
        ("MFP ward 3", True),
        ("mscanlon", False),
        ("Mary Scanlon", False),
    ],
)
def test_device_words_are_whole_words(text: str, device: bool) -> None:
    assert has_device_word(text) is device


def test_device_reasons_in_order() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    logged_on = datetime(2026, 11, 1, tzinfo=UTC)
    scan = AccountFacts(
        "svc-scan",
        "Scan to folder",
        device_group="Scanners",
        password_never_expires=True,
        last_logon=logged_on,
    )
    assert judge(scan, ServiceRules(), now).reasons == (
        "name",
        "description",
        "group",
        "password_never_expires",
    )
    assert judge(AccountFacts("bob", named=True, last_logon=logged_on), ServiceRules(), now).reasons == (
        "named",
    )
    assert judge(AccountFacts("alice", "Nurse", last_logon=logged_on), ServiceRules(), now).reasons == ()


def test_sid_and_dns_record_decoding() -> None:
    raw = (
        bytes.fromhex("010500000000000515000000")
        + (1).to_bytes(4, "little") * 3
        + (513).to_bytes(4, "little")
    )
    assert sid_from_bytes(raw) == "S-1-5-21-1-1-1-513"
    with pytest.raises(ValueError):
        sid_from_bytes(raw[:10])
    assert datetime_from_filetime(131958720000000000) == datetime(2019, 3, 1, tzinfo=UTC)
    assert datetime_from_filetime(0) is None and datetime_from_filetime(None) is None
    assert datetime_from_filetime(0x7FFFFFFFFFFFFFFF) is None  # "never" (accountExpires, pwdLastSet -1)
    assert managed_kind(("top", "person", "user", "computer", "msDS-GroupManagedServiceAccount")) == "gmsa"
    assert managed_kind(("top", "computer", "msDS-ManagedServiceAccount")) == "msa"
    assert managed_kind(("top", "person", "user")) is None
    record = bytes.fromhex("0400010005f00000010000000000038400000000000000007f00000b")
    assert address_from_dns_record(record) == "127.0.0.11"
    assert address_from_dns_record(record[:10]) is None
    assert (
        is_privileged(f"{DOMAIN}-512")
        and is_privileged("S-1-5-32-544")
        and not is_privileged(f"{DOMAIN}-513")
    )


def test_computer_filter() -> None:
    base = "DC=lab,DC=test"
    nas = DirectoryComputer(
        "LABNAS", f"CN=LABNAS,OU=FileServers,OU=Hospital,{base}", True, "labnas.lab.test", "Samba"
    )
    assert ComputerFilter(ous=("OU=FileServers,OU=Hospital",)).matches(nas, base)
    assert ComputerFilter(ous=(f"ou=fileservers, ou=hospital,{base}",)).matches(nas, base)
    assert not ComputerFilter(ous=("OU=Hospital,OU=FileServers",)).matches(nas, base)
    assert ComputerFilter(names=("lab*",), oses=("samba",)).matches(nas, base)
    assert not ComputerFilter(oses=("Windows*",)).matches(nas, base)
    disabled = DirectoryComputer("OLD", f"CN=OLD,{base}", False)
    assert not ComputerFilter().matches(disabled, base)
