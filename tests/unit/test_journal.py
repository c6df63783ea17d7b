"""The run's journal (shareaudit/audit/journal.py): written host by host, read back, rebuilt, guarded."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthetic import READ, host, share
from test_run import FS, NAS, FakeCollector, plan

from shareaudit import scanfile
from shareaudit.audit import journal
from shareaudit.audit.run import run
from shareaudit.errors import InputError
from shareaudit.model import HostResult, ScanResult, Tool
from shareaudit.plan.targets import Target
from shareaudit.rules.coverage import UNSCANNED

HEAD = ScanResult(
    tool=Tool("shareaudit", "9.9"),
    started_at="2026-01-01T00:00:00+00:00",
    finished_at="",
    hosts=(),
    identities=(),
    options={"timeout": 5.0, "crawl": False},
    input_problems=("hosts.txt:3: '999.1.1.1': bad",),
)
TARGETS = ("a", "b", "c", "a")  # "a" twice: it counts once, at its last position


def _journal(tmp_path: Path) -> tuple[journal.Journal, Path]:
    path = tmp_path / "scan.json.journal"
    record, warnings = journal.Journal.create(path, HEAD, TARGETS)
    assert warnings == []
    return record, path


def test_hosts_come_back_in_target_order_and_the_missing_ones_are_named(tmp_path: Path) -> None:
    record, path = _journal(tmp_path)
    record.add(2, host(target="c", shares=[share("x", {"guest": READ})]))
    record.add(3, host(target="a"))
    record.close()
    recovered = journal.read(path)
    assert recovered.head == HEAD and recovered.targets == TARGETS and not recovered.torn
    assert [h.target for h in recovered.result("end", mark_unscanned=False).hosts] == ["c", "a"]
    assert recovered.unscanned() == ["b"]
    marked = recovered.result("end", mark_unscanned=True)
    assert marked.options[UNSCANNED] == ["b"] and marked.finished_at == "end"
    assert recovered.hosts[2] == host(target="c", shares=[share("x", {"guest": READ})])
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_lone_surrogate_from_a_hostile_server_round_trips(tmp_path: Path) -> None:
    record, path = _journal(tmp_path)
    odd = host(target="a", shares=[share("bad\udc80name", {"guest": READ})])
    record.add(0, odd)
    record.close()
    assert path.read_bytes().isascii()
    assert journal.read(path).hosts[0] == odd


def test_a_torn_last_line_is_left_out_and_a_bad_middle_line_is_an_error(tmp_path: Path) -> None:
    record, path = _journal(tmp_path)
    record.add(0, host(target="a"))
    record.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"n": 1, "host": {"tar')  # a power cut in the middle of a write
    recovered = journal.read(path)
    assert recovered.torn and list(recovered.hosts) == [0]
    path.write_bytes(whole + b"not json\n" + whole.splitlines(keepends=True)[1])
    with pytest.raises(InputError, match=r"scan.json.journal:3: not a journal entry"):
        journal.read(path)
    path.write_bytes(b'{"journal": "something else"}\n')
    with pytest.raises(InputError, match="is not a shareaudit journal"):
        journal.read(path)
    assert not journal.is_journal(tmp_path / "missing") and not journal.is_journal(path)


def test_a_journal_held_by_a_live_run_is_refused_and_a_left_over_one_is_kept_aside(tmp_path: Path) -> None:
    record, path = _journal(tmp_path)
    with pytest.raises(InputError, match="another scan is writing"):
        journal.Journal.create(path, HEAD, TARGETS)
    record.close()  # the run died: nobody holds it any more
    again, warnings = journal.Journal.create(path, HEAD, TARGETS)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("scan.json.journal.")]
    assert len(kept) == 1 and journal.is_journal(kept[0])
    assert len(warnings) == 1 and f"kept as {kept[0]}" in warnings[0]
    again.remove()
    assert not path.exists()


def test_without_a_json_output_the_journal_lives_in_the_data_directory(tmp_path: Path) -> None:
    path = journal.path_for(None, tmp_path)
    assert path.parent == tmp_path / "journals" and path.suffix == ".jsonl"
    record, _ = journal.Journal.create(path, HEAD, TARGETS)
    record.close()
    later, warnings = journal.Journal.create(tmp_path / "journals" / "next.jsonl", HEAD, TARGETS)
    assert len(warnings) == 1 and str(path) in warnings[0] and "shareaudit report" in warnings[0]
    later.remove()
    assert journal.path_for(tmp_path / "out.json", tmp_path) == tmp_path / "out.json.journal"


def test_a_run_removes_its_journal_once_the_document_is_written(tmp_path: Path) -> None:
    outcome = run(plan(tmp_path, NAS, FS), collector=FakeCollector())
    out = tmp_path / "out"
    assert not (out / "scan.json.journal").exists()
    assert scanfile.read(out / "scan.json") == outcome.result
    assert UNSCANNED not in outcome.result.options


class Crashing:
    """A bug in the middle of a run: the progress display raises when the second host is finished."""

    def __init__(self) -> None:
        self.finished = 0

    def host_started(self, target: Target) -> None:
        """Nothing."""

    def host_finished(self, result: HostResult) -> None:
        self.finished += 1
        if self.finished == 2:
            raise RuntimeError("a bug")

    def entries_walked(self, target: Target, share: str, count: int) -> None:
        """Nothing."""


def test_a_crash_leaves_the_journal_and_it_rebuilds_what_was_gathered(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        run(plan(tmp_path, NAS, FS), Crashing(), collector=FakeCollector())
    path = tmp_path / "out" / "scan.json.journal"
    rebuilt = journal.load_saved(path)
    assert [h.target for h in rebuilt.hosts] == ["nas01"]
    assert rebuilt.options[UNSCANNED] == ["fs01"] and rebuilt.options[journal.REBUILT] == str(path)
    saved = tmp_path / "rebuilt.json"
    scanfile.write(rebuilt, saved)
    assert scanfile.read(saved) == rebuilt


def test_sigkill_mid_run_keeps_every_finished_host(tmp_path: Path, silent_server: int) -> None:
    """Closed ports finish at once, a silent server holds the run: SIGKILL, then the journal and a rebuild."""
    closed = [f"127.0.0.1:{port}" for port in (1, 2, 3)]
    stalled = f"127.0.0.1:{silent_server}"
    out = tmp_path / "scan.json"
    args = ["scan", *closed, stalled, "--protocols", "smb", "--timeout", "60", "--no-history"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareaudit", *args, "--data-dir", str(tmp_path / "d"), "--json", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    path = out.with_name("scan.json.journal")
    deadline = time.monotonic() + 60
    lines: list[bytes] = []
    while time.monotonic() < deadline and proc.poll() is None and len(lines) < 1 + len(closed):
        lines = path.read_bytes().splitlines() if path.exists() else []
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    finished = [json.loads(line)["host"] for line in path.read_bytes().splitlines()[1:]]
    assert sorted(h["target"] for h in finished) == sorted(closed)
    assert all(h["error_kind"] == "refused" for h in finished)
    rebuilt = tmp_path / "rebuilt.json"
    report = subprocess.run(
        [sys.executable, "-m", "shareaudit", "report", str(path), "--json", str(rebuilt), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 3, report.stderr
    result = scanfile.read(rebuilt)
    assert [h.target for h in result.hosts] == closed  # in target order
    assert result.options[UNSCANNED] == [stalled]
    assert {f.host for f in result.findings if f.rule == "target-not-scanned"} == {*closed, stalled}


def test_the_lock_is_an_flock_other_tools_can_see(tmp_path: Path) -> None:
    record, path = _journal(tmp_path)
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        record.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the run let go
    finally:
        os.close(fd)


def test_ctrl_c_assembles_the_document_from_the_journal_and_removes_it(
    tmp_path: Path, silent_server: int
) -> None:
    closed = [f"127.0.0.1:{port}" for port in (1, 2)]
    stalled = f"127.0.0.1:{silent_server}"
    out = tmp_path / "scan.json"
    args = ["scan", *closed, stalled, "--protocols", "smb", "--timeout", "60", "--no-history"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareaudit", *args, "--data-dir", str(tmp_path / "d"), "--json", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    path = out.with_name("scan.json.journal")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and len(path.read_bytes().splitlines()) == 1 + len(closed):
            break
        time.sleep(0.05)
    time.sleep(2)  # the SMB collector's libraries load, then it waits on the silent host (60 s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "partial results written" in err and "Traceback" not in err
    assert not path.exists()  # assembled into the document, then removed
    result = scanfile.read(out)
    assert [h.target for h in result.hosts[: len(closed)]] == closed
    assert all(h.error_kind == "refused" for h in result.hosts[: len(closed)])
    # The silent server's host: in flight (kept, marked interrupted) or not reached (listed): never lost.
    kept = {h.target: h.error_kind for h in result.hosts}
    assert kept.get(stalled) == "interrupted" or result.options.get(UNSCANNED) == [stalled]
    assert {f.host for f in result.findings if f.rule == "target-not-scanned"} >= {*closed, stalled}


def test_the_header_keeps_every_field_a_run_starts_with() -> None:
    """Whatever a run knows before its first host (vantage point included) survives the journal."""
    import dataclasses

    from shareaudit.audit import journal
    from shareaudit.model import ScanResult, Tool, VantagePoint

    head = ScanResult(
        Tool("shareaudit", "0"),
        "2026-11-29T00:00:00Z",
        "",
        (),
        options={"protocols": ["smb"]},
        input_problems=("line 3: garbage",),
        vantage="guest-wifi",
        vantages=(VantagePoint("guest-wifi", False),),
    )
    line = json.loads(journal.header(head, ["10.0.0.1"]))
    later = {"hosts", "findings", "finished_at", "directory", "actions"}  # filled after the collection
    assert {f.name for f in dataclasses.fields(ScanResult)} - later <= set(line)
    assert line["vantage"] == "guest-wifi"
    assert [(v["name"], v["trusted"]) for v in line["vantages"]] == [("guest-wifi", False)]
