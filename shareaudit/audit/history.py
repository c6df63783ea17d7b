"""Run history in SQLite: each run's metadata, findings (by fingerprint) and medical counts; diffs.

Opening. `History.open_for_reading(path)` (the `history` and `diff` commands) opens the file read-only
(SQLite `mode=ro`): it never creates, migrates or chmods anything; a missing or empty file is "no history
yet", a file that is not a history database is refused. `History.open_for_writing(path)` (recording a run;
also plain `History(path)`) creates the file with mode 600 before SQLite touches it (it names hosts,
shares and accounts), waits up to 5 s for another writer's lock, and brings an older schema up to date.
Every failure, a corrupt or locked file included, is an `InputError` of one line.

Actions. Each run also keeps its fix plan (rules/actions.py): the actions with their rank and title, the
action that closes each finding, and how many actions were open (`runs.actions`; null for runs recorded
before plans existed). `diff` says which actions of the earlier run are done (every finding they closed is
resolved and the action is not planned again), which are partly done, and which actions are new.

Schema versions live in `PRAGMA user_version`. `MIGRATIONS[n]` takes version n to n + 1; on open for
writing all pending ones run in one transaction. Version 1 is `_SCHEMA`; a database of the previous
release (those tables, user_version 0) is version 1 as it is. Version 2 adds each run's vantage point.
A database newer than the code is refused.
Reading an older database migrates a copy in memory, never the file.

New and resolved. A finding's identity is its fingerprint (`Finding.id`: rule + host + share + identity
+ path). The earlier run is the previous run of the same audit from the same vantage point (`previous`).
A finding is new iff its fingerprint was not in the earlier run, resolved iff a fingerprint of
the earlier run is absent from the later one; suppressed findings are neither. `is_new` is that one
definition: `new_since` (the alerts and `Finding.new`) and `History.diff` both use it. On top, `diff`
annotates new and resolved findings at the same place (host, share, identity, path) as "changed", e.g.
guest read that became guest write, and lists findings whose severity changed under the same fingerprint.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from shareaudit.errors import InputError
from shareaudit.model import Finding, ScanResult

BUSY_TIMEOUT_S = 5.0  # how long to wait for another run's write lock before giving up

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


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _v1_tables() -> dict[str, set[str]]:
    """The version-1 tables and their columns, read from `_SCHEMA` itself so the two cannot disagree."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript(_SCHEMA)
        return {table: _columns(db, table) for table in ("runs", "findings", "medical")}


# What makes a user_version-0 file a history of the previous release.
_V1_TABLES = _v1_tables()


def _v0_to_v1(db: sqlite3.Connection) -> None:
    """Version 1: the tables of `_SCHEMA` (a previous release's file already has them: no change)."""
    # One statement at a time: executescript would commit the open transaction first.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1_to_v2(db: sqlite3.Connection) -> None:
    """Version 2: each run's vantage point (`scan --vantage`; null for runs without one and older runs)."""
    if "vantage" not in _columns(db, "runs"):  # a development file may have it already
        db.execute("ALTER TABLE runs ADD COLUMN vantage TEXT")


def _v2_to_v3(db: sqlite3.Connection) -> None:
    """Version 3: each run's fix plan (the actions), which action closes each finding, open actions per run."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS actions (run_id INTEGER NOT NULL REFERENCES runs(id), action TEXT NOT NULL,"
        " kind TEXT NOT NULL, rank INTEGER NOT NULL, title TEXT NOT NULL, host TEXT NOT NULL,"
        " severity TEXT NOT NULL, findings INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS actions_run ON actions(run_id)")
    # A file written between the two releases' development branches may hold either column already.
    if "action" not in _columns(db, "findings"):
        db.execute("ALTER TABLE findings ADD COLUMN action TEXT")
    if "actions" not in _columns(db, "runs"):
        db.execute("ALTER TABLE runs ADD COLUMN actions INTEGER")


# MIGRATIONS[n] takes a database from version n to n + 1, inside the caller's transaction; append only.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v0_to_v1, _v1_to_v2, _v2_to_v3]


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


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
    vantage: str | None = None  # where the run ran from (`scan --vantage`)
    actions: int | None = None  # open actions of its fix plan; None: recorded before plans existed


_RUN_COLUMNS = "id, name, started_at, finished_at, hosts, failed, findings, vantage, actions"


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        name=row["name"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        hosts=row["hosts"],
        failed=row["failed"],
        findings=row["findings"],
        vantage=row["vantage"],
        actions=row["actions"],
    )


@dataclass(frozen=True, slots=True)
class StoredAction:
    """An action of a run's fix plan, as the history keeps it."""

    id: str
    kind: str
    rank: int
    title: str
    host: str
    severity: str
    findings: int  # how many findings it closed in that run


