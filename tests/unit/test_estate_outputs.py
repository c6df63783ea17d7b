"""Outputs that stay fast for an estate: the JSON written piece by piece (the same text as before), the
terminal summary counting the targets where nothing answered, the HTML counting findings once."""

from __future__ import annotations

import io
import ipaddress
import json
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from synthetic import hostile_result, large_result

from shareaudit import scanfile
from shareaudit.collect.hosts import failed, merge
from shareaudit.collect.sweep import PortState, PortVerdict
from shareaudit.model import ScanResult, Service
from shareaudit.plan.targets import Target
from shareaudit.render import html
from shareaudit.render.terminal import QUIET_SHOWN, print_summary
from shareaudit.rules import evaluate


def _silent(count: int, base: ScanResult) -> ScanResult:
    """`base` plus `count` addresses where every port stayed silent, as the sweep reports them."""
    error = PortVerdict(445, PortState.SILENT, 5.0).error(5.0)
    assert error is not None
    hosts = []
    for _, address in zip(range(count), ipaddress.ip_network("198.18.0.0/16").hosts(), strict=False):
        target = Target(str(address), str(address))
        dicom = [Service("dicom", port, False, str(error), error.kind.value, 5.0) for port in (104, 11112)]
        hosts.append(
            merge(target, str(address), replace(failed(target, error, 5.0), address=str(address)), dicom)
        )
    result = replace(base, hosts=(*base.hosts, *hosts), findings=())
    return replace(result, findings=evaluate(result))


def test_the_streamed_document_is_the_same_text_as_before() -> None:
    for result in (hostile_result(), large_result(hosts=5), _silent(50, large_result(hosts=2))):
        result = replace(result, findings=result.findings or evaluate(result))
        assert "".join(scanfile.pieces(result)) == scanfile.dumps(result)
    empty = replace(hostile_result(), hosts=(), findings=())
    assert "".join(scanfile.pieces(empty)) == scanfile.dumps(empty)


def test_a_lone_surrogate_still_falls_back_to_the_standard_encoder(tmp_path: object) -> None:
    base = hostile_result()
    odd = replace(base.hosts[0], target="nas\udc80")  # what a hostile name can decode to
    result = replace(base, hosts=(odd,))
    text = "".join(scanfile.pieces(result))
    assert text == scanfile.dumps(result)
    assert json.loads(text.encode("utf-8", "replace"))["hosts"][0]["target"] == "nas?"


def test_the_summary_lists_a_few_silent_targets_and_counts_the_rest() -> None:
    result = _silent(QUIET_SHOWN + 30, large_result(hosts=2))
    console = Console(file=io.StringIO(), width=160)
    print_summary(result, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    listed = [line for line in text.splitlines() if ": silent: no answer" in line]
    assert len(listed) == QUIET_SHOWN
    assert "... and 30 more targets where nothing answered (silent 30)" in text
    assert f"{len(result.hosts)} host(s) scanned, {QUIET_SHOWN + 30} failed" in text


def test_the_report_counts_each_hosts_findings() -> None:
    result = _silent(40, large_result(hosts=3))
    view = html.report_view(result)
    for host_view in view.hosts:
        expected = [f for f in result.findings if f.host == host_view.label and f.suppressed is None]
        assert sum(count for _, count in host_view.counts) == len(expected)


def test_the_csv_and_the_report_written_in_pieces_are_what_they_were(tmp_path: Path) -> None:
    from shareaudit.render import csv as csv_report

    result = _silent(2500, large_result(hosts=2))  # more than one piece of 1,000 rows
    path = tmp_path / "findings.csv"
    csv_report.write(result, path)
    written = path.read_bytes()
    assert written == csv_report.dumps(result).encode("utf-8-sig")
    assert written.count(b"\xef\xbb\xbf") == 1  # one BOM, at the start
    page = tmp_path / "report.html"
    html.write(result, page, generated_at="then")
    assert page.read_text(encoding="utf-8") == html.render(result, generated_at="then")
