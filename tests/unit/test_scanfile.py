"""The scan result file (shareaudit/scanfile.py): what is written reads back as the same ScanResult."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from synthetic import hostile_result, large_result

from shareaudit import scanfile
from shareaudit.audit.suppress import Rule, apply
from shareaudit.errors import InputError
from shareaudit.model import SCHEMA, ScanResult
from shareaudit.rules import evaluate


def _judged(result: ScanResult) -> ScanResult:
    """With findings, one of them an accepted risk, and each marked new or not (as after a history)."""
    findings = evaluate(result)
    accepted = Rule(fingerprint=findings[0].id, reason="known", owner="it", expires=date(2027, 1, 31))
    findings = apply(findings, [accepted], date(2026, 11, 29))
    findings = tuple(replace(f, new=n % 2 == 0) for n, f in enumerate(findings))
    return replace(result, findings=findings)


@pytest.mark.parametrize(
    "result",
    [hostile_result(), large_result(hosts=3), _judged(hostile_result()), _judged(large_result(hosts=3))],
    ids=["hostile", "large", "hostile-judged", "large-judged"],
)
def test_write_then_read_gives_an_equal_result(tmp_path: Path, result: ScanResult) -> None:
    path = tmp_path / "out" / "scan.json"  # the directory is created
    scanfile.write(result, path)
    assert scanfile.read(path) == result
    data = json.loads(path.read_text(encoding="utf-8"))
    assert next(iter(data)) == "schema" and data["schema"] == SCHEMA
    assert scanfile.dumps(scanfile.read(path)) == path.read_text(encoding="utf-8")  # stable: same bytes again


def test_judged_results_keep_suppression_and_new(tmp_path: Path) -> None:
    result = _judged(hostile_result())
    scanfile.write(result, tmp_path / "scan.json")
    again = scanfile.read(tmp_path / "scan.json")
    assert again.findings[0].suppressed is not None and again.findings[0].suppressed.expires == "2027-01-31"
    assert [f.new for f in again.findings] == [n % 2 == 0 for n in range(len(again.findings))]


def test_masks_are_written_in_hex(tmp_path: Path) -> None:
    scanfile.write(hostile_result(), tmp_path / "scan.json")
    ace = json.loads((tmp_path / "scan.json").read_text())["hosts"][0]["shares"][0]["root_sd"]["dacl"][0]
    assert ace["mask"] == "0x001f01ff" and ace["sid"] == "S-1-1-0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"schema": "other/1"}', "is not a shareaudit scan result"),
        ("[1, 2]", "is not a shareaudit scan result"),
        ("{not json", "is not JSON"),
        (f'{{"schema": "{SCHEMA}", "hosts": 3}}', f"does not match schema {SCHEMA}"),
    ],
)
def test_what_is_not_a_result_is_an_input_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scan.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        scanfile.read(path)
