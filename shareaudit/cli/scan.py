"""`shareaudit scan`: grouped options -> a plan -> `audit.run` -> summary and exit code."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from shareaudit.audit import suppress
from shareaudit.audit.alerts import EmailTarget, WebhookTarget
from shareaudit.audit.run import Outcome, run
from shareaudit.cli.ad import (
    DirectoryOptions,
    directory_options,
    from_ad_option,
    ldap_settings,
    merge_targets,
)
from shareaudit.cli.ad import read as read_directory
from shareaudit.cli.audit import history_path, resolve_data_dir
from shareaudit.cli.options import data_dir_option, grouped, history_option
from shareaudit.cli.report import FAIL_ON_HELP, exit_code, fail_on_option, output_paths
from shareaudit.collect.crawl import CrawlBounds
from shareaudit.collect.dicom.options import DEFAULT_PORTS, MAX_STUDIES, dicom_options
from shareaudit.collect.ftp.options import DEFAULT_PORTS as FTP_PORTS
from shareaudit.collect.ftp.options import ftp_options
from shareaudit.collect.hosts import DEFAULT_PROTOCOLS, PROTOCOLS
from shareaudit.collect.nfs.options import nfs_options
from shareaudit.collect.sweep import SweepOptions
from shareaudit.errors import InputError
from shareaudit.model import VantagePoint
from shareaudit.plan import config
from shareaudit.plan.identities import (
    ANONYMOUS,
    GUEST,
    Identity,
    audit_identity,
    extra_identities,
    secret_from_env,
)
from shareaudit.plan.plan import AlertPlan, Bounds, DirectoryPlan, HistoryPlan, Outputs, Plan
from shareaudit.plan.targets import TargetList, parse_targets
from shareaudit.render.printable import printable
from shareaudit.render.progress import LiveProgress
from shareaudit.render.terminal import leftover_probes, print_summary
from shareaudit.vantage import vantage_point

DEFAULT_BOUNDS = CrawlBounds()
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\b
Exit codes:
  0    scan completed, every target scanned
  1    findings at or above --fail-on (wins over 3)
  2    usage or input error (also: wrong LDAP credentials, DC certificate not trusted)
  3    scan completed but some targets failed; or the directory (--ldap-url) could not be reached
  4    internal error (run with --debug and report it)
  130  interrupted; results gathered so far are written"""


# --- option groups -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    """Who the scan acts as, as given on the command line."""

    user: str | None
    domain: str
    password_file: Path | None
    no_anonymous: bool
    no_guest: bool
    specs: tuple[str, ...]
    identities_file: Path | None


_PATH = click.Path(path_type=Path, dir_okay=False)

identity_options = grouped(
    "who",
    (
        click.option(
            "-u",
            "--user",
            help="Audit account, USER or DOMAIN\\USER. Password: $SHAREAUDIT_PASSWORD, "
            "--password-file, or a prompt on a terminal.",
        ),
        click.option("-d", "--domain", default="", help="Domain of the audit account."),
        click.option(
            "--password-file",
            type=_PATH,
            help="File whose first line is the audit account's password (mode 600).",
        ),
        click.option("--no-anonymous", is_flag=True, help="Do not measure access as the null session."),
        click.option("--no-guest", is_flag=True, help="Do not measure access as the server's guest."),
        click.option(
            "--identity",
            "identity_specs",
            multiple=True,
            metavar="LABEL=[DOMAIN\\]USER",
            help="An extra identity to measure, typically a printer/scanner service account; repeatable. "
            "Password: $SHAREAUDIT_PASSWORD_<LABEL> or --identities-file.",
        ),
        click.option(
            "--identities-file",
            type=_PATH,
            help="TOML file of [identities.LABEL] tables (account, password_env | password_file); mode 600.",
        ),
    ),
    ("user", "domain", "password_file", "no_anonymous", "no_guest", "identity_specs", "identities_file"),
    lambda v: IdentityOptions(
        v["user"],
        v["domain"],
        v["password_file"],
        v["no_anonymous"],
        v["no_guest"],
        tuple(v["identity_specs"]),
        v["identities_file"],
    ),
)


def protocols(text: str) -> tuple[str, ...]:
    """--protocols smb,dicom as a tuple in the run order; InputError naming what is unknown."""
    names = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown or not names:
        what = f"unknown protocol {', '.join(map(repr, unknown))}" if unknown else "no protocol"
        raise InputError(f"--protocols: {what} (choose from {', '.join(PROTOCOLS)})")
    return tuple(name for name in PROTOCOLS if name in names)


