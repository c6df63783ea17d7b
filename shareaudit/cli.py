"""The command line: parse, call the library, render, map the outcome to an exit code.

Exit codes (also in `shareaudit --help` and the README):
  0  the scan completed and every target was scanned
  1  findings at or above --fail-on (accepted risks do not count); takes precedence over 3
  2  usage or input error (bad option, target, config, missing or unreadable secret)
  3  the scan completed but some targets failed (unreachable, refused, not SMB, ...)
  4  internal error (a bug: please report it; --debug shows the traceback)
  130 interrupted (Ctrl-C); what was gathered so far is still written
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.console import Console

from shareaudit import __version__, config, scanfile, suppress
from shareaudit.cli_ad import (
    DirectoryOptions,
    directory_options,
    discover_command,
    from_ad_option,
    merge_targets,
)
from shareaudit.cli_ad import apply as apply_directory
from shareaudit.cli_ad import read as read_directory
from shareaudit.cli_audit import (
    config_group,
    device_command,
    diff_command,
    history_command,
    history_path,
    resolve_data_dir,
    send_alerts,
)
from shareaudit.cli_report import (
    FAIL_ON_HELP,
    exit_code,
    fail_on_option,
    output_paths,
    report_command,
    rules_command,
    write_outputs,
)
from shareaudit.collect import ScanOptions, scan
from shareaudit.crawl import CrawlBounds
from shareaudit.errors import InputError, ShareauditError
from shareaudit.history import History, new_since
from shareaudit.identities import ANONYMOUS, GUEST, Identity, audit_identity, extra_identities
from shareaudit.inventory import Inventory
from shareaudit.model import HostResult, ScanResult, Tool
from shareaudit.redact import Redactor, load_or_create_key
from shareaudit.render.progress import LiveProgress
from shareaudit.render.terminal import leftover_probes, print_summary
from shareaudit.rules import evaluate
from shareaudit.rules.coverage import UNSCANNED
from shareaudit.targets import parse_targets

DEFAULT_BOUNDS = CrawlBounds()

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
EXIT_TARGETS_FAILED = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\b
Exit codes:
  0    scan completed, every target scanned
  1    findings at or above --fail-on (wins over 3)
  2    usage or input error (also: wrong LDAP credentials, DC certificate not trusted)
  3    scan completed but some targets failed; or the directory (--ldap-url) could not be reached
  4    internal error (run with --debug and report it)
  130  interrupted; results gathered so far are written"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user_name() -> str:
    """Who runs the scan; a container's uid may have no name (getpass raises KeyError then)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _prompt(label: str) -> str:
    return click.prompt(label, hide_input=True, err=True)


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shareaudit")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Who can reach what on SMB file servers and NAS appliances, and where medical data is exposed."""
    ctx.obj = {"debug": debug}


def _load_config(ctx: click.Context, _: click.Parameter, path: Path | None) -> Path | None:
    """Read --config before the other options, and make its values their defaults."""
    if path is not None:
        loaded = config.load(path)
        ctx.meta["config"] = loaded
        ctx.default_map = {**(ctx.default_map or {}), **config.scan_defaults(loaded)}
    return path


