"""The CSV, HTML and terminal renderers over synthetic results, hostile strings included."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound
from rich.console import Console
from synthetic import HOSTILE, LONG, READ, WRITE, content, host, hostile_result, posture, share
from synthetic import result as scan_result

from shareaudit.model import ScanResult, Suppression
from shareaudit.render import csv as csv_report
from shareaudit.render import html
from shareaudit.render.terminal import print_summary
from shareaudit.rules import evaluate
from shareaudit.rules.platform import PLATFORMS

ROOT = Path(__file__).resolve().parents[2]


def evaluated(result: ScanResult) -> ScanResult:
    return dataclasses.replace(result, findings=evaluate(result))


@pytest.fixture(scope="module")
def hostile() -> ScanResult:
    return evaluated(hostile_result())


# --- CSV --------------------------------------------------------------------------------------------------
def test_csv_has_a_header_and_one_row_per_finding(hostile: ScanResult, tmp_path: Path) -> None:
    path = tmp_path / "findings.csv"
    csv_report.write(hostile, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == csv_report.COLUMNS
    assert len(rows) - 1 == len(hostile.findings) > 50
    assert [r[0] for r in rows[1:]] == [f.id for f in hostile.findings]
    assert all(len(r) == len(csv_report.COLUMNS) for r in rows)


def test_csv_cells_never_start_a_formula(hostile: ScanResult) -> None:
    rows = list(csv.reader(io.StringIO(csv_report.dumps(hostile))))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'" + HOSTILE[10] in cells  # the =HYPERLINK(...) share name, neutralised but kept
    assert any(HOSTILE[0] in cell for cell in cells)  # other hostile text kept verbatim


def test_csv_remediation_is_the_detected_platforms_or_all_labelled() -> None:
    known = evaluated(scan_result(host(posture_=posture(smb1=True))))
    row = dict(zip(csv_report.COLUMNS, csv_report.row(known.findings[0]), strict=True))
    assert row["platform"] == "samba" and "server min protocol" in row["remediation"]
    assert "Set-SmbServerConfiguration" not in row["remediation"]
    unknown = dataclasses.replace(known.findings[0], platform=None)
    text = dict(zip(csv_report.COLUMNS, csv_report.row(unknown), strict=True))["remediation"]
    assert all(f"[{name}]" in text for name in PLATFORMS.values())


# --- HTML: escaping ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [*HOSTILE, LONG, "</SCRIPT >", "<!--<script>", "\udc80 lone surrogate"])
def test_script_json_cannot_break_out_and_round_trips(text: str) -> None:
    data = {"k": [text, {text: text}]}
    escaped = str(html.script_json(data))
    for raw in ("<", ">", "&", "\u2028", "\u2029"):
        assert raw not in escaped
    assert json.loads(escaped) == data


@pytest.mark.parametrize("value", [*HOSTILE, LONG, "a", "10.0.0.5", "\ue000 marker"])
def test_step_templating_is_lossless(value: str) -> None:
    steps = [
        f"Get-SmbShareAccess -Name '{value}'",
        f"smbcacls //10.0.0.5/{value} / -U admin",
        f"on {value}.hospital and {value}",
        "no value here",
        "already has a marker \ue001",
    ]
    for step in steps:
        for name, address, host_ in ((value, "10.0.0.5", "nas01"), (None, None, None), ("x", value, value)):
            packed = html.templated(step, name, address, host_)
            assert html.restored(packed, name, address, host_) == step


def test_report_is_escaped_and_locked_down(hostile: ScanResult) -> None:
    page = html.render(hostile, generated_at="2026-11-29T06:00:00+00:00")
    # No markup from a server survives as markup: the only tags are the template's own.
    for marker in ("<img", "<svg onload", "<iframe", "<b>", "<i>", "<!-- comment"):
        assert marker not in page.lower()
    # The only SVG is the template's own (door maps, charts, legend swatches): each opens with its viewBox.
    assert page.count("<svg") == page.count('<svg viewBox="0 ') > 0
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "&lt;img src=x onerror=alert(1)&gt; &#34;research&#34; &amp; co" in page
    # Data is never evaluated as a template: the hostile name stays as written, never "nas-49".
    assert "{{ 7*7 }}" in page and "{% if true %}jinja{% endif %}" in page and "nas-49" not in page
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy is not None
    assert (
        "default-src 'none'" in policy.group(1)
        and "unsafe-inline" not in policy.group(1).split("script-src")[1]
    )
    script = page[page.rindex("<script>") + len("<script>") : page.rindex("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    data = page[page.index('id="report-data">') + len('id="report-data">') :]
    data = data[: data.index("</script>")]
    assert "<" not in data and json.loads(data)["findings"]


def test_report_data_holds_every_finding_with_its_steps(hostile: ScanResult) -> None:
    data = html.browser_data(hostile.findings, {"nas-x": "10.0.0.5"})
    assert len(data["findings"]) == len(hostile.findings)  # type: ignore[arg-type]
    strings, remedies = data["strings"], data["remedies"]
    for row, finding in zip(data["findings"], hostile.findings, strict=True):  # type: ignore[call-overload]
        assert row[0] == finding.id and row[7] == finding.evidence
        steps = {
            platform: [html.restored(strings[i], row[4], row[12], row[3]) for i in indexes]  # type: ignore[index]
            for platform, indexes in remedies[row[11]].items()  # type: ignore[index]
        }
        assert steps == finding.remediation


def test_many_findings_share_few_texts() -> None:
    shares = [share(f"Share{n:03d}", {"guest": WRITE}, content=content({"dicom": 1})) for n in range(200)]
    result = evaluated(scan_result(host(shares=shares)))
    data = html.browser_data(result.findings, {"nas01": "10.0.0.5"})
    assert len(result.findings) >= 400
    assert len(data["strings"]) < 80 and len(data["remedies"]) < 20  # type: ignore[arg-type]


# --- HTML: content ----------------------------------------------------------------------------------------
def test_report_shows_the_summary_hosts_inventory_and_options() -> None:
    pacs = share("pacs$", {"guest": READ, "audit": READ}, content=content({"dicom": 7}, files=9))
    result = evaluated(
        scan_result(
            host(shares=[pacs], posture_=posture(smb1=True, guest=True)),
            options={
                "active_write_probe": True,
                "sniff": False,
                "show_names": False,
                "future_knob": {"a": 1},
            },
        )
    )
    page = html.render(result)
    assert 'class="card sev-critical"' in page and "Worst findings" in page
    assert "Active write probe: ON" in page and "Content sniffing: off" in page
    assert "future_knob" in page  # unknown options are shown generically
    assert "DICOM object" in page and "pacs$" in page  # the inventory, with the type's label
    assert 'class="cell read open"' in page  # guest's R on pacs$ in the matrix
    assert "Samba (Linux/Unix)" in page


def test_accepted_risks_are_marked_and_not_counted() -> None:
    result = evaluated(scan_result(host(posture_=posture(smb1=True))))
    accepted = dataclasses.replace(
        result.findings[0], suppressed=Suppression("old MFP", "it-ops", "2027-01-01")
    )
    page = html.render(dataclasses.replace(result, findings=(accepted,)))
    assert "1 of the findings are accepted risks" in page
    assert '<span class="n">0</span>high' in page.replace("\n", "").replace("    ", "")
    assert "accepted risk until 2027-01-01 (it-ops): old MFP" in page


def test_templates_load_from_an_installed_package_layout(tmp_path: Path, hostile: ScanResult) -> None:
    # An installed wheel has shareaudit/templates/ (setup.py copies it); nothing else is needed.
    installed = tmp_path / "site-packages" / "shareaudit" / "templates"
    shutil.copytree(ROOT / "templates", installed)
    env = html.environment(installed)
    assert env.get_template("report.html.j2") is not None
    assert env.loader is not None
    with pytest.raises(TemplateNotFound):
        env.get_template("partials/../report.css")
    assert html.template_root().joinpath("report.html.j2").is_file()


# --- terminal ---------------------------------------------------------------------------------------------
def test_terminal_summary_gains_findings_counts_and_the_worst() -> None:
    result = evaluated(
        scan_result(host(shares=[share("[bold]x[/bold]", {"guest": WRITE})], posture_=posture(smb1=True)))
    )
    console = Console(record=True, width=160)
    print_summary(result, console)
    text = console.export_text()
    assert "Findings: 3 (2 high, 1 medium)" in text
    assert "[bold]x[/bold]" in text  # server strings are never rich markup
    assert "The null session or guest can write to a share" in text


def test_accepted_risks_have_their_own_section() -> None:
    base = scan_result(host("nas01", shares=(share("scans", {"guest": WRITE}),)))
    findings = evaluate(base)
    accepted = dataclasses.replace(
        findings[0], suppressed=Suppression(f"waiting for {HOSTILE[0]}", "pacs-admins", "2027-01-31")
    )
    page = html.render(dataclasses.replace(base, findings=(accepted, *findings[1:])))
    section = page[page.index('<section id="accepted">') :]
    section = section[: section.index("</section>")]
    assert "Accepted risks (1)" in section
    assert "pacs-admins" in section and "2027-01-31" in section and accepted.title in section
    assert HOSTILE[0] not in section  # escaped, like every server or admin string
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    plain = html.render(base)
    assert '<section id="accepted">' not in plain


def test_new_findings_are_marked_for_the_page() -> None:
    base = scan_result(host("nas01", shares=(share("scans", {"guest": WRITE}),)))
    first, *rest = evaluate(base)
    data = html.browser_data([dataclasses.replace(first, new=True), *rest])
    rows = data["findings"]
    assert isinstance(rows, list)
    assert rows[0][14] is True and all(row[14] is None for row in rows[1:])


def test_a_probe_file_left_behind_is_reported_with_its_exact_path() -> None:
    from shareaudit.model import Access, WriteProbe
    from shareaudit.render.terminal import leftover_probes

    left = WriteProbe("shareaudit-probe-0123456789ab.tmp", created=True, cleaned=False, note="still there")
    gone = WriteProbe("shareaudit-probe-ba9876543210.tmp", created=True, cleaned=True)
    base = scan_result(
        host(
            "nas01",
            shares=(
                share("scans", {"guest": Access(connect=True, write=True, probe=left)}),
                share("public", {"guest": Access(connect=True, probe=gone)}),
            ),
        )
    )
    address = base.hosts[0].address
    assert leftover_probes(base) == [
        f"\\\\{address}\\scans\\shareaudit-probe-0123456789ab.tmp (created as guest)"
    ]
