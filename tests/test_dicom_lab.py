"""The DICOM door against real servers (tests/lab/dicomlab.py): the permissive Orthanc on labnas is found
and its studies counted, the hardened one on labfs passes with nothing but its posture, no patient
identifier reaches any output, a default scan leaves the archives as they were, dead ports fail fast."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dicomlab
import pytest
from clirun import Run, full_scan, lab_env, shareaudit
from dicomdata import HARDENED, KNOWN_MODALITY, PATIENT_IDS, PATIENT_NAMES, PERMISSIVE, expected_counts
from labdata import LABFS, LABNAS, UNUSED_ADDRESSES

pytestmark = pytest.mark.usefixtures("lab", "dicomlab")

NAS, FS = LABNAS.address, LABFS.address
assert (PERMISSIVE.address, HARDENED.address) == (NAS, FS)  # one host, two doors
# Everything that would identify the synthetic patients: names, IDs, and the marker they all carry.
IDENTIFIERS = (
    *PATIENT_NAMES,
    *PATIENT_IDS,
    *(n.split("^")[0] + "^" for n in PATIENT_NAMES),  # the family name as DICOM writes it
    *(n.split("^")[1] for n in PATIENT_NAMES),  # the given names: JANE, RICHARD, EDGAR
    "DICOMTEST",
)


def _state() -> dict[str, Any]:
    """What the archives hold, asked over REST (never over DICOM): study counts and storage files."""
    return {s.name: (dicomlab.study_count(s), dicomlab.storage_snapshot(s)) for s in (PERMISSIVE, HARDENED)}


def _services(data: dict[str, Any], address: str) -> dict[int, dict[str, Any]]:
    host = next(h for h in data["hosts"] if h["address"] == address)
    return {s["port"]: s for s in host["services"] if s["protocol"] == "dicom"}


def _dicom_findings(data: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    return {f["rule"]: f for f in data["findings"] if f["host"] == host and f["rule"].startswith("dicom")}


@pytest.fixture(scope="module")
def default_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Path, dict[str, Any], Any]]:
    """One default scan of labnas and labfs (both doors, every output, --debug logging), and the archives'
    state before and after it."""
    tmp = tmp_path_factory.mktemp("dicom")
    out = tmp / "out"
    before = _state()
    run, data = full_scan(out, NAS, FS, "-u", "labaudit", "--dicom-ae", HARDENED.aet, env=lab_env(tmp))
    after = _state()
    yield run, out, data, (before, after)


def test_one_host_shows_both_doors(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    run, _, data, _ = default_scan
    assert run.code == 0, run.text[-3000:]
    nas = next(h for h in data["hosts"] if h["address"] == NAS)
    assert nas["error"] is None and nas["posture"]["smb1"] is True and len(nas["shares"]) == 10
    dicom = {s["port"]: s["reachable"] for s in nas["services"] if s["protocol"] == "dicom"}
    assert dicom == {104: False, 11112: True, 4242: False}
    assert data["options"]["protocols"] == ["smb", "dicom", "ftp", "nfs"]
    assert data["options"]["dicom"] == {
        "ports": [104, 11112, 4242],
        "ae_titles": ["HARDPACS"],
        "max_studies": 10000,
    }
    assert "DICOM" in run.out and "11112" in run.out  # the terminal summary's DICOM table


def test_the_permissive_pacs_is_found_and_its_studies_counted(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    _, out, data, _ = default_scan
    dicom = _services(data, NAS)[PERMISSIVE.port]["dicom"]
    assert (dicom["transport"], dicom["any_calling_ae"], dicom["any_called_ae"]) == ("plain", True, True)
    assert dicom["server_ae"] == PERMISSIVE.aet and dicom["echo"] is True
    assert dicom["implementation_version"].startswith("OFFIS_DCMTK")  # Orthanc speaks through DCMTK
    assert dicom["contexts"] == {"verification": True, "find": True, "move": True, "get": True, "store": True}
    query = dicom["query"]
    assert query["outcome"] == "answered" and not query["truncated"]
    expected = expected_counts(PERMISSIVE)
    assert {key: query[key] for key in expected} == expected
    # C-GET with no storage context: Orthanc sets out to send (and cannot); C-MOVE to a random AE: refused.
    assert (dicom["get"]["outcome"], dicom["get"]["study"]) == ("accepted", "seen")
    assert dicom["get"]["sub_operations"] >= 1
    assert dicom["move"]["outcome"] == "refused"
    found = {rule: (f["severity"], f["platform"]) for rule, f in _dicom_findings(data, NAS).items()}
    assert found == {
        "dicom-open-query": ("critical", "orthanc"),
        "dicom-open-retrieve": ("critical", "orthanc"),
        "dicom-any-ae": ("high", "orthanc"),
        "dicom-no-tls": ("medium", "orthanc"),
    }
    evidence = _dicom_findings(data, NAS)["dicom-open-query"]["evidence"]
    assert "3 studies (CR 1, CT 1, MR 1, SR 1), 2019-03-14 to 2023-01-02, 4 series, 6 images" in evidence
    page = (out / "report.html").read_text()
    assert "DICOM port 11112" in page and "DICOM port 4242" in page


def test_the_hardened_pacs_passes_with_nothing_but_its_posture(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    _, _, data, _ = default_scan
    service = _services(data, FS)[HARDENED.port]
    dicom = service["dicom"]
    assert service["reachable"] and service["error"] is None
    assert (dicom["transport"], dicom["tls_version"]) == ("tls", "TLSv1.3")
    assert (dicom["any_calling_ae"], dicom["any_called_ae"], dicom["called_ae"], dicom["query"]) == (
        False,
        False,
        None,
        None,
    )
    assert [(a["called_ae"], a["outcome"], a["reason"]) for a in dicom["attempts"]] == [
        (dicom["attempts"][0]["called_ae"], "rejected", "called ae title not recognised"),
        (HARDENED.aet, "rejected", "calling ae title not recognised"),  # --dicom-ae: the AE check measured
    ]
    assert _dicom_findings(data, FS) == {}
    assert [f["rule"] for f in data["findings"] if f["host"] == FS] == [
        "no-lockout-policy",
        "weak-password-policy",
        "medical-data-inventory",
    ]


def test_the_hardened_pacs_does_answer_the_modality_it_knows() -> None:
    """The control: the server that refused the scan works for LABRIS from 127.0.0.1 (over TLS)."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE

    from shareaudit.collect.dicom.association import STUDY_ROOT_FIND
    from shareaudit.collect.dicom.first_contact import tls_context

    aet, source = KNOWN_MODALITY
    ae = AE(ae_title=aet)
    ae.add_requested_context(STUDY_ROOT_FIND)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate(
        HARDENED.address,
        HARDENED.port,
        ae_title=HARDENED.aet,
        bind_address=(source, 0),
        tls_args=(tls_context(), HARDENED.address),
    )
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    answers = [ident for status, ident in assoc.send_c_find(query, STUDY_ROOT_FIND) if ident is not None]
    assoc.release()
    assert len(answers) == len(HARDENED.studies)


