"""Findings against the lab: every rule fires where the lab plants it and stays quiet on the hardened
server; reports (JSON, CSV, HTML) agree; `report` re-renders offline; the HTML is safe in Chromium."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium
from clirun import Run, shareaudit
from labdata import LABACL, LABFS, LABNAS, PASSWORDS, UNUSED_ADDRESSES

from shareaudit.rules.platform import NFS_PLATFORMS

pytestmark = pytest.mark.usefixtures("lab", "dicomlab", "ftplab")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SHOW_ALL = "document.querySelectorAll('.host, .inv').forEach(e => e.style.contentVisibility = 'visible')"
HOSTS = (LABNAS.address, LABFS.address, LABACL.address)
NAS, FS, ACL = HOSTS

# (rule, host, share, identity) -> severity, as tests/lab plants them (conf/*.conf.in, lab.py, populate.py).
PLANTED = {
    ("smb1-enabled", NAS, None, None): "high",
    ("signing-not-required", NAS, None, None): "medium",
    ("signing-not-required", ACL, None, None): "medium",
    ("null-session", NAS, None, None): "high",  # and it reads shares
    ("null-session", ACL, None, None): "medium",  # restrict anonymous = 1: IPC$ only
    ("anonymous-share-list", NAS, None, None): "medium",
    # labnas has no Guest account: the Guest logon is the bad-user fallback, one door (guest-fallback).
    ("guest-account", ACL, None, None): "high",  # the mapped Guest account with an empty password
    ("guest-fallback", NAS, None, None): "high",
    ("share-paths-disclosed", NAS, None, None): "low",
    ("share-paths-disclosed", ACL, None, None): "low",
    ("unprivileged-read", NAS, "pacs$", "guest"): "critical",  # DICOM behind the hidden share
    ("unprivileged-read", NAS, "public", "anonymous"): "critical",  # a teaching case and an HL7 export
    ("unprivileged-read", NAS, "archive", "guest"): "medium",  # one README: no medical data
    ("unprivileged-read", ACL, "depts", "guest"): "medium",
    ("unprivileged-write", NAS, "scans", "guest"): "high",
    ("unprivileged-write", NAS, "scans", "anonymous"): "high",
    ("unprivileged-write", ACL, "depts", "guest"): "high",
    ("unprivileged-write", ACL, "research", "guest"): "critical",  # NIfTI and EEG behind it
    ("permission-takeover", NAS, "scans", "guest"): "critical",
    # Not for printer on scans and print$: Samba claims WRITE_DAC/WRITE_OWNER for every rwx mode class,
    # but only the folder's owner (nobody, root) can change them (tests/test_truth_lab.py does it for real).
    ("printer-share-guest", NAS, "HP_MFP_2F", "guest"): "low",
    ("printer-share-guest", NAS, "Radiology_Laser", "anonymous"): "low",
    ("printer-drivers-writable", NAS, "print$", "printer"): "high",
    ("broad-root-acl-write", NAS, "scans", "Everyone"): "high",
    ("broad-root-acl-write", ACL, "depts", "Everyone"): "high",
    ("broad-root-acl-write", ACL, "research", "NT AUTHORITY\\Authenticated Users"): "critical",
    ("medical-data-exposed", NAS, "imaging", "printer"): "critical",  # only the scanner account
    ("medical-data-exposed", NAS, "pacs$", "anonymous"): "critical",
    ("medical-data-exposed", NAS, "public", "anonymous"): "critical",
    ("medical-data-exposed", ACL, "research", "guest"): "critical",
    ("medical-data-inventory", FS, "clinical", None): "info",
    ("medical-data-inventory", ACL, "records", None): "info",
    ("service-account-overreach", NAS, None, "printer"): "high",
    ("service-account-overreach", ACL, None, "printer"): "high",
    ("scan-drop-readable", NAS, "scans", "guest"): "high",
    ("scan-drop-readable", NAS, "scans", "anonymous"): "high",
    ("local-accounts-disclosed", NAS, None, None): "high",  # to the null session, labscan among them
    ("local-accounts-disclosed", ACL, None, None): "high",  # to the Guest account
    ("no-lockout-policy", NAS, None, None): "medium",  # Samba's default policy, read by anyone
    ("no-lockout-policy", ACL, None, None): "medium",
    ("weak-password-policy", NAS, None, None): "low",
    ("weak-password-policy", ACL, None, None): "low",
    # The DICOM lab's open Orthanc on labnas (tests/lab/dicomlab.py); the hardened one on labfs has none.
    ("dicom-open-query", NAS, None, None): "critical",
    ("dicom-open-retrieve", NAS, None, None): "critical",
    ("dicom-any-ae", NAS, None, None): "high",
    ("dicom-no-tls", NAS, None, None): "medium",
    # The FTP lab's ProFTPD on labnas (tests/lab/ftplab.py); the FTPS-only one on labfs has none.
    ("ftp-anonymous-read", NAS, "ftp:21", "anonymous"): "critical",
    ("ftp-anonymous-upload", NAS, "ftp:21", "anonymous"): "critical",
    ("ftp-plaintext-login", NAS, "ftp:21", None): "medium",
    ("ftp-tls-certificate", NAS, "ftp:21", None): "medium",
    # Signs of intrusion in the guest-writable scans share and scan-to-folder passwords in print$
    # (populate.plant_intrusion / plant_address_book; tests/test_intrusion_lab.py checks them one by one).
    ("intrusion-coin-miner", NAS, "scans", None): "high",
    ("intrusion-dropped-executable", NAS, "scans", None): "high",
    ("intrusion-ransom-note", NAS, "scans", None): "critical",
    ("intrusion-encryption-sweep", NAS, "scans", None): "critical",
    ("intrusion-coercion-file", NAS, "scans", None): "high",
    ("credentials-readable", NAS, "print$", "anonymous"): "critical",  # labscan's password, read as anonymous
}
# Rules that must not fire on a host where the lab does not plant them.
ABSENT = {
    ACL: {
        "smb1-enabled",
        "guest-fallback",
        "anonymous-share-list",
        "printer-share-guest",
        "scan-drop-readable",
    },
    NAS: {"medical-data-inventory", "target-not-scanned"},
}


def _env(tmp: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
        "SHAREAUDIT_DATA_DIR": str(tmp / "data"),
    }


def _findings(path: Path) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = json.loads(path.read_text())["findings"]
    return findings


def _key(finding: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    return finding["rule"], finding["host"], finding["share"], finding["identity"]


@pytest.fixture(scope="module")
def lab_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """One scan of the three lab servers with a printer account, writing all three outputs."""
    tmp = tmp_path_factory.mktemp("findings")
    out = tmp / "out"
    run = shareaudit(
        "scan", *HOSTS, "-u", "labaudit", "--identity", "printer=labscan", "-o", str(out), env=_env(tmp)
    )
    return run, out


def test_scan_writes_json_html_and_csv(lab_scan: tuple[Run, Path]) -> None:
    run, out = lab_scan
    assert run.code == 0, run.text
    assert sorted(p.name for p in out.iterdir()) == ["findings.csv", "report.html", "scan.json"]
    outputs = run.text + "".join(p.read_text(encoding="utf-8-sig") for p in out.iterdir())
    for password in (PASSWORDS["labaudit"], PASSWORDS["labscan"]):
        assert password not in outputs


def test_every_planted_exposure_is_found_with_its_severity(lab_scan: tuple[Run, Path]) -> None:
    found = {_key(f): f["severity"] for f in _findings(lab_scan[1] / "scan.json")}
    missing = {key: severity for key, severity in PLANTED.items() if found.get(key) != severity}
    assert not missing, {key: (severity, found.get(key)) for key, severity in missing.items()}


def test_no_rule_fires_where_the_lab_does_not_plant_it(lab_scan: tuple[Run, Path]) -> None:
    findings = _findings(lab_scan[1] / "scan.json")
    hardened = [f for f in findings if f["host"] == FS]
    # The hardened server: only Samba's default password policy, which the audit account alone can read,
    # and its medical data in the inventory.
    assert [(f["rule"], f["share"], f["severity"]) for f in hardened] == [
        ("no-lockout-policy", None, "low"),
        ("weak-password-policy", None, "low"),
        ("medical-data-inventory", "clinical", "info"),
    ]
    for host, rules in ABSENT.items():
        assert not [f for f in findings if f["host"] == host and f["rule"] in rules]


def test_findings_are_complete_and_ordered(lab_scan: tuple[Run, Path]) -> None:
    findings = _findings(lab_scan[1] / "scan.json")
    order = ["critical", "high", "medium", "low", "info"]
    assert [order.index(f["severity"]) for f in findings] == sorted(
        order.index(f["severity"]) for f in findings
    )
    assert len({f["id"] for f in findings}) == len(findings)
    for finding in findings:
        assert finding["title"] and finding["evidence"] and finding["why"]
        if finding["rule"].startswith("dicom-"):  # written for PACS products; the lab's is Orthanc
            assert finding["platform"] == "orthanc"
            assert set(finding["remediation"]) == {"orthanc", "dcm4chee", "conquest", "generic"}
            continue
        if finding["rule"].startswith("ftp-"):  # written for FTP servers; labnas's is ProFTPD
            assert finding["platform"] == "proftpd"
            assert set(finding["remediation"]) == {
                "proftpd",
                "vsftpd",
                "iis",
                "synology",
                "qnap",
                "truenas",
                "generic",
            }
            continue
        if finding["rule"].startswith("nfs-"):  # written for NFS servers; which one labnas runs is not told
            assert set(finding["remediation"]) == set(NFS_PLATFORMS)
            continue
        assert finding["platform"] == "samba"  # every lab server is Samba (NTLM version 6.1 build 0)
        assert set(finding["remediation"]) == {"windows", "samba", "synology", "qnap", "truenas"}


def test_the_same_exposures_have_the_same_ids_in_a_second_run(
    lab_scan: tuple[Run, Path], tmp_path: Path
) -> None:
    again = tmp_path / "again.json"
    run = shareaudit(
        "scan",
        *HOSTS,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "--json",
        str(again),
        env=_env(tmp_path),
    )
    assert run.code == 0, run.text
    first = {f["id"]: _key(f) for f in _findings(lab_scan[1] / "scan.json")}
    second = {f["id"]: _key(f) for f in _findings(again)}
    assert first == second


def test_csv_has_one_row_per_finding(lab_scan: tuple[Run, Path]) -> None:
    findings = _findings(lab_scan[1] / "scan.json")
    with (lab_scan[1] / "findings.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], r["rule"], r["severity"], r["host"]) for r in rows] == [
        (f["id"], f["rule"], f["severity"], f["host"]) for f in findings
    ]
    smb1 = next(r for r in rows if r["rule"] == "smb1-enabled")
    assert "server min protocol = SMB2_02" in smb1["remediation"]  # the detected platform's steps


def test_report_re_renders_the_same_findings_offline(lab_scan: tuple[Run, Path], tmp_path: Path) -> None:
    # No password in the environment and no network needed: only the saved JSON.
    run = shareaudit(
        "report",
        str(lab_scan[1] / "scan.json"),
        "--csv",
        str(tmp_path / "again.csv"),
        "--html",
        str(tmp_path / "again.html"),
        "--json",
        str(tmp_path / "again.json"),
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.code == 0, run.text
    assert _findings(tmp_path / "again.json") == _findings(lab_scan[1] / "scan.json")
    assert (tmp_path / "again.csv").read_text(encoding="utf-8-sig") == (
        lab_scan[1] / "findings.csv"
    ).read_text(encoding="utf-8-sig")
    assert "Findings: " in run.out and "Worst findings" in run.out


def test_report_refuses_what_is_not_a_scan(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"schema": "other/1"}')
    run = shareaudit("report", str(bogus), "--html", str(tmp_path / "r.html"))
    assert run.code == 2 and "not a shareaudit scan result" in run.err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("hosts", "fail_on", "code"),
    [
        ((FS,), "medium", 0),  # the hardened server has only low (its password policy) and info findings
        ((FS,), "info", 1),
        ((NAS,), "critical", 1),
        ((UNUSED_ADDRESSES[0],), None, 3),  # a failed target
        ((UNUSED_ADDRESSES[0],), "high", 1),  # ... is itself a high finding
        ((UNUSED_ADDRESSES[0],), "critical", 3),
    ],
)
def test_fail_on(tmp_path: Path, hosts: tuple[str, ...], fail_on: str | None, code: int) -> None:
    extra = ("--fail-on", fail_on) if fail_on else ()
    run = shareaudit(
        "scan",
        *hosts,
        "-u",
        "labaudit",
        "--timeout",
        "1",
        "--json",
        str(tmp_path / "s.json"),
        *extra,
        env=_env(tmp_path),
    )
    assert run.code == code, run.text


def test_a_failed_target_is_reported_as_a_finding(tmp_path: Path) -> None:
    run = shareaudit(
        "scan",
        UNUSED_ADDRESSES[0],
        "-u",
        "labaudit",
        "--timeout",
        "1",
        "-o",
        str(tmp_path),
        env=_env(tmp_path),
    )
    assert run.code == 3, run.text
    findings = _findings(tmp_path / "scan.json")
    assert [(f["rule"], f["host"], f["severity"]) for f in findings] == [
        ("target-not-scanned", UNUSED_ADDRESSES[0], "high")
    ]
    assert "1 failed or incomplete" in (tmp_path / "report.html").read_text()


def test_broad_share_acl_with_an_administrator(tmp_path: Path) -> None:
    """Share ACLs need an administrator; Samba's default (Everyone: Full) on gated shares is no finding.

    Samba then keeps answering level 502 to everyone: tests/conftest.py resets its workers afterwards."""
    out = tmp_path / "admin.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labadmin"],
        "SHAREAUDIT_DATA_DIR": str(tmp_path),
    }
    run = shareaudit("scan", *HOSTS, "-u", "labadmin", "--no-crawl", "--json", str(out), env=env)
    assert run.code == 0, run.text
    found = {
        (f["host"], f["share"], f["identity"]) for f in _findings(out) if f["rule"] == "broad-share-acl-write"
    }
    assert found == {
        (NAS, "scans", "Everyone"),  # sharesec Everyone FULL, and Everyone full control on the folder
        (ACL, "research", "NT AUTHORITY\\Authenticated Users"),  # both ACLs grant it
        (ACL, "depts", "Everyone"),  # the share default, with Everyone CHANGE on the folder
    }


# --- the report in a real browser -----------------------------------------------------------------------
def test_lab_report_opens_cleanly_in_chromium(lab_scan: tuple[Run, Path], tmp_path: Path) -> None:
    report = lab_scan[1] / "report.html"
    with Chromium(tmp_path / "profile") as browser:
        browser.open(report)
        ready = browser.evaluate("document.getElementById('findings-browser').dataset.ready")
        text = browser.evaluate("document.querySelector('main').textContent")
        # Open every finding of the first page: the script inserts evidence and steps from the data.
        browser.evaluate(
            "(() => { let n = 0, b; while ((b = document.querySelector('button.toggle[aria-expanded=false]'))"
            " && n++ < 60) b.click(); return n; })()"
        )
        browser.settle(0.5)
        details = browser.evaluate("document.querySelectorAll('tr.detail').length")
        # The report's own SVG (door maps, charts, legend swatches) carries its class; any other is injected.
        injected = browser.evaluate(
            "document.querySelectorAll('img, svg:not(.doormap-svg):not(.chart-svg):not(.swatch), iframe, object,"
            " embed').length"
        )
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(ARTIFACTS / "findings-lab-report-top.png", full_page=False)
        # Off-screen hosts are not laid out (content-visibility: auto); lay everything out for the picture.
        browser.evaluate(SHOW_ALL)
        browser.screenshot(ARTIFACTS / "findings-lab-report.png")
        problems, requests = browser.report.problems, browser.report.requests
    assert problems == []
    assert requests == [report.resolve().as_uri()]  # nothing but the file itself
    assert ready == str(len(_findings(lab_scan[1] / "scan.json")))
    assert '<img src=x onerror=alert(1)> "research" & co' in text  # the labacl remark, as text
    assert details == 50 and injected == 0


def test_an_interrupted_scan_reports_what_it_did_not_reach(tmp_path: Path, silent_server: int) -> None:
    out = tmp_path / "out"
    stalled = f"127.0.0.1:{silent_server}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shareaudit",
            "scan",
            FS,
            stalled,
            "-u",
            "labaudit",
            "--timeout",
            "10",
            "-o",
            str(out),
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = out / "scan.json.journal"  # the run's live record: a header line, then one line per host
    deadline = time.monotonic() + 60
    reached = False
    while not reached and time.monotonic() < deadline and proc.poll() is None:
        # wait until the quick host is in the journal while the other still hangs
        reached = journal.exists() and len(journal.read_text().splitlines()) == 2
        if not reached:
            time.sleep(0.1)
    if not reached:
        proc.kill()
        _, err = proc.communicate(timeout=60)
        pytest.fail(
            f"{FS} was not in {journal} within 60 s while the other target hung (exit {proc.returncode}): {err}"
        )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    findings = _findings(out / "scan.json")
    assert ("target-not-scanned", stalled, "high") in [
        (f["rule"], f["host"], f["severity"]) for f in findings
    ]
    assert "medical-data-inventory" in {f["rule"] for f in findings}  # what was gathered is still judged
    assert (out / "report.html").exists() and (out / "findings.csv").exists()
