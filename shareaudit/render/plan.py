"""The top of the reports: how bad it is, where the patient data is reachable from, what to do first; the fix
plan in full (HTML) and in short (terminal); the door maps and the estate view, gathered for the templates.

Reads the result, its findings and its plan (`ScanResult.actions`, rules/actions.py); a result without a
plan (built in code, or by an older release) gets one here. Every server string reaches the terminal as
rich Text through `printable`, and the HTML through autoescaped templates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shareaudit.model import Action, Finding, Role, ScanResult, Severity
from shareaudit.render.doormap import DoorMap, build_doors, layout
from shareaudit.render.estate import EstateView, TrendPoint, estate_view
from shareaudit.render.printable import printable
from shareaudit.render.terminal import SEVERITY_STYLES
from shareaudit.rules.actions import active, plan
from shareaudit.rules.facts import host_label, identity_class
from shareaudit.rules.platform import PLATFORM_NAMES
from shareaudit.rules.registry import SEVERITIES, severity_rank

FIRST = 3  # actions on the first screen, and opened in the plan
DETAILED = 30  # actions shown with their steps; the rest as table rows
LISTED = 500  # actions listed at all (the JSON has every one)
REACH_SHOWN = 6  # places on the first screen where patient data is reachable
MAPS = 100  # hosts drawn as door maps (the worst first)
_WIDTH = {Role.ANONYMOUS: 0, Role.GUEST: 1, Role.SERVICE: 2, Role.AUDIT: 3}


@dataclass(frozen=True, slots=True)
class Who:
    """An identity that gets to patient data, and how."""

    identity: str
    kind: str  # anonymous | guest | service
    right: str
    via: str = ""


@dataclass(frozen=True, slots=True)
class Reach:
    """One door behind which patient data is reachable without a proper account."""

    host: str
    door: str
    protocol: str
    amount: int
    what: str
    who: tuple[Who, ...]


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action as the plan section shows it."""

    action: Action
    findings: tuple[Finding, ...]
    counts: tuple[tuple[str, int], ...]  # severity -> findings it closes
    platform: str | None  # display name of the detected platform
    steps: tuple[str, ...]  # the detected platform's steps (or the first platform's)
    others: tuple[tuple[str, tuple[str, ...]], ...]  # the other platforms, folded
    after: tuple[int, ...]  # ranks of the actions to do first


@dataclass(frozen=True, slots=True)
class TopView:
    """Everything above the findings: the first screen, the plan, the door maps, the estate."""

    worst: str | None
    counts: tuple[tuple[str, int], ...]
    findings: int
    hosts_total: int
    hosts_hit: int  # hosts with an active finding at high or worse
    hosts_failed: int
    medical_open: int
    medical_text: str  # the medical data reachable without a proper account, in words
    reach: tuple[Reach, ...]
    reach_more: int
    reach_hosts: int
    first: tuple[ActionView, ...]
    detailed: tuple[ActionView, ...]
    opened: int  # the first actions of the plan shown opened (the others: one line each until clicked)
    rest: tuple[Action, ...]
    rest_more: int
    actions_total: int
    closes_total: int
    maps: tuple[DoorMap, ...]
    maps_more: int
    estate: EstateView | None


def actions_of(result: ScanResult) -> tuple[Action, ...]:
    """The result's plan; made here for a result that has findings and no plan."""
    if result.actions or not active(result.findings):
        return result.actions
    return plan(result)


def reach(result: ScanResult) -> list[Reach]:
    """Every door with patient data behind it that someone without a proper account gets through."""
    found = []
    for host in result.hosts:
        for door in build_doors(host):
            opened = door.open_edges
            if not (door.medical and opened):
                continue
            who = tuple(
                sorted(
                    (Who(e.identity, identity_class(e.identity).value, e.right, e.via) for e in opened),
                    key=lambda w: _WIDTH[Role(w.kind)],
                )
            )
            found.append(
                Reach(host_label(host), door.name, door.protocol, door.medical, door.medical_text, who)
            )
    return sorted(found, key=lambda r: (_WIDTH[Role(r.who[0].kind)], -r.amount, r.host, r.door))


def reach_text(places: Sequence[Reach]) -> str:
    """'30 medical files behind 4 shares and 3 studies behind 1 DICOM port, on 2 hosts'."""
    parts = []
    files = [r for r in places if r.protocol != "dicom"]
    studies = [r for r in places if r.protocol == "dicom"]
    if files:
        count = sum(r.amount for r in files)
        doors = len(files)
        parts.append(
            f"{count} medical file{'s' if count != 1 else ''} behind {doors} share{'s' if doors != 1 else ''}"
        )
    if studies:
        count = sum(r.amount for r in studies)
        ports = len(studies)
        parts.append(
            f"{count} stud{'ies' if count != 1 else 'y'} behind {ports} DICOM port{'s' if ports != 1 else ''}"
        )
    hosts = len({r.host for r in places})
    return " and ".join(parts) + f", on {hosts} host{'s' if hosts != 1 else ''}"


