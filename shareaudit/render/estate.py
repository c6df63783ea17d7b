"""The estate view: for a scan of many hosts, one row per host and three small charts (hosts by worst
severity, doors by protocol, the trend of open actions over the last runs), as inline SVG geometry that
templates/partials/estate.html.j2 draws. Facts, findings and the plan only; the trend comes from the
history, read by the caller (audit/run.py) and handed in as `TrendPoint`s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from shareaudit.model import ScanResult, Severity
from shareaudit.render.doormap import Door, build_doors
from shareaudit.rules.facts import host_label
from shareaudit.rules.registry import SEVERITIES

MAX_ROWS = 500  # hosts listed in the table; the rest are counted
CLEAN = "none"  # a host without active findings


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One recorded run of the same audit: when, and how many actions its plan had."""

    run_id: int
    started_at: str
    actions: int


@dataclass(frozen=True, slots=True)
class HostRow:
    """A host in the overview table."""

    label: str
    address: str
    worst: str  # a severity, CLEAN, or "failed"
    findings: int
    actions: int
    doors: str  # "7 SMB (5 open), 1 DICOM (1 open)"
    medical_open: int  # medical files and studies behind doors open to someone without a proper account
    error: str | None


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of a chart, with its label and value as text."""

    label: str
    value: int
    x: int
    y: int
    w: int
    h: int
    css: str
    text: str  # the value as shown at the end of the bar


@dataclass(frozen=True, slots=True)
class Chart:
    """A small bar chart: geometry for the template, and its content in words."""

    title: str
    width: int
    height: int
    bars: tuple[Bar, ...]
    words: str
    vertical: bool = False


@dataclass(frozen=True, slots=True)
class EstateView:
    """What the estate section shows."""

    rows: tuple[HostRow, ...]
    more: int
    severity_chart: Chart
    protocol_chart: Chart
    medical_open: int
    medical_hosts: int
    trend: Chart | None


def _open(door: Door) -> bool:
    return bool(door.open_edges)


def _doors_text(doors: Sequence[Door]) -> str:
    total, opened = Counter(d.protocol for d in doors), Counter(d.protocol for d in doors if _open(d))
    return ", ".join(f"{total[p]} {p.upper()} ({opened[p]} open)" for p in sorted(total)) or "none"


def _medical_open(doors: Sequence[Door]) -> int:
    return sum(door.medical for door in doors if door.medical and _open(door))


def rows(result: ScanResult) -> list[HostRow]:
    """One row per host, the worst first (then the most medical data behind open doors)."""
    findings: dict[str, Counter[str]] = {}
    for f in result.findings:
        if f.suppressed is None and f.severity != Severity.INFO:
            findings.setdefault(f.host, Counter())[f.severity] += 1
    actions = Counter(a.host for a in result.actions)
    built = []
    for host in result.hosts:
        label = host_label(host)
        counts = findings.get(label, Counter())
        doors = build_doors(host)
        worst = next((s.value for s in SEVERITIES if counts[s]), CLEAN)
        if host.error:
            worst = "failed" if worst == CLEAN else worst
        built.append(
            HostRow(
                label,
                host.address,
                worst,
                sum(counts.values()),
                actions[label],
                _doors_text(doors),
                _medical_open(doors),
                host.error,
            )
        )
    order = {name: n for n, name in enumerate([*(s.value for s in SEVERITIES), "failed", CLEAN])}
    return sorted(built, key=lambda r: (order[r.worst], -r.medical_open, -r.findings, r.label))


def _horizontal(title: str, items: Sequence[tuple[str, int, str]], unit: str) -> Chart:
    """Label, bar and value per item, one under the other."""
    label_w, bar_w, row_h, gap = 150, 260, 20, 6
    top = max((value for _, value, _ in items), default=0) or 1
    bars = []
    for n, (label, value, css) in enumerate(items):
        w = round(bar_w * value / top) if value else 0
        bars.append(Bar(label, value, label_w, n * (row_h + gap), w, row_h, css, str(value)))
    height = max(len(items) * (row_h + gap) - gap, row_h)
    words = "; ".join(f"{label}: {value} {unit}" for label, value, _ in items)
    return Chart(title, label_w + bar_w + 60, height, tuple(bars), words)


def severity_chart(host_rows: Sequence[HostRow]) -> Chart:
    """Hosts by their worst finding."""
    counts = Counter(r.worst for r in host_rows)
    items = [(s.value, counts[s.value], f"sev-{s.value}") for s in SEVERITIES if s is not Severity.INFO]
    items += [("failed", counts["failed"], "failed"), ("no findings", counts[CLEAN], "clean")]
    return _horizontal("Hosts by worst finding", items, "hosts")


def protocol_chart(result: ScanResult) -> Chart:
    """Doors by protocol: how many, and how many let in someone without a proper account."""
    total: Counter[str] = Counter()
    opened: Counter[str] = Counter()
    for host in result.hosts:
        for door in build_doors(host):
            total[door.protocol] += 1
            opened[door.protocol] += _open(door)
    items = []
    for protocol in sorted(total):
        items.append((f"{protocol.upper()}: all", total[protocol], "doors"))
        items.append((f"{protocol.upper()}: open", opened[protocol], "open"))
    return _horizontal(
        "Doors by protocol (open: anonymous, guest or a device account gets in)", items, "doors"
    )


def trend_chart(points: Sequence[TrendPoint]) -> Chart | None:
    """Open actions over the last runs, oldest first (two runs at least)."""
    if len(points) < 2:
        return None
    bar_w, gap, chart_h = 34, 14, 110
    top = max(p.actions for p in points) or 1
    bars = []
    for n, point in enumerate(points):
        h = round(chart_h * point.actions / top) if point.actions else 0
        when = point.started_at[5:10] if len(point.started_at) >= 10 else point.started_at
        bars.append(
            Bar(when, point.actions, n * (bar_w + gap), chart_h - h, bar_w, h, "trend", str(point.actions))
        )
    words = "; ".join(f"run {p.run_id} ({p.started_at}): {p.actions} open actions" for p in points)
    return Chart(
        "Open actions, last runs of this audit",
        len(points) * (bar_w + gap),
        chart_h,
        tuple(bars),
        words,
        True,
    )


def estate_view(result: ScanResult, trend: Sequence[TrendPoint] = ()) -> EstateView | None:
    """The estate section: for more than one host, or when the history has a trend to show."""
    chart = trend_chart(trend)
    if len(result.hosts) < 2 and chart is None:
        return None
    host_rows = rows(result)
    return EstateView(
        tuple(host_rows[:MAX_ROWS]),
        max(0, len(host_rows) - MAX_ROWS),
        severity_chart(host_rows),
        protocol_chart(result),
        sum(r.medical_open for r in host_rows),
        sum(1 for r in host_rows if r.medical_open),
        chart,
    )
