"""The audit as a library call: a plan goes in, a finished result and an outcome come out.

collect -> enrich (directory names, derived exposures) -> rules -> accepted risks -> history ->
outputs -> alerts. Nothing here prints: warnings are returned in the outcome, progress goes to the
`Progress` given. `scan`, `device` and any other caller (a test, a scheduler) use `run`.

Collected hosts are not kept in memory: each goes to the run's journal (audit/journal.py) as it is
finished, and the result is assembled from the journal once, at the end or on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from shareaudit import __version__, scanfile
from shareaudit.ad.enrich import enrich
from shareaudit.audit import journal, suppress
from shareaudit.audit.history import History, new_since
from shareaudit.collect.hosts import CollectOptions, Collector, InFlight, Progress, ServiceCollector, scan
from shareaudit.collect.inventory import Inventory
from shareaudit.collect.sweep import budget
from shareaudit.errors import ShareauditError
from shareaudit.model import Finding, ScanResult, Tool
from shareaudit.plan.plan import Plan
from shareaudit.redact import Redactor, load_or_create_key
from shareaudit.render import csv as csv_report
from shareaudit.render.estate import TrendPoint
from shareaudit.rules import evaluate
from shareaudit.rules.actions import with_actions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run ended with: the result (findings included), what is new, and what went wrong on the side."""

    result: ScanResult
    interrupted: bool = False
    new: tuple[Finding, ...] = ()  # unsuppressed findings the previous run of the same audit did not have
    run_id: int | None = None  # the history's id of this run
    written: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)  # one line each: history, alerts, LDAP names


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_outputs(
    result: ScanResult,
    json_path: Path | None,
    html_path: Path | None,
    csv_path: Path | None,
    trend: Sequence[TrendPoint] = (),
) -> list[Path]:
    """Write whichever of JSON, HTML and CSV were asked for; the paths written. `trend`: for the HTML."""
    written = []
    if json_path:
        scanfile.write(result, json_path)
        written.append(json_path)
    if html_path:
        from shareaudit.render import html as html_report  # jinja2 and the templates: only for an HTML report

        html_report.write(result, html_path, trend=trend)
        written.append(html_path)
    if csv_path:
        csv_report.write(result, csv_path)
        written.append(csv_path)
    return written


class _Run:
    """One run's state: which targets are done (their results are in the journal, not here)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.started = _now()
        self.order = {target: n for n, target in enumerate(plan.targets.targets)}
        self.done = bytearray(len(plan.targets.targets))

    def head(self) -> ScanResult:
        """The result's own fields (tool, times, identities, options), without hosts or findings."""
        plan, bounds = self.plan, self.plan.bounds
        crawl = bounds.crawl
        options: dict[str, object] = {
            "timeout": bounds.timeout,
            "max_hosts": bounds.max_hosts,
            "active_write_probe": bounds.active_write_probe,
            "crawl": crawl is not None,
            "max_shares": bounds.max_shares,
            "sniff": crawl is not None and crawl.sniff,
            "show_names": plan.show_names,
            "bounds": asdict(crawl) if crawl is not None else None,
            "include_shares": list(bounds.include_shares),
            "exclude_shares": list(bounds.exclude_shares),
            "protocols": list(bounds.protocols),
            "dicom": {
                "ports": list(bounds.dicom.ports),
                "ae_titles": list(bounds.dicom.ae_titles),
                "max_studies": bounds.dicom.max_studies,
            }
            if "dicom" in bounds.protocols
            else None,
            "ftp": {"ports": list(bounds.ftp.ports)} if "ftp" in bounds.protocols else None,
            "nfs": {
                "ports": list(bounds.nfs.ports),
                "uids": {u.label: u.text for u in bounds.nfs.uids},
            }
            if "nfs" in bounds.protocols
            else None,
            "sweep": {"concurrency": budget(bounds.sweep.concurrency, bounds.max_hosts)[0]}
            if bounds.sweep is not None
            else None,
            "run_by": plan.run_by,
            **plan.labels,
        }
        return ScanResult(
            tool=Tool("shareaudit", __version__),
            started_at=self.started,
            finished_at="",
            hosts=(),
            identities=tuple(i.info() for i in plan.identities),
            options=options,
            input_problems=tuple(str(p) for p in plan.targets.problems),
            vantage=plan.vantage.name if plan.vantage else None,
            vantages=(plan.vantage,) if plan.vantage else (),
        )


def _collect_options(
    plan: Plan, redactor: Redactor, inventory: Inventory | None, progress: Progress | None
) -> CollectOptions:
    bounds = plan.bounds
    return CollectOptions(
        timeout=bounds.timeout,
        max_hosts=bounds.max_hosts,
        active_write_probe=bounds.active_write_probe,
        crawl=bounds.crawl,
        max_shares=bounds.max_shares,
        include_shares=bounds.include_shares,
        exclude_shares=bounds.exclude_shares,
        redactor=redactor,
        on_medical=inventory.add if inventory else None,
        progress=progress,
        protocols=bounds.protocols,
        dicom=bounds.dicom,
        ftp=bounds.ftp,
        nfs=bounds.nfs,
        sweep=bounds.sweep,
    )