def _bounds(v: dict[str, Any]) -> Bounds:
    crawl = CrawlBounds(
        max_depth=v["max_depth"],
        max_entries=v["max_entries"],
        max_dir_entries=v["max_dir_entries"],
        time_budget=v["time_budget"],
        rate=v["max_rate"],
        connections=v["walk_connections"],
        sniff=not v["no_sniff"],
        max_sniff=v["max_sniff"],
        sample=not v["no_sample"],
    )
    return Bounds(
        timeout=v["timeout"],
        max_hosts=v["max_hosts"],
        max_shares=v["max_shares"],
        crawl=None if v["no_crawl"] else crawl,
        include_shares=tuple(v["include_share"]),
        exclude_shares=tuple(v["exclude_share"]),
        active_write_probe=v["active_write_probe"],
        protocols=protocols(v["protocols"]),
        dicom=dicom_options(tuple(v["dicom_ports"]), tuple(v["dicom_ae_titles"]), v["dicom_max_studies"]),
        ftp=ftp_options(tuple(v["ftp_ports"])),
        nfs=nfs_options(tuple(v["nfs_ports"]), tuple(v["nfs_uids"])),
        sweep=None if v["no_sweep"] else SweepOptions(v["sweep_concurrency"]),
    )


bounds_options = grouped(
    "bounds",
    (
        click.option(
            "--timeout",
            type=click.FloatRange(0.1, 300),
            default=5.0,
            show_default=True,
            help="Seconds to wait for a connection or an answer.",
        ),
        click.option(
            "--max-hosts",
            type=click.IntRange(1, 1024),
            default=16,
            show_default=True,
            help="Hosts scanned at the same time.",
        ),
        click.option(
            "--no-sweep",
            is_flag=True,
            help="Scan every target deeply, without first sweeping all of their ports with one connect each.",
        ),
        click.option(
            "--sweep-concurrency",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            help="Connections the sweep keeps in flight (0: as many as the open-file limit allows, raised to "
            "the hard limit first).",
        ),
        click.option(
            "--active-write-probe",
            is_flag=True,
            help="Confirm write access by creating and deleting an empty file in each share root. "
            "Off by default: without it nothing is written.",
        ),
        click.option(
            "--include-share", multiple=True, metavar="GLOB", help="Only these shares (repeatable)."
        ),
        click.option(
            "--exclude-share", multiple=True, metavar="GLOB", help="Never these shares (repeatable)."
        ),
        click.option(
            "--no-crawl", is_flag=True, help="Measure access only; do not walk shares for medical data."
        ),
        click.option(
            "--max-shares",
            type=click.IntRange(1, 64),
            default=4,
            show_default=True,
            help="Shares of one host walked at the same time.",
        ),
        click.option(
            "--max-depth",
            type=click.IntRange(0, 64),
            default=DEFAULT_BOUNDS.max_depth,
            show_default=True,
            help="Directory levels below a share root walked.",
        ),
        click.option(
            "--max-entries",
            type=click.IntRange(1),
            default=DEFAULT_BOUNDS.max_entries,
            show_default=True,
            help="Entries taken per share.",
        ),
        click.option(
            "--max-dir-entries",
            type=click.IntRange(1),
            default=DEFAULT_BOUNDS.max_dir_entries,
            show_default=True,
            help="Entries taken from one directory.",
        ),
        click.option(
            "--time-budget",
            type=click.FloatRange(1),
            default=DEFAULT_BOUNDS.time_budget,
            show_default=True,
            help="Seconds per share.",
        ),
        click.option(
            "--max-rate",
            type=click.FloatRange(0),
            default=DEFAULT_BOUNDS.rate,
            show_default=True,
            help="Requests per second per share walk (0: unlimited).",
        ),
        click.option(
            "--walk-connections",
            type=click.IntRange(1, 8),
            default=DEFAULT_BOUNDS.connections,
            show_default=True,
            help="SMB connections one share walk spreads its requests over (Samba serves each connection "
            "with one process; --max-rate still caps them all together).",
        ),
        click.option("--no-sniff", is_flag=True, help="Classify by name only; never read file contents."),
        click.option(
            "--no-sample",
            is_flag=True,
            help="Read every file whose name cannot decide, instead of a sample of many like files "
            "in one folder (exact counts, slower).",
        ),
        click.option(
            "--protocols",
            default=",".join(DEFAULT_PROTOCOLS),
            show_default=True,
            metavar="LIST",
            help="Doors to look at, comma-separated: smb (shares), dicom (PACS and modality archives), "
            "ftp (FTP and FTPS), nfs (exports; ports 2049 and 111).",
        ),
        click.option(
            "--dicom-port",
            "dicom_ports",
            type=click.IntRange(1, 65535),
            multiple=True,
            metavar="PORT",
            help=f"A DICOM port to probe besides {', '.join(map(str, DEFAULT_PORTS))} (repeatable).",
        ),
        click.option(
            "--dicom-ae",
            "dicom_ae_titles",
            multiple=True,
            metavar="AET",
            help="A called AE title the PACS is known by, tried before the common defaults (repeatable).",
        ),
        click.option(
            "--dicom-max-studies",
            type=click.IntRange(1),
            default=MAX_STUDIES,
            show_default=True,
            help="Studies counted per DICOM port before the query is cancelled (the count is then a lower bound).",
        ),
        click.option(
            "--ftp-port",
            "ftp_ports",
            type=click.IntRange(1, 65535),
            multiple=True,
            metavar="PORT",
            help=f"An FTP port to probe besides {', '.join(map(str, FTP_PORTS))} (repeatable; a port that "
            "greets nobody in plain text is tried as implicit FTPS).",
        ),
        click.option(
            "--nfs-port",
            "nfs_ports",
            type=click.IntRange(1, 65535),
            multiple=True,
            metavar="PORT",
            help="An NFS port to probe besides 2049 (and rpcbind's 111) (repeatable).",
        ),
        click.option(
            "--nfs-uid",
            "nfs_uids",
            multiple=True,
            metavar="LABEL=UID[:GID]",
            help="An AUTH_SYS identity to try each NFS export as, besides nobody (65534), e.g. a printer's "
            "printer=3001:3001; a LABEL that is also an --identity label is the same account (repeatable).",
        ),
        click.option(
            "--max-sniff",
            type=click.IntRange(0),
            default=DEFAULT_BOUNDS.max_sniff,
            show_default=True,
            help="Files per share whose first 4 KiB may be read.",
        ),
    ),
    (
        "timeout",
        "max_hosts",
        "no_sweep",
        "sweep_concurrency",
        "active_write_probe",
        "include_share",
        "exclude_share",
        "no_crawl",
        "max_shares",
        "max_depth",
        "max_entries",
        "max_dir_entries",
        "time_budget",
        "max_rate",
        "walk_connections",
        "no_sniff",
        "no_sample",
        "max_sniff",
        "protocols",
        "dicom_ports",
        "dicom_ae_titles",
        "dicom_max_studies",
        "ftp_ports",
        "nfs_ports",
        "nfs_uids",
    ),
    _bounds,
)


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """Where results go, as given (`-o DIR` already expanded)."""

    outputs: Outputs
    fail_on: str | None
    quiet: bool