def action_view(action: Action, by_id: dict[str, Finding], ranks: dict[str, int]) -> ActionView:
    findings = tuple(by_id[fid] for fid in action.findings if fid in by_id)
    counts = Counter(f.severity for f in findings)
    platforms = list(action.steps)
    first = action.platform if action.platform in action.steps else (platforms[0] if platforms else None)
    return ActionView(
        action,
        findings,
        tuple((s.value, counts[s]) for s in SEVERITIES if counts[s]),
        PLATFORM_NAMES.get(first, first) if first else None,
        tuple(action.steps.get(first, ())) if first else (),
        tuple((PLATFORM_NAMES.get(p, p), tuple(action.steps[p])) for p in platforms if p != first),
        tuple(sorted(ranks[a] for a in action.after if a in ranks)),
    )


def _map_order(result: ScanResult, actions: Sequence[Action]) -> list[int]:
    """Hosts by the rank of their first action (the hosts with nothing to do last)."""
    first: dict[str, int] = {}
    for action in actions:
        first.setdefault(action.host, action.rank)
    labels = [host_label(h) for h in result.hosts]
    return sorted(range(len(labels)), key=lambda n: (first.get(labels[n], len(actions) + 1), n))


def top_view(result: ScanResult, trend: Sequence[TrendPoint] = ()) -> TopView:
    """The first screen, the plan, the maps and the estate of a result."""
    findings = active(result.findings)
    actions = actions_of(result)
    by_id = {f.id: f for f in result.findings}
    ranks = {a.id: a.rank for a in actions}
    counts = Counter(f.severity for f in findings)
    worst = min((f.severity for f in findings), key=severity_rank, default=None)
    places = reach(result)
    labels = tuple(i.label for i in result.identities)
    order = [n for n in _map_order(result, actions) if result.hosts[n].posture or result.hosts[n].services]
    maps = tuple(layout(result.hosts[n], labels) for n in order[:MAPS])
    serious = {f.host for f in findings if severity_rank(f.severity) <= severity_rank(Severity.HIGH)}
    return TopView(
        worst=str(worst) if worst else None,
        counts=tuple((s.value, counts[s]) for s in SEVERITIES if s is not Severity.INFO),
        findings=len(findings),
        hosts_total=len(result.hosts),
        hosts_hit=len(serious),
        hosts_failed=sum(1 for h in result.hosts if h.error),
        medical_open=sum(r.amount for r in places),
        medical_text=reach_text(places),
        reach=tuple(places[:REACH_SHOWN]),
        reach_more=max(0, len(places) - REACH_SHOWN),
        reach_hosts=len({r.host for r in places}),
        first=tuple(action_view(a, by_id, ranks) for a in actions[:FIRST]),
        detailed=tuple(action_view(a, by_id, ranks) for a in actions[:DETAILED]),
        opened=FIRST,
        rest=actions[DETAILED:LISTED],
        rest_more=max(0, len(actions) - LISTED),
        actions_total=len(actions),
        closes_total=sum(len(a.findings) for a in actions),
        maps=tuple(m for m in maps if not m.empty),
        maps_more=max(0, len(order) - MAPS),
        estate=estate_view(result, trend),
    )


# --- the terminal ------------------------------------------------------------------------------------------
PLAN_SHOWN = 5


def plan_table(result: ScanResult, limit: int = PLAN_SHOWN) -> Table | None:
    """The first actions of the plan: what to do, what it closes and protects, how to check it worked."""
    actions = actions_of(result)
    if not actions:
        return None
    closes = sum(len(a.findings) for a in actions)
    title = f"Fix plan: {len(actions)} action{'s' if len(actions) != 1 else ''} close {closes} finding{'s' if closes != 1 else ''}"
    if len(actions) > limit:
        title += f"; the first {limit} (all in the HTML report and the JSON)"
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("action")
    table.add_column("closes", justify="right", no_wrap=True)
    for action in actions[:limit]:
        text = Text(printable(action.title), style="bold")
        lines: list[tuple[str, str]] = []
        if action.protects:
            who = {Role.ANONYMOUS.value: "anonymous", Role.GUEST.value: "guest"}.get(
                action.widest or "", "device accounts"
            )
            lines.append((f"protects from {who}: {action.protects}", ""))
        if action.side_effects:
            more = len(action.side_effects) - 1
            lines.append(
                (f"side effect: {action.side_effects[0]}" + (f" (+{more} more)" if more else ""), "dim")
            )
        if action.verify:
            lines.append((f"check: {action.verify}", "cyan"))
        for line, style in lines:
            text.append("\n")
            text.append(printable(line), style=style)
        table.add_row(
            str(action.rank),
            Text(action.severity, style=SEVERITY_STYLES.get(Severity(action.severity), "")),
            text,
            str(len(action.findings)),
        )
    return table


def print_plan(result: ScanResult, console: Console) -> None:
    """The fix plan's first actions, or nothing when there is nothing to do."""
    table = plan_table(result)
    if table is not None:
        console.print(table)
