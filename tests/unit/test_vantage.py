"""Vantage points without a server: names, config, the merge's decisions, the untrusted-vantage rule both
ways, the reach table, the history's vantage, and bad input to `merge` as one line."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from inprocess import cli
from synthetic import READ, REFUSED, WRITE, content, host, posture, rights, share
from synthetic import result as scan_result

from shareaudit import scanfile
from shareaudit.audit.history import History, new_since
from shareaudit.audit.merge import Source, merge
from shareaudit.errors import InputError
from shareaudit.model import (
    Basis,
    DicomFacts,
    Finding,
    FtpFacts,
    FtpTree,
    HostResult,
    IdentityInfo,
    NfsAccess,
    NfsExport,
    NfsFacts,
    ScanResult,
    Service,
    Severity,
    StudyReach,
    Suppression,
    VantagePoint,
)
from shareaudit.plan import config
from shareaudit.render.html import render
from shareaudit.render.vantage import NOT_SCANNED, reach_tables
from shareaudit.rules import evaluate
from shareaudit.rules.coverage import UNSCANNED
from shareaudit.vantage import Door, doors, validate_name, views

LABELS = ("audit", "anonymous", "guest")


def run(*hosts: HostResult, vantage: str | None = None, trusted: bool = True, **fields: object) -> ScanResult:
    """A run of these hosts from a vantage point (with findings, as a scan file has them)."""
    result = scan_result(*hosts, labels=LABELS, **fields)
    if vantage is not None:
        result = replace(result, vantage=vantage, vantages=(VantagePoint(vantage, trusted),))
    return replace(result, findings=evaluate(result))


def merged(*runs: ScanResult, trust: dict[str, bool] | None = None) -> ScanResult:
    return merge([Source(f"run{n}.json", r) for n, r in enumerate(runs)], trust or {}, "tester@here").result


def of(rule: str, result: ScanResult) -> list[Finding]:
    return [f for f in result.findings if f.rule == rule]


def unreachable(target: str = "nas01", address: str = "10.0.0.5", kind: str = "timeout") -> HostResult:
    return HostResult(target, address, 445, False, error="the server did not answer", error_kind=kind)


MEDICAL = content({"dicom": 40})


# --- names and config -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["office-vlan", "guest-wifi", "modality.vlan20", "A", "x" * 63, "vlan_7"])
def test_good_vantage_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "guest wifi", "-leading", ".hidden", "x" * 64, "a/b", "büro", "a\nb", "a\x1b[31m", "a;b"]
)
def test_bad_vantage_names_are_one_line(name: str) -> None:
    with pytest.raises(InputError) as error:
        validate_name(name)
    message = str(error.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith(f"--vantage: {name!r} is not a vantage point name")


def test_config_vantage_tables(tmp_path: Path) -> None:
    path = tmp_path / "audit.toml"
    path.write_text(
        '[scan]\nvantage = "office"\n\n[vantage.guest-wifi]\ntrusted = false\n\n[vantage.office]\n'
    )
    loaded = config.load(path)
    assert config.vantage_trust(loaded) == {"guest-wifi": False, "office": True}
    assert config.scan_defaults(loaded)["vantage"] == "office"
    assert config.vantage_trust(None) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[vantage.guest-wifi]\ntrusted = "no"\n',
            ":2: vantage.guest-wifi.trusted: Input should be a valid boolean",
        ),
        ("[vantage.guest-wifi]\ntrust = false\n", ":2: vantage.guest-wifi.trust: unknown key"),
        ('[vantage."guest wifi"]\n', ':1: vantage."guest wifi": not a vantage point name'),
        ('[scan]\nvantage = "a b"\n', ":2: scan.vantage: not a vantage point name"),
    ],
)
def test_bad_vantage_config_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        config.load(path)
    assert str(error.value).startswith(f"{path}{message}"), str(error.value)


# --- the merge ----------------------------------------------------------------------------------------------

OFFICE = run(
    host(
        "nas01",
        [
            share("public", {"audit": READ, "anonymous": READ, "guest": READ}, content=MEDICAL),
            share("imaging", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED}, content=MEDICAL),
            share("scans", {"audit": WRITE, "anonymous": WRITE, "guest": WRITE}),
        ],
        posture(null=True, guest=True),
    ),
    host("fs01", [share("clinical", {"audit": READ}, content=MEDICAL)], address="10.0.0.6"),
    vantage="office",
)
# The guest Wi-Fi reaches nas01 by its address (another target entry), without an audit account, and
# sees fs01 not at all; the public share is readable there as guest only (hosts allow, say).
GUEST = run(
    host(
        "10.0.0.5",
        [
            share("public", {"anonymous": REFUSED, "guest": READ}, content=content({"dicom": 40}, files=5)),
            share("imaging", {"anonymous": REFUSED, "guest": REFUSED}),
            share("scans", {"anonymous": WRITE, "guest": WRITE}),
        ],
        posture(null=True, guest=True),
    ),
    unreachable("fs01", "10.0.0.6"),
    vantage="guest-wifi",
    trusted=False,
)


def test_hosts_are_matched_by_address_and_keep_each_view() -> None:
    result = merged(OFFICE, GUEST)
    assert [h.target for h in result.hosts] == ["nas01", "fs01"]
    nas, fs = result.hosts
    assert [(v.vantage, v.target) for v in nas.views] == [("office", "nas01"), ("guest-wifi", "10.0.0.5")]
    office, wifi = nas.views
    assert office.access["public"]["anonymous"] == READ and wifi.access["public"]["anonymous"] == REFUSED
    assert "audit" not in wifi.access["public"]
    # fs01 did not answer from the guest Wi-Fi: kept as a view, and the host is not failed
    assert [(v.vantage, v.reachable, v.error_kind) for v in fs.views] == [
        ("office", True, None),
        ("guest-wifi", False, "timeout"),
    ]
    assert fs.reachable and fs.error is None
    assert result.vantage is None
    assert [(v.name, v.trusted, v.source) for v in result.vantages] == [
        ("office", True, "run0.json"),
        ("guest-wifi", False, "run1.json"),
    ]


def test_the_union_takes_the_widest_access_and_the_biggest_walk() -> None:
    nas = merged(GUEST, OFFICE).hosts[0]  # order does not matter for the union
    public = next(s for s in nas.shares if s.name == "public")
    assert public.access["anonymous"] == READ  # office: read; guest Wi-Fi: refused
    assert public.access["guest"] == READ and public.access["audit"] == READ
    assert public.content is not None and public.content.files_seen == 10  # the office walk saw more
    assert [s.name for s in nas.shares] == ["public", "imaging", "scans"]


def test_a_share_path_is_disclosed_to_the_least_privileged_identity_any_vantage_told() -> None:
    told_audit = run(
        host(shares=[share("s", {"audit": READ}, path="D:\\s", path_disclosed_to="audit")]), vantage="a"
    )
    told_guest = run(
        host(shares=[share("s", {"guest": READ}, path="D:\\s", path_disclosed_to="guest")]), vantage="b"
    )
    [nas] = merged(told_audit, told_guest).hosts
    assert (nas.shares[0].path, nas.shares[0].path_disclosed_to) == ("D:\\s", "guest")


def test_a_host_no_vantage_reached_stays_failed() -> None:
    result = merged(run(unreachable(), vantage="a"), run(unreachable(kind="refused"), vantage="b"))
    [nas] = result.hosts
    assert not nas.reachable and nas.error_kind == "timeout"
    assert [f.severity for f in of("target-not-scanned", result)] == ["high"]


@pytest.mark.parametrize(
    ("kind", "trusted", "severity", "code"),
    [
        ("timeout", False, "info", 0),  # kept out of an untrusted segment: segmentation working
        ("refused", False, "info", 0),
        ("unresolved", False, "info", 0),
        ("not_smb", False, "high", 3),  # something else answers there: not kept out
        ("timeout", True, "high", 3),  # a trusted vantage point should have reached it
    ],
)
def test_a_host_kept_out_of_an_untrusted_segment_is_not_a_failed_target(
    kind: str, trusted: bool, severity: str, code: int
) -> None:
    from shareaudit.cli.report import exit_code

    single = run(unreachable(kind=kind), vantage="guest-wifi", trusted=trusted)
    assert [f.severity for f in of("target-not-scanned", single)] == [severity]
    assert exit_code(single, None) == code
    both = merged(single, run(unreachable(kind=kind), vantage="visitor", trusted=trusted))
    assert [f.severity for f in of("target-not-scanned", both)] == [severity]
    assert exit_code(both, None) == code
    if not trusted and severity == "info":
        [finding] = of("target-not-scanned", both)
        assert finding.evidence.startswith(
            "Not reachable from the untrusted vantage point guest-wifi, visitor ("
        )


@pytest.mark.parametrize("unresolved_first", [True, False])
def test_an_unresolved_target_joins_the_host_it_resolved_to_elsewhere(unresolved_first: bool) -> None:
    resolved = run(host("nas01", [share("public", {"guest": READ})]), vantage="office")
    nowhere = run(unreachable("nas01", "nas01", kind="unresolved"), vantage="guest-wifi")
    inputs = (nowhere, resolved) if unresolved_first else (resolved, nowhere)
    [nas] = merged(*inputs).hosts
    assert nas.address == "10.0.0.5" and nas.reachable and nas.error is None
    assert {v.vantage: v.error_kind for v in nas.views} == {"office": None, "guest-wifi": "unresolved"}


def test_services_merge_without_knowing_the_protocol() -> None:
    ftp_open = Service("ftp", 21, True, elapsed_s=0.1)
    ftp_closed = Service("ftp", 21, False, error="connection refused", error_kind="refused")
    smb_absent = Service("smb", 445, False, error="connection refused", error_kind="refused")
    only_ftp = HostResult("nas01", "10.0.0.5", 445, True, services=(smb_absent, ftp_open))
    smb_only = host("nas01", [share("public", {"guest": READ})], services=(ftp_closed,))
    [nas] = merged(run(smb_only, vantage="a"), run(only_ftp, vantage="b")).hosts
    assert nas.services == (ftp_open,)  # answered somewhere wins; SMB "absent" is dropped: it answered in a
    assert nas.posture is not None
    assert [s.protocol for s in nas.views[1].services] == ["smb", "ftp"]  # the view keeps what b saw
    assert Door("ftp", 21) in doors(nas)


def test_the_same_vantage_twice_keeps_the_later_run() -> None:
    early = replace(run(host(shares=[share("public", {"guest": WRITE})]), vantage="office"), finished_at="1")
    late = replace(run(host(shares=[share("public", {"guest": READ})]), vantage="office"), finished_at="2")
    outcome = merge([Source("late.json", late), Source("early.json", early)], {}, "t")
    [nas] = outcome.result.hosts
    assert len(nas.views) == 1 and nas.views[0].access["public"]["guest"] == READ
    assert nas.shares[0].access["guest"] == READ  # the earlier run's wider access is not in the union
    assert outcome.warnings == (
        "nas01: seen from vantage point office in early.json and late.json; the later run (late.json) is kept",
    )


def test_trust_comes_from_the_config_first_then_the_inputs() -> None:
    def trust_of(result: ScanResult) -> dict[str, bool]:
        return {v.name: v.trusted for v in result.vantages}

    assert trust_of(merged(OFFICE, GUEST)) == {"office": True, "guest-wifi": False}
    assert trust_of(merged(OFFICE, GUEST, trust={"guest-wifi": True, "office": False})) == {
        "office": False,
        "guest-wifi": True,
    }
    plain = run(host())  # no --vantage: merged as "unlabelled", trusted unless the config says otherwise
    assert trust_of(merged(OFFICE, plain)) == {"office": True, "unlabelled": True}
    assert trust_of(merged(OFFICE, plain, trust={"unlabelled": False}))["unlabelled"] is False


def test_a_merged_result_is_not_merged_again() -> None:
    twice = merged(OFFICE, GUEST)
    with pytest.raises(InputError, match=r"^run1\.json is already a merged result \(vantage points office, "):
        merged(OFFICE, twice)


def test_identities_options_problems_and_accepted_risks() -> None:
    office = replace(
        OFFICE,
        options={"active_write_probe": False, "show_names": False, "run_by": "a@scanner1"},
        input_problems=("hosts.txt:3: 'x y': not a host",),
    )
    guest = replace(
        GUEST,
        identities=(*GUEST.identities[:2], IdentityInfo("audit", "user", "other")),
        options={"show_names": True, UNSCANNED: ["fs01", "never.example"], "run_by": "b@scanner2"},
    )
    accepted = Suppression("known", "it", "2099-01-01")
    office = replace(office, findings=tuple(replace(f, suppressed=accepted) for f in office.findings))
    outcome = merge([Source("o.json", office), Source("g.json", guest)], {}, "me@laptop")
    result = outcome.result
    assert result.options["show_names"] is True and result.options["active_write_probe"] is False
    assert result.options[UNSCANNED] == ["never.example"]  # fs01 was scanned from the office
    assert result.options["merged_from"] == ["o.json", "g.json"] and result.options["run_by"] == "me@laptop"
    assert [v.run_by for v in result.vantages] == ["a@scanner1", "b@scanner2"]
    assert result.input_problems == ("office: hosts.txt:3: 'x y': not a host",)
    assert [i.label for i in result.identities] == ["audit", "anonymous", "guest"]
    assert any("identity audit is svc-audit in o.json and other in g.json" in w for w in outcome.warnings)
    office_ids = {f.id for f in office.findings}
    kept = [f for f in result.findings if f.id in office_ids]
    assert kept and all(f.suppressed == accepted for f in kept)


def test_a_merged_result_survives_its_json() -> None:
    result = merged(OFFICE, GUEST)
    assert scanfile._converter.structure(json.loads(scanfile.dumps(result)), ScanResult) == result
    data = json.loads(scanfile.dumps(result))
    assert data["vantage"] is None and data["hosts"][0]["views"][1]["vantage"] == "guest-wifi"
    old = json.loads(scanfile.dumps(OFFICE))
    for key in ("vantage", "vantages"):
        del old[key]
    for item in old["hosts"]:
        del item["views"]
    loaded = scanfile._converter.structure(old, ScanResult)  # a file from before vantage points
    assert loaded.vantage is None and loaded.vantages == () and loaded.hosts[0].views == ()


# --- the rule -------------------------------------------------------------------------------------------------


def vantage_findings(result: ScanResult) -> dict[tuple[str, str | None], Finding]:
    return {(f.host, f.share): f for f in of("untrusted-vantage", result)}


def test_the_rule_fires_only_for_what_the_untrusted_vantage_reached() -> None:
    found = vantage_findings(merged(OFFICE, GUEST))
    assert {place: f.severity for place, f in found.items()} == {
        ("nas01", "public"): Severity.CRITICAL,  # guest reads medical data from the guest Wi-Fi
        ("nas01", "imaging"): Severity.MEDIUM,  # the server answers there; nobody of that run read it
        ("nas01", "scans"): Severity.HIGH,  # anonymous and guest write from there
    }  # fs01 (medical data, not reached from the guest Wi-Fi) has none
    assert found[("nas01", "public")].evidence.startswith(
        "From the untrusted vantage point guest-wifi: guest read the share."
    )
    assert "anonymous, guest write to it" in found[("nas01", "scans")].evidence
    steps = found[("nas01", "public")].remediation["samba"]
    assert any("shareaudit scan 10.0.0.5 --vantage guest-wifi" in step for step in steps)
    assert any("tcp dport 445" in step for step in steps)
    # trusted: nothing
    assert vantage_findings(merged(OFFICE, GUEST, trust={"guest-wifi": True})) == {}


def test_severity_follows_who_reached_the_door_from_there() -> None:
    def severity(access: dict[str, object], medical: bool = True) -> Severity | None:
        wifi = run(
            host(shares=[share("s", access, content=MEDICAL if medical else None)]),  # type: ignore[arg-type]
            vantage="wifi",
            trusted=False,
        )
        found = of("untrusted-vantage", wifi)
        return found[0].severity if found else None

    assert severity({"anonymous": READ}) == Severity.CRITICAL
    assert severity({"printer": READ, "anonymous": REFUSED}) == Severity.HIGH
    assert severity({"anonymous": REFUSED}) == Severity.MEDIUM
    assert severity({"guest": WRITE}, medical=False) == Severity.HIGH
    assert severity({"guest": WRITE}) == Severity.CRITICAL
    assert severity({"guest": READ}, medical=False) is None  # nothing medical, nothing to write: no finding
    uncertain = replace(rights(read=True, write=True), basis={"write": Basis.UNCERTAIN})
    assert severity({"guest": uncertain}, medical=False) == Severity.MEDIUM  # a write nobody could confirm


def test_a_single_labelled_run_is_judged_by_its_own_vantage() -> None:
    nas = host(shares=[share("public", {"guest": READ}, content=MEDICAL)])
    assert [f.severity for f in of("untrusted-vantage", run(nas, vantage="wifi", trusted=False))] == [
        "critical"
    ]
    assert of("untrusted-vantage", run(nas, vantage="office")) == []
    assert of("untrusted-vantage", run(nas)) == []  # unlabelled


def dicom_port(studies: int | None, any_ae: bool = True) -> Service:
    query = StudyReach("answered", studies=studies) if studies is not None else None
    return Service("dicom", 11112, True, dicom=DicomFacts("plain", any_calling_ae=any_ae, query=query))


def nfs_port(medical: int | None) -> Service:
    """An NFS door with one export; mounted as nobody unless `medical` is None."""
    access = {"nobody": NfsAccess(mount=medical is not None, list=medical is not None)}
    walked = content({"dicom": medical}) if medical else None
    export = NfsExport("/srv/imaging", ("*",), True, access, content=walked)
    return Service("nfs", 2049, True, nfs=NfsFacts(exports=(export,)))


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        (nfs_port(12), Severity.CRITICAL),
        (nfs_port(0), Severity.HIGH),
        (nfs_port(None), Severity.MEDIUM),
        (dicom_port(3), Severity.CRITICAL),
        (dicom_port(0), Severity.HIGH),
        (dicom_port(None), Severity.HIGH),
        (dicom_port(None, any_ae=False), Severity.MEDIUM),
        (Service("dicom", 11112, False, error="refused"), None),
        (Service("ftp", 21, True), Severity.MEDIUM),  # answers FTP, nobody logged in anonymously
        (
            Service("ftp", 21, True, ftp=FtpFacts("plain", trees=(FtpTree("anonymous", "/", "mlsd", True),))),
            Severity.HIGH,
        ),
        (Service("webdav", 443, True), None),  # a protocol the rule does not understand yet
    ],
)
def test_other_doors_from_an_untrusted_vantage(service: Service, expected: Severity | None) -> None:
    pacs = HostResult("pacs01", "10.0.0.9", 445, True, services=(service,))
    found = of("untrusted-vantage", run(pacs, vantage="wifi", trusted=False))
    assert [f.severity for f in found] == ([expected] if expected else [])


def test_each_untrusted_vantage_is_its_own_finding_with_a_stable_id() -> None:
    other = replace(GUEST, vantage="visitor", vantages=(VantagePoint("visitor", False),))
    first = of("untrusted-vantage", merged(OFFICE, GUEST, other))
    public = [f for f in first if f.share == "public"]
    assert len(public) == 2 and len({f.id for f in public}) == 2
    again = of("untrusted-vantage", merged(OFFICE, other, GUEST))
    assert {f.id for f in first} == {f.id for f in again}


# --- the reach table -------------------------------------------------------------------------------------------


def test_the_reach_table_says_per_door_what_each_vantage_reached() -> None:
    [nas_table, fs_table] = reach_tables(merged(OFFICE, GUEST))
    assert [c.heading for c in nas_table.columns] == ["office", "guest-wifi (untrusted)"]
    rows = {row.door: [(c.text, c.tone) for c in row.cells] for row in nas_table.rows}
    assert rows["SMB 445"] == [("answers", ""), ("answers", "bad")]
    assert rows["share public"] == [("audit R, anonymous R, guest R", ""), ("guest R", "bad")]
    assert rows["share imaging"] == [("audit R", ""), ("listed, nobody connects", "")]
    fs_rows = {row.door: [(c.text, c.tone) for c in row.cells] for row in fs_table.rows}
    assert fs_rows["SMB 445"] == [("answers", ""), ("no: the server did not answer", "good")]
    single = run(host(), vantage="office")
    assert reach_tables(single) == () and views(single, single.hosts[0])[0].vantage == "office"


def test_not_scanned_from_there_is_not_no_answer() -> None:
    elsewhere = run(host("fs02", address="10.0.0.7"), vantage="guest-wifi")
    tables = reach_tables(merged(OFFICE, elsewhere))
    fs02 = next(t for t in tables if t.host.target == "fs02")
    assert [c.text for c in fs02.rows[0].cells] == [NOT_SCANNED, "answers"]


def test_the_html_shows_reach_and_vantage_points_escaped(tmp_path: Path) -> None:
    hostile = "<img src=x onerror=alert(1)>"
    office = run(host(shares=[share(hostile, {"guest": READ}, content=MEDICAL)]), vantage="office")
    wifi = run(host(shares=[share(hostile, {"guest": READ})]), vantage="guest-wifi", trusted=False)
    page = render(merged(office, wifi))
    assert "<h4>Reachable from</h4>" in page and "guest-wifi (untrusted)" in page
    assert "<h3>Vantage points merged</h3>" in page and "run1.json" in page
    assert hostile not in page and "share &lt;img src=x onerror=alert(1)&gt;" in page
    single = render(run(host(), vantage="guest-wifi", trusted=False))
    assert "Vantage point: guest-wifi (untrusted)" in single and "Reachable from" not in single


# --- history ---------------------------------------------------------------------------------------------------


def test_history_keeps_the_vantage_and_compares_like_with_like(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"

    def record(result: ScanResult) -> int:
        with History.open_for_writing(path) as store:
            return store.record("weekly", result)

    office1, wifi1 = record(OFFICE), record(GUEST)
    office2 = record(OFFICE)
    with History.open_for_reading(path) as store:
        assert [(r.id, r.vantage) for r in store.runs()] == [
            (office2, "office"),
            (wifi1, "guest-wifi"),
            (office1, "office"),
        ]
        assert [r.id for r in store.runs(vantage="guest-wifi")] == [wifi1]
        previous = store.previous("weekly", office2)
        assert previous is not None and previous.id == office1  # not the guest Wi-Fi run in between
        assert store.previous("weekly", wifi1) is None
        assert new_since(store, "weekly", office2, OFFICE.findings) == ()


def test_a_version_1_history_gets_the_vantage_column(tmp_path: Path) -> None:
    from shareaudit.audit import history

    path = tmp_path / "h.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(history._SCHEMA)
        db.execute(
            "INSERT INTO runs (name, started_at, finished_at, tool_version, hosts, failed, findings, options)"
            " VALUES ('weekly', 'then', 'then', '0.0.9', 1, 0, 0, '{}')"
        )
        db.execute("PRAGMA user_version = 1")
    db.close()
    with History.open_for_reading(path) as store:  # read through an upgraded copy
        assert [(r.name, r.vantage) for r in store.runs()] == [("weekly", None)]
    with History.open_for_writing(path) as store:
        store.record("weekly", OFFICE)
        assert [r.vantage for r in store.runs()] == ["office", None]


# --- bad input, one line ---------------------------------------------------------------------------------------


@pytest.fixture
def scans(tmp_path: Path) -> tuple[Path, Path]:
    office, wifi = tmp_path / "office.json", tmp_path / "wifi.json"
    scanfile.write(OFFICE, office)
    scanfile.write(GUEST, wifi)
    return office, wifi


def test_merge_writes_what_report_writes(
    scans: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    code, stdout, err = cli(
        monkeypatch, capsys, "merge", *map(str, scans), "-o", str(out), "--fail-on", "critical"
    )
    assert (code, err) == (1, "")
    assert sorted(p.name for p in out.iterdir()) == ["findings.csv", "report.html", "scan.json"]
    assert "Reach of nas01 by vantage point" in stdout and "guest-wifi (untrusted)" in stdout
    assert "untrusted-vantage" in (out / "findings.csv").read_text(encoding="utf-8-sig")
    assert scanfile.read(out / "scan.json").vantages[1].name == "guest-wifi"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.json", "cannot read {p}: No such file or directory"),
        (lambda d: d, "cannot read {p}: Is a directory"),
        (lambda d: _write(d / "x.json", "not json"), "{p} is not JSON: "),
        (lambda d: _write(d / "x.json", '{"schema": "other/2"}'), "{p} is not a shareaudit scan result"),
        (
            lambda d: _write(d / "x.json", '{"schema": "shareaudit/1", "hosts": 3}'),
            "{p} does not match schema",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(
    scans: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make: object,
    message: str,
) -> None:
    bad = make(tmp_path)  # type: ignore[operator]
    code, out, err = cli(monkeypatch, capsys, "merge", str(scans[0]), str(bad), "-o", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("shareaudit: error: " + message.format(p=bad)), err
    assert not (tmp_path / "out").exists()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{office}",), "merge needs at least two scan files (written by scan --json)"),
        (("{office}", "{office}"), "{office} is given twice (as {office})"),
    ],
)
def test_merge_needs_two_different_files(
    scans: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    names = {"office": str(scans[0])}
    code, _, err = cli(monkeypatch, capsys, "merge", *(a.format(**names) for a in args))
    assert (code, err) == (2, f"shareaudit: error: {message.format(**names)}\n")


def test_scan_refuses_a_bad_vantage_before_scanning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(
        monkeypatch,
        capsys,
        "scan",
        "127.0.0.1",
        "--vantage",
        "guest wifi",
        "--no-history",
        "--data-dir",
        str(tmp_path),
    )
    assert (code, out) == (2, "")
    assert err == (
        "shareaudit: error: --vantage: 'guest wifi' is not a vantage point name: use 1 to 63 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit (e.g. office-vlan)\n"
    )
