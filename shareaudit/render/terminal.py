"""The terminal summary: one table of hosts with their posture flags and share counts.

Every string that came from a server is passed as rich Text, never as markup, so a share remark like
"[bold]" or "<img ...>" is printed literally.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.model import UNPRIVILEGED, Access, HostResult, ScanResult, Severity, Share
from shareaudit.render.nfs import nfs_views
from shareaudit.render.printable import printable
from shareaudit.render.services import dicom_services, ftp_cells, ftp_services, summary_cells
from shareaudit.render.walks import walk_notes

LEGEND = (
    "R read  W write  D delete  P change permissions  O take ownership  c connects (not probed)  "
    "· connects, no rights  - refused  lower case: claimed by the server, uncertain"
)


def _flag(value: bool, bad_when: bool) -> Text:
    return Text("yes" if value else "no", style="bold red" if value == bad_when else "green")


def _posture_cells(host: HostResult) -> list[Text]:
    p = host.posture
    if p is None:
        return [Text("-")] * 5
    return [
        _flag(p.smb1, True),
        _flag(p.signing_required, False),
        _flag(p.null_session, True),
        _flag(p.guest_account, True),
        _flag(p.guest_fallback, True),
    ]


def _host_label(host: HostResult) -> str:
    """The address for range members, the name (and address) for named hosts, with a non-default port."""
    port = f":{host.port}" if host.port != 445 else ""
    if "/" in host.target or host.target.strip("[]").split("]")[0] == host.address:
        return f"{host.address}{port}"
    return f"{host.target} ({host.address}{port})" if host.address not in host.target else host.target


def hosts_table(result: ScanResult) -> Table:
    """Hosts as rows: status, posture flags, shares."""
    table = Table(title="Hosts", title_justify="left", show_lines=False)
    table.add_column("target", no_wrap=True)
    for column in ("status", "SMB1", "signing required", "null session", "guest", "guest fallback", "shares"):
        table.add_column(column)
    for host in result.hosts:
        status = (
            Text("ok", style="green") if host.error is None else Text(host.error_kind or "error", style="red")
        )
        shares = Text(str(len(host.shares))) if host.reachable and host.posture else Text("-")
        table.add_row(Text(printable(_host_label(host))), status, *_posture_cells(host), shares)
    return table


def dicom_table(result: ScanResult) -> Table | None:
    """One row per DICOM port that answered: transport, unknown calling AE, studies, retrieval."""
    rows = [(host, service) for host in result.hosts for service in dicom_services(host)]
    if not rows:
        return None
    table = Table(title="DICOM", title_justify="left")
    for column in ("target", "port", "transport", "unknown AE", "studies", "retrieve", "status"):
        table.add_column(column, no_wrap=column in ("target", "port"))
    for host, service in rows:
        transport, calling, studies, retrieve = summary_cells(service)
        status = (
            Text("ok", style="green")
            if service.error is None
            else Text(service.error_kind or "error", style="red")
        )
        table.add_row(
            Text(printable(_host_label(host))),
            Text(str(service.port)),
            Text(transport, style="bold red" if transport == "plain" else "green"),
            Text(
                calling,
                style="bold red" if calling == "accepted" else "green" if calling == "refused" else "",
            ),
            Text(studies, style="bold red" if studies not in ("-", "0", "refused", "not_offered") else ""),
            Text(retrieve, style="bold red" if "C-" in retrieve else ""),
            status,
        )
    return table


def nfs_table(result: ScanResult) -> Table | None:
    """One row per NFS export: clients, each identity's marks, root squash, medical data found."""
    rows = [
        (host, row, view.labels) for host in result.hosts for view in nfs_views(host) for row in view.exports
    ]
    if not rows:
        return None
    table = Table(
        title="NFS exports (L list, R read: done; W write: claimed; m mounted only; - mount refused)",
        title_justify="left",
    )
    for column in ("target", "export", "clients", "identities", "root squash", "content"):
        table.add_column(column, no_wrap=column in ("target",))
    for host, row, labels in rows:
        who = "  ".join(f"{label} {cell[0]}" for label, cell in zip(labels, row.cells, strict=True))
        squash_text, tone = row.squash
        table.add_row(
            Text(printable(_host_label(host))),
            Text(printable(row.path)),
            Text(printable(row.clients), style="bold red" if row.everyone else ""),
            Text(printable(who)),
            Text(
                printable(squash_text),
                style="bold red" if tone == "bad" else "green" if tone == "good" else "",
            ),
            Text(printable(row.content), style="bold red" if "medical:" in row.content else ""),
        )
    return table


