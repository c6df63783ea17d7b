"""Commands for scheduled and one-off audits: config check, history, diff, and the device check."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import click
from platformdirs import user_data_dir
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.audit.device import Check, checks
from shareaudit.audit.history import Diff, History, StoredFinding
from shareaudit.audit.run import run as run_audit
from shareaudit.cli.options import data_dir_option, history_option
from shareaudit.collect.nfs.options import nfs_options
from shareaudit.errors import InputError
from shareaudit.plan import config
from shareaudit.plan.identities import (
    ANONYMOUS,
    GUEST,
    audit_identity,
    extra_identities,
    parse_identity_option,
)
from shareaudit.plan.plan import Bounds, Outputs, Plan
from shareaudit.plan.targets import parse_targets
from shareaudit.render.device import render_device_html
from shareaudit.render.output import write_atomically
from shareaudit.render.printable import printable

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_TARGETS_FAILED = 0, 1, 2, 3


def resolve_data_dir(explicit: Path | None) -> Path:
    """Where the redaction key and the history live: --data-dir, $SHAREAUDIT_DATA_DIR, the user data dir."""
    if explicit is not None:
        return explicit
    env = os.environ.get("SHAREAUDIT_DATA_DIR")
    return Path(env) if env else Path(user_data_dir("shareaudit"))


def history_path(explicit: Path | None, directory: Path | None) -> Path:
    """The history database: --history, else history.sqlite in the data directory."""
    return explicit or resolve_data_dir(directory) / "history.sqlite"


def _console() -> Console:
    return Console(highlight=False, width=None if os.isatty(1) else 120)


# --- config check ----------------------------------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """Work with audit config files."""


@config_group.command("check")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def config_check(path: Path) -> int:
    """Validate a config file without scanning: keys, values, targets, secret references."""
    loaded = config.load(path)
    targets = parse_targets(loaded.targets, strict=True)
    if not targets.targets:
        raise InputError(f"{path}: no targets")
    audit, extra = config.identities(loaded, path)
    identities = (
        ", ".join(i.label for i in ([audit] if audit else []) + extra) or "none besides anonymous/guest"
    )
    click.echo(f"{path}: OK: {len(targets.targets)} target(s); identities: {identities}")
    return EXIT_OK


# --- history and diff ------------------------------------------------------------------------------------


def _from_config(
    path: Path | None, history_file: Path | None, directory: Path | None, name: str | None
) -> tuple[Path, str | None]:
    """The history database and audit name, from --config when given (explicit options win)."""
    if path is None:
        return history_path(history_file, directory), name
    loaded = config.load(path)
    database = history_file or loaded.history.path or history_path(None, directory or loaded.data_dir)
    return database, name or loaded.history.name or path.stem


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Use this audit config's history.",
)


@click.command("history")
@history_option("History database.")
@data_dir_option("the history (and the redaction key) live")
@click.option("--name", help="Only runs of this audit (config) name.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="Runs listed at most.")
@click.option("--vantage", metavar="NAME", help="Only runs from this vantage point (scan --vantage).")
@_config_option
def history_command(
    history_file: Path | None,
    data_dir: Path | None,
    name: str | None,
    limit: int,
    vantage: str | None,
    config_path: Path | None,
) -> int:
    """List recorded runs, newest first, with the vantage point each ran from."""
    database, name = _from_config(config_path, history_file, data_dir, name)
    with History.open_for_reading(database) as store:
        runs = store.runs(name, limit, vantage)
    table = Table(title="Runs", title_justify="left")
    for column in ("run", "audit", "vantage", "started", "hosts", "failed", "findings", "open actions"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            str(run.id),
            Text(printable(run.name)),
            Text(printable(run.vantage or "-")),
            run.started_at,
            str(run.hosts),
            str(run.failed),
            str(run.findings),
            "-" if run.actions is None else str(run.actions),
        )
    _console().print(table)
    return EXIT_OK


def _describe(finding: StoredFinding) -> str:
    """One finding: severity, title, and where (host/share/identity/path)."""
    where = "/".join(x for x in finding.place if x)
    return f"[{finding.severity}] {finding.title} ({where})"


def print_diff(diff: Diff, console: Console) -> None:
    """The diff as lines: new, resolved (by fingerprint), changed places, severity changes, medical growth."""
    vantage = f", from vantage point {diff.after.vantage}" if diff.after.vantage else ""
    console.print(
        Text(
            printable(
                f"run {diff.before.id} ({diff.before.started_at}) -> run {diff.after.id} "
                f"({diff.after.started_at}{vantage})"
            )
        )
    )
    print_action_progress(diff, console)  # what an admin did, first; then the findings one by one
    for f in diff.new:
        console.print(Text(printable("+ new      " + _describe(f)), style="red"))
    for f in diff.resolved:
        console.print(Text(printable("- resolved " + _describe(f)), style="green"))
    # An annotation of lines above: the same place lost some findings and gained others.
    for change in diff.changed:
        was = ", ".join(sorted(f"{f.rule}:{f.severity}" for f in change.before))
        now = ", ".join(sorted(f"{f.rule}:{f.severity}" for f in change.after))
        place = "/".join(x for x in (change.host, change.share, change.identity, change.path) if x)
        console.print(Text(printable(f"~ changed  {place}: {was} -> {now}"), style="yellow"))
    for regrade in diff.regraded:
        was, now = regrade.before.severity, regrade.after.severity
        console.print(
            Text(printable(f"! severity {was} -> {now}: " + _describe(regrade.after)), style="yellow")
        )
    for growth in diff.medical_grew:
        console.print(
            Text(
                printable(
                    f"^ medical  {growth.host}/{growth.share} {growth.type}: {growth.before} -> {growth.after}"
                ),
                style="red",
            )
        )
    total = len(diff.new) + len(diff.resolved) + len(diff.regraded) + len(diff.medical_grew)
    console.print(
        Text(
            f"{len(diff.new)} new, {len(diff.resolved)} resolved ({len(diff.changed)} place(s) changed)"
            f", {len(diff.regraded)} severity changed, {len(diff.medical_grew)} medical counts grew"
            if total
            else "no change"
        )
    )
    summary = action_summary(diff)
    if summary:
        console.print(Text(summary))


def print_action_progress(diff: Diff, console: Console) -> None:
    """The diff in actions: which of the earlier plan's actions are done or partly done, which are new."""
    for step in diff.progress:
        action = step.action
        if step.done:
            line = f"= done     action {action.rank} '{action.title}': {step.resolved} finding(s) resolved"
            console.print(Text(printable(line), style="green"))
        else:
            line = f"~ partly   action {action.rank} '{action.title}': {step.resolved} of {action.findings} finding(s) resolved"
            console.print(Text(printable(line), style="yellow"))
    for action in diff.actions_new:
        line = f"+ action   {action.rank} '{action.title}': {action.findings} finding(s) to close"
        console.print(Text(printable(line), style="red"))


