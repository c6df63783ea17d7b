"""`shareaudit merge`: runs from several vantage points (scan --vantage) as one result and one report."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click
from rich.console import Console

from shareaudit.audit.merge import Source, merge
from shareaudit.audit.run import write_outputs
from shareaudit.cli.report import FAIL_ON_HELP, exit_code, fail_on_option, output_paths
from shareaudit.cli.scan import user_name
from shareaudit.errors import InputError
from shareaudit.plan import config
from shareaudit.render.printable import printable
from shareaudit.render.terminal import print_summary

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.command("merge")
# No checks by click: a missing file, a directory or a foreign file is one line of ours (exit 2).
@click.argument("scan_files", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the merged scan.json, report.html and findings.csv into this directory.",
)
@click.option("--json", "json_path", type=_FILE, help="Write the merged result as JSON.")
@click.option("--html", "html_path", type=_FILE, help="Write the HTML report of the merged result.")
@click.option("--csv", "csv_path", type=_FILE, help="Write the merged result's findings as CSV.")
@click.option(
    "--config",
    "config_path",
    type=_FILE,
    help="Audit config whose [vantage.NAME] tables say which vantage points are untrusted "
    "(otherwise what each scan file recorded).",
)
@click.option("--fail-on", type=fail_on_option(), help=FAIL_ON_HELP)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but warnings and errors.")
def merge_command(
    scan_files: tuple[Path, ...],
    output_dir: Path | None,
    json_path: Path | None,
    html_path: Path | None,
    csv_path: Path | None,
    config_path: Path | None,
    fail_on: str | None,
    quiet: bool,
) -> int:
    """Combine scan files (SCAN_FILES, from scan --json) made from several vantage points into one result.

    Hosts are matched by address; each keeps, per vantage point, what answered from there and who could
    do what. The rules are evaluated again over the merged result, so medical data or an open write door
    reachable from a vantage point the config marks untrusted is a finding (untrusted-vantage). Exit codes
    as for report: 1 with --fail-on, 3 when a host answered from no vantage point, 2 on bad input.
    """
    if len(scan_files) < 2:
        raise InputError("merge needs at least two scan files (written by scan --json)")
    seen: dict[Path, Path] = {}
    for path in scan_files:
        key = path.resolve()
        if key in seen:
            raise InputError(f"{path} is given twice (as {seen[key]})")
        seen[key] = path
    trust = config.vantage_trust(config.load(config_path)) if config_path else {}
    sources = [Source.read(path) for path in scan_files]
    merged = merge(sources, trust, f"{user_name()}@{socket.gethostname()}")
    json_out, html_out, csv_out = output_paths(output_dir, json_path, html_path, csv_path)
    write_outputs(merged.result, json_out, html_out, csv_out)
    for warning in merged.warnings:
        click.echo(f"shareaudit: WARNING: {printable(warning)}", err=True)
    if not quiet:
        print_summary(merged.result, Console(highlight=False, width=None if sys.stdout.isatty() else 120))
    return exit_code(merged.result, fail_on)
