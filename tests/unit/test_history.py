"""The run history: round trip, one definition of new, schema versions, read-only commands, bad files."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from inprocess import cli
from synthetic import content, host, share
from synthetic import result as scan_result

from shareaudit.audit import history
from shareaudit.audit.history import Change, History, new_since
from shareaudit.errors import InputError
from shareaudit.model import Finding, ScanResult, Suppression

HOST = "nas01"
ACCEPTED = Suppression(reason="migration", owner="it", expires="2099-01-01")


def finding(
    rule: str, share: str | None, identity: str | None, severity: str = "medium", suppressed: bool = False
) -> Finding:
    """A finding with a fingerprint made the way the engine makes it: from its place and rule only."""
    fingerprint = hashlib.sha256(f"{rule}|{HOST}|{share}|{identity}|".encode()).hexdigest()[:16]
    return Finding(
        id=fingerprint,
        rule=rule,
        severity=severity,
        title=f"{rule} on {share}",
        host=HOST,
        share=share,
        identity=identity,
        suppressed=ACCEPTED if suppressed else None,
    )


def run_of(*findings: Finding, medical: int = 0) -> ScanResult:
    """A scan result of one host whose share `records` holds `medical` DICOM files."""
    records = share("records", content=content({"dicom": medical}) if medical else None)
    return replace(scan_result(host(HOST, [records])), findings=findings)


def record(path: Path, result: ScanResult, name: str = "weekly") -> int:
    with History.open_for_writing(path) as store:
        return store.record(name, result, [f.id for f in result.findings if f.suppressed])


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


# --- round trip ----------------------------------------------------------------------------------------


def test_record_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "new" / "h.sqlite"
    read = finding("unprivileged-read", "records", "guest")
    hidden = finding("unprivileged-write", "scans", "guest", "high", suppressed=True)
    run_id = record(path, run_of(read, hidden, medical=12))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert user_version(path) == history.schema_version() == 3
    with History.open_for_reading(path) as store:
        [run] = store.runs()
        assert run == store.run(run_id)
        assert (run.name, run.hosts, run.failed, run.findings) == ("weekly", 1, 0, 2)
        stored = store.findings(run_id)
        assert [(f.fingerprint, f.rule, f.severity, f.place, f.suppressed) for f in stored] == [
            (read.id, "unprivileged-read", "medium", (HOST, "records", "guest", None), False),
            (hidden.id, "unprivileged-write", "high", (HOST, "scans", "guest", None), True),
        ]
        assert store.fingerprints(run_id) == {read.id, hidden.id}
        assert store.medical(run_id) == {(HOST, "records", "dicom"): 12}
        assert store.runs("other") == []
        with pytest.raises(InputError, match="no run 99"):
            store.run(99)
        with pytest.raises(InputError, match="read-only"):
            store.record("weekly", run_of())


# --- one definition of new ------------------------------------------------------------------------------


def test_diff_reports_new_and_resolved_by_fingerprint_and_annotates_places(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    read = finding("unprivileged-read", "records", "guest")
    inventory = finding("medical-data-inventory", "records", None, "info")
    signing = finding("signing-not-required", None, None, "medium")
    first = record(path, run_of(read, inventory, signing, medical=5))
    write = finding("unprivileged-write", "records", "guest", "high")
    second = record(path, run_of(write, replace(signing, severity="high"), medical=9))
    with History.open_for_reading(path) as store:
        diff = store.diff(first, second)
    assert [f.fingerprint for f in diff.new] == [write.id]
    assert {f.fingerprint for f in diff.resolved} == {read.id, inventory.id}
    # guest read became guest write: annotated as a change, still counted as one new and one resolved
    [change] = diff.changed
    assert change == Change(HOST, "records", "guest", None, before=(diff.resolved[0],), after=diff.new)
    [regrade] = diff.regraded  # same fingerprint, other severity: neither new nor resolved
    assert (regrade.before.severity, regrade.after.severity) == ("medium", "high")
    assert [(g.share, g.type, g.before, g.after) for g in diff.medical_grew] == [("records", "dicom", 5, 9)]


def test_diff_new_is_exactly_what_new_since_alerts_on(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    kept = finding("unprivileged-read", "records", "guest")
    accepted_then = finding("unprivileged-write", "scans", "guest", "high", suppressed=True)
    gone = finding("null-session", None, None, "high")
    gone_accepted = finding("smb1-enabled", None, None, "high", suppressed=True)
    first = run_of(kept, accepted_then, gone, gone_accepted)
    first_id = record(path, first)
    with History.open_for_reading(path) as store:  # the first run of an audit: everything unsuppressed
        assert new_since(store, "weekly", first_id, first.findings) == (kept, gone)
    fresh = finding("unprivileged-write", "records", "guest", "high")
    fresh_accepted = finding("unprivileged-read", "public", "guest", suppressed=True)
    second = run_of(kept, replace(accepted_then, suppressed=None), fresh, fresh_accepted)
    second_id = record(path, second)
    record(path, run_of(), name="other audit")  # another audit's run in between changes nothing
    with History.open_for_reading(path) as store:
        diff = store.diff(first_id, second_id)
        alerted = new_since(store, "weekly", second_id, second.findings)
    assert {f.fingerprint for f in diff.new} == {f.id for f in alerted} == {fresh.id}
    assert [f.fingerprint for f in diff.resolved] == [gone.id]  # the accepted one is not reported


# --- schema versions --------------------------------------------------------------------------------------


def test_a_previous_release_database_is_version_1(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with sqlite3.connect(path) as db:  # what the previous release wrote: the tables, user_version 0
        db.executescript(history._SCHEMA)
        db.execute(
            "INSERT INTO runs (name, started_at, finished_at, tool_version, hosts, failed, findings, options)"
            " VALUES ('weekly', 'then', 'then', '0.0.9', 1, 0, 0, '{}')"
        )
    db.close()
    before = path.read_bytes()
    with History.open_for_reading(path) as store:
        assert [r.name for r in store.runs()] == ["weekly"]
    assert path.read_bytes() == before and user_version(path) == 0  # reading upgrades nothing
    record(path, run_of(finding("null-session", None, None, "high")))
    assert user_version(path) == history.schema_version()
    with History.open_for_reading(path) as store:
        assert [r.findings for r in store.runs()] == [1, 0]


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    record(path, run_of())
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    db.close()
    message = (
        f"history {path} was written by a newer shareaudit (schema 7); this one knows up to "
        f"{history.schema_version()}"
    )
    for opener in (History.open_for_reading, History.open_for_writing):
        with pytest.raises(InputError) as error:
            opener(path)
        assert str(error.value) == message
    assert user_version(path) == 7


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id INTEGER)")  # a name we use, but not our table
    db.close()
    before = path.read_bytes()
    for opener in (History.open_for_reading, History.open_for_writing):
        with pytest.raises(InputError, match="not a history database"):
            opener(path)
    assert path.read_bytes() == before


def _add_notes(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN notes TEXT")


def test_migrations_run_in_order_in_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "h.sqlite"
    record(path, run_of())
    current = history.schema_version()

    def broken(db: sqlite3.Connection) -> None:
        raise RuntimeError("the last migration failed")

    migrations: list[Callable[[sqlite3.Connection], None]] = [*history.MIGRATIONS, _add_notes, broken]
    monkeypatch.setattr(history, "MIGRATIONS", migrations)
    with pytest.raises(RuntimeError):
        History.open_for_writing(path)
    with sqlite3.connect(path) as db:  # nothing of the first migration stayed
        assert "notes" not in columns(db, "runs")
    db.close()
    assert user_version(path) == current

    monkeypatch.setattr(history, "MIGRATIONS", migrations[:-1])
    before = path.read_bytes()
    with History.open_for_reading(path) as store:  # an older file is read through a migrated copy
        assert "notes" in columns(store.db, "runs") and len(store.runs()) == 1
    assert path.read_bytes() == before
    with History.open_for_writing(path) as store:
        store.record("weekly", run_of())
    assert user_version(path) == current + 1
    with sqlite3.connect(path) as db:
        assert "notes" in columns(db, "runs")
    db.close()


# --- reading commands never write --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["history", "diff"])
def test_reading_commands_leave_files_alone(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "h.sqlite"
    code, out, err = cli(monkeypatch, capsys, command, "--history", str(missing))
    assert (code, out, err) == (2, "", f"shareaudit: error: no history at {missing} yet\n")
    assert not missing.parent.exists()

    empty = tmp_path / "empty.sqlite"
    empty.touch(mode=0o644)
    empty.chmod(0o644)
    code, out, err = cli(monkeypatch, capsys, command, "--history", str(empty))
    assert (code, err) == (2, f"shareaudit: error: no history at {empty} yet\n")
    assert empty.stat().st_size == 0 and stat.S_IMODE(empty.stat().st_mode) == 0o644

    shared = tmp_path / "shared.sqlite"
    record(shared, run_of(finding("null-session", None, None, "high")))
    record(shared, run_of())
    shared.chmod(0o644)  # an admin's choice: a reader must not change it
    before = shared.read_bytes()
    code, out, err = cli(monkeypatch, capsys, command, "--history", str(shared))
    assert code == 0 and err == ""
    assert ("weekly" if command == "history" else "0 new, 1 resolved") in out
    assert shared.read_bytes() == before and stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.sqlite", "shared.sqlite"]  # no journal


def test_a_corrupt_file_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    path.chmod(0o644)
    before = path.read_bytes()
    for command in ("history", "diff"):
        code, out, err = cli(monkeypatch, capsys, command, "--history", str(path))
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith(f"shareaudit: error: history {path} is not a history")
    with pytest.raises(InputError, match="not a history database"):
        History.open_for_writing(path)
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o644


# --- writing -------------------------------------------------------------------------------------------------


def test_a_new_history_is_private_from_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[int] = []
    real_connect = sqlite3.connect

    def connect(database: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        created.append(stat.S_IMODE(Path(str(database)).stat().st_mode))  # the file exists before SQLite
        return real_connect(database, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite3, "connect", connect)
    path = tmp_path / "h.sqlite"
    with History.open_for_writing(path):
        pass
    assert created == [0o600] and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_locked_database_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "h.sqlite"
    store = History.open_for_writing(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another run in the middle of writing
    try:
        with pytest.raises(InputError, match=r"is locked by another shareaudit run \(database is locked"):
            History.open_for_writing(path)
        with pytest.raises(InputError, match="database is locked"):
            store.record("weekly", run_of())
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.record("weekly", run_of())  # the lock gone, the same store works
    store.close()
