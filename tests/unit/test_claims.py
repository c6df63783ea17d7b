"""The server's claims against what it can do (shareaudit/collect/smb/claims.py), and one guest door, one cause."""

from __future__ import annotations

from dataclasses import replace

from synthetic import ace, host, posture, result

from shareaudit.acl import SecurityDescriptor
from shareaudit.collect.smb.claims import posix_mapped, read_only, reconcile
from shareaudit.model import RIGHTS, Access, Basis, WriteProbe
from shareaudit.plan.identities import ANONYMOUS, GUEST, Identity, IdentityKind
from shareaudit.rules import evaluate

FULL_MASK = "0x001f01ff"
READ_ONLY_MASK = "0x001f00a9"  # what Samba answers for `read only = yes`: DELETE|WRITE_DAC|WRITE_OWNER kept
STAFF = Identity("staff", IdentityKind.USER, "labuser")
PRINTER = Identity("printer", IdentityKind.USER, "labscan")


def _full(share_mask: str = FULL_MASK) -> Access:
    return Access(
        connect=True,
        share_mask=share_mask,
        root_mask=FULL_MASK,
        list=True,
        read=True,
        write=True,
        delete=True,
        change_permissions=True,
        take_ownership=True,
    )


def _posix(owner: str, owner_name: str) -> SecurityDescriptor:
    aces = (ace(owner, 0x1F01FF, owner_name), ace("S-1-22-2-0", 0x1F01FF, "Unix Group\\root"))
    return SecurityDescriptor(owner, "S-1-22-2-0", aces, 0x8004, owner_name, "Unix Group\\root")


def test_masks_tell_a_read_only_share() -> None:
    assert read_only(READ_ONLY_MASK) and read_only("0x001200a9")
    assert not read_only(FULL_MASK) and not read_only(None)


def test_a_read_only_share_keeps_read_and_drops_every_change_with_the_reason() -> None:
    claimed = reconcile(_full(READ_ONLY_MASK), STAFF, None)
    assert claimed.read and not (claimed.write or claimed.delete)
    assert not (claimed.change_permissions or claimed.take_ownership)
    assert set(claimed.why) == {"write", "delete", "change_permissions", "take_ownership"}
    assert all("read-only" in reason for reason in claimed.why.values())
    assert claimed.basis == dict.fromkeys(RIGHTS, Basis.GRANTED)


def test_posix_mapped_root_lets_only_its_owner_change_permissions() -> None:
    root_owned = _posix("S-1-22-1-0", "Unix User\\root")
    assert posix_mapped(root_owned)
    stranger = reconcile(_full(), STAFF, root_owned)
    assert stranger.write and stranger.delete
    assert not stranger.change_permissions and not stranger.take_ownership
    assert "only the owner (Unix User\\root)" in stranger.why["change_permissions"]
    mine = reconcile(_full(), STAFF, _posix("S-1-22-1-1001", "Unix User\\labuser"))
    assert mine.change_permissions and mine.take_ownership and not mine.why


def test_guest_sessions_run_as_nobody_and_own_what_nobody_owns() -> None:
    nobody = _posix("S-1-22-1-65534", "Unix User\\nobody")
    for identity in (GUEST, ANONYMOUS):
        assert reconcile(_full(), identity, nobody).change_permissions
    assert not reconcile(_full(), PRINTER, nobody).change_permissions


def test_an_nt_acl_root_is_left_as_the_server_says() -> None:
    nt = SecurityDescriptor("S-1-5-32-544", "S-1-5-32-544", (ace("S-1-1-0", 0x1F01FF, "Everyone"),), 0x8004)
    assert not posix_mapped(nt)
    assert reconcile(_full(), STAFF, nt).change_permissions


def test_the_probe_makes_write_measured_either_way() -> None:
    created = replace(_full(), probe=WriteProbe("p.tmp", created=True, cleaned=True))
    assert reconcile(created, STAFF, None).basis["write"] is Basis.MEASURED
    refused = replace(
        _full(READ_ONLY_MASK), probe=WriteProbe("p.tmp", created=False, cleaned=True, status="ACCESS_DENIED")
    )
    claimed = reconcile(refused, STAFF, None)
    assert claimed.basis["write"] is Basis.MEASURED and not claimed.write and "write" not in claimed.why


def test_a_refused_share_gets_no_basis() -> None:
    refused = Access(connect=False, status="STATUS_ACCESS_DENIED")
    assert reconcile(refused, STAFF, None) == refused


def test_sure_rests_only_on_rights_that_are_not_uncertain() -> None:
    access = replace(_full(), basis={"write": Basis.UNCERTAIN, "read": Basis.GRANTED})
    assert access.sure("read") and not access.sure("write") and not replace(access, read=False).sure("read")


def _rules(scan_posture: object) -> dict[str, str]:
    scan = result(host(posture_=scan_posture))  # type: ignore[arg-type]
    return {f.rule: f.evidence for f in evaluate(scan)}


def test_guest_by_fallback_is_one_door_a_real_guest_account_another() -> None:
    fallback = _rules(posture(guest=True, fallback=True))
    assert "guest-account" not in fallback
    assert "that is this door, not an account of its own" in fallback["guest-fallback"]
    real = _rules(posture(guest=True, fallback=False))
    assert "guest-account" in real and "guest-fallback" not in real
    both = posture(guest=True, fallback=True)
    account = replace(both.sessions["guest_account"], guest=False)  # a full session: an account of its own
    separate = _rules(replace(both, sessions={**both.sessions, "guest_account": account}))
    assert {"guest-account", "guest-fallback"} <= set(separate)
    assert "this door" not in separate["guest-fallback"]


def test_an_unreadable_descriptor_leaves_control_uncertain() -> None:
    claimed = reconcile(_full(), STAFF, None)
    assert claimed.change_permissions and claimed.basis["change_permissions"] is Basis.UNCERTAIN
    assert not claimed.sure("change_permissions") and claimed.sure("write")
    assert "could not be read" in claimed.why["take_ownership"]


def test_an_unnamed_owner_of_a_posix_folder_leaves_control_uncertain() -> None:
    unnamed = replace(_posix("S-1-22-1-1001", "x"), owner_name=None)
    claimed = reconcile(_full(), STAFF, unnamed)
    assert claimed.basis["change_permissions"] is Basis.UNCERTAIN and claimed.change_permissions
    assert not reconcile(
        _full(), GUEST, unnamed
    ).change_permissions  # guest runs as nobody: not S-1-22-1-1001


def test_no_finding_above_medium_rests_on_an_uncertain_right() -> None:
    from synthetic import share

    uncertain = reconcile(_full(), GUEST, None)
    sure = reconcile(_full(), GUEST, _posix("S-1-22-1-65534", "Unix User\\nobody"))
    for access, expected in ((uncertain, "medium"), (sure, "critical")):
        scan = result(host(shares=[share("drop", {"guest": access})]))
        takeover = [f for f in evaluate(scan) if f.rule == "permission-takeover"]
        assert [f.severity for f in takeover] == [expected]
    scan = result(host(shares=[share("drop", {"guest": uncertain})]))
    assert "Uncertain:" in next(f.evidence for f in evaluate(scan) if f.rule == "permission-takeover")
