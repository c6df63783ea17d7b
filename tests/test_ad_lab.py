"""Active Directory against the lab's real Samba AD DC (tests/lab/dc.py): discovery, nested groups,
exposure derived from ACLs compared with access measured as the same account, findings, bad input."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import dcdata
import pytest
from clirun import Run, shareaudit
from labdata import LABNAS

pytestmark = pytest.mark.usefixtures("dc", "lab")  # some tests scan the file-server lab too

DC_DIR = Path(os.environ.get("SHAREAUDIT_DC_DIR", "/tmp/shareaudit-dc"))
CA = str(DC_DIR / "tls" / "ca.pem")
AUDITOR = f"{dcdata.WORKGROUP}\\auditor"
LDAP = ("--ldap-url", dcdata.LDAPS_URL, "--ldap-ca-file", CA)
RIGHTS = ("read", "write", "delete", "change_permissions", "take_ownership")


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "SHAREAUDIT_LDAP_PASSWORD": dcdata.PASSWORDS["auditor"], **extra}


def _discover(tmp: Path, *args: str, env: dict[str, str] | None = None) -> tuple[Run, dict[str, Any]]:
    out = tmp / "discover.json"
    run = shareaudit("discover", *LDAP, "--ldap-user", AUDITOR, "--json", str(out), *args, env=env or _env())
    assert run.code == 0, run.text
    return run, json.loads(out.read_text())["directory"]


@pytest.fixture(scope="module")
def discovered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Any]]:
    return _discover(tmp_path_factory.mktemp("discover"))


def test_discovery_finds_exactly_the_seeded_computers(discovered: tuple[Run, dict[str, Any]]) -> None:
    computers = {c["name"]: c for c in discovered[1]["computers"]}
    assert set(computers) == {c.name for c in dcdata.COMPUTERS} | {dcdata.NETBIOS}
    for seeded in dcdata.COMPUTERS:
        found = computers[seeded.name]
        assert (found["enabled"], found["os"], found["dns_name"], found["address"]) == (
            seeded.enabled,
            seeded.os,
            seeded.dns_name,
            seeded.address,
        )
    assert computers[dcdata.NETBIOS]["address"] == dcdata.ADDRESS  # the DC's own A record


def test_discovery_finds_exactly_the_published_printers(discovered: tuple[Run, dict[str, Any]]) -> None:
    printers = {(p["server"], p["name"]): p for p in discovered[1]["printers"]}
    assert set(printers) == {(f"{p.server.lower()}.{dcdata.DNS_DOMAIN}", p.name) for p in dcdata.PRINTERS}
    for seeded in dcdata.PRINTERS:
        found = printers[(f"{seeded.server.lower()}.{dcdata.DNS_DOMAIN}", seeded.name)]
        assert (found["unc"], found["port"], found["driver"]) == (seeded.unc, seeded.port, seeded.driver)


def test_discovery_finds_exactly_the_device_accounts_with_reasons(
    discovered: tuple[Run, dict[str, Any]],
) -> None:
    devices = {a["name"]: a for a in discovered[1]["accounts"] if a["device"]}
    assert {name: frozenset(a["reasons"]) for name, a in devices.items()} == dcdata.DEVICE_ACCOUNTS
    assert {name for name, a in devices.items() if not a["enabled"]} == dcdata.DISABLED & set(devices)
    assert devices["copier-old"]["enabled"] is False
    for name, account in devices.items():  # the reasons a reviewer reads: what matched, and the points
        assert [s["reason"] for s in account["signals"]] == account["reasons"], name
        assert account["score"] == sum(s["points"] for s in account["signals"]) >= 3, name
    assert devices["svc-backup"]["signals"][0]["detail"] == 'name: "svc-" prefix, word "backup"'
    table = discovered[0].out
    assert "copier-old" in table and "DISABLED" in table
    for look_alike in dcdata.NOT_SERVICE_ACCOUNTS:  # people, and an account with a weak signal only
        assert look_alike not in devices and look_alike not in table, look_alike
    assert "Scanlon" not in table and "Backup contact" not in table


def test_discovery_decodes_what_makes_a_service_account(discovered: tuple[Run, dict[str, Any]]) -> None:
    devices = {a["name"]: a for a in discovered[1]["accounts"] if a["device"]}
    managed = {m.account: m.kind for m in dcdata.MANAGED}
    assert {name: a["managed"] for name, a in devices.items() if a["managed"]} == managed
    kerberoastable = {name for name, a in devices.items() if a["spns"] and a["rc4"] and not a["managed"]}
    assert kerberoastable == dcdata.KERBEROASTABLE
    assert (devices["svc-intranet"]["rc4"], devices["svc-intranet"]["encryption_types"]) == (False, 0x18)
    assert (devices["svc-print"]["rc4"], devices["svc-print"]["encryption_types"]) == (True, None)
    assert (devices["sql-pacs"]["rc4"], devices["sql-pacs"]["encryption_types"]) == (True, 0x1C)
    assert devices["pacs-export"]["password_last_set"].startswith(dcdata.OLD_PASSWORD)
    never = {name for name, a in devices.items() if a["last_logon"] is None}
    assert never == {"scan-er", "gmsa-backup$", "msa-spooler$"}
    assert devices["mfp-ward3"]["workstations"] == ["MFPWARD3"]
    assert "SPN + RC4: Kerberoastable" in discovered[0].out


def test_named_account_becomes_a_candidate(tmp_path: Path) -> None:
    _, directory = _discover(tmp_path, "--device-account", "bob")
    bob = next(a for a in directory["accounts"] if a["name"] == "bob")
    assert bob["device"] is True and bob["reasons"] == ["named"]
    assert bob["person"] is True


def test_service_pattern_adds_a_naming_convention(tmp_path: Path) -> None:
    _, directory = _discover(tmp_path, "--service-pattern", "training")
    found = {a["name"]: a for a in directory["accounts"] if a["device"]}
    assert set(found) == set(dcdata.DEVICE_ACCOUNTS) | {"training01"}
    assert found["training01"]["reasons"] == ["name", "never_logged_on"]
    assert found["training01"]["signals"][0]["detail"] == 'name: word "training"'
    bad = shareaudit("discover", *LDAP, "--ldap-user", AUDITOR, "--service-pattern", "-", env=_env())
    assert bad.code == 2 and "--service-pattern" in _one_line_error(bad)


def _groups(directory: dict[str, Any], account: str) -> dict[str, list[str]]:
    entry = next(a for a in directory["accounts"] if a["name"] == account)
    return {g["name"]: g["path"] for g in entry["groups"]}


def test_nested_groups_match_the_seeded_structure(discovered: tuple[Run, dict[str, Any]]) -> None:
    directory = discovered[1]
    # svc-scan -> Scanners -> Device Accounts -> All Staff: two levels of nesting, plus the primary group.
    assert _groups(directory, "svc-scan") == {
        "Scanners": ["Scanners"],
        "Device Accounts": ["Scanners", "Device Accounts"],
        "All Staff": ["Scanners", "Device Accounts", "All Staff"],
        "Domain Users": ["Domain Users"],
        "BUILTIN\\Users": ["Domain Users", "BUILTIN\\Users"],
    }
    privileged = {
        a["name"]: {g["name"]: tuple(g["path"]) for g in a["groups"] if g["privileged"]}
        for a in directory["accounts"]
        if a["device"] and any(g["privileged"] for g in a["groups"])
    }
    assert privileged == dcdata.PRIVILEGED  # svc-print, svc-backup through two nested groups, the gMSA
    assert _groups(directory, "dev4250")["All Staff"] == ["Print Devices", "Device Accounts", "All Staff"]


def test_starttls_and_targets_file_with_filters(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    run = shareaudit(
        "discover",
        "--ldap-url",
        dcdata.LDAP_URL,  # ldap:// is upgraded with StartTLS
        "--ldap-ca-file",
        CA,
        "--ldap-user",
        AUDITOR,
        "--ad-ou",
        "OU=FileServers,OU=Hospital",
        "--ad-os",
        "Windows Server*",
        "--targets-file",
        str(targets),
        "-q",
        env=_env(),
    )
    assert run.code == 0, run.text
    lines = [line.split("#")[0].strip() for line in targets.read_text().splitlines()]
    assert [line for line in lines if line] == [
        "127.0.0.13",
        "127.0.0.12",
    ]  # labacl, labfs; not labnas (Samba)


@pytest.fixture(scope="module")
def dc_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Any]]:
    """The DC's file shares scanned with the two service accounts measured, and the directory read."""
    out = tmp_path_factory.mktemp("dcscan") / "scan.json"
    env = _env(
        SHAREAUDIT_PASSWORD=dcdata.PASSWORDS["auditor"],
        SHAREAUDIT_PASSWORD_SCANNER=dcdata.PASSWORDS["svc-scan"],
        SHAREAUDIT_PASSWORD_PRINTER=dcdata.PASSWORDS["svc-print"],
        SHAREAUDIT_DATA_DIR=str(out.parent / "data"),
    )
    env.pop("SHAREAUDIT_LDAP_PASSWORD")  # the LDAP bind reuses the audit account's password
    run = shareaudit(
        "scan",
        "--from-ad",
        "--ad-ou",
        "OU=Domain Controllers",
        "-u",
        AUDITOR,
        "--identity",
        f"scanner={dcdata.WORKGROUP}\\svc-scan",
        "--identity",
        f"printer={dcdata.WORKGROUP}\\svc-print",
        *LDAP,
        "--no-history",
        "--json",
        str(out),
        env=env,
    )
    return run, json.loads(out.read_text())