@dataclass(frozen=True, slots=True)
class ActionProgress:
    """An action of the earlier run and what became of its findings in the later one."""

    action: StoredAction
    resolved: int  # of its findings, those absent from the later run
    done: bool  # all of them resolved, and the later run does not plan it again


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
    action: str | None = None  # the id of the action that closes it (None: accepted, or no plan recorded)

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
class Change:
    """Resolved and new findings at the same place: an annotation, they stay in `Diff.new`/`Diff.resolved`."""

    host: str
    share: str | None
    identity: str | None
    path: str | None
    before: tuple[StoredFinding, ...]  # resolved here
    after: tuple[StoredFinding, ...]  # new here


@dataclass(frozen=True, slots=True)
class Regrade:
    """The same finding (fingerprint) with another severity: neither new nor resolved."""

    before: StoredFinding
    after: StoredFinding


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed from run `before` to run `after`."""

    before: Run
    after: Run
    new: tuple[StoredFinding, ...]
    resolved: tuple[StoredFinding, ...]
    changed: tuple[Change, ...]
    regraded: tuple[Regrade, ...]
    medical_grew: tuple[MedicalGrowth, ...]
    progress: tuple[ActionProgress, ...] = ()  # the earlier run's actions with findings resolved since
    actions_new: tuple[StoredAction, ...] = ()  # actions of the later run the earlier one did not plan


def is_new(fingerprint: str, suppressed: bool, known: AbstractSet[str]) -> bool:
    """The one definition of new: unsuppressed, and its fingerprint not among the earlier run's."""
    return not suppressed and fingerprint not in known


def _changes(resolved: Iterable[StoredFinding], new: Iterable[StoredFinding]) -> tuple[Change, ...]:
    """Places with both a resolved and a new finding, in place order."""
    gone: dict[tuple[str, str | None, str | None, str | None], list[StoredFinding]] = defaultdict(list)
    came: dict[tuple[str, str | None, str | None, str | None], list[StoredFinding]] = defaultdict(list)
    for f in resolved:
        gone[f.place].append(f)
    for f in new:
        came[f.place].append(f)
    return tuple(
        Change(*place, before=tuple(gone[place]), after=tuple(came[place]))
        for place in sorted(set(gone) & set(came), key=lambda p: tuple(x or "" for x in p))
    )


def _progress(
    earlier: Iterable[StoredAction],
    old: Iterable[StoredFinding],
    now: AbstractSet[str],
    planned: AbstractSet[str],
) -> tuple[ActionProgress, ...]:
    """The earlier run's actions whose findings were resolved since (all: done, unless planned again)."""
    closed: dict[str, list[StoredFinding]] = defaultdict(list)
    for finding in old:
        if finding.action and not finding.suppressed:
            closed[finding.action].append(finding)
    progress = []
    for action in earlier:
        mine = closed.get(action.id, [])
        resolved = sum(1 for f in mine if is_new(f.fingerprint, f.suppressed, now))
        if resolved:
            done = resolved == len(mine) and action.id not in planned
            progress.append(ActionProgress(action, resolved, done))
    return tuple(progress)