def ftp_table(result: ScanResult) -> Table | None:
    """One row per FTP port that answered: TLS, anonymous, passwords in clear, medical files, named logins."""
    rows = [(host, service) for host in result.hosts for service in ftp_services(host)]
    if not rows:
        return None
    table = Table(title="FTP", title_justify="left")
    for column in (
        "target",
        "port",
        "TLS",
        "anonymous",
        "clear-text passwords",
        "medical (anon)",
        "logins",
        "status",
    ):
        table.add_column(column, no_wrap=column in ("target", "port"))
    for host, service in rows:
        tls, anonymous, clear, medical, logins = ftp_cells(service)
        status = (
            Text("ok", style="green")
            if service.error is None
            else Text(service.error_kind or "error", style="red")
        )
        table.add_row(
            Text(printable(_host_label(host))),
            Text(str(service.port)),
            Text(tls, style="bold red" if tls == "none" else "green" if tls == "implicit" else ""),
            Text(anonymous, style="bold red" if anonymous.startswith("reads") else ""),
            Text(clear, style="bold red" if clear == "taken" else "green" if clear == "refused" else ""),
            Text(medical, style="bold red" if medical not in ("-", "0") else ""),
            Text(printable(logins)),
            status,
        )
    return table


def access_marks(access: Access | None, share: Share) -> str:
    """R/W/D/P/O for what the identity may do; c for a printer or IPC connection; - when refused."""
    if access is None:
        return ""
    if not access.connect:
        return "-"
    if share.type != "disk":
        return "c"
    flags = (
        ("R", "read"),
        ("W", "write"),
        ("D", "delete"),
        ("P", "change_permissions"),
        ("O", "take_ownership"),
    )
    marks = (mark if access.sure(right) else mark.lower() for mark, right in flags if getattr(access, right))
    return "".join(marks) or "·"


def _mark_style(marks: str, label: str) -> str:
    if marks in ("", "-", "·"):
        return "dim"
    if label in UNPRIVILEGED or any(m in marks for m in "PO"):
        return "bold red" if marks != "c" and any(m in marks for m in "WDPO") else "yellow"
    if marks.islower():  # only rights the server claims and nobody could confirm
        return "yellow"
    return "yellow" if "W" in marks else "green"


def matrix_table(host: HostResult, labels: list[str]) -> Table:
    """Shares as rows, identities as columns: who can do what, at a glance."""
    table = Table(title=f"Access on {_host_label(host)}", title_justify="left")
    table.add_column("share", no_wrap=True)
    table.add_column("type")
    for label in labels:
        table.add_column(label, justify="center")
    for share in host.shares:
        name = Text(printable(share.name))
        cells = []
        for label in labels:
            marks = access_marks(share.access.get(label), share)
            cells.append(Text(marks, style=_mark_style(marks, label)))
        table.add_row(name, Text(printable(share.type)), *cells)
    return table


def leftover_probes(result: ScanResult) -> list[str]:
    """Write-probe files that could not be removed (UNC paths, FTP locations): the admin must delete them by hand."""
    left = []
    for host in result.hosts:
        for share in host.shares:
            for label, access in share.access.items():
                if access.probe and access.probe.created and not access.probe.cleaned:
                    left.append(f"\\\\{host.address}\\{share.name}\\{access.probe.path} (created as {label})")
        for service in host.services:
            for tree in service.ftp.trees if service.ftp else ():
                for folder in tree.folders:
                    probe = folder.probe
                    if probe and probe.created and not probe.cleaned:
                        where = f"ftp://{host.address}:{service.port}"
                        left.append(
                            f"{where} {probe.path} (created as {tree.identity}, below where it lands)"
                        )
    return left


# Targets where nothing answered listed one by one before the rest are counted: a /16 of empty addresses
# would otherwise be 65,536 table rows and as many error lines (minutes of drawing, and unreadable).
QUIET_SHOWN = 20


def _nothing_answered(host: HostResult) -> bool:
    return bool(host.error) and not host.reachable and not any(s.reachable for s in host.services)


def _quiet_summary(hidden: list[HostResult]) -> str:
    kinds = Counter(host.error_kind or "error" for host in hidden)
    words = {
        "timeout": "silent",
        "refused": "refused",
        "unreachable": "unreachable",
        "unresolved": "unresolved",
    }
    parts = ", ".join(f"{words.get(kind, kind)} {count:,}" for kind, count in kinds.most_common())
    return (
        f"... and {len(hidden):,} more targets where nothing answered ({parts}); "
        "each is in the JSON, the HTML report and the findings"
    )