def test_from_ad_targets_carry_the_directory_names(dc_scan: tuple[Run, dict[str, Any]]) -> None:
    run, result = dc_scan
    assert [(h["target"], h["address"]) for h in result["hosts"]] == [(dcdata.HOSTNAME, dcdata.ADDRESS)]
    assert result["directory"]["netbios_domain"] == dcdata.WORKGROUP
    for password in dcdata.PASSWORDS.values():
        assert password not in run.text


def _rights(cell: dict[str, Any]) -> tuple[bool, ...]:
    return tuple(bool(cell[r]) for r in RIGHTS)


def test_derived_exposure_matches_measured_access(dc_scan: tuple[Run, dict[str, Any]]) -> None:
    host = dc_scan[1]["hosts"][0]
    shares = {s["name"]: s for s in host["shares"]}
    derived = {(e["account"], e["share"]): e for e in host["exposures"]}
    compared = 0
    for account, label in (("svc-scan", "scanner"), ("svc-print", "printer"), ("auditor", "audit")):
        for name, share in shares.items():
            if share["type"] != "disk":
                continue
            measured = _rights(share["access"][label])
            exposure = derived.get((account, name))
            assert (_rights(exposure) if exposure else (False,) * 5) == measured, (account, name)
            if exposure:
                assert exposure["measured_as"] == label and exposure["derived_from"] == "acl"
            compared += 1
    assert compared == 15  # sysvol, netlogon, radiology, scans, itadmin for three accounts
    scan = derived[("svc-scan", "radiology")]
    assert any(
        "svc-scan is in Scanners, which is in Device Accounts, which is in All Staff" in b
        for b in scan["because"]
    )
    # The deny ACE for Print Devices beats svc-print's Domain Admins full control on scans.
    printer = derived[("svc-print", "scans")]
    assert (printer["read"], printer["write"], printer["delete"]) == (True, False, True)


