"""Rules over golden facts: each rule fires where it should, stays quiet where it should not, and its
severity follows the context both ways. Plus fingerprints, ordering, platforms and the rule texts."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest
from synthetic import (
    CONNECT,
    FULL,
    READ,
    REFUSED,
    SAMBA,
    WINDOWS,
    WRITE,
    ace,
    content,
    host,
    posture,
    rights,
    sd,
    share,
)
from synthetic import (
    result as scan_result,
)

from shareaudit.model import Enumeration, Finding, HostResult, ScanResult, ServerInfo, Suppression
from shareaudit.rules import RULES, SEVERITIES, detect_platform, evaluate, fingerprint
from shareaudit.rules.catalog import CatalogError, fill, load_family, powershell_literal
from shareaudit.rules.coverage import UNSCANNED
from shareaudit.rules.engine import rule_text
from shareaudit.rules.platform import PLATFORMS, platforms_for
from shareaudit.rules.registry import REGISTRY

LABELS = ("audit", "anonymous", "guest", "printer")


def findings(*hosts: HostResult, labels: tuple[str, ...] = LABELS, **fields: object) -> tuple[Finding, ...]:
    return evaluate(scan_result(*hosts, labels=labels, **fields))


def of(rule: str, found: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in found if f.rule == rule]


def one(rule: str, found: tuple[Finding, ...]) -> Finding:
    hits = of(rule, found)
    assert len(hits) == 1, [(f.rule, f.share, f.identity) for f in found]
    return hits[0]


HARDENED = host(
    "fs01",
    [
        share("clinical", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": REFUSED}),
        share("scaninbox", {"audit": REFUSED, "anonymous": REFUSED, "guest": REFUSED, "printer": REFUSED}),
        share("IPC$", {"audit": CONNECT, "printer": CONNECT}, type="ipc", special=True),
    ],
)


def test_a_hardened_server_has_no_findings() -> None:
    assert findings(HARDENED) == ()


# --- posture ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        ("smb1-enabled", {"smb1": True}),
        ("signing-not-required", {"signing": False}),
        ("null-session", {"null": True}),
        ("guest-account", {"guest": True}),
        ("guest-fallback", {"fallback": True}),
    ],
)
def test_posture_rules_fire_on_their_fact_only(rule: str, bad: dict[str, bool]) -> None:
    found = findings(host(posture_=posture(**bad)))
    assert [f.rule for f in found] == [rule]
    assert found[0].share is None and found[0].identity is None
    assert not of(rule, findings(host(posture_=posture())))


def test_null_session_is_high_when_it_reaches_shares_medium_when_it_only_opens_ipc() -> None:
    open_share = share("public", {"anonymous": READ})
    wide = findings(host(shares=[open_share], posture_=posture(null=True)), labels=("anonymous",))
    narrow = findings(host(posture_=posture(null=True)), labels=("anonymous",))
    assert one("null-session", wide).severity == "high"
    assert "public" in one("null-session", wide).evidence
    assert one("null-session", narrow).severity == "medium"


def test_guest_account_is_high_when_guest_reads_a_share() -> None:
    wide = findings(host(shares=[share("docs", {"guest": READ})], posture_=posture(guest=True)))
    narrow = findings(host(shares=[share("docs", {"guest": REFUSED})], posture_=posture(guest=True)))
    assert one("guest-account", wide).severity == "high"
    assert one("guest-account", narrow).severity == "medium"


def test_anonymous_share_list_needs_a_successful_anonymous_enumeration() -> None:
    listed = host(enumeration=(Enumeration("anonymous", True, 1, 4),))
    refused = host(enumeration=(Enumeration("anonymous", False, error="ERROR_ACCESS_DENIED"),))
    by_audit = host(enumeration=(Enumeration("audit", True, 502, 4),))
    assert "4 shares" in one("anonymous-share-list", findings(listed)).evidence
    assert not of("anonymous-share-list", findings(refused))
    assert not of("anonymous-share-list", findings(by_audit))


def test_share_paths_disclosed_to_anonymous_or_guest_only() -> None:
    told = share("pacs", path="D:\\PACS", path_disclosed_to="guest")
    to_service = share("pacs", path="D:\\PACS", path_disclosed_to="printer")
    assert "D:\\PACS" in one("share-paths-disclosed", findings(host(shares=[told]))).evidence
    assert not of("share-paths-disclosed", findings(host(shares=[to_service])))


# --- access -----------------------------------------------------------------------------------------------
def test_unprivileged_read_severity_follows_what_the_share_holds() -> None:
    dicom = share("pacs", {"guest": READ}, content=content({"dicom": 40}, files=40))
    empty = share("public", {"guest": READ}, content=content({}, files=0))
    office = share("docs", {"guest": READ}, content=content({}, files=12))
    unknown = share("misc", {"guest": READ})
    found = findings(host(shares=[dicom, empty, office, unknown]))
    severity = {f.share: f.severity for f in of("unprivileged-read", found)}
    assert severity == {"pacs": "critical", "public": "low", "docs": "medium", "misc": "medium"}
    assert "dicom 40" in next(
        f.evidence for f in found if f.share == "pacs" and f.rule == "unprivileged-read"
    )


def test_unprivileged_read_is_per_identity_and_ignores_service_and_audit_accounts() -> None:
    both = share("public", {"anonymous": READ, "guest": READ, "audit": READ, "printer": READ})
    found = of("unprivileged-read", findings(host(shares=[both])))
    assert sorted(f.identity or "" for f in found) == ["anonymous", "guest"]
    assert not of("unprivileged-read", findings(host(shares=[share("x", {"audit": READ, "printer": READ})])))
    assert not of("unprivileged-read", findings(host(shares=[share("x", {"guest": CONNECT})])))


def test_unprivileged_write_is_critical_only_with_medical_data() -> None:
    plain = share("scans", {"guest": WRITE}, content=content({}, files=3))
    medical = share("pacs", {"anonymous": WRITE}, content=content({"dicom": 2}))
    found = of("unprivileged-write", findings(host(shares=[plain, medical])))
    assert {(f.share, f.identity, f.severity) for f in found} == {
        ("scans", "guest", "high"),
        ("pacs", "anonymous", "critical"),
    }
    assert not of("unprivileged-write", findings(host(shares=[share("docs", {"guest": READ})])))


def test_permission_takeover_by_identity_class() -> None:
    shared = share("scans", {"audit": FULL, "guest": FULL, "printer": FULL}, content=content({}, files=2))
    found = of("permission-takeover", findings(host(shares=[shared])))
    assert {f.identity: f.severity for f in found} == {"guest": "critical", "printer": "high"}  # not audit
    owner_only = share("x", {"printer": rights(read=True, owner=True)})
    assert "WRITE_OWNER" in one("permission-takeover", findings(host(shares=[owner_only]))).evidence
    assert not of("permission-takeover", findings(host(shares=[share("x", {"printer": WRITE})])))


def test_printer_queue_open_to_guest() -> None:
    queue = share("HP_MFP", {"guest": CONNECT, "anonymous": REFUSED, "audit": CONNECT}, type="printer")
    found = one("printer-share-guest", findings(host(shares=[queue])))
    assert (found.identity, found.severity) == ("guest", "low")
    closed = share("HP_MFP", {"guest": REFUSED, "audit": CONNECT}, type="printer")
    assert not of("printer-share-guest", findings(host(shares=[closed])))


def test_admin_share_reachable_by_anyone_but_the_audit_account() -> None:
    c_drive = share("C$", {"audit": FULL, "guest": READ, "printer": READ}, special=True)
    found = of("admin-share-reachable", findings(host(shares=[c_drive])))
    assert {f.identity: f.severity for f in found} == {"guest": "critical", "printer": "high"}
    assert not of("unprivileged-read", findings(host(shares=[c_drive])))  # said once, louder
    assert not of(
        "admin-share-reachable", findings(host(shares=[share("C$", {"audit": FULL}, special=True)]))
    )
    assert not of("admin-share-reachable", findings(host(shares=[share("CD$", {"guest": READ})])))


def test_printer_drivers_writable() -> None:
    drivers = share("print$", {"audit": WRITE, "guest": READ, "printer": WRITE})
    found = one("printer-drivers-writable", findings(host(shares=[drivers])))
    assert (found.identity, found.severity) == ("printer", "high")
    by_guest = share("print$", {"guest": WRITE})
    assert one("printer-drivers-writable", findings(host(shares=[by_guest]))).severity == "critical"
    assert not of("printer-drivers-writable", findings(host(shares=[share("print$", {"printer": READ})])))


# --- ACLs -------------------------------------------------------------------------------------------------
def test_broad_root_acl_write_grades_the_grant() -> None:
    open_ = {"guest": WRITE}  # someone measured really writes: the ACL is not held back by another gate
    full = share("a", open_, root_sd=sd(ace("S-1-1-0", 0x001F01FF, "Everyone")))
    modify = share("b", open_, root_sd=sd(ace("S-1-5-11", 0x001301BF)))
    add_only = share("c", open_, root_sd=sd(ace("S-1-5-32-545", 0x00100002)))
    medical = share("d", open_, root_sd=sd(ace("S-1-1-0", 0x001301BF)), content=content({"nifti": 2}))
    read_only = share("e", open_, root_sd=sd(ace("S-1-1-0", 0x001200A9)))
    narrow = share("f", open_, root_sd=sd(ace("S-1-5-21-1-2-3-1107", 0x001F01FF, "HOSP\\radiology")))
    found = of(
        "broad-root-acl-write", findings(host(shares=[full, modify, add_only, medical, read_only, narrow]))
    )
    assert {f.share: f.severity for f in found} == {"a": "high", "b": "high", "c": "medium", "d": "critical"}
    assert next(f for f in found if f.share == "b").identity == "NT AUTHORITY\\Authenticated Users"
    assert "Measured: guest can write" in next(f for f in found if f.share == "a").evidence


def test_broad_acl_is_one_level_lower_when_another_gate_holds() -> None:
    everyone = sd(ace("S-1-1-0", 0x001F01FF, "Everyone"))
    held = share("a", {"guest": READ, "audit": FULL}, root_sd=everyone)
    medical = share("d", {"guest": READ}, root_sd=everyone, content=content({"dicom": 1}))
    found = of("broad-root-acl-write", findings(host(shares=[held, medical])))
    assert {f.share: f.severity for f in found} == {"a": "medium", "d": "high"}
    assert "None of the identities measured" in found[0].evidence


def test_broad_share_acl_is_reported_only_when_nothing_below_narrows_it() -> None:
    everyone_full = sd(ace("S-1-1-0", 0x001F01FF, "Everyone"))
    # Samba's default share ACL (and a common Windows practice): the folder ACL is the real gate.
    gated = share("clinical", {"audit": READ, "guest": REFUSED}, share_sd=everyone_full, root_sd=sd())
    written = share("scans", {"guest": WRITE}, share_sd=everyone_full, root_sd=sd())
    both = share("dept", {"guest": READ}, share_sd=everyone_full, root_sd=everyone_full)
    found = of("broad-share-acl-write", findings(host(shares=[gated, written, both])))
    assert {f.share: f.severity for f in found} == {"scans": "high", "dept": "medium"}


def test_broad_acl_generic_rights_deny_aces_and_missing_dacl() -> None:
    generic = share("g", {"guest": WRITE}, root_sd=sd(ace("S-1-1-0", 0x10000000)))  # GENERIC_ALL
    deny = share("h", root_sd=sd(ace("S-1-1-0", 0x001F01FF, kind="deny")))
    no_dacl = share("n", root_sd=dataclasses.replace(sd(), dacl=None))
    found = of("broad-root-acl-write", findings(host(shares=[generic, deny, no_dacl])))
    assert sorted(f.share or "" for f in found) == ["g", "n"]
    assert "no DACL" in next(f.evidence for f in found if f.share == "n")


def test_broad_share_acl_and_root_acl_are_separate_rules() -> None:
    both = share(
        "research",
        share_sd=sd(ace("S-1-5-11", 0x001F01FF)),
        root_sd=sd(ace("S-1-5-11", 0x001F01FF)),
    )
    found = findings(host(shares=[both]))
    assert one("broad-share-acl-write", found).id != one("broad-root-acl-write", found).id
    assert "share-level ACL" in one("broad-share-acl-write", found).evidence


def test_acl_finding_ids_follow_the_sid_not_the_name_nor_the_ace_position() -> None:
    named = share("x", root_sd=sd(ace("S-1-5-21-1-2-3-513", 0x001F01FF, "HOSP\\Domain Users")))
    unnamed = share("x", root_sd=sd(ace("S-1-5-11", 0x1200A9), ace("S-1-5-21-1-2-3-513", 0x001F01FF)))
    first = one("broad-root-acl-write", findings(host(shares=[named])))
    second = one("broad-root-acl-write", findings(host(shares=[unnamed])))
    assert first.identity != second.identity
    assert first.id == second.id


# --- medical ----------------------------------------------------------------------------------------------
def test_medical_data_exposed_names_the_widest_door() -> None:
    pacs = share(
        "pacs$",
        {"audit": READ, "printer": READ, "guest": READ, "anonymous": READ},
        content=content({"dicom": 3, "hl7v2": 1}),
    )
    found = one("medical-data-exposed", findings(host(shares=[pacs])))
    assert (found.identity, found.severity) == ("anonymous", "critical")
    assert "Readable by: anonymous, guest, printer" in found.evidence
    assert not of("medical-data-inventory", findings(host(shares=[pacs])))


def test_medical_data_readable_by_a_service_account_is_exposed() -> None:
    imaging = share(
        "imaging", {"audit": READ, "printer": READ, "guest": REFUSED}, content=content({"dicom": 9})
    )
    found = one("medical-data-exposed", findings(host(shares=[imaging])))
    assert found.identity == "printer"


def test_medical_data_only_the_audit_account_reads_is_inventory() -> None:
    clinical = share(
        "clinical", {"audit": READ, "printer": REFUSED, "guest": CONNECT}, content=content({"dicom": 3})
    )
    found = findings(host(shares=[clinical]))
    inventory = one("medical-data-inventory", found)
    assert (inventory.severity, inventory.identity) == ("info", None)
    assert not of("medical-data-exposed", found)


def test_no_medical_rule_without_medical_content() -> None:
    found = findings(host(shares=[share("docs", {"guest": READ}, content=content({}, files=50))]))
    assert not of("medical-data-exposed", found) and not of("medical-data-inventory", found)
    assert not of("medical-data-exposed", findings(host(shares=[share("docs", {"guest": READ})])))


# --- service accounts ---------------------------------------------------------------------------------------
def test_service_account_overreach() -> None:
    drop = share("scans", {"printer": WRITE}, remark="Scanner drop folder")
    imaging = share("imaging", {"printer": READ}, content=content({"dicom": 9}))
    public = share("public", {"printer": READ})
    found = one("service-account-overreach", findings(host(shares=[drop, imaging, public])))
    assert (found.identity, found.severity, found.share) == ("printer", "high", None)
    assert "Its drop folder: scans" in found.evidence and "imaging" in found.evidence
    harmless = one("service-account-overreach", findings(host(shares=[drop, public])))
    assert harmless.severity == "medium"
    assert not of("service-account-overreach", findings(host(shares=[drop])))


def test_every_label_but_audit_anonymous_guest_is_a_service_account() -> None:
    reach = share("finance", {"scanner2": READ, "audit": READ, "guest": READ})
    found = of(
        "service-account-overreach", findings(host(shares=[reach]), labels=("audit", "guest", "scanner2"))
    )
    assert [f.identity for f in found] == ["scanner2"]
    assert "No share it can write looks like a scan drop folder" in found[0].evidence


def test_scan_drop_readable_by_others_but_not_by_its_own_device() -> None:
    drop = share(
        "ScanInbox",
        {"printer": WRITE, "guest": READ, "anonymous": REFUSED, "audit": READ, "copier": READ},
        content=content({}, files=4),
    )
    found = of("scan-drop-readable", findings(host(shares=[drop]), labels=(*LABELS, "copier")))
    assert {f.identity: f.severity for f in found} == {"guest": "high", "copier": "high"}
    with_phi = dataclasses.replace(drop, content=content({"dicom": 1}))
    assert {f.severity for f in of("scan-drop-readable", findings(host(shares=[with_phi])))} == {"critical"}
    not_a_drop = share("finance", {"guest": READ})
    assert not of("scan-drop-readable", findings(host(shares=[not_a_drop])))


# --- coverage ---------------------------------------------------------------------------------------------
def test_a_failed_target_is_a_finding() -> None:
    dead = HostResult(
        "nas9", "10.0.0.9", 445, reachable=False, error="connection timed out", error_kind="timeout"
    )
    partial = dataclasses.replace(host("nas1"), error="logon as svc refused", error_kind="login")
    found = of("target-not-scanned", findings(dead, partial, HARDENED))
    assert {(f.host, f.severity) for f in found} == {("nas9", "high"), ("nas1", "medium")}
    assert "timeout: connection timed out" in next(f.evidence for f in found if f.host == "nas9")
    assert not of("target-not-scanned", findings(HARDENED))


def test_skipped_entries_and_interrupted_runs_are_findings() -> None:
    found = findings(
        HARDENED,
        input_problems=("hosts.txt:3: '999.1.1.1': not a valid IPv4 address",),
        options={UNSCANNED: ["nas7", "10.0.0.0/30"]},
    )
    hits = of("target-not-scanned", found)
    assert sorted(f.host for f in hits) == ["(target list)", "10.0.0.0/30", "nas7"]
    assert len({f.id for f in hits}) == 3


# --- ids, order, platforms ---------------------------------------------------------------------------------
def test_fingerprint_is_stable_and_specific() -> None:
    base = fingerprint("unprivileged-read", "nas01", "public", "guest", None)
    assert base == fingerprint("unprivileged-read", "nas01", "public", "guest", None)
    assert len(base) == 16 and int(base, 16) >= 0
    others = {
        fingerprint("unprivileged-write", "nas01", "public", "guest", None),
        fingerprint("unprivileged-read", "nas02", "public", "guest", None),
        fingerprint("unprivileged-read", "nas01", "pub", "guest", None),
        fingerprint("unprivileged-read", "nas01", "public", "anonymous", None),
        fingerprint("unprivileged-read", "nas01", "public", "guest", "a\\b"),
        fingerprint("unprivileged-read", "nas01", "publicguest", "", None),  # no ambiguity by joining
    }
    assert base not in others and len(others) == 6


def test_ids_do_not_depend_on_time_or_order() -> None:
    shares = [share("public", {"guest": READ}), share("scans", {"guest": WRITE})]
    first = scan_result(host(shares=shares, posture_=posture(smb1=True)), labels=LABELS)
    later = dataclasses.replace(
        first,
        started_at="2027-01-01T00:00:00+00:00",
        finished_at="2027-01-01T00:10:00+00:00",
        hosts=(host(shares=list(reversed(shares)), posture_=posture(smb1=True)),),
    )
    assert {f.id for f in evaluate(first)} == {f.id for f in evaluate(later)}


def test_findings_are_sorted_by_severity_then_host_and_share() -> None:
    a = host("a", [share("z", {"guest": READ}), share("b", {"guest": WRITE}, content=content({"dicom": 1}))])
    b = host("b", [share("a", {"guest": READ})], posture_=posture(smb1=True))
    found = findings(b, a)
    ranks = [SEVERITIES.index(f.severity) for f in found]
    assert ranks == sorted(ranks)
    keyed = [(SEVERITIES.index(f.severity), f.host, f.share or "") for f in found]
    assert keyed == sorted(keyed)


def test_cidr_members_are_named_by_address() -> None:
    member = dataclasses.replace(host(posture_=posture(smb1=True)), target="10.0.0.0/24", address="10.0.0.7")
    assert one("smb1-enabled", findings(member)).host == "10.0.0.7"


@pytest.mark.parametrize(
    ("server", "platform"),
    [
        (SAMBA, "samba"),
        (WINDOWS, "windows"),
        (ServerInfo(os="Windows 6.1 Build 7601"), "windows"),  # Windows Server 2008 R2 is 6.1 too
        (ServerInfo(server_string="DiskStation", os="Windows 6.1 Build 0"), "synology"),
        (ServerInfo(netbios_name="NAS4F2A1C", os="Windows 6.1 Build 0"), "qnap"),
        (ServerInfo(server_string="QNAP TS-453D"), "qnap"),
        (ServerInfo(netbios_name="TRUENAS", os="Windows 6.1 Build 0"), "truenas"),
        (ServerInfo(server_string="Samba 4.19.5-Debian"), "samba"),
        (ServerInfo(), None),
        (ServerInfo(os="Windows 6.1 Build 0", server_string="LABNAS legacy NAS"), "samba"),
    ],
)
def test_platform_detection(server: ServerInfo, platform: str | None) -> None:
    assert detect_platform(posture(server=server)) == platform


def test_findings_carry_the_detected_platform_and_every_platforms_steps() -> None:
    found = one("smb1-enabled", findings(host(posture_=posture(smb1=True, server=WINDOWS))))
    assert found.platform == "windows"
    assert list(found.remediation) == list(PLATFORMS)
    assert any(
        "Set-SmbServerConfiguration -EnableSMB1Protocol $false" in s for s in found.remediation["windows"]
    )
    assert any("server min protocol = SMB2_02" in s for s in found.remediation["samba"])
    assert any("firmware" in s for s in found.remediation["qnap"])  # the MFP caveat, on every platform


def test_side_effects_an_admin_must_know_are_in_the_steps() -> None:
    signing = one("signing-not-required", findings(host(posture_=posture(signing=False))))
    assert all(any("rejects guest" in s for s in steps) for steps in signing.remediation.values())
    guest = one("guest-account", findings(host(posture_=posture(guest=True))))
    assert any("Local Master Browser" in s for s in guest.remediation["synology"])
    smb1 = one("smb1-enabled", findings(host(posture_=posture(smb1=True))))
    assert any("label unverified" in s for s in smb1.remediation["qnap"])


# --- rule texts -------------------------------------------------------------------------------------------
def test_every_rule_has_its_text_and_every_text_its_rule() -> None:
    families = {code.family for code in REGISTRY.values()}
    for family in families:
        from shareaudit.rules.catalog import family_texts

        texts = family_texts(family)
        assert set(texts) == {c.id for c in REGISTRY.values() if c.family == family}
    assert [r.id for r in RULES] and {r.id for r in RULES} == set(REGISTRY)
    for code in REGISTRY.values():
        text = rule_text(code)
        assert text.title and text.why and text.severity in SEVERITIES
        assert all(text.remediation[p] for p in platforms_for(code.family)), code.id


def test_rules_listed_in_the_issue_exist() -> None:
    wanted = {
        "smb1-enabled",
        "signing-not-required",
        "null-session",
        "anonymous-share-list",
        "guest-account",
        "guest-fallback",
        "share-paths-disclosed",
        "unprivileged-read",
        "unprivileged-write",
        "permission-takeover",
        "broad-share-acl-write",
        "broad-root-acl-write",
        "medical-data-exposed",
        "medical-data-inventory",
        "service-account-overreach",
        "scan-drop-readable",
        "printer-share-guest",
        "admin-share-reachable",
        "target-not-scanned",
    }
    assert wanted <= set(REGISTRY)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ('[x]\ntitle = "t"\nseverity = "urgent"\nwhy = "w"\n', "severity"),
        ('[x]\ntitle = "t"\nseverity = "low"\nwhy = "w"\n[x.remediation]\nwindows = ["a"]\n', "platforms"),
        ('[x]\ntitle = "t"\nseverity = "low"\nwhy = "w"\ncolour = "red"\n', "colour: unknown key"),
        ('[x]\ntitle = ""\nseverity = "low"\nwhy = "w"\n', "title"),
        ("[x\n", "x.toml"),
    ],
)
def test_malformed_rule_texts_are_refused(source: str, error: str) -> None:
    with pytest.raises(CatalogError, match=error):
        load_family("x", source)


def test_unknown_placeholders_are_refused() -> None:
    steps = "\n".join(f'{p} = ["Run {{{{shar}}}}"]' for p in PLATFORMS)
    with pytest.raises(CatalogError, match="unknown placeholder"):
        load_family("x", f'[x]\ntitle = "t"\nseverity = "low"\nwhy = "w"\n[x.remediation]\n{steps}\n')


HOSTILE_NAMES = [
    "x'; Remove-Item C:\\ -Recurse; '",
    "a\u2019b\u2018c\u201ad\u201be",
    "$(Stop-Computer)",
    "`whoami`",
    "name with spaces",
    "; rm -rf / #",
    "{{share}}",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_share_names_in_commands_stay_one_quoted_argument(name: str) -> None:
    filled = fill(
        "sharesec {{share_sh}} --view; Get-SmbShareAccess -Name {{share_ps}} # {{share}}", {"share": name}
    )
    shell_part, _, rest = filled.partition(" --view; ")
    assert shlex.split(shell_part) == ["sharesec", name]
    literal = powershell_literal(name)
    assert f"-Name {literal} #" in rest
    # Inside the PowerShell literal every quote character is doubled, so none can end it early.
    inner = literal[1:-1]
    for quote in ("'", "\u2018", "\u2019", "\u201a", "\u201b"):
        assert inner.count(quote) == 2 * name.count(quote)
    assert filled.endswith(f"# {name}")  # a value is never expanded again


def test_hostile_share_names_reach_the_remediation_quoted() -> None:
    name = "x'; Remove-Item C:\\ -Recurse; '"
    found = one("unprivileged-write", findings(host(shares=[share(name, {"guest": WRITE})])))
    assert any("-Name 'x''; Remove-Item C:\\ -Recurse; '''" in s for s in found.remediation["windows"])


def test_suppressed_findings_keep_their_id() -> None:
    found = one("smb1-enabled", findings(host(posture_=posture(smb1=True))))
    accepted = dataclasses.replace(found, suppressed=Suppression("legacy MFP", "it", "2027-01-01"))
    assert accepted.id == found.id


def test_a_result_without_identities_or_hosts_evaluates() -> None:
    empty = ScanResult(scan_result().tool, "", "", ())
    assert evaluate(empty) == ()


# --- docs stay in step ----------------------------------------------------------------------------------
DOCS = Path(__file__).resolve().parents[2]
MY_FAMILIES = ("posture", "access", "permissions", "medical", "accounts", "coverage")


def test_readme_documents_every_rule_and_csv_column() -> None:
    from shareaudit.render.csv import COLUMNS

    readme = (DOCS / "README.md").read_text()
    for code in REGISTRY.values():
        if code.family in MY_FAMILIES:
            assert f"| `{code.id}` | {rule_text(code).severity} |" in readme, code.id
    for column in COLUMNS:
        assert f"| `{column}` |" in readme, column
    assert "--fail-on" in readme and "shareaudit report" in readme and "shareaudit rules" in readme


def test_json_format_documents_every_finding_field() -> None:
    text = (DOCS / "docs" / "json-format.md").read_text()
    for field in dataclasses.fields(Finding):
        assert f"| `{field.name}` |" in text, field.name
