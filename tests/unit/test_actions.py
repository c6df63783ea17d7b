"""The fix plan over golden facts: which findings group into one action, in which order, what each says
(steps, side effects, the command that checks it), and that every active finding has exactly one action."""

from __future__ import annotations

import dataclasses
import shlex

import pytest
from synthetic import FULL, READ, REFUSED, WRITE, ace, content, host, large_result, posture, sd, share
from synthetic import result as scan_result

from shareaudit.model import Action, Enumeration, HostResult, Logon, ScanResult, Severity, Suppression
from shareaudit.rules import evaluate
from shareaudit.rules.actions import ActionCatalogError, active, load_catalog, owners, plan, with_actions

LABELS = ("audit", "anonymous", "guest", "printer")


def planned(*hosts: HostResult, labels: tuple[str, ...] = LABELS, **fields: object) -> ScanResult:
    result = scan_result(*hosts, labels=labels, **fields)
    return with_actions(dataclasses.replace(result, findings=evaluate(result)))


def planned_result(result: ScanResult) -> ScanResult:
    return with_actions(dataclasses.replace(result, findings=evaluate(result)))


def kind(result: ScanResult, name: str) -> list[Action]:
    return [a for a in result.actions if a.kind == name]


def rules_of(result: ScanResult, action: Action) -> list[tuple[str, str | None, str | None]]:
    by_id = {f.id: f for f in result.findings}
    return sorted((by_id[fid].rule, by_id[fid].share, by_id[fid].identity) for fid in action.findings)


def assert_partition(result: ScanResult) -> None:
    """Every active finding that is not informational belongs to exactly one action; nothing else does."""
    owned = [fid for a in result.actions for fid in a.findings]
    assert sorted(owned) == sorted(f.id for f in active(result.findings))
    assert [a.rank for a in result.actions] == list(range(1, len(result.actions) + 1))


# --- grouping ------------------------------------------------------------------------------------------------
def test_guest_fallback_closes_every_guest_row_of_the_host_as_one_action() -> None:
    nas = host(
        "nas01",
        [
            share("docs", {"audit": READ, "guest": READ, "anonymous": REFUSED, "printer": REFUSED}),
            share("forms", {"audit": READ, "guest": READ, "anonymous": REFUSED, "printer": REFUSED}),
            share("tmp", {"audit": WRITE, "guest": WRITE, "anonymous": REFUSED, "printer": REFUSED}),
        ],
        posture_=posture(guest=True, fallback=True),
    )
    result = planned(nas)
    assert_partition(result)
    (action,) = kind(result, "guest-fallback-off")
    assert rules_of(result, action) == [
        ("guest-fallback", None, None),
        ("unprivileged-read", "docs", "guest"),
        ("unprivileged-read", "forms", "guest"),
        ("unprivileged-read", "tmp", "guest"),
        ("unprivileged-write", "tmp", "guest"),
    ]
    assert action.title == "Stop letting unknown user names in as guest on nas01"
    assert any("map to guest = Never" in step for step in action.steps["samba"])
    assert action.platform == "samba"
    assert any("docs (read)" in effect and "tmp (read, write" in effect for effect in action.side_effects)
    assert action.verify.startswith("shareaudit scan nas01 -u svc-audit --identity printer=svc-printer")
    assert "--no-crawl" in action.verify and "--no-history" in action.verify


def test_a_device_let_in_as_guest_is_named_as_what_breaks() -> None:
    nas = host(
        "nas01",
        [share("scans", {"audit": WRITE, "guest": WRITE, "anonymous": REFUSED, "printer": WRITE})],
        posture_=posture(guest=True, fallback=True),
        logons=(Logon("printer", True, guest=True, route="mapped_to_guest"),),
    )
    (action,) = kind(planned(nas), "guest-fallback-off")
    assert any(e.startswith("printer (svc-printer) was let in as guest") for e in action.side_effects)
    assert any("scans looks like a scan drop folder that guest can write" in e for e in action.side_effects)


def test_one_share_setting_closes_its_anonymous_and_guest_rows() -> None:
    nas = host(
        "nas01",
        [share("scans", {"audit": FULL, "anonymous": FULL, "guest": FULL, "printer": WRITE})],
        posture_=posture(),  # no guest door at host level: the share is the root cause
    )
    result = planned(nas)
    assert_partition(result)
    (action,) = kind(result, "close-share")
    assert {rule for rule, _, _ in rules_of(result, action)} == {
        "permission-takeover",
        "scan-drop-readable",
        "unprivileged-read",
        "unprivileged-write",
    }
    assert {identity for _, _, identity in rules_of(result, action)} == {"anonymous", "guest"}
    assert action.share == "scans" and action.severity == Severity.CRITICAL
    effects = " ".join(action.side_effects)
    assert "printer" in effects and "keep working" in effects  # the device writes with its own account
    assert "--include-share scans" in action.verify