def test_exposure_needs_no_password(tmp_path: Path, dc_scan: tuple[Run, dict[str, Any]]) -> None:
    out = tmp_path / "scan.json"
    env = _env(SHAREAUDIT_PASSWORD=dcdata.PASSWORDS["auditor"], SHAREAUDIT_DATA_DIR=str(tmp_path / "data"))
    run = shareaudit(
        "scan",
        dcdata.ADDRESS,
        "-u",
        AUDITOR,
        *LDAP,
        "--no-history",
        "--no-crawl",
        "--json",
        str(out),
        env=env,
    )
    assert run.code in (0, 1), run.text
    host = json.loads(out.read_text())["hosts"][0]
    alone = {(e["account"], e["share"]): _rights(e) for e in host["exposures"]}
    measured = {(e["account"], e["share"]): _rights(e) for e in dc_scan[1]["hosts"][0]["exposures"]}
    # Without the service accounts, a root ACL only they could read (itadmin) stays unknown: no exposure.
    unread = {s["name"] for s in host["shares"] if s["type"] == "disk" and s["root_sd"] is None}
    assert unread == {"itadmin"}
    compared = [k for k in measured if k[0] in ("svc-scan", "svc-print", "dev4250") and k[1] not in unread]
    assert {share for _, share in compared} >= {"radiology", "scans"}
    for key in compared:
        assert alone[key] == measured[key], key
    assert alone[("dev4250", "scans")] == (True, False, False, False, False)  # never measured: no password