def _outputs(v: dict[str, Any]) -> OutputOptions:
    json_path, html_path, csv_path = output_paths(
        v["output_dir"], v["json_path"], v["html_path"], v["csv_path"]
    )
    return OutputOptions(
        Outputs(json_path, html_path, csv_path, v["inventory_path"]), v["fail_on"], v["quiet"]
    )


output_options = grouped(
    "out",
    (
        click.option(
            "--json", "json_path", type=_PATH, help="Write the scan result as JSON (docs/json-format.md)."
        ),
        click.option(
            "--html", "html_path", type=_PATH, help="Write the HTML report (one self-contained file)."
        ),
        click.option("--csv", "csv_path", type=_PATH, help="Write the findings as CSV, one per row."),
        click.option(
            "-o",
            "--output-dir",
            type=click.Path(path_type=Path, file_okay=False),
            help="Write scan.json, report.html and findings.csv into this directory.",
        ),
        click.option(
            "--inventory",
            "inventory_path",
            type=_PATH,
            help="Stream every medical file found (redacted path, type, size) to this JSON Lines file.",
        ),
        click.option("--fail-on", type=fail_on_option(), help=FAIL_ON_HELP),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
    ),
    ("json_path", "html_path", "csv_path", "output_dir", "inventory_path", "fail_on", "quiet"),
    _outputs,
)


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """History and accepted risks, as given."""

    history_file: Path | None
    no_history: bool
    audit_name: str | None
    suppressions: Path | None
    vantage: str | None = None  # --vantage: where the scan runs from


