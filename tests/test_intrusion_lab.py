"""Signs that someone is already in, and keys under the mat, against the lab (issue 14): every stand-in that
tests/lab/populate.py plants is found with its severity, nothing else is, and neither a planted secret nor a
patient marker appears in any output (terminal, --debug log, JSON, HTML, CSV, inventory, history)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import Run, shareaudit
from labdata import LABACL, LABFS, LABNAS, PASSWORDS, PATIENT_MARKERS
from populate import COERCION_HOST, INERT_WALLET, LOCKED_FILES

pytestmark = pytest.mark.usefixtures("lab")

HOSTS = (LABNAS.address, LABFS.address, LABACL.address)
NAS = LABNAS.address

# (rule, share, path) -> severity: the stand-ins of populate.plant_intrusion (scans: guest-writable, no
# medical data) and the scan-to-folder settings and address book in print$ (guest-readable), both with the
# password of labscan, which is this scan's printer identity and reads the medical data in imaging.
PLANTED = {
    ("intrusion-coin-miner", "scans", "xmrig\\config.json"): "high",
    ("intrusion-dropped-executable", "scans", "cleanup.sh"): "high",
    ("intrusion-dropped-executable", "scans", "kworkerd"): "high",  # /bin/true, found by its ELF header
    ("intrusion-ransom-note", "scans", "2024-03\\HOW_TO_RECOVER_FILES.txt"): "critical",  # next to a sweep
    ("intrusion-encryption-sweep", "scans", "2024-03"): "critical",
    ("intrusion-coercion-file", "scans", "@inventory.scf"): "high",
    ("credentials-readable", "print$", "scan_to_folder.ini"): "critical",
    ("credentials-readable", "print$", "MFP_2F_addr.csv"): "critical",
}
FAMILY = ("intrusion-", "credentials-")
SECRETS = [password for password in PASSWORDS.values() if password] + [INERT_WALLET]


def _env(tmp: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
        "SHAREAUDIT_DATA_DIR": str(tmp / "data"),
    }


@pytest.fixture(scope="module")
def lab_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """One --debug scan of three lab servers with a printer account: JSON, HTML, CSV, inventory, history."""
    tmp = tmp_path_factory.mktemp("intrusion")
    out = tmp / "out"
    run = shareaudit(
        "--debug",
        "scan",
        *HOSTS,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "-o",
        str(out),
        "--inventory",
        str(tmp / "inventory.jsonl"),
        env=_env(tmp),
    )
    return run, tmp


def _scan(lab_scan: tuple[Run, Path]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((lab_scan[1] / "out" / "scan.json").read_text())
    return document


def _ours(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["rule"].startswith(FAMILY)]


def test_every_stand_in_is_found_with_its_severity_and_nothing_else(lab_scan: tuple[Run, Path]) -> None:
    run, _ = lab_scan
    assert run.code == 0, run.text[-3000:]
    found = {
        (f["rule"], f["share"], f["path"]): f["severity"] for f in _ours(_scan(lab_scan)) if f["host"] == NAS
    }
    assert found == PLANTED
    elsewhere = [(f["host"], f["rule"], f["path"]) for f in _ours(_scan(lab_scan)) if f["host"] != NAS]
    assert (
        elsewhere == []
    )  # labfs and labacl hold no sign and no credential (labacl's passwords_old.txt is prose)


def test_the_facts_are_in_the_json(lab_scan: tuple[Run, Path]) -> None:
    shares = {
        s["name"]: s for s in next(h for h in _scan(lab_scan)["hosts"] if h["address"] == NAS)["shares"]
    }
    scans = shares["scans"]["content"]
    assert scans["crawled_as"] == "anonymous"
    assert scans["intrusion_counts"] == {
        "coercion_file": 1,
        "coin_miner": 1,
        "dropped_executable": 2,
        "encryption_sweep": 1,
        "ransom_note": 1,
    }
    sweep = next(s for s in scans["intrusion"] if s["kind"] == "encryption_sweep")
    assert (sweep["extension"], sweep["files"], sweep["drop"]) == ("locked", LOCKED_FILES, False)
    scf = next(s for s in scans["intrusion"] if s["kind"] == "coercion_file")
    assert (scf["target"], scf["directory"], scf["drop"]) == (COERCION_HOST, "", True)
    # config.json, cleanup.sh, @inventory.scf and kworkerd (one read for both checks), and the ransom
    # note HOW_TO_RECOVER_FILES.txt, whose head the medical classifier reads too (.txt anywhere)
    assert scans["sniffed"] == 5
    assert not scans["truncated"] and scans["credentials"] == []
    printers = shares["print$"]["content"]
    assert printers["credentials_found"] == 2
    kinds = {
        c["path"]: (c["kind"], [(s["kind"], s["account"]) for s in c["secrets"]])
        for c in printers["credentials"]
    }
    assert kinds == {
        "scan_to_folder.ini": ("scan_to_folder", [("password", "labscan")]),
        "MFP_2F_addr.csv": ("scan_to_folder", [("password", "labscan")]),
    }
    # The same password in two files has the same keyed fingerprint: proven, compared, never repeated.
    fingerprints = {s["fingerprint"] for c in printers["credentials"] for s in c["secrets"]}
    assert len(fingerprints) == 1 and next(iter(fingerprints)).startswith("[secret:")


def test_the_credential_finding_says_what_the_account_reaches(lab_scan: tuple[Run, Path]) -> None:
    finding = next(
        f
        for f in _ours(_scan(lab_scan))
        if f["rule"] == "credentials-readable" and f["path"] == "MFP_2F_addr.csv"
    )
    assert finding["identity"] == "anonymous"
    evidence = finding["evidence"]
    assert "for labscan [secret:" in evidence and "labscan is this scan's identity printer" in evidence
    assert "reads" in evidence and "imaging" in evidence and "writes scans, print$" in evidence
    assert "medical data in" in evidence
    assert finding["remediation"]["samba"][0].startswith("Reset the password")


def test_intrusion_remediation_starts_with_incident_response(lab_scan: tuple[Run, Path]) -> None:
    for finding in _ours(_scan(lab_scan)):
        if finding["rule"].startswith("intrusion-"):
            first = finding["remediation"][finding["platform"]][0]
            assert first.startswith("Isolate"), (finding["rule"], first)


def test_no_planted_secret_or_patient_marker_in_any_output(lab_scan: tuple[Run, Path]) -> None:
    run, tmp = lab_scan
    outputs = {
        "stdout": run.out,
        "stderr (--debug)": run.err,
        **{p.name: p.read_text(encoding="utf-8-sig") for p in (tmp / "out").iterdir()},
        "inventory": (tmp / "inventory.jsonl").read_text(),
        "history": (tmp / "data" / "history.sqlite").read_bytes().decode("latin-1"),
    }
    assert set(outputs) >= {"scan.json", "report.html", "findings.csv"}
    assert "DEBUG" in run.err and "[secret:" in outputs["scan.json"] and "[secret:" in outputs["findings.csv"]
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"a planted secret is in {name}"
        for marker in PATIENT_MARKERS:
            assert marker not in text, f"a patient marker ({marker}) is in {name}"
    history = shareaudit("history", env=_env(tmp))
    assert history.code == 0, history.text
    assert not any(secret in history.text for secret in SECRETS)


def test_the_report_re_renders_the_same_findings_offline(lab_scan: tuple[Run, Path], tmp_path: Path) -> None:
    run = shareaudit(
        "report",
        str(lab_scan[1] / "out" / "scan.json"),
        "--json",
        str(tmp_path / "again.json"),
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.code == 0, run.text
    again = json.loads((tmp_path / "again.json").read_text())
    assert _ours(again) == _ours(_scan(lab_scan))


def test_no_sniff_keeps_what_the_names_alone_show(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan",
        NAS,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "--include-share",
        "scans",
        "--no-sniff",
        "--json",
        str(out),
        env=_env(tmp_path),
    )
    assert run.code == 0, run.text
    document = json.loads(out.read_text())
    found = {(f["rule"], f["path"]) for f in _ours(document)}
    # cleanup.sh, the ransom note and the sweep show in their names; the ELF, the miner config and the
    # .scf need their first bytes, which --no-sniff does not read.
    assert found == {
        ("intrusion-dropped-executable", "cleanup.sh"),
        ("intrusion-ransom-note", "2024-03\\HOW_TO_RECOVER_FILES.txt"),
        ("intrusion-encryption-sweep", "2024-03"),
    }
    scans = next(s for s in document["hosts"][0]["shares"] if s["name"] == "scans")["content"]
    assert scans["sniffed"] == 0