def test_privileged_service_accounts(dc_scan: tuple[Run, dict[str, Any]]) -> None:
    result = dc_scan[1]
    privileged = {f["identity"]: f for f in result["findings"] if f["rule"] == "device-account-privileged"}
    assert set(privileged) == set(dcdata.PRIVILEGED)
    backup = privileged["svc-backup"]
    assert backup["severity"] == "critical" and backup["host"] == dcdata.DNS_DOMAIN
    assert (
        "svc-backup is in NAS Backup, which is in Server Admins, which is in Domain Admins"
        in backup["evidence"]
    )
    assert "It may log on from any computer" in backup["evidence"]
    assert all(backup["remediation"][p] for p in ("windows", "samba", "synology", "qnap", "truenas"))
    assert any("New-ADServiceAccount" in step for step in backup["remediation"]["windows"])
    assert (
        privileged["gmsa-backup$"]["severity"] == "high"
    )  # a managed password: not in a device, not crackable
    printer = privileged["svc-print"]
    assert printer["severity"] == "critical" and "Kerberoastable" in printer["evidence"]
    # svc-print is also the scan identity "printer": the finding says what it was measured to reach.
    disk = [s for s in result["hosts"][0]["shares"] if s["type"] == "disk"]
    reads, writes = (
        sum(
            1
            for s in disk
            if s["access"]["printer"][right] and s["access"]["printer"]["basis"].get(right) != "uncertain"
        )
        for right in ("read", "write")
    )
    assert reads > 0
    assert (
        f"It is the scan identity 'printer': measured, it reads {reads} and writes {writes} disk shares on 1 host."
        in printer["evidence"]
    )
    assert "scan identity" not in backup["evidence"]


