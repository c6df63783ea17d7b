"""Every account that is not a person: the service-account signals and their scoring (shareaudit.ad.devices),
the privileged-account finding with its context, and the one-line certificate name mismatch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from synthetic import READ, WRITE, result, share
from synthetic import host as scanned_host

from shareaudit.ad.connection import certificate_names, name_mismatch, names_host
from shareaudit.ad.devices import (
    CANDIDATE,
    REASONS,
    AccountFacts,
    NamePattern,
    ServiceRules,
    explain,
    judge,
    rc4_allowed,
    words,
)
from shareaudit.ad.settings import Endpoint
from shareaudit.cli.app import cli
from shareaudit.errors import InputError
from shareaudit.model import Directory, DirectoryAccount, GroupMembership, Severity
from shareaudit.rules.engine import evaluate

NOW = datetime(2026, 11, 29, tzinfo=UTC)
LAST_WEEK = NOW - timedelta(days=7)
RULES = ServiceRules()


def facts(name: str, description: str = "", **values: object) -> AccountFacts:
    """An account that logs on (so "never logged on" is only there when a test asks for it)."""
    values.setdefault("last_logon", LAST_WEEK)
    return AccountFacts(name, description, **values)  # type: ignore[arg-type]


def person(name: str, description: str = "", **values: object) -> AccountFacts:
    return facts(
        name, description, given_name="Mary", surname="Scanlan", mail=f"{name}@clinic.example", **values
    )


# --- naming conventions -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("svc-", "prefix"),
        ("SA_", "prefix"),
        ("-svc", "suffix"),
        ("backup", "word"),
        ("svc*", "glob"),
        ("x?y", "glob"),
    ],
)
def test_pattern_kinds(text: str, kind: str) -> None:
    assert NamePattern.parse(text).kind == kind


@pytest.mark.parametrize("text", ["", "-", "*", "back up", "svc+"])
def test_bad_patterns_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        NamePattern.parse(text)


@pytest.mark.parametrize(
    ("name", "matched"),
    [
        ("svc-backup", True),
        ("SVC_sql", True),
        ("sa-pacs", True),
        ("srv-web", True),
        ("pacs-svc", True),
        ("backup_svc", True),
        ("nightly-backups", True),  # a word or its plural
        ("scan01", True),
        ("print-ward3", True),
        ("gmsa-backup$", True),
        ("service", True),
        ("svc-", False),  # the prefix alone is not a name that follows it
        ("mscanlon", False),
        ("scanlan.m", False),
        ("sa.nguyen", False),
        ("aprintz", False),
        ("backus", False),
        ("alice", False),
    ],
)
def test_default_naming_conventions(name: str, matched: bool) -> None:
    assert bool(judge(facts(name), RULES, NOW).signals) is matched, name


def test_service_pattern_adds_to_the_defaults() -> None:
    rules = ServiceRules.with_patterns(["app-", "*_job"])
    assert len(rules.patterns) == len(RULES.patterns) + 2
    assert judge(facts("app-lis"), rules, NOW).reasons == ("name",)
    assert judge(facts("lis_export_job"), rules, NOW).signals[0].detail == 'name: "*_job" glob'
    assert not judge(facts("app-lis"), RULES, NOW).signals
    assert ServiceRules.with_patterns(["svc-"]).patterns == RULES.patterns  # no duplicates


def test_words_are_whole() -> None:
    assert words("Scan01, HL7-gw") >= {"scan01", "scan", "hl7", "hl", "gw"}
    assert "scan" not in words("Scanlon, Mary")


# --- signals and scoring ----------------------------------------------------------------------------------
def test_the_issue_account_is_a_service_account() -> None:
    found = judge(facts("svc-backup", "NAS backup job", password_never_expires=True), RULES, NOW)
    assert found.candidate and found.reasons == ("name", "description", "password_never_expires")
    assert [(s.points, s.detail) for s in found.signals] == [
        (3, 'name: "svc-" prefix, word "backup"'),
        (2, 'description names "backup", "job", "nas"'),
        (2, "password never expires"),
    ]
    assert found.score == 7
    assert explain(found.signals, found.score, found.person) == (
        'name: "svc-" prefix, word "backup" (3); description names "backup", "job", "nas" (2); '
        "password never expires (2) = 7"
    )


def test_every_signal_with_its_points() -> None:
    everything = AccountFacts(
        "svc-scan",
        "Scan to folder",
        named=True,
        managed="gmsa",
        device_group="Scanners",
        spns=("HTTP/scan.clinic.example", "HOST/scan"),
        password_never_expires=True,
        workstations=("MFP01",),
        password_last_set=NOW - timedelta(days=400),
    )
    found = judge(everything, RULES, NOW)
    assert found.reasons == REASONS
    details = {s.reason: (s.points, s.detail) for s in found.signals}
    assert details["managed"] == (3, "group managed service account (msDS-GroupManagedServiceAccount)")
    assert details["spn"] == (3, "servicePrincipalName HTTP/scan.clinic.example (+1 more)")
    assert details["group"] == (3, "in the device group Scanners")
    assert details["workstations"] == (2, "may log on only from MFP01")
    assert details["old_password"][0] == 1 and "400 days ago (older than 365)" in details["old_password"][1]
    assert details["never_logged_on"] == (1, "never logged on")


@pytest.mark.parametrize(
    ("account", "candidate"),
    [
        # People stay out unless a strong signal says otherwise.
        (person("jbackus", "Backup contact for ward 3"), False),
        (person("dnewman", "Nurse, ward 5", last_logon=None), False),
        (person("alice", "Nurse", password_never_expires=True, last_logon=None), False),
        (person("mscanlon", "Pharmacy", password_last_set=NOW - timedelta(days=2000)), False),
        (person("hr.archive", "Nightly export", workstations=("HR01",), last_logon=None), False),
        (person("jdoe", "", spns=("HTTP/app.clinic.example",)), True),  # a service runs as a person's account
        (person("mary.print", ""), True),  # a naming convention is strong: the reviewer sees why
        # Not a person: medium and weak signals add up to 3.
        (facts("training01", "Training room login", last_logon=None), False),  # one weak signal
        (facts("kiosk01", "", password_never_expires=True), False),  # one medium signal
        (facts("pacsadmin", "PACS database"), False),
        (facts("pacsadmin", "PACS database", last_logon=None), True),
        (facts("pacs-export", "Nightly export", password_last_set=NOW - timedelta(days=2000)), True),
        (facts("kiosk01", "Waiting room kiosk", password_never_expires=True), True),
        (facts("lab01", "", password_never_expires=True, last_logon=None), True),
        # Strong signals alone.
        (facts("sql-pacs", "", spns=("MSSQLSvc/pacs:1433",)), True),
        (facts("dev4250", "", device_group="Print Devices"), True),
        (facts("msa-x$", "", managed="msa"), True),
    ],
)
def test_scoring(account: AccountFacts, candidate: bool) -> None:
    found = judge(account, RULES, NOW)
    assert found.candidate is candidate, explain(found.signals, found.score, found.person)
    assert (found.score >= CANDIDATE) is candidate


def test_a_person_keeps_its_signals_but_counts_only_strong_ones() -> None:
    found = judge(person("jbackus", "Backup contact for ward 3"), RULES, NOW)
    assert found.person and found.score == 0 and found.reasons == ("description",)
    listed = judge(person("jdoe", "Backup contact", spns=("HTTP/app",)), RULES, NOW)
    assert listed.candidate and listed.score == 3
    assert explain(listed.signals, listed.score, listed.person).endswith(
        "= 3 (looks like a person: only strong signals count)"
    )


def test_a_managed_account_is_never_a_person() -> None:
    found = judge(person("gmsa-x$", "", managed="gmsa"), RULES, NOW)
    assert found.candidate and not found.person


def test_built_in_accounts_only_when_named() -> None:
    krbtgt = facts(
        "krbtgt", "Key Distribution Center Service Account", builtin=True, spns=("kadmin/changepw",)
    )
    assert not judge(krbtgt, RULES, NOW).candidate
    assert judge(replace(krbtgt, named=True), RULES, NOW).candidate
    admin = judge(
        facts("Administrator", builtin=True, password_never_expires=True, last_logon=None), RULES, NOW
    )
    assert admin.score == 3 and not admin.candidate  # the signals are there; a built-in account is not listed


def test_old_password_age_is_configurable() -> None:
    account = facts("pacs-export", "Nightly export", password_last_set=NOW - timedelta(days=100))
    assert not judge(account, RULES, NOW).candidate
    assert judge(account, ServiceRules.with_patterns((), old_password_days=90), NOW).reasons == (
        "description",
        "old_password",
    )
    at_the_limit = replace(account, password_last_set=NOW - timedelta(days=365))
    assert "old_password" not in judge(at_the_limit, RULES, NOW).reasons


def test_logon_count_alone_means_it_logged_on() -> None:
    assert "never_logged_on" not in judge(facts("svc-x", last_logon=None, logon_count=3), RULES, NOW).reasons
    assert "never_logged_on" in judge(facts("svc-x", last_logon=None, logon_count=0), RULES, NOW).reasons


@pytest.mark.parametrize(
    ("types", "rc4"), [(None, True), (0, True), (0x4, True), (0x1C, True), (0x18, False), (0x8, False)]
)
def test_rc4_from_supported_encryption_types(types: int | None, rc4: bool) -> None:
    assert rc4_allowed(types) is rc4


# --- the privileged finding -------------------------------------------------------------------------------
DOMAIN = "S-1-5-21-1-2-3"
ADMINS = GroupMembership(
    f"{DOMAIN}-512", "Domain Admins", ("NAS Backup", "Server Admins", "Domain Admins"), True
)
STAFF = GroupMembership(f"{DOMAIN}-1105", "All Staff", ("All Staff",))


def account(name: str, **values: object) -> DirectoryAccount:
    fields: dict[str, object] = {
        "device": True,
        "reasons": ("name", "description"),
        "groups": (ADMINS, STAFF),
        "rc4": True,
    }
    fields.update(values)
    fields.setdefault("enabled", True)
    return DirectoryAccount(name, f"{DOMAIN}-1200", f"CN={name},DC=clinic,DC=example", **fields)  # type: ignore[arg-type]


def privileged(
    *accounts: DirectoryAccount, hosts: tuple[object, ...] = (), labels: tuple[str, ...] = ()
) -> dict[str, object]:
    directory = Directory("ldaps://dc", "DC=clinic,DC=example", "clinic.example", "dc.clinic.example", DOMAIN,
                          "CLINIC", accounts=accounts)  # fmt: skip
    scan = result(*hosts, labels=("audit", "anonymous", "guest", *labels), directory=directory)  # type: ignore[arg-type]
    return {f.identity: f for f in evaluate(scan) if f.rule == "device-account-privileged"}


def test_privileged_service_account_with_the_nested_path() -> None:
    found = privileged(account("svc-backup"))["svc-backup"]
    assert found.severity is Severity.CRITICAL and found.host == "clinic.example"
    assert (
        "svc-backup is in NAS Backup, which is in Server Admins, which is in Domain Admins." in found.evidence
    )
    assert "It may log on from any computer (no userWorkstations)." in found.evidence
    assert "Kerberoastable" not in found.evidence  # no SPN
    assert any("New-ADServiceAccount" in step for step in found.remediation["windows"])
    assert any("LogonWorkstations" in step for step in found.remediation["windows"])
    assert all(found.remediation[p] for p in ("windows", "samba", "synology", "qnap", "truenas"))
    assert any("lives in Active Directory" in step for step in found.remediation["synology"])
    assert "'svc-backup'" in " ".join(found.remediation["windows"])  # the account, quoted for PowerShell


def test_privileged_severity_from_context() -> None:
    found = privileged(
        account("svc-sql", spns=("MSSQLSvc/db:1433",), encryption_types=0x1C),
        account("svc-web", spns=("HTTP/web",), rc4=False, encryption_types=0x18),
        account("svc-old", enabled=False, spns=("HTTP/old",)),
        account("gmsa-backup$", managed="gmsa", spns=("HTTP/backup",), encryption_types=0x1C),
        account("svc-lab", workstations=("DC01", "DC02")),
        account("svc-plain", groups=(STAFF,)),  # not privileged
        account("alice", device=False, reasons=()),  # not a candidate
    )
    assert {name: f.severity for name, f in found.items()} == {
        "svc-sql": Severity.CRITICAL,
        "svc-web": Severity.CRITICAL,
        "svc-old": Severity.MEDIUM,
        "gmsa-backup$": Severity.HIGH,
        "svc-lab": Severity.CRITICAL,
    }
    assert (
        "Kerberoastable" in found["svc-sql"].evidence
        and "0x1c, which includes RC4" in found["svc-sql"].evidence
    )
    assert (
        "Kerberoastable" in found["svc-old"].evidence
        and "msDS-SupportedEncryptionTypes not set" in found["svc-old"].evidence
    )
    assert "Disabled: it cannot log on" in found["svc-old"].evidence
    assert "Kerberoastable" not in found["svc-web"].evidence
    assert "Kerberoastable" not in found["gmsa-backup$"].evidence
    assert "managed by the domain" in found["gmsa-backup$"].evidence
    assert "any computer" not in found["gmsa-backup$"].evidence  # userWorkstations is not how a gMSA is bound
    assert "It may log on only from DC01, DC02." in found["svc-lab"].evidence


def test_the_finding_says_when_the_account_is_a_scan_identity() -> None:
    shares = (
        share("scans", {"backup": WRITE}),
        share("radiology", {"backup": READ}),
        share("it", {"backup": READ}),
        share("print$", {"backup": READ}, type="printer"),  # only disk shares count
    )
    hosts = (scanned_host("nas01", shares), scanned_host("nas02", (share("archive", {"backup": READ}),)))
    found = privileged(account("svc-backup", identity="backup"), hosts=hosts, labels=("backup",))
    assert (
        "It is the scan identity 'backup': measured, it reads 4 and writes 1 disk shares on 2 hosts."
        in found["svc-backup"].evidence
    )
    alone = privileged(account("svc-backup", identity="backup"), labels=("backup",))
    assert (
        "It is the scan identity 'backup': nothing of what it reaches was measured."
        in alone["svc-backup"].evidence
    )


def test_the_rule_id_and_fingerprint_stay_stable() -> None:
    from shareaudit.rules.engine import fingerprint

    found = privileged(account("svc-print"))["svc-print"]
    assert found.rule == "device-account-privileged"
    assert found.id == fingerprint("device-account-privileged", "clinic.example", None, "svc-print", None)


# --- command line ---------------------------------------------------------------------------------------
def test_service_options_need_the_directory_and_a_good_pattern() -> None:
    # main() turns an InputError into one line and exit 2 (tests/unit/test_exit_codes.py).
    def refused(*args: str) -> str:
        run = CliRunner().invoke(cli, ["discover", *args])
        assert isinstance(run.exception, InputError), run.output
        return str(run.exception)

    assert refused("--service-pattern", "svc-") == "--service-pattern needs --ldap-url"
    assert "matches every account" in refused("--ldap-url", "ldaps://dc.invalid", "--service-pattern", "*")
    assert refused() == "discover needs --ldap-url"  # --old-password-days has a default: it asks for nothing


# --- the certificate's names ------------------------------------------------------------------------------
LAB_CERTIFICATE = {
    "subject": ((("commonName", "labdc.lab.test"),),),
    "subjectAltName": (("DNS", "labdc.lab.test"), ("IP Address", "127.0.0.20")),
}
NAME_ONLY = {
    "subject": ((("commonName", "labdc.lab.test"),),),
    "subjectAltName": (("DNS", "labdc.lab.test"),),
}


def test_certificate_names_and_matching() -> None:
    names = certificate_names(LAB_CERTIFICATE)
    assert names == (("DNS", "labdc.lab.test"), ("IP Address", "127.0.0.20"))
    assert names_host(names, "labdc.lab.test") and names_host(names, "LABDC.lab.test.")
    assert names_host(
        names, "127.0.0.20"
    )  # an IP address in subjectAltName counts (ldap3's backport ignores it)
    assert not names_host(names, "::ffff:127.0.0.20") and not names_host(names, "127.0.0.21")
    assert not names_host(names, "labdc")
    wildcard = certificate_names({"subjectAltName": (("DNS", "*.lab.test"),)})
    assert names_host(wildcard, "dc1.lab.test")
    assert not names_host(wildcard, "a.dc1.lab.test") and not names_host(wildcard, "lab.test")
    assert not names_host(certificate_names({"subjectAltName": (("DNS", "*.test"),)}), "lab.test")
    # The common name counts only without DNS names in subjectAltName.
    assert certificate_names({"subject": ((("commonName", "old.lab.test"),),)}) == (("DNS", "old.lab.test"),)
    assert names_host(certificate_names({"subject": ((("commonName", "old.lab.test"),),)}), "old.lab.test")
    assert not names_host((), "127.0.0.20")


def test_name_mismatch_is_one_line() -> None:
    message = str(name_mismatch(Endpoint("127.0.0.20", 636, "ldaps"), certificate_names(NAME_ONLY)))
    assert message == (
        "TLS with 127.0.0.20:636: the certificate is for labdc.lab.test, not 127.0.0.20: connect by that name "
        "or have the DC present a certificate that names the address"
    )
    both = str(
        name_mismatch(Endpoint("::ffff:127.0.0.20", 389, "starttls"), certificate_names(LAB_CERTIFICATE))
    )
    assert both.startswith(
        "TLS with [::ffff:127.0.0.20]:389: the certificate is for labdc.lab.test and 127.0.0.20,"
    )
    by_name = str(name_mismatch(Endpoint("dc01.clinic.example", 636, "ldaps"), certificate_names(NAME_ONLY)))
    assert by_name.endswith("names dc01.clinic.example") and "\n" not in by_name