def print_summary(result: ScanResult, console: Console) -> None:
    """Print the scan summary: the fix plan's first actions, hosts, then each host's access matrix."""
    from shareaudit.render.plan import print_plan  # the plan view imports this module's neighbours

    print_plan(result, console)
    quiet = [host for host in result.hosts if _nothing_answered(host)]
    hidden = {id(host) for host in quiet[QUIET_SHOWN:]}
    full = result
    result = replace(result, hosts=tuple(host for host in result.hosts if id(host) not in hidden))
    console.print(hosts_table(result))
    for table in (dicom_table(result), ftp_table(result), nfs_table(result)):
        if table is not None:
            console.print(table)
    labels = [i.label for i in result.identities]
    for host in result.hosts:
        if any(share.access for share in host.shares):
            console.print(matrix_table(host, labels))
            for attempt in host.logons:
                if not attempt.accepted:
                    console.print(
                        Text(
                            printable(f"  {attempt.identity}: logon refused ({attempt.status})"), style="red"
                        )
                    )
                elif attempt.route == "mapped_to_guest":
                    console.print(
                        Text(f"  {attempt.identity}: unknown to the server, let in as guest", style="red")
                    )
    if any(host.shares for host in result.hosts):
        console.print(Text(LEGEND, style="dim"))
    # Where each door is reachable from (render/vantage.py uses this module's access marks: imported here).
    from shareaudit.render.vantage import print_reach

    print_reach(result, console)
    if result.options.get("show_names"):
        console.print(
            Text("--show-names was given: file and directory names are NOT redacted.", style="bold red")
        )
    if result.options.get("active_write_probe"):
        console.print(
            Text(
                "Active write probe was ON: empty files were created and deleted in share roots and FTP folders.",
                style="bold",
            )
        )
    for host in result.hosts:
        if host.error:
            console.print(Text(printable(f"{_host_label(host)}: {host.error}"), style="red"))
    if hidden:
        console.print(Text(_quiet_summary(quiet[QUIET_SHOWN:]), style="red"))
    result = full
    print_walk_notes(result, console)
    failed = sum(1 for h in result.hosts if h.error)
    line = f"{len(result.hosts)} host(s) scanned, {failed} failed"
    if result.input_problems:
        line += f", {len(result.input_problems)} target entr{'y' if len(result.input_problems) == 1 else 'ies'} skipped"
    console.print(Text(line))
    print_findings(result, console)


def print_walk_notes(result: ScanResult, console: Console) -> None:
    """One line per share whose walk was slow or held back (rate limit, bounds), and why."""
    notes = walk_notes(result)
    if notes:
        console.print(Text("Walks that were slow or held back:"))
    for note in notes:
        console.print(Text(printable(f"  {note.host} \\ {note.share}: {note.text}"), style="yellow"))


# --- findings -----------------------------------------------------------------------------------------------
WORST_SHOWN = 10
SEVERITY_STYLES = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def findings_counts(result: ScanResult) -> Text:
    """'Findings: 3 critical, 5 high, ...' for the findings that are not accepted risks."""
    active = [f for f in result.findings if f.suppressed is None]
    text = Text(f"Findings: {len(active)}")
    parts = [(severity, sum(1 for f in active if f.severity == severity)) for severity in SEVERITY_STYLES]
    shown = [(severity, n) for severity, n in parts if n]
    if shown:
        text.append(" (")
        for index, (severity, n) in enumerate(shown):
            if index:
                text.append(", ")
            text.append(f"{n} {severity}", style=SEVERITY_STYLES[severity])
        text.append(")")
    accepted = len(result.findings) - len(active)
    if accepted:
        text.append(f"; {accepted} accepted risk{'' if accepted == 1 else 's'} not counted")
    return text


def findings_table(result: ScanResult, limit: int = WORST_SHOWN) -> Table:
    """The worst findings (most severe first), one per row."""
    active = [f for f in result.findings if f.suppressed is None]
    title = "Worst findings" if len(active) > limit else "Findings"
    table = Table(title=title, title_justify="left")
    for column in ("severity", "host", "share", "identity", "finding"):
        table.add_column(column, no_wrap=column in ("severity", "host"))
    for finding in active[:limit]:
        table.add_row(
            Text(finding.severity, style=SEVERITY_STYLES.get(finding.severity, "")),
            Text(printable(finding.host)),
            Text(printable(finding.share or "-")),
            Text(printable(finding.identity or "-")),
            Text(printable(finding.title)),
        )
    return table


def print_findings(result: ScanResult, console: Console) -> None:
    """Counts by severity and the worst few findings (the HTML and CSV outputs have all of them)."""
    console.print(findings_counts(result))
    if any(f.suppressed is None for f in result.findings):
        console.print(findings_table(result))