def test_directory_findings(tmp_path: Path, dc_scan: tuple[Run, dict[str, Any]]) -> None:
    findings = {(f["rule"], f["identity"], f["share"]) for f in dc_scan[1]["findings"]}
    assert ("device-account-medical-path", "svc-scan", "radiology") in findings
    assert ("device-account-privileged", "svc-print", None) in findings
    assert ("device-account-password-never-expires", "svc-scan", None) in findings
    assert ("device-account-password-never-expires", "kiosk01", None) not in findings  # reads one folder only
    out = tmp_path / "nas.json"
    env = _env(SHAREAUDIT_PASSWORD=dcdata.PASSWORDS["auditor"], SHAREAUDIT_DATA_DIR=str(tmp_path / "data"))
    run = shareaudit(
        "scan", "--from-ad", "--ad-name", "lab[nf]*", "-u", AUDITOR, *LDAP, "--no-history", "--no-crawl",
        "--json", str(out), env=env,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert {h["target"] for h in result["hosts"]} == {"labnas.lab.test", "labfs.lab.test"}, run.text
    printers = {
        f["evidence"].split(" ")[0]
        for f in result["findings"]
        if f["rule"] == "published-printer-guest-server"
    }
    assert printers == {"HP_MFP_2F", "Radiology_Laser"}  # on labnas (guest shares); not Ward3_Copier on labfs
    assert all(
        h["exposures"] == [] for h in result["hosts"]
    )  # standalone servers: domain accounts cannot log on


def test_kerberos_bind_with_a_ticket(tmp_path: Path) -> None:
    env = _env(KRB5_CONFIG=str(DC_DIR / "krb5.conf"), KRB5CCNAME=f"FILE:{tmp_path / 'ccache'}")
    env.pop("SHAREAUDIT_LDAP_PASSWORD")
    no_ticket = shareaudit("discover", *LDAP, "--ldap-auth", "kerberos", "-q", env=env)
    assert no_ticket.code == 2 and "Kerberos bind" in no_ticket.err, no_ticket.text
    kinit = subprocess.run(
        ["kinit", f"auditor@{dcdata.REALM}"],
        input=dcdata.PASSWORDS["auditor"] + "\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert kinit.returncode == 0, kinit.stderr
    run = shareaudit(
        "discover", *LDAP, "--ldap-auth", "kerberos", "--json", str(tmp_path / "d.json"), "-q", env=env
    )
    assert run.code == 0, run.text
    assert {c["name"] for c in json.loads((tmp_path / "d.json").read_text())["directory"]["computers"]} >= {
        "LABNAS"
    }


def _one_line_error(run: Run) -> str:
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.text
    return lines[0]


def test_wrong_ldap_password(tmp_path: Path) -> None:
    run = shareaudit(
        "discover", *LDAP, "--ldap-user", AUDITOR, env=_env(SHAREAUDIT_LDAP_PASSWORD="Wrong-Pass-9")
    )
    assert run.code == 2
    assert "wrong user name or password" in _one_line_error(run)
    assert "Wrong-Pass-9" not in run.text


def test_unreachable_dc(tmp_path: Path) -> None:
    run = shareaudit(
        "discover", "--ldap-url", f"ldaps://{dcdata.ADDRESS}:6360", "--ldap-user", AUDITOR, env=_env()
    )
    assert run.code == 3
    assert "connection refused" in _one_line_error(run)


def test_untrusted_certificate(tmp_path: Path) -> None:
    run = shareaudit("discover", "--ldap-url", dcdata.LDAPS_URL, "--ldap-user", AUDITOR, env=_env())
    assert run.code == 2
    assert "certificate verify failed" in _one_line_error(run)
    insecure = shareaudit(
        "discover",
        "--ldap-url",
        dcdata.LDAPS_URL,
        "--ldap-insecure",
        "--ldap-user",
        AUDITOR,
        "-q",
        env=_env(),
    )
    assert insecure.code == 0, insecure.text


def test_certificate_for_another_name_is_one_clear_line(tmp_path: Path) -> None:
    # The lab's certificate names labdc.lab.test and 127.0.0.20 (tests/lab/dc.py make_tls), so connecting
    # by the address works; the same address in its IPv4-mapped IPv6 form reaches the same DC, and the
    # certificate does not name it: the mismatch a client sees when it connects by an unnamed address.
    for url in (f"ldaps://[::ffff:{dcdata.ADDRESS}]", f"ldap://[::ffff:{dcdata.ADDRESS}]"):
        run = shareaudit(
            "discover", "--ldap-url", url, "--ldap-ca-file", CA, "--ldap-user", AUDITOR, env=_env()
        )
        assert run.code == 2, run.text
        line = _one_line_error(run)
        assert (
            f"the certificate is for {dcdata.HOSTNAME} and {dcdata.ADDRESS}, not ::ffff:{dcdata.ADDRESS}: "
            "connect by one of those names"
        ) in line, line
        assert "subjectAltName" not in line and "serialNumber" not in line


def test_scan_with_unreachable_dc_scans_nothing(tmp_path: Path) -> None:
    env = _env(SHAREAUDIT_PASSWORD=dcdata.PASSWORDS["auditor"], SHAREAUDIT_DATA_DIR=str(tmp_path / "data"))
    run = shareaudit(
        "scan", LABNAS.address, "--from-ad", "--ldap-url", f"ldaps://{dcdata.ADDRESS}:6360", "-u", AUDITOR,
        "--no-history", "--json", str(tmp_path / "scan.json"), env=env,
    )  # fmt: skip
    assert run.code == 3
    assert "connection refused" in _one_line_error(run)
    assert not (tmp_path / "scan.json").exists()