@cli.command("scan", epilog=EXIT_CODES_HELP)
@click.argument("targets", nargs=-1)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    is_eager=True,
    expose_value=True,
    callback=_load_config,
    help="TOML config (docs/audit.example.toml); options given on the command line override it.",
)
@click.option(
    "--history",
    "history_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="History database (default: history.sqlite in the data directory).",
)
@click.option("--no-history", is_flag=True, help="Do not record this run in the history.")
@click.option(
    "--audit-name",
    help="Name under which runs are compared by `shareaudit diff` (default: the config file name).",
)
@click.option(
    "--suppressions",
    "suppressions_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML file of accepted risks (docs/suppressions.example.toml).",
)
@click.option(
    "-u",
    "--user",
    help="Audit account, USER or DOMAIN\\USER. Password: $SHAREAUDIT_PASSWORD, "
    "--password-file, or a prompt on a terminal.",
)
@click.option("-d", "--domain", default="", help="Domain of the audit account.")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the audit account's password (mode 600).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the scan result as JSON (docs/json-format.md).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the HTML report (one self-contained file).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the findings as CSV, one per row.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write scan.json, report.html and findings.csv into this directory.",
)
@click.option("--fail-on", type=fail_on_option(), help=FAIL_ON_HELP)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=5.0,
    show_default=True,
    help="Seconds to wait for a connection or an answer.",
)
@click.option(
    "--max-hosts",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Hosts scanned at the same time.",
)
@click.option("--no-anonymous", is_flag=True, help="Do not measure access as the null session.")
@click.option("--no-guest", is_flag=True, help="Do not measure access as the server's guest.")
@click.option(
    "--identity",
    "identity_specs",
    multiple=True,
    metavar="LABEL=[DOMAIN\\]USER",
    help="An extra identity to measure, typically a printer/scanner service account; repeatable. "
    "Password: $SHAREAUDIT_PASSWORD_<LABEL> or --identities-file.",
)
@click.option(
    "--identities-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML file of [identities.LABEL] tables (account, password | password_env | password_file); mode 600.",
)
@click.option(
    "--active-write-probe",
    is_flag=True,
    help="Confirm write access by creating and deleting an empty file in each share root. "
    "Off by default: without it nothing is written.",
)
@click.option("--include-share", multiple=True, metavar="GLOB", help="Only these shares (repeatable).")
@click.option("--exclude-share", multiple=True, metavar="GLOB", help="Never these shares (repeatable).")
@click.option("--no-crawl", is_flag=True, help="Measure access only; do not walk shares for medical data.")
@click.option(
    "--max-shares",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Shares of one host walked at the same time.",
)
@click.option("--max-depth", type=click.IntRange(0, 64), default=DEFAULT_BOUNDS.max_depth, show_default=True)
@click.option(
    "--max-entries",
    type=click.IntRange(1),
    default=DEFAULT_BOUNDS.max_entries,
    show_default=True,
    help="Per share.",
)
@click.option(
    "--max-dir-entries",
    type=click.IntRange(1),
    default=DEFAULT_BOUNDS.max_dir_entries,
    show_default=True,
    help="Entries taken from one directory.",
)
@click.option(
    "--time-budget",
    type=click.FloatRange(1),
    default=DEFAULT_BOUNDS.time_budget,
    show_default=True,
    help="Seconds per share.",
)
@click.option(
    "--max-rate",
    type=click.FloatRange(0),
    default=DEFAULT_BOUNDS.rate,
    show_default=True,
    help="Requests per second per share walk (0: unlimited).",
)
@click.option("--no-sniff", is_flag=True, help="Classify by name only; never read file contents.")
@click.option(
    "--max-sniff",
    type=click.IntRange(0),
    default=DEFAULT_BOUNDS.max_sniff,
    show_default=True,
    help="Files per share whose first 4 KiB may be read.",
)
@click.option(
    "--show-names",
    is_flag=True,
    help="Print file and directory names that look like patient data (redacted by default).",
)
@click.option(
    "--inventory",
    "inventory_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Stream every medical file found (redacted path, type, size) to this JSON Lines file.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="SHAREAUDIT_DATA_DIR",
    help="Where the redaction key (and the history) live. Default: the user data directory.",
)
@click.option("--strict", is_flag=True, help="Refuse to scan when any target entry is invalid.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@from_ad_option
@directory_options
@click.pass_context
def scan_command(
    ctx: click.Context,
    directory: DirectoryOptions | None,
    targets: tuple[str, ...],
    config_path: Path | None,
    history_file: Path | None,
    no_history: bool,
    audit_name: str | None,
    suppressions_path: Path | None,
    user: str | None,
    domain: str,
    password_file: Path | None,
    json_path: Path | None,
    html_path: Path | None,
    csv_path: Path | None,
    output_dir: Path | None,
    fail_on: str | None,
    timeout: float,
    max_hosts: int,
    no_anonymous: bool,
    no_guest: bool,
    identity_specs: tuple[str, ...],
    identities_file: Path | None,
    active_write_probe: bool,
    include_share: tuple[str, ...],
    exclude_share: tuple[str, ...],
    no_crawl: bool,
    max_shares: int,
    max_depth: int,
    max_entries: int,
    max_dir_entries: int,
    time_budget: float,
    max_rate: float,
    no_sniff: bool,
    max_sniff: int,
    show_names: bool,
    inventory_path: Path | None,
    data_dir: Path | None,
    strict: bool,
    quiet: bool,
) -> int:
    """Scan TARGETS: host names, IPs, CIDR ranges, host:port, or @FILE (one per line, # comments)."""
    loaded: config.AuditConfig | None = ctx.meta.get("config")
    json_path, html_path, csv_path = output_paths(output_dir, json_path, html_path, csv_path)
    target_list = parse_targets(targets, strict=strict)
    for problem in target_list.problems:
        click.echo(f"shareaudit: skipping bad target {problem}", err=True)
    if not target_list.targets and not (directory and directory.from_ad):
        raise InputError(
            "no valid targets" if targets else "no targets: give them on the command line or in --config"
        )
    configured: list[Identity] = []
    from_file: Identity | None = None
    if loaded is not None and config_path is not None:
        from_file, configured = config.identities(loaded, config_path)
    if (
        from_file is not None
        and ctx.get_parameter_source("user") is not click.core.ParameterSource.COMMANDLINE
    ):
        audit: Identity | None = from_file  # the config's account, with the config's secret reference
    else:
        audit = audit_identity(user, domain, password_file, _prompt if sys.stdin.isatty() else None)
    # Read before scanning: a broken suppressions file must not cost a whole scan.
    rules_file = suppressions_path or (loaded.history.suppressions if loaded else None)
    accepted = suppress.load(rules_file) if rules_file is not None else []
    builtin = [i for i, off in ((ANONYMOUS, no_anonymous), (GUEST, no_guest)) if not off]
    extra = extra_identities(identity_specs, identities_file)
    extra += [i for i in configured if i.label not in {e.label for e in extra}]
    identities = [*([audit] if audit else []), *builtin, *extra]
    # --ldap-url: the directory is read before scanning (targets with --from-ad; groups of every account).
    ad = read_directory(directory, audit, identities) if directory else None
    if directory is not None and ad is not None:
        target_list = merge_targets(target_list, ad, directory)
        if not target_list.targets:
            raise InputError("no targets: none given, and the directory matched no enabled computer")
    bounds = CrawlBounds(
        max_depth=max_depth,
        max_entries=max_entries,
        max_dir_entries=max_dir_entries,
        time_budget=time_budget,
        rate=max_rate,
        sniff=not no_sniff,
        max_sniff=max_sniff,
    )
    data_dir = resolve_data_dir(data_dir)
    redactor = Redactor(load_or_create_key(data_dir / "redaction.key"), show_names)
    inventory = Inventory(inventory_path) if inventory_path else None
    options = ScanOptions(
        timeout=timeout,
        max_hosts=max_hosts,
        active_write_probe=active_write_probe,
        crawl=None if no_crawl else bounds,
        max_shares=max_shares,
        include_shares=include_share,
        exclude_shares=exclude_share,
        redactor=redactor,
        on_medical=inventory.add if inventory else None,
    )

    started = _now()
    order = {target: n for n, target in enumerate(target_list.targets)}
    hosts: dict[int, HostResult] = {}

    def result(finished: str = "") -> ScanResult:
        return ScanResult(
            tool=Tool("shareaudit", __version__),
            started_at=started,
            finished_at=finished,
            hosts=tuple(hosts[n] for n in sorted(hosts)),
            identities=tuple(i.info() for i in identities),
            options={
                "timeout": timeout,
                "max_hosts": max_hosts,
                "active_write_probe": active_write_probe,
                "crawl": not no_crawl,
                "max_shares": max_shares,
                "sniff": not no_sniff and not no_crawl,
                "show_names": show_names,
                "bounds": asdict(bounds),
                "include_shares": list(include_share),
                "exclude_shares": list(exclude_share),
                "run_by": f"{_user_name()}@{socket.gethostname()}",
            },
            input_problems=tuple(str(p) for p in target_list.problems),
        )

    # A live display only for a person at a terminal: cron mail and CI logs stay clean.
    live = LiveProgress(len(target_list.targets)) if not quiet and sys.stderr.isatty() else None
    if live is not None:
        options = replace(options, progress=live)
    try:
        with live if live is not None else contextlib.nullcontext():
            for target, host in scan(target_list.targets, identities, options):
                hosts[order[target]] = host
                if json_path:  # rewritten after every host: a crash or Ctrl-C loses nothing gathered
                    scanfile.write(result(), json_path)
    except KeyboardInterrupt:
        if inventory:
            inventory.close()
        partial = result(_now())
        # The targets never reached become findings: an interrupted run must not read as a clean one.
        unscanned = [t.spec for n, t in enumerate(target_list.targets) if n not in hosts]
        partial = replace(partial, options={**partial.options, UNSCANNED: unscanned})
        written = write_outputs(replace(partial, findings=evaluate(partial)), json_path, html_path, csv_path)
        click.echo(
            "shareaudit: interrupted; partial results written" if written else "shareaudit: interrupted",
            err=True,
        )
        return EXIT_INTERRUPTED
    if inventory:
        inventory.close()
    final = result(_now())
    if directory is not None and ad is not None:  # exposures derived from ACLs, names from LDAP
        final = apply_directory(final, ad, directory, audit)
    final = replace(final, findings=evaluate(final))
    if accepted:
        final = replace(final, findings=suppress.apply(final.findings, accepted, date.today()))
    name = audit_name or (loaded.history.name if loaded and loaded.history.name else None)
    name = name or (
        config_path.stem
        if config_path
        else "targets:" + ",".join(sorted(t.spec for t in target_list.targets))[:200]
    )
    new_findings = tuple(f for f in final.findings if f.suppressed is None)
    run_id: int | None = None
    keep_history = not no_history and (loaded.history.enabled if loaded else True)
    if keep_history:
        try:
            store = History(
                history_file
                or (loaded.history.path if loaded and loaded.history.path else None)
                or history_path(None, data_dir)
            )
            try:
                run_id = store.record(name, final, [f.id for f in final.findings if f.suppressed])
                new_findings = new_since(store, name, run_id, final.findings)
            finally:
                store.close()
        except ShareauditError as exc:  # the history is a record of the run; losing it must not lose the run
            click.echo(f"shareaudit: WARNING: run not recorded in the history: {exc}", err=True)
        else:
            fresh = {f.id for f in new_findings}
            final = replace(final, findings=tuple(replace(f, new=f.id in fresh) for f in final.findings))
    write_outputs(final, json_path, html_path, csv_path)
    if loaded is not None and (loaded.alerts.webhook or loaded.alerts.email):
        for trouble in send_alerts(loaded, final, new_findings, name, run_id):
            click.echo(f"shareaudit: WARNING: alert not sent: {trouble}", err=True)
    for path in leftover_probes(final):  # always, even with --quiet: something was left on a server
        click.echo(
            f"shareaudit: WARNING: the write probe left a file behind; delete it by hand: {path}", err=True
        )
    if not quiet:
        # Not a terminal (cron mail, CI logs): a fixed width that fits the table instead of 80 columns.
        print_summary(final, Console(highlight=False, width=None if sys.stdout.isatty() else 120))
    return exit_code(final, fail_on)


# Scheduled and one-off audits (shareaudit/cli_audit.py).
cli.add_command(config_group)
cli.add_command(history_command)
cli.add_command(diff_command)
cli.add_command(device_command)
# Findings and reports (shareaudit/cli_report.py).
cli.add_command(report_command)
cli.add_command(rules_command)
# Active Directory (shareaudit/cli_ad.py).
cli.add_command(discover_command)


def main() -> None:
    """Entry point: run the CLI and turn every outcome into one line and an exit code."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = cli.main(standalone_mode=False, prog_name="shareaudit")
    except click.exceptions.Abort:
        click.echo("shareaudit: aborted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = EXIT_INPUT if exc.exit_code == 2 else exc.exit_code
    except ShareauditError as exc:
        click.echo(f"shareaudit: error: {exc}", err=True)
        code = EXIT_INPUT
    except KeyboardInterrupt:
        click.echo("shareaudit: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the last resort: a bug, said in one line unless --debug
        if debug:
            raise
        click.echo(
            f"shareaudit: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        code = EXIT_INTERNAL
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
