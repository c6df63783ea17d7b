"""The terminal summary: one table of hosts with their posture flags and share counts.

Every string that came from a server is passed as rich Text, never as markup, so a share remark like
"[bold]" or "<img ...>" is printed literally.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.model import HostResult, ScanResult


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
        shares = Text(str(len(host.shares))) if host.reachable else Text("-")
        table.add_row(Text(_host_label(host)), status, *_posture_cells(host), shares)
    return table


def print_summary(result: ScanResult, console: Console) -> None:
    """Print the scan summary."""
    console.print(hosts_table(result))
    for host in result.hosts:
        if host.error:
            console.print(Text(f"{_host_label(host)}: {host.error}", style="red"))
    failed = sum(1 for h in result.hosts if h.error)
    line = f"{len(result.hosts)} host(s) scanned, {failed} failed"
    if result.input_problems:
        line += f", {len(result.input_problems)} target entr{'y' if len(result.input_problems) == 1 else 'ies'} skipped"
    console.print(Text(line))
