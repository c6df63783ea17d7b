"""Commands and helpers for findings and reports: `shareaudit report`, `shareaudit rules`, the output
files of a scan (JSON, HTML, CSV) and the --fail-on exit code."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.audit import journal
from shareaudit.audit.run import write_outputs
from shareaudit.model import Finding, ScanResult
from shareaudit.render.terminal import print_summary
from shareaudit.rules import RULES, SEVERITIES, at_or_above, evaluate
from shareaudit.rules.actions import with_actions
from shareaudit.rules.coverage import UNSCANNED
from shareaudit.vantage import kept_out

EXIT_OK, EXIT_FINDINGS, EXIT_TARGETS_FAILED = 0, 1, 3
# What -o/--output-dir writes.
DEFAULT_NAMES = {"json": "scan.json", "html": "report.html", "csv": "findings.csv"}

FAIL_ON_HELP = (
    "Exit 1 when any finding (not an accepted risk) is at or above this severity: "
    + ", ".join(SEVERITIES)
    + "."
)


def fail_on_option() -> click.Choice[str]:
    """The --fail-on choices, case-insensitive."""
    return click.Choice(SEVERITIES, case_sensitive=False)


def output_paths(
    output_dir: Path | None, json_path: Path | None, html_path: Path | None, csv_path: Path | None
) -> tuple[Path | None, Path | None, Path | None]:
    """JSON, HTML and CSV paths: an explicit path wins; -o DIR fills the rest with the default names."""
    if output_dir is None:
        return json_path, html_path, csv_path
    return (
        json_path or output_dir / DEFAULT_NAMES["json"],
        html_path or output_dir / DEFAULT_NAMES["html"],
        csv_path or output_dir / DEFAULT_NAMES["csv"],
    )


def failing(findings: tuple[Finding, ...], fail_on: str | None) -> tuple[Finding, ...]:
    """The findings that make --fail-on exit 1 (accepted risks never count)."""
    if fail_on is None:
        return ()
    return tuple(f for f in at_or_above(findings, fail_on.lower()) if f.suppressed is None)


def exit_code(result: ScanResult, fail_on: str | None) -> int:
    """1 for findings at or above --fail-on, else 3 when a target failed or was skipped or a walk failed, else 0."""
    if failing(result.findings, fail_on):
        return EXIT_FINDINGS
    walks_failed = any(s.content and s.content.error for h in result.hosts for s in h.shares)
    # A host whose SMB is absent while another door answered is not failed (collect.hosts.merge); a door
    # that answered and was then cut short (a DICOM probe the server stopped answering) is incomplete.
    doors_cut_short = any(s.reachable and s.error for h in result.hosts for s in h.services)
    # A host that answered nothing to untrusted vantage points only is segmentation working (vantage.kept_out).
    failed = any(h.error and not kept_out(result, h) for h in result.hosts)
    never_reached = bool(result.options.get(UNSCANNED))  # an interrupted run, or one rebuilt from its journal
    incomplete = failed or result.input_problems or walks_failed or doors_cut_short or never_reached
    return EXIT_TARGETS_FAILED if incomplete else EXIT_OK


def _console() -> Console:
    # Not a terminal (cron mail, CI logs): a fixed width that fits the tables instead of 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@click.command("report")
@click.argument("scan_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--html", "html_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML report."
)
@click.option(
    "--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the findings CSV."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the result with the re-evaluated findings as JSON.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write report.html and findings.csv (and scan.json only with --json) into this directory.",
)
@click.option("--fail-on", type=fail_on_option(), help=FAIL_ON_HELP)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def report_command(
    scan_file: Path,
    html_path: Path | None,
    csv_path: Path | None,
    json_path: Path | None,
    output_dir: Path | None,
    fail_on: str | None,
    quiet: bool,
) -> int:
    """Re-render a saved scan (SCAN_FILE, from --json) without touching the network.

    SCAN_FILE may also be the journal a run that did not finish left beside its JSON (scan.json.journal):
    the document is rebuilt from it, the targets it never reached reported as not scanned.

    The rules are evaluated again, so rules added since the scan apply to it. Exit 1 with --fail-on as
    for scan, 3 when the scan had failed targets, 2 when SCAN_FILE is not a scan result.
    """
    saved = journal.load_saved(scan_file)
    # Accepted risks and "new since the previous run" recorded in the saved result stay as they were
    # (matched by fingerprint): both come from files and history the re-render does not read.
    before = {f.id: f for f in saved.findings}
    findings = tuple(
        replace(f, suppressed=before[f.id].suppressed, new=before[f.id].new) if f.id in before else f
        for f in evaluate(saved)
    )
    result = with_actions(replace(saved, findings=findings))
    _, html_out, csv_out = output_paths(output_dir, None, html_path, csv_path)
    write_outputs(result, json_path, html_out, csv_out)
    if not quiet:
        print_summary(result, _console())
    return exit_code(result, fail_on)


@click.command("rules")
def rules_command() -> None:
    """List the rules: id, default severity and title (severity may rise or fall with context)."""
    table = Table(title="Rules", title_justify="left")
    for column in ("id", "severity", "title"):
        table.add_column(column, no_wrap=column != "title")
    for rule in RULES:
        table.add_row(Text(rule.id), Text(rule.severity), Text(rule.title))
    _console().print(table)