record_options = grouped(
    "record",
    (
        history_option("History database (default: history.sqlite in the data directory)."),
        click.option("--no-history", is_flag=True, help="Do not record this run in the history."),
        click.option(
            "--audit-name",
            help="Name under which runs are compared by `shareaudit diff` (default: the config file name).",
        ),
        click.option(
            "--suppressions",
            "suppressions_path",
            type=_PATH,
            help="TOML file of accepted risks (docs/suppressions.example.toml).",
        ),
        click.option(
            "--vantage",
            metavar="NAME",
            help="Where this scanner runs (a network segment: office-vlan, guest-wifi): recorded in the "
            "result and the history; `shareaudit merge` combines runs from several vantage points.",
        ),
    ),
    ("history_file", "no_history", "audit_name", "suppressions_path", "vantage"),
    lambda v: RecordOptions(
        v["history_file"], v["no_history"], v["audit_name"], v["suppressions_path"], v["vantage"]
    ),
)


# --- building the plan ----------------------------------------------------------------------------------------


def user_name() -> str:
    """Who runs the scan; a container's uid may have no name (getpass raises KeyError then)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _prompt(label: str) -> str:
    return click.prompt(label, hide_input=True, err=True)


def _load_config(ctx: click.Context, _: click.Parameter, path: Path | None) -> Path | None:
    """Read --config before the other options, and make its values their defaults."""
    if path is not None:
        loaded = config.load(path)
        ctx.meta["config"] = loaded
        ctx.default_map = {**(ctx.default_map or {}), **config.scan_defaults(loaded)}
    return path


def _identities(
    ctx: click.Context, who: IdentityOptions, loaded: config.AuditConfig | None, config_path: Path | None
) -> tuple[Identity | None, tuple[Identity, ...]]:
    """The audit account and every identity to measure; the command line's -u wins over the config's."""
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
        audit = audit_identity(
            who.user, who.domain, who.password_file, _prompt if sys.stdin.isatty() else None
        )
    builtin = [i for i, off in ((ANONYMOUS, who.no_anonymous), (GUEST, who.no_guest)) if not off]
    extra = extra_identities(who.specs, who.identities_file)
    extra += [i for i in configured if i.label not in {e.label for e in extra}]
    return audit, (*([audit] if audit else []), *builtin, *extra)


def _alerts(loaded: config.AuditConfig | None) -> AlertPlan | None:
    if loaded is None or not (loaded.alerts.webhook or loaded.alerts.email):
        return None
    settings = loaded.alerts
    webhook = email = None
    if settings.webhook is not None:
        hook = settings.webhook
        webhook = WebhookTarget(
            url=hook.url, ca_file=str(hook.ca_file) if hook.ca_file else None, verify_tls=hook.verify_tls
        )
    if settings.email is not None:
        mail = settings.email
        email = EmailTarget(
            host=mail.host,
            port=mail.port,
            sender=mail.sender,
            recipients=tuple(mail.recipients),
            starttls=mail.starttls,
            username=mail.username,
            password=secret_from_env(mail.password_env) if mail.password_env else None,
            ca_file=str(mail.ca_file) if mail.ca_file else None,
        )
    return AlertPlan(settings.threshold, webhook, email)


def _history(
    record: RecordOptions,
    loaded: config.AuditConfig | None,
    config_path: Path | None,
    targets: TargetList,
    data_dir: Path,
) -> HistoryPlan | None:
    if record.no_history or (loaded is not None and not loaded.history.enabled):
        return None
    name = record.audit_name or (loaded.history.name if loaded and loaded.history.name else None)
    name = name or (
        config_path.stem
        if config_path
        else "targets:" + ",".join(sorted(t.spec for t in targets.targets))[:200]
    )
    path = (
        record.history_file
        or (loaded.history.path if loaded and loaded.history.path else None)
        or history_path(None, data_dir)
    )
    return HistoryPlan(path, name)


def _vantage(record: RecordOptions, loaded: config.AuditConfig | None) -> VantagePoint | None:
    """--vantage (or the config's scan.vantage), with its trust from the config's [vantage.NAME]."""
    if record.vantage is None:
        return None
    return vantage_point(record.vantage, config.vantage_trust(loaded).get(record.vantage, True))


def build_plan(
    ctx: click.Context,
    targets: tuple[str, ...],
    config_path: Path | None,
    who: IdentityOptions,
    bounds: Bounds,
    out: OutputOptions,
    record: RecordOptions,
    directory: DirectoryOptions | None,
    show_names: bool,
    data_dir: Path | None,
    strict: bool,
) -> Plan:
    """Everything `scan` was asked, checked and resolved (secrets, suppressions, the directory) before any scan."""
    loaded: config.AuditConfig | None = ctx.meta.get("config")
    vantage = _vantage(record, loaded)
    target_list = parse_targets(targets, strict=strict)
    for problem in target_list.problems:
        click.echo(f"shareaudit: skipping bad target {problem}", err=True)
    if not target_list.targets and not (directory and directory.from_ad):
        raise InputError(
            "no valid targets" if targets else "no targets: give them on the command line or in --config"
        )
    audit, identities = _identities(ctx, who, loaded, config_path)
    # Read before scanning: a broken suppressions file must not cost a whole scan.
    rules_file = record.suppressions or (loaded.history.suppressions if loaded else None)
    accepted = tuple(suppress.load(rules_file)) if rules_file is not None else ()
    # --ldap-url: the directory is read before scanning (targets with --from-ad; groups of every account).
    directory_plan = None
    if directory is not None:
        ad = read_directory(directory, audit, list(identities))
        target_list = merge_targets(target_list, ad, directory)
        if not target_list.targets:
            raise InputError("no targets: none given, and the directory matched no enabled computer")
        directory_plan = DirectoryPlan(ad, ldap_settings(directory, audit))
    data = resolve_data_dir(data_dir)
    return Plan(
        targets=target_list,
        identities=identities,
        data_dir=data,
        bounds=bounds,
        outputs=out.outputs,
        show_names=show_names,
        history=_history(record, loaded, config_path, target_list, data),
        suppressions=accepted,
        alerts=_alerts(loaded),
        directory=directory_plan,
        run_by=f"{user_name()}@{socket.gethostname()}",
        vantage=vantage,
    )


def report_outcome(outcome: Outcome, quiet: bool) -> None:
    """Warnings (always, even with --quiet, for a file left on a server) and the summary."""
    if outcome.interrupted:
        click.echo(
            "shareaudit: interrupted; partial results written"
            if outcome.written
            else "shareaudit: interrupted",
            err=True,
        )
        return
    for warning in outcome.warnings:
        click.echo(f"shareaudit: WARNING: {printable(warning)}", err=True)
    for path in leftover_probes(outcome.result):  # something was left on a server
        click.echo(
            f"shareaudit: WARNING: the write probe left a file behind; delete it by hand: {printable(path)}",
            err=True,
        )
    if not quiet:
        # Not a terminal (cron mail, CI logs): a fixed width that fits the table instead of 80 columns.
        print_summary(outcome.result, Console(highlight=False, width=None if sys.stdout.isatty() else 120))


@click.command("scan", epilog=EXIT_CODES_HELP)
@click.argument("targets", nargs=-1)
@click.option(
    "--config",
    "config_path",
    type=_PATH,
    is_eager=True,
    callback=_load_config,
    help="TOML config (docs/audit.example.toml); options given on the command line override it.",
)
@record_options
@identity_options
@output_options
@bounds_options
@click.option(
    "--show-names",
    is_flag=True,
    help="Print file and directory names that look like patient data (redacted by default).",
)
@data_dir_option("the redaction key (and the history) live")
@click.option("--strict", is_flag=True, help="Refuse to scan when any target entry is invalid.")
@from_ad_option
@directory_options
@click.pass_context
def scan_command(
    ctx: click.Context,
    targets: tuple[str, ...],
    config_path: Path | None,
    record: RecordOptions,
    who: IdentityOptions,
    out: OutputOptions,
    bounds: Bounds,
    show_names: bool,
    data_dir: Path | None,
    strict: bool,
    directory: DirectoryOptions | None,
) -> int:
    """Scan TARGETS: host names, IPs, CIDR ranges, host:port, or @FILE (one per line, # comments)."""
    plan = build_plan(
        ctx, targets, config_path, who, bounds, out, record, directory, show_names, data_dir, strict
    )
    # A live display only for a person at a terminal: cron mail and CI logs stay clean.
    live = LiveProgress(len(plan.targets.targets)) if not out.quiet and sys.stderr.isatty() else None
    with live if live is not None else contextlib.nullcontext():
        outcome = run(plan, live)
    report_outcome(outcome, out.quiet)
    return EXIT_INTERRUPTED if outcome.interrupted else exit_code(outcome.result, out.fail_on)
