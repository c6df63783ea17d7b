"""Where each door is reachable from: per host, one row per door and one column per vantage point.

For the terminal summary and the HTML report of a merged result (`shareaudit merge`); a single labelled
run says its vantage point in one line. Facts only; share names and errors come from servers and are
escaped by the callers (rich Text, jinja2 autoescape).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.model import HostResult, ScanResult, Share, VantageView
from shareaudit.render.printable import printable
from shareaudit.render.services import BAD, GOOD, NEUTRAL, summary_cells
from shareaudit.render.terminal import access_marks
from shareaudit.rules.facts import host_label
from shareaudit.vantage import Door, doors, reach, smb_asked, trusted, vantage_names

NOT_SCANNED = "not scanned from there"


@dataclass(frozen=True, slots=True)
class Column:
    """A vantage point as a column: its name and whether the result trusts it."""

    name: str
    trusted: bool

    @property
    def heading(self) -> str:
        """'guest-wifi (untrusted)'."""
        return self.name if self.trusted else f"{self.name} (untrusted)"


@dataclass(frozen=True, slots=True)
class ReachCell:
    """What one vantage point reached of one door, in words, and whether that is bad, good or neither."""

    text: str
    tone: str = NEUTRAL


@dataclass(frozen=True, slots=True)
class ReachRow:
    """One door of a host and what each vantage point reached of it."""

    door: str
    cells: tuple[ReachCell, ...]


@dataclass(frozen=True, slots=True)
class ReachTable:
    """One host of a merged result: its doors by the vantage points that scanned it."""

    host: HostResult
    columns: tuple[Column, ...]
    rows: tuple[ReachRow, ...]


def columns(result: ScanResult) -> tuple[Column, ...]:
    """The result's vantage points, in the order they were merged."""
    return tuple(Column(name, trusted(result, name)) for name in vantage_names(result))


def vantage_line(result: ScanResult) -> str | None:
    """'Vantage point: guest-wifi (untrusted)' for a labelled run; None for a merged or unlabelled one."""
    if result.vantage is None:
        return None
    column = Column(result.vantage, trusted(result, result.vantage))
    return f"Vantage point: {column.heading}"


def _rights(view: VantageView, share: Share, labels: tuple[str, ...]) -> str:
    access = view.access.get(share.name, {})
    order = [label for label in labels if label in access] + [
        label for label in access if label not in labels
    ]
    held = [(label, access_marks(access[label], share)) for label in order]
    return ", ".join(f"{label} {marks}" for label, marks in held if marks not in ("", "-"))


def _cell(
    view: VantageView | None, door: Door, host: HostResult, column: Column, labels: tuple[str, ...]
) -> ReachCell:
    if view is None:
        return ReachCell(NOT_SCANNED)
    reached = reach(view, door)
    # Reaching anything from an untrusted segment is the finding; being kept out of it is good.
    hit = NEUTRAL if column.trusted else BAD
    kept_out = NEUTRAL if column.trusted else GOOD
    if not reached.answered:
        why = reached.error or ("not listed" if door.share is not None else "no answer")
        return ReachCell(f"no: {why}", kept_out)
    if door.share is not None:
        share = next((s for s in host.shares if s.name == door.share), None)
        rights = _rights(view, share, labels) if share is not None else ""
        return ReachCell(rights or "listed, nobody connects", hit if rights else NEUTRAL)
    if reached.service is not None and reached.service.protocol == "dicom" and reached.service.dicom:
        _, calling, studies, retrieve = summary_cells(reached.service)
        text = f"answers; unknown AE {calling}; studies {studies}; retrieve {retrieve}"
        return ReachCell(text, hit)
    return ReachCell("answers", hit)


def reach_tables(result: ScanResult) -> tuple[ReachTable, ...]:
    """One table per host of a merged result (hosts of a single run have no views to compare)."""
    cols = columns(result)
    labels = tuple(identity.label for identity in result.identities)
    smb = smb_asked(result)
    tables = []
    for host in result.hosts:
        if not host.views:
            continue
        seen = {view.vantage: view for view in host.views}
        rows = []
        for door in doors(host, smb):
            # A port of another protocol that answered from no vantage point is not a door: left out.
            if (
                door.share is None
                and door.protocol != "smb"
                and not any(reach(v, door).answered for v in host.views)
            ):
                continue
            rows.append(
                ReachRow(door.label, tuple(_cell(seen.get(c.name), door, host, c, labels) for c in cols))
            )
        tables.append(ReachTable(host, cols, tuple(rows)))
    return tuple(tables)


def merged_line(result: ScanResult) -> str | None:
    """'Merged from 2 runs: office (office.json), guest-wifi (untrusted; guest.json)'."""
    if result.vantage is not None or not result.vantages:
        return None
    parts = [
        f"{v.name} ({'' if v.trusted else 'untrusted; '}{v.source or 'unknown file'})"
        for v in result.vantages
    ]
    return f"Merged from {len(parts)} run{'' if len(parts) == 1 else 's'}: {', '.join(parts)}"


_STYLES = {BAD: "bold red", GOOD: "green", NEUTRAL: ""}


def print_reach(result: ScanResult, console: Console) -> None:
    """The run's vantage point, or per host of a merged result its doors by vantage point."""
    line = vantage_line(result)
    if line is not None:
        console.print(
            Text(printable(line), style="" if trusted(result, result.vantage or "") else "bold red")
        )
    merged = merged_line(result)
    if merged is not None:
        console.print(Text(printable(merged)))
    for table in reach_tables(result):
        grid = Table(
            title=f"Reach of {printable(host_label(table.host))} by vantage point", title_justify="left"
        )
        grid.add_column("door", no_wrap=True)
        for column in table.columns:
            grid.add_column(Text(printable(column.heading), style="" if column.trusted else "bold red"))
        for row in table.rows:
            cells = [
                Text(printable(cell.text), style=_STYLES[cell.tone] if cell.text != NOT_SCANNED else "dim")
                for cell in row.cells
            ]
            grid.add_row(Text(printable(row.door)), *cells)
        console.print(grid)
