"""The history speaks in actions: each run keeps its fix plan, `diff` says which actions are done, partly
done or new, `history` shows the open actions per run, and the report's trend reads them back."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from pathlib import Path

import pytest
from synthetic import READ, REFUSED, WRITE, host, posture, share
from synthetic import result as scan_result

from shareaudit.audit.history import History
from shareaudit.cli.app import main
from shareaudit.model import ScanResult
from shareaudit.rules import evaluate
from shareaudit.rules.actions import with_actions

LABELS = ("audit", "anonymous", "guest", "printer")


def planned(guest_fallback: bool, scans_open: bool, smb1: bool = False) -> ScanResult:
    """nas01: guest reads docs and forms through the fallback; scans open to anonymous and guest or not."""
    guest = READ if guest_fallback else REFUSED
    scans = WRITE if scans_open else REFUSED
    nas = host(
        "nas01",
        [
            share("docs", {"audit": READ, "guest": guest, "anonymous": REFUSED, "printer": REFUSED}),
            share("forms", {"audit": READ, "guest": guest, "anonymous": REFUSED, "printer": REFUSED}),
            share("scans", {"audit": WRITE, "guest": REFUSED, "anonymous": scans, "printer": WRITE}),
        ],
        posture_=posture(guest=guest_fallback, fallback=guest_fallback, smb1=smb1),
    )
    result = scan_result(nas, labels=LABELS)
    return with_actions(dataclasses.replace(result, findings=evaluate(result)))


def record(path: Path, result: ScanResult, name: str = "weekly") -> int:
    with History.open_for_writing(path) as store:
        return store.record(name, result)


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["shareaudit", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_:
        main()
    out, _ = capsys.readouterr()
    return int(exit_.value.code or 0), out


def test_a_run_keeps_its_plan_and_each_finding_its_action(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    result = planned(guest_fallback=True, scans_open=True)
    run_id = record(path, result)
    with History.open_for_reading(path) as store:
        stored = store.actions(run_id)
        findings = store.findings(run_id)
        [run] = store.runs()
    assert [(a.id, a.rank, a.title, a.findings) for a in stored] == [
        (a.id, a.rank, a.title, len(a.findings)) for a in result.actions
    ]
    owner = {fid: a.id for a in result.actions for fid in a.findings}
    assert {f.fingerprint: f.action for f in findings} == {f.id: owner.get(f.id) for f in result.findings}
    assert run.actions == len(result.actions)


def test_diff_says_which_actions_are_done_partly_done_and_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    first = planned(guest_fallback=True, scans_open=True)
    record(path, first)
    second = planned(guest_fallback=False, scans_open=True, smb1=True)  # the fallback is off, SMB1 came back
    record(path, second)
    with History.open_for_reading(path) as store:
        diff = store.diff(1, 2)
    fallback = next(a for a in first.actions if a.kind == "guest-fallback-off")
    [done] = [step for step in diff.progress if step.done]
    assert done.action.id == fallback.id and done.resolved == len(fallback.findings) == 3
    assert [a.kind for a in second.actions if a.id in {n.id for n in diff.actions_new}] == ["smb1-off"]
    code, out = cli(monkeypatch, capsys, "diff", "--history", str(path))
    assert code == 0
    assert f"= done     action {fallback.rank} '{fallback.title}': 3 finding(s) resolved" in out
    assert "+ action" in out and "Turn SMB1 off on nas01" in out
    assert (
        f"open actions: {len(first.actions)} -> {len(second.actions)} (1 done, 0 partly done, 1 new)" in out
    )
    assert out.index("= done") < out.index("- resolved")  # actions first, then the findings one by one


def test_an_action_with_some_findings_left_is_partly_done(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    first = planned(guest_fallback=False, scans_open=True)
    record(path, first)
    close = next(a for a in first.actions if a.kind == "close-share")
    assert len(close.findings) >= 2
    kept = close.findings[0]
    # The admin fixed all but one of the share's findings (the rest of the scan unchanged).
    second = dataclasses.replace(
        first, findings=tuple(f for f in first.findings if f.id not in close.findings or f.id == kept)
    )
    second = with_actions(second)
    record(path, second)
    with History.open_for_reading(path) as store:
        diff = store.diff(1, 2)
    [step] = diff.progress
    assert step.action.id == close.id and not step.done and step.resolved == len(close.findings) - 1


def test_history_lists_open_actions_and_runs_before_plans_show_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    record(path, planned(guest_fallback=True, scans_open=True))
    with sqlite3.connect(path) as db:  # a run recorded by a release without plans
        db.execute("UPDATE runs SET actions = NULL")
    db.close()
    second = planned(guest_fallback=False, scans_open=True)
    record(path, second)
    code, out = cli(monkeypatch, capsys, "history", "--history", str(path))
    assert code == 0 and "open actions" in out
    rows = [line for line in out.splitlines() if "weekly" in line]
    assert rows[0].rstrip(" │").endswith(str(len(second.actions))) and rows[1].rstrip(" │").endswith("-")
    with History.open_for_reading(path) as store:
        assert [run.actions for run in store.trend("weekly")] == [len(second.actions)]
        diff = store.diff(1, 2)
    assert diff.progress == () and diff.actions_new == ()  # nothing to compare with a run without a plan


def test_the_trend_is_the_last_runs_of_one_audit_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    counts = []
    for n in range(12):
        result = planned(guest_fallback=n < 6, scans_open=n < 9)
        counts.append(len(result.actions))
        record(path, result)
        record(path, planned(True, True), name="other")
    with History.open_for_reading(path) as store:
        trend = store.trend("weekly", limit=10)
    assert [run.actions for run in trend] == counts[-10:]
    assert [run.id for run in trend] == sorted(run.id for run in trend)