def test_no_patient_identifier_reaches_any_output(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    run, out, _, _ = default_scan
    written = sorted(p.name for p in out.iterdir())
    assert {"scan.json", "report.html", "findings.csv", "inventory.jsonl", "history.sqlite"} <= set(written)
    texts = {"stdout": run.out, "stderr (--debug log)": run.err}
    for path in out.iterdir():
        texts[path.name] = path.read_bytes().decode("utf-8", errors="replace")
    with sqlite3.connect(out / "history.sqlite") as db:  # the history's rows too, not only its bytes
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        texts["history rows"] = "\n".join(repr(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)
    assert "DICOM" in run.err  # the debug log did talk about DICOM
    leaks = {
        (name, marker)
        for name, text in texts.items()
        for marker in IDENTIFIERS
        if marker.lower() in text.lower()
    }
    assert not leaks


def test_a_default_scan_changes_nothing_in_the_archives(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    before, after = default_scan[3]
    assert before == after
    assert before[PERMISSIVE.name][0] == len(PERMISSIVE.studies)


def test_smb_refused_but_dicom_answering_is_not_a_failed_target(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit("scan", f"{NAS}:4455", "--no-crawl", "--json", str(out), env=lab_env(tmp_path))
    assert run.code == 0, run.text  # findings, no --fail-on: and the target did not fail
    host = json.loads(out.read_text())["hosts"][0]
    assert (host["reachable"], host["error"], host["posture"]) == (True, None, None)
    smb = host["services"][0]
    assert (smb["protocol"], smb["port"], smb["reachable"], smb["error_kind"]) == (
        "smb",
        4455,
        False,
        "refused",
    )
    findings = {f["rule"] for f in json.loads(out.read_text())["findings"]}
    assert "target-not-scanned" not in findings and "dicom-open-query" in findings
    assert "0 failed" in run.out


def test_dead_and_silent_servers_fail_fast_with_one_line(tmp_path: Path, silent_server: int) -> None:
    out = tmp_path / "scan.json"
    started = time.monotonic()
    run = shareaudit(
        "scan",
        NAS,
        UNUSED_ADDRESSES[0],
        "127.0.0.1",
        "--protocols",
        "dicom",
        "--dicom-port",
        str(silent_server),
        "--timeout",
        "2",
        "--json",
        str(out),
        env=lab_env(tmp_path),
    )
    elapsed = time.monotonic() - started
    assert run.code == 3, run.text  # two targets where nothing answers DICOM
    hosts = {h["address"]: h for h in json.loads(out.read_text())["hosts"]}
    unused = hosts[UNUSED_ADDRESSES[0]]
    assert not unused["reachable"] and unused["error"].startswith(
        "no service answered (dicom 104: connection refused"
    )
    for service in unused["services"]:
        assert (service["reachable"], service["error_kind"]) == (False, "refused")
        assert "\n" not in service["error"] and service["elapsed_s"] < 1
    silent = {s["port"]: s for s in hosts["127.0.0.1"]["services"]}[silent_server]
    assert (silent["reachable"], silent["error_kind"]) == (False, "timeout")
    assert silent["error"] == "connected, but no DICOM answer within 2 s"
    assert silent["elapsed_s"] < 2 * 2 + 1  # one timeout for the answer (the connect was immediate)
    # The other ports of the same scan went on: labnas's PACS is found, without SMB (--protocols dicom).
    nas = hosts[NAS]
    assert nas["posture"] is None and nas["error"] is None
    assert _services(json.loads(out.read_text()), NAS)[PERMISSIVE.port]["dicom"]["query"]["studies"] == 3
    assert elapsed < 60  # a generous ceiling: ports are probed in parallel, a dead one costs no timeout


def test_counting_stops_at_the_bound(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan",
        NAS,
        "--protocols",
        "dicom",
        "--dicom-max-studies",
        "2",
        "--json",
        str(out),
        env=lab_env(tmp_path),
    )
    assert run.code == 0, run.text
    data = json.loads(out.read_text())
    query = _services(data, NAS)[PERMISSIVE.port]["dicom"]["query"]
    assert (query["studies"], query["truncated"], query["outcome"]) == (2, True, "answered")
    assert (
        "at least 2 studies (counting stopped at the bound)"
        in _dicom_findings(data, NAS)["dicom-open-query"]["evidence"]
    )


def test_protocols_selects_the_doors(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", NAS, "--protocols", "smb", "--no-crawl", "--json", str(out), env=lab_env(tmp_path)
    )
    assert run.code == 0, run.text
    data = json.loads(out.read_text())
    assert data["hosts"][0]["services"] == [] and data["options"]["dicom"] is None
    assert not [f for f in data["findings"] if f["rule"].startswith("dicom")]
    bad = shareaudit("scan", NAS, "--protocols", "smb,gopher", env=lab_env(tmp_path))
    assert bad.code == 2 and "unknown protocol 'gopher'" in bad.err