class History:
    """The history database; use `open_for_reading` or `open_for_writing`, and `with`."""

    def __init__(self, path: Path, *, write: bool = True) -> None:
        self.path = path
        self.writable = write
        self.db = self._open_writing() if write else self._open_reading()

    @classmethod
    def open_for_reading(cls, path: Path) -> History:
        """Open an existing history read-only: nothing about the file changes."""
        return cls(path, write=False)

    @classmethod
    def open_for_writing(cls, path: Path) -> History:
        """Open (or create, mode 600) a history to record runs, upgrading its schema."""
        return cls(path, write=True)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- opening --------------------------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error) -> InputError:
        """One line for a SQLite failure, naming the file (and the lock, when that is what it was)."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        code = getattr(exc, "sqlite_errorname", None) or ""
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
            return InputError(
                f"history {self.path} is locked by another shareaudit run ({text}; waited {BUSY_TIMEOUT_S:g} s)"
            )
        if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or type(exc) is sqlite3.DatabaseError:
            return InputError(f"history {self.path} is not a history database ({text})")
        return InputError(f"cannot use history {self.path}: {text}")

    def _not_history(self) -> InputError:
        return InputError(f"history {self.path} is not a history database (unknown tables)")

    def _tables(self, db: sqlite3.Connection) -> set[str]:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {row["name"] for row in rows if not row["name"].startswith("sqlite_")}

    def _version(self, db: sqlite3.Connection) -> int | None:
        """The file's schema version, None for an empty database; refuses foreign and too-new files."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = self._tables(db)
        known = schema_version()
        if version > known:
            raise InputError(
                f"history {self.path} was written by a newer shareaudit (schema {version});"
                f" this one knows up to {known}"
            )
        if version == 0:
            if not tables:
                return None
            for table, columns in _V1_TABLES.items():
                if table not in tables:
                    raise self._not_history()
                if not columns <= _columns(db, table):
                    raise self._not_history()
            return 1  # the previous release wrote version 1 without saying so
        return version

    def _open_writing(self) -> sqlite3.Connection:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Created 600 before SQLite opens it, so it is never readable by others, not even briefly.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise InputError(f"cannot open history {path}: {exc.strerror or exc}") from exc
        try:
            # isolation_level None: transactions are ours (BEGIN IMMEDIATE), not the module's implicit ones.
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        db.row_factory = sqlite3.Row
        try:
            with self._transaction(db):
                stored = int(db.execute("PRAGMA user_version").fetchone()[0])
                version = self._version(db) or 0
                for migrate in MIGRATIONS[version:]:
                    migrate(db)
                if stored != schema_version():  # also a previous release's 0 that needed no migration
                    db.execute(f"PRAGMA user_version = {schema_version():d}")
        except BaseException:
            db.close()
            raise
        return db

    def _open_reading(self) -> sqlite3.Connection:
        path = self.path
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):
            raise InputError(f"no history at {path} yet")
        try:
            db = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        db.row_factory = sqlite3.Row
        try:
            version = self._version(db)
            if version is None:
                raise InputError(f"no history at {path} yet")
            if version < schema_version():
                db = self._upgraded_copy(db, version)
        except sqlite3.Error as exc:
            db.close()
            raise self._error(exc) from exc
        except BaseException:
            db.close()
            raise
        return db

    def _upgraded_copy(self, db: sqlite3.Connection, version: int) -> sqlite3.Connection:
        """An older file read without writing it: its migrations run on a copy in memory."""
        memory = sqlite3.connect(":memory:", isolation_level=None)
        memory.row_factory = sqlite3.Row
        db.backup(memory)
        db.close()
        with self._transaction(memory):
            for migrate in MIGRATIONS[version:]:
                migrate(memory)
        return memory

    @contextmanager
    def _transaction(self, db: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front so a second writer waits, then fails clearly."""
        db = db if db is not None else self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:  # SQLite rolls back by itself after some errors (a full disk, say)
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from exc
            raise

    def _rows(self, query: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        """All rows of a query; a corrupt or locked file becomes an InputError."""
        try:
            return self.db.execute(query, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    # --- writing --------------------------------------------------------------------------------------

    def record(self, name: str, result: ScanResult, suppressed: Sequence[str] = ()) -> int:
        """Store a finished run; returns its id."""
        if not self.writable:
            raise InputError(f"history {self.path} was opened read-only")
        hidden = set(suppressed)
        owner = {fid: action.id for action in result.actions for fid in action.findings}
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (name, started_at, finished_at, tool_version, hosts, failed, findings, options,"
                " vantage, actions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    result.started_at,
                    result.finished_at,
                    result.tool.version,
                    len(result.hosts),
                    sum(1 for h in result.hosts if h.error),
                    len(result.findings),
                    json.dumps(result.options, default=str),
                    result.vantage,
                    len(result.actions),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO findings (run_id, fingerprint, rule, severity, host, share, identity, path, title,"
                " suppressed, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        owner.get(f.id),
                    )
                    for f in result.findings
                ],
            )
            db.executemany(
                "INSERT INTO actions (run_id, action, kind, rank, title, host, severity, findings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, a.id, a.kind, a.rank, a.title, a.host, a.severity, len(a.findings))
                    for a in result.actions
                ],
            )
            db.executemany(
                "INSERT INTO medical (run_id, host, share, type, count, estimated) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, host.target, share.name, kind, count.count, share.content.estimated)
                    for host in result.hosts
                    for share in host.shares
                    if share.content is not None
                    for kind, count in share.content.medical.items()
                ],
            )
        return run_id

    # --- reading --------------------------------------------------------------------------------------

    def runs(self, name: str | None = None, limit: int = 50, vantage: str | None = None) -> list[Run]:
        """Runs, newest first, optionally only those of one audit name and/or one vantage point."""
        where = [
            (column, value) for column, value in (("name", name), ("vantage", vantage)) if value is not None
        ]
        query = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            query += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in where)
        args = tuple(value for _, value in where)
        return [_run(row) for row in self._rows(query + " ORDER BY id DESC LIMIT ?", (*args, limit))]

    def run(self, run_id: int) -> Run:
        """One run by id."""
        rows = self._rows(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise InputError(f"no run {run_id} in the history {self.path}")
        return _run(rows[0])

    def findings(self, run_id: int) -> list[StoredFinding]:
        """The findings of a run, in the order they were recorded."""
        rows = self._rows(
            "SELECT fingerprint, rule, severity, host, share, identity, path, title, suppressed, action"
            " FROM findings WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [
            StoredFinding(
                fingerprint=row["fingerprint"],
                rule=row["rule"],
                severity=row["severity"],
                host=row["host"],
                share=row["share"],
                identity=row["identity"],
                path=row["path"],
                title=row["title"],
                suppressed=bool(row["suppressed"]),
                action=row["action"],
            )
            for row in rows
        ]

    def actions(self, run_id: int) -> list[StoredAction]:
        """A run's fix plan, first action first (empty for runs recorded before plans existed)."""
        rows = self._rows(
            "SELECT action, kind, rank, title, host, severity, findings FROM actions WHERE run_id = ? ORDER BY rank",
            (run_id,),
        )
        return [
            StoredAction(
                row["action"],
                row["kind"],
                row["rank"],
                row["title"],
                row["host"],
                row["severity"],
                row["findings"],
            )
            for row in rows
        ]

    def trend(self, name: str, limit: int = 10) -> list[Run]:
        """The last runs of one audit that recorded a plan, oldest first: open actions over time."""
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE name = ? AND actions IS NOT NULL ORDER BY id DESC LIMIT ?",
            (name, limit),
        )
        return [_run(row) for row in reversed(rows)]

    def fingerprints(self, run_id: int) -> set[str]:
        """Every fingerprint of a run, suppressed ones included."""
        rows = self._rows("SELECT fingerprint FROM findings WHERE run_id = ?", (run_id,))
        return {row["fingerprint"] for row in rows}

    def medical(self, run_id: int) -> dict[tuple[str, str, str], int]:
        """Medical counts of a run by (host, share, type)."""
        rows = self._rows("SELECT host, share, type, count FROM medical WHERE run_id = ?", (run_id,))
        return {(row["host"], row["share"], row["type"]): row["count"] for row in rows}

    def diff(self, before_id: int, after_id: int) -> Diff:
        """What changed between two runs: new and resolved by fingerprint, with annotations."""
        before, after = self.run(before_id), self.run(after_id)
        old, now = self.findings(before_id), self.findings(after_id)
        old_prints, now_prints = {f.fingerprint for f in old}, {f.fingerprint for f in now}
        new = tuple(f for f in now if is_new(f.fingerprint, f.suppressed, old_prints))
        # Resolved is "new" read backwards: in the earlier run, absent from the later one.
        resolved = tuple(f for f in old if is_new(f.fingerprint, f.suppressed, now_prints))
        was = {f.fingerprint: f for f in old if not f.suppressed}
        regraded = tuple(
            Regrade(was[f.fingerprint], f)
            for f in now
            if not f.suppressed and f.fingerprint in was and was[f.fingerprint].severity != f.severity
        )
        growth = []
        old_medical, new_medical = self.medical(before_id), self.medical(after_id)
        for (host, share, kind), count in sorted(new_medical.items()):
            earlier = old_medical.get((host, share, kind), 0)
            if count > earlier:
                growth.append(MedicalGrowth(host, share, kind, earlier, count))
        # Actions are compared only when both runs recorded a plan (older runs have none).
        planned = before.actions is not None and after.actions is not None
        plan_before = self.actions(before_id) if planned else []
        plan_after = self.actions(after_id) if planned else []
        return Diff(
            before,
            after,
            new=new,
            resolved=resolved,
            changed=_changes(resolved, new),
            regraded=regraded,
            medical_grew=tuple(growth),
            progress=_progress(plan_before, old, now_prints, {a.id for a in plan_after}),
            actions_new=tuple(a for a in plan_after if a.id not in {a.id for a in plan_before}),
        )

    def previous(self, name: str, run_id: int) -> Run | None:
        """The run of the same audit name, from the same vantage point, just before this one.

        Runs of one audit from different vantage points see different things (that is their point): each is
        compared with the previous run from where it ran, never with another segment's.
        """
        rows = self._rows(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE name = ? AND id < ?"
            " AND vantage IS (SELECT vantage FROM runs WHERE id = ?) ORDER BY id DESC LIMIT 1",
            (name, run_id, run_id),
        )
        return _run(rows[0]) if rows else None


def new_since(history: History, name: str, run_id: int, findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """This run's findings that are new (`is_new`) against the previous run of the same audit."""
    previous = history.previous(name, run_id)
    known = history.fingerprints(previous.id) if previous else set()
    return tuple(f for f in findings if is_new(f.id, f.suppressed is not None, known))