def action_summary(diff: Diff) -> str | None:
    """'open actions: 38 -> 29 (9 done, 1 partly done, 0 new)', when both runs recorded a plan."""
    before, after = diff.before.actions, diff.after.actions
    if before is None or after is None:
        return None
    done = sum(1 for step in diff.progress if step.done)
    partly = len(diff.progress) - done
    return (
        f"open actions: {before} -> {after} ({done} done, {partly} partly done, {len(diff.actions_new)} new)"
    )


@click.command("diff")
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@history_option("History database.")
@data_dir_option("the history (and the redaction key) live")
@click.option("--name", help="Audit name whose last two runs to compare (default: that of the latest run).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@_config_option
def diff_command(
    run_a: int | None,
    run_b: int | None,
    history_file: Path | None,
    data_dir: Path | None,
    name: str | None,
    as_json: bool,
    config_path: Path | None,
) -> int:
    """Compare two runs (default: the last two runs of the same audit from the same vantage point): new,
    resolved, changed findings."""
    database, name = _from_config(config_path, history_file, data_dir, name)
    with History.open_for_reading(database) as store:
        if run_a is None:
            latest = store.runs(name, 1)
            if not latest:
                raise InputError("the history has no runs")
            earlier = store.previous(latest[0].name, latest[0].id)
            if earlier is None:
                where = f" from vantage point {latest[0].vantage}" if latest[0].vantage else ""
                raise InputError(f"audit {latest[0].name!r} has only one run{where}; nothing to compare")
            run_a, run_b = earlier.id, latest[0].id
        elif run_b is None:
            previous = store.previous(store.run(run_a).name, run_a)
            if previous is None:
                raise InputError(f"run {run_a} has no earlier run of the same audit and vantage point")
            run_a, run_b = previous.id, run_a
        result = store.diff(run_a, run_b)
    if as_json:
        import json

        click.echo(json.dumps(asdict(result), indent=2, default=str))
    else:
        print_diff(result, _console())
    return EXIT_OK


# --- the device check ------------------------------------------------------------------------------------


def print_checks(found: list[Check], console: Console) -> None:
    """The checklist: PASS/FAIL per check and host, with each reason."""
    for check in found:
        mark = Text("PASS ", style="bold green") if check.passed else Text("FAIL ", style="bold red")
        console.print(mark + Text(printable(f"{check.host}: {check.name}")))
        for reason in check.reasons:
            console.print(Text(printable(f"      - {reason}"), style="red"))


def _device_bounds(timeout: float, label: str, nfs_uid: str | None) -> Bounds:
    """The device check's bounds: NFS too, as the device's uid, when it has one."""
    if nfs_uid is None:
        return Bounds(timeout=timeout)
    nfs = nfs_options((), (f"{label}={nfs_uid}",))
    return Bounds(timeout=timeout, protocols=(*Bounds().protocols, "nfs"), nfs=nfs)


@click.command("device")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--account",
    required=True,
    metavar="LABEL=[DOMAIN\\\\]USER",
    help="The device's service account; password from $SHAREAUDIT_PASSWORD_<LABEL>.",
)
@click.option("--drop-share", metavar="NAME", help="The share the device should only add files to.")
@click.option(
    "--device-nfs-uid",
    metavar="UID[:GID]",
    help="The device's AUTH_SYS uid on the NAS: its NFS reach is checked too (nfs-device-reach).",
)
@click.option("-u", "--user", help="Audit account (optional): lets the check read ACLs and walk more shares.")
@click.option("-d", "--domain", default="", help="Domain of the audit account.")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the audit account's password (mode 600).",
)
@click.option(
    "--html", "html_path", type=click.Path(path_type=Path, dir_okay=False), help="Write a one-page HTML."
)
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), help="Write the scan result."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=5.0,
    show_default=True,
    help="Seconds to wait for a connection or an answer.",
)
@data_dir_option("the redaction key lives")
def device_command(
    targets: tuple[str, ...],
    account: str,
    drop_share: str | None,
    device_nfs_uid: str | None,
    user: str | None,
    domain: str,
    password_file: Path | None,
    html_path: Path | None,
    json_path: Path | None,
    timeout: float,
    data_dir: Path | None,
) -> int:
    """Right after installing a printer or scanner: is its account confined to its drop folder?

    Exit 0 when every check passes, 1 when any fails, 2 on bad input, 3 when a host could not be scanned.
    """
    label, _, _ = parse_identity_option(account)
    device = extra_identities([account], None)[0]
    target_list = parse_targets(targets, strict=True)
    audit = audit_identity(user, domain, password_file, None)
    plan = Plan(
        targets=target_list,
        identities=(*([audit] if audit else []), ANONYMOUS, GUEST, device),
        data_dir=resolve_data_dir(data_dir),
        bounds=_device_bounds(timeout, label, device_nfs_uid),
        outputs=Outputs(json=json_path),
        labels={"device": label, "drop_share": drop_share},
    )
    result = run_audit(plan).result
    found = checks(result)
    if html_path:
        write_atomically(html_path, render_device_html(result, found, label, drop_share))
    print_checks(found, _console())
    if any(h.error and h.posture is None for h in result.hosts):
        return EXIT_TARGETS_FAILED
    return EXIT_OK if all(c.passed for c in found) else EXIT_FAIL