def test_a_broad_group_in_both_acls_of_a_share_is_one_action_with_both_steps() -> None:
    everyone = ace("S-1-1-0", 0x001F01FF, "Everyone")
    nas = host(
        "fs01",
        [
            share(
                "depts",
                {"audit": WRITE, "anonymous": REFUSED, "guest": REFUSED, "printer": WRITE},
                share_sd=sd(everyone),
                root_sd=sd(everyone),
            )
        ],
    )
    result = planned(nas)
    (action,) = kind(result, "remove-broad-acl")
    assert [rule for rule, _, _ in rules_of(result, action)] == [
        "broad-root-acl-write",
        "broad-share-acl-write",
    ]
    samba = " ".join(action.steps["samba"])
    assert "smbcacls" in samba and "sharesec" in samba  # both findings' steps, merged
    assert action.title == "Take write away from Everyone on depts (fs01)"
    assert any("printer" in effect for effect in action.side_effects)


def test_a_device_account_beyond_its_drop_folder_is_confined_in_one_action() -> None:
    nas = host(
        "nas01",
        [
            share("scans", {"audit": WRITE, "anonymous": REFUSED, "guest": REFUSED, "printer": WRITE}),
            share(
                "imaging",
                {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": READ},
                content=content({"dicom": 40}, crawled_as="printer"),
            ),
            share("print$", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": WRITE}),
        ],
    )
    result = planned(nas)
    assert_partition(result)
    (action,) = kind(result, "confine-device")
    assert rules_of(result, action) == [
        ("medical-data-exposed", "imaging", "printer"),
        ("printer-drivers-writable", "print$", "printer"),
        ("service-account-overreach", None, "printer"),
    ]
    assert action.medical == 40 and action.widest == "service"
    assert (
        action.verify
        == "shareaudit device nas01 --account printer=svc-printer --drop-share scans -u svc-audit"
    )
    assert any("keeps its drop folder: scans" in e for e in action.side_effects)
    assert any("loses: imaging (read), print$ (read, write" in e for e in action.side_effects)


def test_a_dicom_port_that_answers_anyone_is_one_action_protecting_its_studies() -> None:
    from shareaudit.model import DicomFacts, Service, StudyReach

    facts = DicomFacts(
        transport="plain",
        any_calling_ae=True,
        any_called_ae=True,
        called_ae="ANY",
        query=StudyReach("answered", studies=12, modalities={"CT": 12}),
    )
    pacs = host("pacs01", [], services=(Service("dicom", 11112, True, dicom=facts),))
    result = planned(pacs)
    assert_partition(result)
    (action,) = kind(result, "close-dicom-port")
    assert {rule for rule, _, _ in rules_of(result, action)} == {"dicom-any-ae", "dicom-open-query"}
    assert action.port == 11112 and action.medical == 12 and action.widest == "anonymous"
    assert action.rank == 1
    assert action.verify == "shareaudit scan pacs01 --protocols dicom --dicom-port 11112 --no-history"
    assert kind(result, "dicom-tls")[0].port == 11112


# --- order ------------------------------------------------------------------------------------------------------
def test_medical_data_comes_first_widest_door_first_then_the_most_files() -> None:
    nas = host(
        "nas01",
        [
            share("big", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": READ},
                  content=content({"dicom": 500}, crawled_as="printer")),
            share("guestdata", {"audit": READ, "anonymous": REFUSED, "guest": READ, "printer": REFUSED},
                  content=content({"dicom": 5}, crawled_as="guest")),
            share("anon1", {"audit": READ, "anonymous": READ, "guest": READ, "printer": REFUSED},
                  content=content({"dicom": 1}, crawled_as="anonymous")),
            share("anon9", {"audit": READ, "anonymous": READ, "guest": READ, "printer": REFUSED},
                  content=content({"dicom": 9}, crawled_as="anonymous")),
            share("open", {"audit": FULL, "anonymous": FULL, "guest": FULL, "printer": REFUSED}),
        ],
        posture_=posture(smb1=True),
    )  # fmt: skip
    result = planned(nas)
    assert_partition(result)
    order = [(a.kind, a.share or a.identity, a.widest) for a in result.actions]
    medical = [entry for entry in order if entry[2] is not None]
    assert medical == [
        ("restrict-medical-share", "anon9", "anonymous"),
        ("restrict-medical-share", "anon1", "anonymous"),
        ("restrict-medical-share", "guestdata", "guest"),
        ("restrict-medical-share", "big", "service"),  # also the printer's only share beyond a drop folder
    ]
    assert order[: len(medical)] == medical  # before everything else
    rest = result.actions[len(medical) :]
    assert rest[0].kind == "close-share" and rest[0].share == "open"  # critical rows before SMB1 (high)
    severities = [a.severity.rank for a in rest]
    assert severities == sorted(severities)


def test_a_plan_across_hosts_keeps_each_hosts_order_and_interleaves_by_priority() -> None:
    legacy = host(
        "nas01",
        [share("pub", {"audit": READ, "anonymous": READ, "guest": READ, "printer": READ},
               content=content({"dicom": 3}))],
        posture_=posture(null=True, guest=True, fallback=True),
        enumeration=(Enumeration("anonymous", True, 502, 1),),
    )  # fmt: skip
    other = host("nas02", [], posture_=posture(smb1=True), address="10.0.0.6")
    result = planned(legacy, other)
    assert_partition(result)
    assert result.actions[0].host == "nas01" and result.actions[0].kind == "restrict-medical-share"
    positions = {a.id: a.rank for a in result.actions}
    for action in result.actions:
        for earlier in action.after:
            assert positions[earlier] < action.rank


def test_a_finding_closed_only_with_an_earlier_action_names_it() -> None:
    from shareaudit.model import AccountDisclosure

    base = posture(null=True, guest=True, fallback=True)
    nas = host(
        "nas01",
        [share("docs", {"audit": READ, "anonymous": REFUSED, "guest": READ, "printer": REFUSED})],
        posture_=dataclasses.replace(base, accounts=AccountDisclosure("anonymous", ("labscan",), 1)),
        enumeration=(Enumeration("anonymous", True, 1, 1),),
    )
    result = planned(nas)
    assert_partition(result)
    (null,) = kind(result, "null-session-off")
    (fallback,) = kind(result, "guest-fallback-off")
    listing = [
        a for a in result.actions if "local-accounts-disclosed" in [r for r, _, _ in rules_of(result, a)]
    ]
    (holder,) = listing
    # Anonymous and guest can both list accounts: whichever action comes second closes it, relying on the first.
    first, second = sorted((null, fallback), key=lambda a: a.rank)
    assert holder is second and second.after == (first.id,)


# --- what the plan leaves out, and stays the same ----------------------------------------------------------------
def test_accepted_risks_and_informational_findings_are_not_in_the_plan() -> None:
    nas = host(
        "nas01",
        [
            share("open", {"audit": READ, "anonymous": READ, "guest": REFUSED, "printer": REFUSED}),
            share("records", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": REFUSED},
                  content=content({"hl7v2": 3}, crawled_as="audit")),
        ],
    )  # fmt: skip
    result = scan_result(nas, labels=LABELS)
    found = evaluate(result)
    accepted = Suppression("needed by the ward", "it", "2099-01-01")
    found = tuple(dataclasses.replace(f, suppressed=accepted) if f.share == "open" else f for f in found)
    planned_result = with_actions(dataclasses.replace(result, findings=found))
    assert planned_result.actions == ()  # the only finding left is the inventory (info)
    assert any(f.rule == "medical-data-inventory" for f in found)


def test_action_ids_are_stable_and_owners_map_every_finding() -> None:
    result = planned_result(large_result(hosts=3, shares_per_host=4))
    again = planned_result(large_result(hosts=3, shares_per_host=4))
    assert [a.id for a in result.actions] == [a.id for a in again.actions]
    assert len({a.id for a in result.actions}) == len(result.actions)
    mapping = owners(result.actions)
    assert set(mapping) == {f.id for f in active(result.findings)}
    assert_partition(result)


def test_hostile_share_names_stay_one_quoted_argument_in_the_check_command() -> None:
    name = "x'; rm -rf / #$(reboot)"
    nas = host(
        "nas01", [share(name, {"audit": FULL, "anonymous": FULL, "guest": REFUSED, "printer": REFUSED})]
    )
    result = planned(nas)
    (action,) = kind(result, "close-share")
    args = shlex.split(action.verify)
    assert args[args.index("--include-share") + 1] == name
    assert name in action.title  # the title is text: the renderers escape it


def test_a_large_estate_is_planned_and_every_finding_owned() -> None:
    result = planned_result(large_result(hosts=30, shares_per_host=10))
    assert len(result.findings) > 2500
    assert_partition(result)
    # One setting per share and per host instead of one row per share x identity x rule.
    assert len(result.actions) < len(active(result.findings)) / 3


# --- the catalog -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[doors]\n"no-such-rule" = "row"\n[kinds]\n', "no-such-rule"),
        (
            '[doors]\n[kinds.x]\nscope = "host"\ntitle = "t"\ncause = "c"\nlead = ["nope"]\nverify = "host"\n',
            "nope",
        ),
        (
            '[doors]\n[kinds.x]\nscope = "galaxy"\ntitle = "t"\ncause = "c"\nlead = []\nverify = "host"\n',
            "scope",
        ),
        (
            '[doors]\n[kinds.x]\nscope = "host"\ntitle = "t"\ncause = "c"\nlead = []\nverify = "host"\nextra = 1\n',
            "extra",
        ),
    ],
)
def test_a_malformed_catalog_is_one_line_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ActionCatalogError) as error:
        load_catalog(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_plan_of_a_result_without_findings_is_empty() -> None:
    assert plan(scan_result(host("nas01", []), labels=LABELS)) == ()


def test_findings_about_no_scanned_host_are_actions_of_their_own() -> None:
    result = planned(
        host("nas01", [], posture_=posture(smb1=True)), input_problems=("hosts.txt:3: 'x': bad",)
    )
    assert_partition(result)
    [skipped] = [a for a in result.actions if a.kind == "finding"]
    [finding] = [f for f in result.findings if f.id in skipped.findings]
    assert finding.rule == "target-not-scanned" and skipped.host == finding.host
    assert skipped.verify == "" and skipped.steps == finding.remediation  # the entry is fixed, not scanned
