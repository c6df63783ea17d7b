"""Run history in SQLite: each run's metadata, findings (by fingerprint) and medical counts; diffs.

A finding's identity is its fingerprint (rule + host + share + identity + path), so the same exposure
in two runs is recognised as the same whatever else changed. "Changed" means the same place
(host, share, identity, path) has a different set of rules or severities between the runs, e.g. guest
read that became guest write.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shareaudit.errors import InputError
from shareaudit.model import Finding, ScanResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    hosts INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    findings INTEGER NOT NULL,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS findings (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    host TEXT NOT NULL,
    share TEXT,
    identity TEXT,
    path TEXT,
    title TEXT NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS findings_run ON findings(run_id);
CREATE TABLE IF NOT EXISTS medical (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    share TEXT NOT NULL,
    type TEXT NOT NULL,
    count INTEGER NOT NULL,
    estimated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS medical_run ON medical(run_id);
"""


@dataclass(frozen=True, slots=True)
class Run:
    """One recorded run."""

    id: int
    name: str
    started_at: str
    finished_at: str
    hosts: int
    failed: int
    findings: int


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A finding as the history keeps it."""

    fingerprint: str
    rule: str
    severity: str
    host: str
    share: str | None
    identity: str | None
    path: str | None
    title: str
    suppressed: bool

    @property
    def place(self) -> tuple[str, str | None, str | None, str | None]:
        """Where the finding is: host, share, identity, path."""
        return (self.host, self.share, self.identity, self.path)


@dataclass(frozen=True, slots=True)
class MedicalGrowth:
    """A medical count that grew between two runs."""

    host: str
    share: str
    type: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed from run `before` to run `after`."""

    before: Run
    after: Run
    new: tuple[StoredFinding, ...]
    resolved: tuple[StoredFinding, ...]
    changed: tuple[
        tuple[tuple[StoredFinding, ...], tuple[StoredFinding, ...]], ...
    ]  # (before, after) per place
    medical_grew: tuple[MedicalGrowth, ...]


class History:
    """The history database."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path)
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"cannot open history {path}: {exc}") from exc
        path.chmod(0o600)  # it names hosts, shares and accounts
        self.path = path

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db:
            yield self.db

    def record(self, name: str, result: ScanResult, suppressed: Sequence[str] = ()) -> int:
        """Store a finished run; returns its id."""
        hidden = set(suppressed)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (name, started_at, finished_at, tool_version, hosts, failed, findings, options)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    result.started_at,
                    result.finished_at,
                    result.tool.version,
                    len(result.hosts),
                    sum(1 for h in result.hosts if h.error),
                    len(result.findings),
                    json.dumps(result.options, default=str),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        f.id,
                        f.rule,
                        f.severity,
                        f.host,
                        f.share,
                        f.identity,
                        f.path,
                        f.title,
                        f.id in hidden,
                    )
                    for f in result.findings
                ],
            )
            db.executemany(
                "INSERT INTO medical VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, host.target, share.name, kind, count.count, share.content.estimated)
                    for host in result.hosts
                    for share in host.shares
                    if share.content is not None
                    for kind, count in share.content.medical.items()
                ],
            )
        return run_id

    def runs(self, name: str | None = None, limit: int = 50) -> list[Run]:
        """Runs, newest first, optionally only those of one audit name."""
        query = "SELECT id, name, started_at, finished_at, hosts, failed, findings FROM runs"
        args: tuple[object, ...] = ()
        if name is not None:
            query += " WHERE name = ?"
            args = (name,)
        rows = self.db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Run(*row) for row in rows]

    def run(self, run_id: int) -> Run:
        """One run by id."""
        row = self.db.execute(
            "SELECT id, name, started_at, finished_at, hosts, failed, findings FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise InputError(f"no run {run_id} in the history {self.path}")
        return Run(*row)

    def findings(self, run_id: int) -> list[StoredFinding]:
        """The findings of a run."""
        rows = self.db.execute(
            "SELECT fingerprint, rule, severity, host, share, identity, path, title, suppressed"
            " FROM findings WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        return [
            StoredFinding(
                fingerprint=row[0],
                rule=row[1],
                severity=row[2],
                host=row[3],
                share=row[4],
                identity=row[5],
                path=row[6],
                title=row[7],
                suppressed=bool(row[8]),
            )
            for row in rows
        ]

    def medical(self, run_id: int) -> dict[tuple[str, str, str], int]:
        """Medical counts of a run by (host, share, type)."""
        rows = self.db.execute("SELECT host, share, type, count FROM medical WHERE run_id = ?", (run_id,))
        return {(host, share, kind): count for host, share, kind, count in rows}

    def diff(self, before_id: int, after_id: int) -> Diff:
        """What changed between two runs."""
        before, after = self.run(before_id), self.run(after_id)
        old = [f for f in self.findings(before_id) if not f.suppressed]
        new = [f for f in self.findings(after_id) if not f.suppressed]
        old_places: dict[tuple[str, str | None, str | None, str | None], list[StoredFinding]] = defaultdict(
            list
        )
        new_places: dict[tuple[str, str | None, str | None, str | None], list[StoredFinding]] = defaultdict(
            list
        )
        for f in old:
            old_places[f.place].append(f)
        for f in new:
            new_places[f.place].append(f)
        changed = []
        for place in sorted(set(old_places) & set(new_places), key=str):
            was = {(f.rule, f.severity) for f in old_places[place]}
            now = {(f.rule, f.severity) for f in new_places[place]}
            if was != now:
                changed.append((tuple(old_places[place]), tuple(new_places[place])))
        growth = []
        old_medical, new_medical = self.medical(before_id), self.medical(after_id)
        for key, count in sorted(new_medical.items()):
            if count > old_medical.get(key, 0):
                growth.append(MedicalGrowth(*key, old_medical.get(key, 0), count))
        return Diff(
            before,
            after,
            new=tuple(f for f in new if f.place not in old_places),
            resolved=tuple(f for f in old if f.place not in new_places),
            changed=tuple(changed),
            medical_grew=tuple(growth),
        )

    def previous(self, name: str, run_id: int) -> Run | None:
        """The run of the same audit name just before this one."""
        row = self.db.execute(
            "SELECT id, name, started_at, finished_at, hosts, failed, findings FROM runs"
            " WHERE name = ? AND id < ? ORDER BY id DESC LIMIT 1",
            (name, run_id),
        ).fetchone()
        return Run(*row) if row else None


def new_since(history: History, name: str, run_id: int, findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """This run's unsuppressed findings whose fingerprint the previous run of the same audit did not have."""
    previous = history.previous(name, run_id)
    known = {f.fingerprint for f in history.findings(previous.id)} if previous else set()
    return tuple(f for f in findings if f.suppressed is None and f.id not in known)