def _interrupted(run: _Run, in_flight: InFlight, record: journal.Journal) -> Outcome:
    """Ctrl-C: the hosts gathered so far, what the hosts in flight had learned, the rest as findings."""
    plan = run.plan
    partial_hosts = in_flight.snapshots()
    for n, target in enumerate(plan.targets.targets):
        if not run.done[n] and target.spec in partial_hosts:
            record.add(n, partial_hosts[target.spec])
    # The targets never reached become findings: an interrupted run must not read as a clean one.
    partial = journal.read(record.path).result(_now(), mark_unscanned=True)
    partial = with_actions(replace(partial, findings=evaluate(partial)))
    out = plan.outputs
    written = write_outputs(partial, out.json, out.html, out.csv)
    record.remove()
    return Outcome(partial, interrupted=True, written=tuple(written))


def _record(plan: Plan, final: ScanResult) -> tuple[ScanResult, tuple[Finding, ...], int | None, list[str]]:
    """Record the run in the history and mark what is new; a failing history costs the record, not the run."""
    new = tuple(f for f in final.findings if f.suppressed is None)
    if plan.history is None:
        return final, new, None, []
    try:
        with History.open_for_writing(plan.history.path) as store:
            run_id = store.record(plan.history.name, final, [f.id for f in final.findings if f.suppressed])
            new = new_since(store, plan.history.name, run_id, final.findings)
    except ShareauditError as exc:
        return final, new, None, [f"run not recorded in the history: {exc}"]
    fresh = {f.id for f in new}
    final = replace(final, findings=tuple(replace(f, new=f.id in fresh) for f in final.findings))
    return final, new, run_id, []


def _trend(plan: Plan) -> tuple[list[TrendPoint], list[str]]:
    """Open actions over the last runs of this audit (this one included), for the report's estate view."""
    if plan.history is None:
        return [], []
    try:
        with History.open_for_reading(plan.history.path) as store:
            runs = store.trend(plan.history.name)
    except ShareauditError as exc:
        return [], [f"the report has no trend of open actions: {exc}"]
    return [TrendPoint(run.id, run.started_at, run.actions or 0) for run in runs], []


def _alert(plan: Plan, final: ScanResult, new: tuple[Finding, ...], run_id: int | None) -> list[str]:
    from shareaudit.audit import alerts

    if plan.alerts is None or not (plan.alerts.webhook or plan.alerts.email):
        return []
    run = {
        "run_id": run_id,
        "audit": plan.history.name if plan.history else "",
        "started_at": final.started_at,
        "finished_at": final.finished_at,
        "hosts": len(final.hosts),
        "failed": sum(1 for h in final.hosts if h.error),
        "tool_version": final.tool.version,
    }
    return [
        f"alert not sent: {trouble}"
        for trouble in alerts.notify(new, run, plan.alerts.threshold, plan.alerts.webhook, plan.alerts.email)
    ]


def run(
    plan: Plan,
    progress: Progress | None = None,
    collector: Collector | None = None,
    services: tuple[ServiceCollector, ...] | None = None,
) -> Outcome:
    """Carry out an audit; what was gathered is written even when it is interrupted (Ctrl-C).

    The collectors are the plan's protocols' unless given (a test hands in its own).
    """
    redactor = Redactor(load_or_create_key(plan.data_dir / "redaction.key"), plan.show_names)
    inventory = Inventory(plan.outputs.inventory) if plan.outputs.inventory else None
    state = _Run(plan)
    in_flight = InFlight()
    options = replace(_collect_options(plan, redactor, inventory, progress), in_flight=in_flight)
    specs = [t.spec for t in plan.targets.targets]
    # Each host is appended as it is finished: a crash or Ctrl-C loses nothing gathered (audit/journal.py).
    record, warnings = journal.Journal.create(
        journal.path_for(plan.outputs.json, plan.data_dir), state.head(), specs
    )
    try:
        with inventory if inventory is not None else contextlib.nullcontext():
            try:
                for target, host in scan(plan.targets.targets, plan.identities, options, collector, services):
                    n = state.order[target]
                    state.done[n] = 1
                    record.add(n, host)
            except KeyboardInterrupt:
                return _interrupted(state, in_flight, record)
        log.info("collection done: %d hosts in %s; assembling the result", state.done.count(1), record.path)
        final = journal.read(record.path).result(_now(), mark_unscanned=False)
        if plan.directory is not None:
            final, lost = enrich(final, plan.directory.directory, plan.directory.ldap)
            warnings += lost
        final = replace(final, findings=evaluate(final))
        if plan.suppressions:
            final = replace(
                final, findings=suppress.apply(final.findings, list(plan.suppressions), date.today())
            )
        final = with_actions(final)  # the fix plan, over the findings that are not accepted risks
        final, new, run_id, lost = _record(plan, final)
        warnings += lost
        trend, lost = _trend(plan) if run_id is not None and plan.outputs.html else ([], [])
        warnings += lost
        out = plan.outputs
        log.info("%d findings; writing the outputs", len(final.findings))
        written = write_outputs(final, out.json, out.html, out.csv, trend)
        log.info("outputs written: %s", ", ".join(str(p) for p in written) or "none asked")
        record.remove()
    finally:
        record.close()  # still there after a failure: the journal is what a rebuild starts from
    warnings += _alert(plan, final, new, run_id)
    return Outcome(final, False, new, run_id, tuple(written), tuple(warnings))
