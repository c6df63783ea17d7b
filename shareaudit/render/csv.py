"""Findings as CSV: one finding per row, with stable columns (documented in the README).

Cells that a spreadsheet would read as a formula (=, +, -, @, tab, carriage return first) get a leading
apostrophe: share names and evidence come from the audited server, and a share named
`=HYPERLINK(...)` must not become a live formula on the admin's machine (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from shareaudit.model import Finding, ScanResult
from shareaudit.render.output import write_atomically
from shareaudit.rules.platform import PLATFORM_NAMES

COLUMNS = (
    "id",
    "severity",
    "rule",
    "title",
    "host",
    "share",
    "identity",
    "path",
    "platform",
    "evidence",
    "why",
    "remediation",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell as text a spreadsheet will not evaluate."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def remediation_text(finding: Finding) -> str:
    """The detected platform's steps, one per line; every platform's, labelled, when it is unknown."""
    if finding.platform in finding.remediation:
        return "\n".join(finding.remediation[finding.platform])
    return "\n".join(
        f"[{PLATFORM_NAMES.get(platform, platform)}] {step}"
        for platform, steps in finding.remediation.items()
        for step in steps
    )


def row(finding: Finding) -> list[str]:
    """One finding as the CSV columns, in order."""
    values = (
        finding.id,
        finding.severity,
        finding.rule,
        finding.title,
        finding.host,
        finding.share or "",
        finding.identity or "",
        finding.path or "",
        finding.platform or "",
        finding.evidence,
        finding.why,
        remediation_text(finding),
    )
    return [neutralise(value) for value in values]


def pieces(result: ScanResult, rows_per_piece: int = 1000) -> Iterator[str]:
    """The CSV text in pieces of some rows each: a /16's 65,536 findings are 130 MB of text, never held whole."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180 line ends, as spreadsheets expect
    writer.writerow(COLUMNS)
    for n, finding in enumerate(result.findings, start=1):
        writer.writerow(row(finding))
        if n % rows_per_piece == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def dumps(result: ScanResult) -> str:
    """The findings of a result as CSV text (header row first)."""
    return "".join(pieces(result))


def write(result: ScanResult, path: Path) -> None:
    """Write the findings CSV atomically (UTF-8 with a BOM, so spreadsheets detect the encoding)."""
    # newline="": the csv module writes its own line ends.
    write_atomically(path, pieces(result), encoding="utf-8-sig", newline="")
