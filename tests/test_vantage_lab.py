"""Vantage points against the lab: two real scans labelled with where they ran, merged into one report.

The office scanner scans labnas and labfs with the audit account; the guest Wi-Fi scanner (untrusted in
the config) scans labnas and an address where nothing listens, as anonymous and guest only. Both run on
this machine, so what differs between the two vantage points is what each run was asked and could do,
not the network path: the merge has to keep each run's own measurements, per vantage point, and judge
the untrusted one by what it reached.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chromium import Chromium
from clirun import Run, shareaudit
from dicomdata import MARKER, PATIENT_IDS, PATIENT_NAMES
from labdata import LABFS, LABNAS, PASSWORDS, PATIENT_MARKERS, UNUSED_ADDRESSES

from shareaudit.audit import history

pytestmark = pytest.mark.usefixtures("lab", "dicomlab")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
NAS, FS, NOBODY = LABNAS.address, LABFS.address, UNUSED_ADDRESSES[0]
CONFIG = """
[scan]
protocols = ["smb", "dicom"]

[dicom]
ports = [11112]

[vantage.guest-wifi]
trusted = false

[vantage.office]
trusted = true
"""


@dataclass(frozen=True)
class Lab:
    """The two scans, their merge, and where everything was written."""

    dir: Path
    office: Run
    guest: Run
    merge: Run

    def json(self, name: str) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.dir / name).read_text())
        return data

    @property
    def history(self) -> Path:
        return self.dir / "history.sqlite"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    # One data directory: both scanners redact with the same key, as docs/scheduling.md asks.
    return {"PATH": "/usr/bin:/bin", "SHAREAUDIT_DATA_DIR": str(tmp / "data"), **extra}


def _scan(tmp: Path, vantage: str, *args: str, **env: str) -> Run:
    return shareaudit(
        "scan",
        *args,
        "--vantage",
        vantage,
        "--config",
        str(tmp / "audit.toml"),
        "--history",
        str(tmp / "history.sqlite"),
        "-q",
        env=_env(tmp, **env),
    )


@pytest.fixture(scope="module")
def lab_runs(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    tmp = tmp_path_factory.mktemp("vantage")
    (tmp / "audit.toml").write_text(CONFIG)
    office = _scan(
        tmp,
        "office",
        NAS,
        FS,
        "-u",
        "labaudit",
        "--json",
        str(tmp / "office.json"),
        SHAREAUDIT_PASSWORD=PASSWORDS["labaudit"],
    )
    guest = _scan(tmp, "guest-wifi", NAS, NOBODY, "--json", str(tmp / "guest.json"))
    merge = shareaudit(
        "merge",
        str(tmp / "office.json"),
        str(tmp / "guest.json"),
        "--config",
        str(tmp / "audit.toml"),
        "-o",
        str(tmp / "merged"),
        env=_env(tmp, COLUMNS="200"),
    )
    return Lab(tmp, office, guest, merge)


def _findings(data: dict[str, object], rule: str) -> dict[tuple[str, str | None], str]:
    found = [f for f in data["findings"] if f["rule"] == rule]  # type: ignore[attr-defined]
    places = {(f["host"], f["share"] or _door(f["evidence"])): f["severity"] for f in found}
    assert len(places) == len(found), found  # one finding per door here (a single untrusted vantage point)
    return places


def _door(evidence: str) -> str:
    match = re.search(r"(DICOM port \d+)", evidence)
    return match.group(1) if match else "?"


def test_both_scans_and_the_merge_run(lab_runs: Lab) -> None:
    assert lab_runs.office.code == 0, lab_runs.office.text
    # 127.0.0.14 refuses from the guest Wi-Fi, which only that untrusted vantage point tried: kept out,
    # as segmentation intends, not a failed target (exit 0, not 3).
    assert lab_runs.guest.code == 0, lab_runs.guest.text
    assert lab_runs.merge.code == 0, lab_runs.merge.text
    assert lab_runs.merge.err == ""
    assert sorted(p.name for p in (lab_runs.dir / "merged").iterdir()) == [
        "findings.csv",
        "report.html",
        "scan.json",
    ]


def test_each_run_says_where_it_ran(lab_runs: Lab) -> None:
    office, guest = lab_runs.json("office.json"), lab_runs.json("guest.json")
    assert office["vantage"] == "office" and guest["vantage"] == "guest-wifi"
    assert [(v["name"], v["trusted"]) for v in guest["vantages"]] == [("guest-wifi", False)]  # type: ignore[attr-defined]
    kept_out = [f for f in guest["findings"] if f["rule"] == "target-not-scanned"]  # type: ignore[attr-defined]
    assert [(f["host"], f["severity"]) for f in kept_out] == [(NOBODY, "info")]


def test_the_merge_keeps_each_vantage_points_own_measurements(lab_runs: Lab) -> None:
    merged = lab_runs.json("merged/scan.json")
    office, guest = lab_runs.json("office.json"), lab_runs.json("guest.json")
    assert merged["vantage"] is None
    assert [(v["name"], v["trusted"], Path(v["source"]).name) for v in merged["vantages"]] == [  # type: ignore[attr-defined]
        ("office", True, "office.json"),
        ("guest-wifi", False, "guest.json"),
    ]
    hosts = {h["address"]: h for h in merged["hosts"]}  # type: ignore[attr-defined]
    assert sorted(hosts) == sorted([NAS, FS, NOBODY])
    assert [v["vantage"] for v in hosts[NAS]["views"]] == ["office", "guest-wifi"]
    assert [v["vantage"] for v in hosts[FS]["views"]] == ["office"]
    assert [(v["vantage"], v["error_kind"]) for v in hosts[NOBODY]["views"]] == [("guest-wifi", "refused")]
    # Each view is exactly what its own run measured: share by share, identity by identity.
    for run, view in ((office, hosts[NAS]["views"][0]), (guest, hosts[NAS]["views"][1])):
        [nas] = [h for h in run["hosts"] if h["address"] == NAS]  # type: ignore[attr-defined]
        assert view["access"] == {s["name"]: s["access"] for s in nas["shares"]}
        assert view["services"] == nas["services"]
    # The union has the audit account's reach (office) and the walk of imaging (only it could read it).
    imaging = next(s for s in hosts[NAS]["shares"] if s["name"] == "imaging")
    assert imaging["access"]["audit"]["read"] and imaging["content"]["crawled_as"] == "audit"
    assert "audit" not in hosts[NAS]["views"][1]["access"]["imaging"]


def test_the_rule_fires_only_for_what_the_untrusted_vantage_reached(lab_runs: Lab) -> None:
    merged = _findings(lab_runs.json("merged/scan.json"), "untrusted-vantage")
    assert merged == {
        (NAS, "public"): "critical",  # anonymous and guest read medical data from the guest Wi-Fi
        (NAS, "pacs$"): "critical",
        (NAS, "scans"): "high",  # anonymous and guest write there; no medical data
        (
            NAS,
            "imaging",
        ): "medium",  # medical data (walked from the office) behind the SMB door that answers there
        (NAS, "DICOM port 11112"): "critical",  # the open PACS answers a study query there
    }  # labfs holds medical data too (clinical), but the guest Wi-Fi never reached it: no finding
    # The guest Wi-Fi's own run knows nothing of imaging's content; the office run is trusted: nothing.
    guest = _findings(lab_runs.json("guest.json"), "untrusted-vantage")
    assert guest == {k: v for k, v in merged.items() if k != (NAS, "imaging")}
    assert _findings(lab_runs.json("office.json"), "untrusted-vantage") == {}
    # The other rules judge the union: the office's view of labfs is in the merged result.
    assert "clinical" in {
        f["share"] for f in lab_runs.json("merged/scan.json")["findings"] if f["host"] == FS
    }  # type: ignore[attr-defined]


class _Tables(HTMLParser):
    """The 'Reachable from' tables of the report: per host heading, rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._in: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "reach") in attrs:
            self._in = []
            self.tables.append(self._in)
        elif self._in is not None and tag == "tr":
            self._in.append([])
        elif self._in is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in = None
        elif tag in ("td", "th") and self._in is not None and self._cell is not None:
            self._in[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_the_report_shows_per_host_and_door_which_vantage_reached_it(lab_runs: Lab) -> None:
    parser = _Tables()
    parser.feed((lab_runs.dir / "merged" / "report.html").read_text())
    nas, fs, nobody = ({row[0]: row[1:] for row in table} for table in parser.tables)
    assert nas["door"] == ["office", "guest-wifi (untrusted)"]
    assert nas["SMB 445"] == ["answers", "answers"]
    assert nas["share public"] == ["audit R, anonymous R, guest R", "anonymous R, guest R"]
    assert nas["share imaging"] == ["audit R", "listed, nobody connects"]
    assert nas["DICOM 11112"][1].startswith("answers; unknown AE accepted; studies 3")
    assert "DICOM 104" not in nas  # answered from nowhere: not a door
    assert fs["share clinical"] == ["audit R", "not scanned from there"]
    assert nobody["SMB 445"][0] == "not scanned from there" and nobody["SMB 445"][1].startswith("no: ")
    out = lab_runs.merge.out
    assert "Merged from 2 runs: office (" in out and "guest-wifi (untrusted; " in out
    assert f"Reach of {NAS} by vantage point" in out and f"Reach of {FS} by vantage point" in out


def test_the_merged_report_opens_cleanly_in_chromium(lab_runs: Lab, tmp_path: Path) -> None:
    report = lab_runs.dir / "merged" / "report.html"
    with Chromium(tmp_path / "profile") as browser:
        browser.open(report)
        browser.evaluate(
            "document.querySelectorAll('.host').forEach(e => e.style.contentVisibility = 'visible')"
        )
        tables = browser.evaluate("document.querySelectorAll('table.reach').length")
        bad = browser.evaluate("document.querySelectorAll('table.reach td.bad').length")
        browser.evaluate("document.querySelector('table.reach').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "vantage-merged-report-reach.png", full_page=False)
        problems, requests = browser.report.problems, browser.report.requests
    assert problems == [] and requests == [report.resolve().as_uri()]
    assert tables == 3 and bad > 0


def test_history_keeps_the_vantage(lab_runs: Lab, tmp_path: Path) -> None:
    with sqlite3.connect(lab_runs.history) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == history.schema_version()
        runs = db.execute("SELECT id, vantage FROM runs ORDER BY id").fetchall()
    db.close()
    assert [vantage for _, vantage in runs] == ["office", "guest-wifi"]
    listed = shareaudit(
        "history", "--history", str(lab_runs.history), "--vantage", "guest-wifi", env=_env(tmp_path)
    )
    assert listed.code == 0 and "guest-wifi" in listed.out and "office" not in listed.out
    # A second office run is compared with the first office run, not with the guest Wi-Fi run between them.
    again = _scan(
        lab_runs.dir, "office", NAS, "--no-crawl", "--protocols", "smb", "--json", str(tmp_path / "o2.json")
    )
    assert again.code in (0, 1), again.text
    diff = shareaudit("diff", "--history", str(lab_runs.history), env=_env(tmp_path))
    first_office = runs[0][0]
    assert diff.code == 0 and diff.out.startswith(f"run {first_office} ("), diff.text
    assert ", from vantage point office)" in diff.out.splitlines()[0]


def test_no_patient_name_reaches_the_merged_outputs(lab_runs: Lab) -> None:
    merged = lab_runs.dir / "merged"
    texts = [
        lab_runs.merge.out,
        *(
            (merged / name).read_text(encoding="utf-8-sig")
            for name in ("scan.json", "report.html", "findings.csv")
        ),
    ]
    for text in texts:
        for secret in (MARKER, *PATIENT_NAMES, *PATIENT_IDS, *PATIENT_MARKERS, PASSWORDS["labaudit"]):
            assert secret not in text


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("audit.toml", "{p} is not JSON: "),
        (
            "merged/scan.json",
            "{p} is already a merged result (vantage points office, guest-wifi): merge the scan files",
        ),
        ("nowhere.json", "cannot read {p}: No such file or directory"),
    ],
)
def test_bad_input_to_merge_is_one_line(lab_runs: Lab, tmp_path: Path, second: str, message: str) -> None:
    bad = lab_runs.dir / second
    run = shareaudit(
        "merge", str(lab_runs.dir / "office.json"), str(bad), "-o", str(tmp_path / "out"), env=_env(tmp_path)
    )
    assert run.code == 2 and run.out == ""
    assert run.err.startswith(f"shareaudit: error: {message.format(p=bad)}"), run.err
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert not (tmp_path / "out").exists()


def test_a_bad_vantage_name_is_one_line(tmp_path: Path) -> None:
    run = shareaudit("scan", NAS, "--vantage", "guest\twifi", "--no-history", env=_env(tmp_path))
    assert run.code == 2 and run.out == ""
    assert run.err == (
        "shareaudit: error: --vantage: 'guest\\twifi' is not a vantage point name: use 1 to 63 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit (e.g. office-vlan)\n"
    )
