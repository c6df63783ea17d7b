"""The audit as a library call (`shareaudit.audit.run.run`), driven without click and without a server:
a `Plan` built in code and a fake collector (`collect.hosts.Collector`) that returns hosts from synthetic.py."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from synthetic import READ, WRITE, content, host, posture, share

from shareaudit import scanfile
from shareaudit.audit.run import run
from shareaudit.audit.suppress import Rule
from shareaudit.collect.hosts import HostJob
from shareaudit.model import HostResult
from shareaudit.plan.identities import ANONYMOUS, GUEST
from shareaudit.plan.plan import Bounds, HistoryPlan, Outputs, Plan
from shareaudit.plan.targets import Target, TargetList, TargetProblem

NAS = Target("nas01", "127.0.0.1")
FS = Target("fs01", "127.0.0.1", 1445)


class FakeCollector:
    """Returns a legacy NAS for nas01 and a hardened server for anything else; records the jobs."""

    protocol = "smb"

    def __init__(self, interrupt_at: str | None = None) -> None:
        self.jobs: list[HostJob] = []
        self.interrupt_at = interrupt_at
        self.lock = threading.Lock()

    def collect(self, job: HostJob) -> HostResult:
        with self.lock:
            self.jobs.append(job)
        if job.target.spec == self.interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C while this host is being scanned
        if job.target.spec == "nas01":
            return host(
                target=job.target.spec,
                address=job.address,
                shares=[share("scans", {"anonymous": WRITE, "guest": WRITE}, content=content({"dicom": 3}))],
                posture_=posture(smb1=True, signing=False, null=True, guest=True),
            )
        return host(target=job.target.spec, address=job.address, shares=[share("finance", {"guest": READ})])


def plan(tmp_path: Path, *targets: Target, **fields: object) -> Plan:
    out = tmp_path / "out"
    defaults: dict[str, object] = {
        "outputs": Outputs(json=out / "scan.json", html=out / "report.html", csv=out / "findings.csv"),
        "history": HistoryPlan(tmp_path / "history.sqlite", "weekly"),
        "bounds": Bounds(crawl=None, max_hosts=1),
        "run_by": "tester@unit",
    }
    return Plan(
        targets=TargetList(targets, (TargetProblem("hosts.txt:3", "999.1.1.1", "not a valid IPv4 address"),)),
        identities=(GUEST, ANONYMOUS),
        data_dir=tmp_path / "data",
        **{**defaults, **fields},  # type: ignore[arg-type]
    )


def test_a_run_collects_judges_writes_and_records(tmp_path: Path) -> None:
    collector = FakeCollector()
    outcome = run(plan(tmp_path, NAS, FS), collector=collector)
    result = outcome.result
    assert not outcome.interrupted and outcome.warnings == ()
    # Collected: every target, in target order, the identities least privileged first.
    assert [(h.target, h.address) for h in result.hosts] == [("nas01", "127.0.0.1"), ("fs01", "127.0.0.1")]
    assert {j.target for j in collector.jobs} == {NAS, FS}
    assert all([i.label for i in j.identities] == ["anonymous", "guest"] for j in collector.jobs)
    assert [i.label for i in result.identities] == ["guest", "anonymous"]
    assert result.options["run_by"] == "tester@unit" and result.options["crawl"] is False
    assert result.input_problems == ("hosts.txt:3: '999.1.1.1': not a valid IPv4 address",)
    # Judged: the rules ran over the facts.
    rules = {(f.rule, f.host, f.share, f.identity) for f in result.findings}
    assert {
        ("smb1-enabled", "nas01", None, None),
        ("unprivileged-write", "nas01", "scans", "anonymous"),
    } <= rules
    assert ("medical-data-exposed", "nas01", "scans", "anonymous") in rules
    assert not any(f.host == "fs01" and f.severity in ("critical", "high") for f in result.findings)
    # Written: the three outputs, the JSON equal to the outcome.
    out = tmp_path / "out"
    assert outcome.written == (out / "scan.json", out / "report.html", out / "findings.csv")
    assert scanfile.read(out / "scan.json") == result
    assert all(p.stat().st_size > 0 for p in outcome.written)
    assert (tmp_path / "data" / "redaction.key").exists()
    # Recorded: a first run's findings are all new.
    assert isinstance(outcome.run_id, int)
    assert {f.id for f in outcome.new} == {f.id for f in result.findings}
    assert all(f.new is True for f in result.findings)


def test_a_second_run_of_the_same_audit_has_nothing_new(tmp_path: Path) -> None:
    first = run(plan(tmp_path, NAS), collector=FakeCollector())
    second = run(plan(tmp_path, NAS), collector=FakeCollector())
    assert second.run_id is not None and first.run_id is not None and second.run_id > first.run_id
    assert second.new == () and all(f.new is False for f in second.result.findings)
    assert [f.id for f in second.result.findings] == [f.id for f in first.result.findings]
    other = run(
        plan(tmp_path, NAS, history=HistoryPlan(tmp_path / "history.sqlite", "monthly")),
        collector=FakeCollector(),
    )
    assert {f.id for f in other.new} == {f.id for f in other.result.findings}  # another audit's first run


def test_accepted_risks_are_marked_and_never_new(tmp_path: Path) -> None:
    accepted = Rule(rule="smb1-enabled", host="nas*", reason="firmware", owner="it", expires=date(2999, 1, 1))
    outcome = run(plan(tmp_path, NAS, suppressions=(accepted,)), collector=FakeCollector())
    smb1 = next(f for f in outcome.result.findings if f.rule == "smb1-enabled")
    assert smb1.suppressed is not None and smb1.suppressed.owner == "it"
    assert smb1.id not in {f.id for f in outcome.new}


def test_no_history_and_no_outputs(tmp_path: Path) -> None:
    outcome = run(plan(tmp_path, NAS, history=None, outputs=Outputs()), collector=FakeCollector())
    assert outcome.run_id is None and outcome.written == ()
    assert {f.id for f in outcome.new} == {f.id for f in outcome.result.findings if f.suppressed is None}
    assert all(f.new is None for f in outcome.result.findings)  # no history consulted
    assert not (tmp_path / "history.sqlite").exists() and not (tmp_path / "out").exists()


def test_ctrl_c_writes_what_was_gathered_and_what_was_not_reached(tmp_path: Path) -> None:
    outcome = run(plan(tmp_path, NAS, FS), collector=FakeCollector(interrupt_at="fs01"))
    assert outcome.interrupted and outcome.run_id is None
    assert [h.target for h in outcome.result.hosts] == ["nas01"]
    unscanned = [(f.rule, f.host) for f in outcome.result.findings if f.rule == "target-not-scanned"]
    assert ("target-not-scanned", "fs01") in unscanned
    assert "smb1-enabled" in {f.rule for f in outcome.result.findings}  # what was gathered is judged
    partial = scanfile.read(tmp_path / "out" / "scan.json")
    assert partial == outcome.result and partial.finished_at
    assert (tmp_path / "out" / "scan.json") in outcome.written
    assert not (tmp_path / "history.sqlite").exists()  # an interrupted run is not recorded


@pytest.mark.parametrize("at", ["nas01", "fs01"])
def test_ctrl_c_on_any_host_leaves_a_readable_json(tmp_path: Path, at: str) -> None:
    outcome = run(plan(tmp_path, NAS, FS), collector=FakeCollector(interrupt_at=at))
    assert outcome.interrupted
    assert at not in {h.target for h in scanfile.read(tmp_path / "out" / "scan.json").hosts}
