"""The run's journal: each finished host appended as one JSON line; the document assembled from it once.

A run no longer rewrites the whole scan JSON after every host (its cost grew with the square of the
hosts). It appends each host, as soon as it is finished, to a journal beside the JSON output
(`scan.json.journal`; without --json, `<data dir>/journals/scan-<time>-<pid>.jsonl`), and keeps only
which targets are done. At the end (and on Ctrl-C) the document is assembled from the journal, the
outputs are written, and the journal is removed. A journal that is still there after a run is the
record of a run that did not finish (killed, a power cut, a bug): `shareaudit report JOURNAL --json
scan.json` rebuilds the document from it, the targets it never reached reported as not scanned.

Format (JSON Lines, ASCII: a lone surrogate from a hostile server round-trips exactly):
  line 1   {"journal": "shareaudit-journal/1", "schema": ..., "tool": ..., "started_at": ...,
            "identities": [...], "options": {...}, "input_problems": [...], "targets": [spec, ...]}
  then     {"n": INDEX_IN_TARGETS, "host": {a HostResult, as in the scan JSON}}
Each line is one write() on a file opened O_APPEND: a killed process leaves whole lines (a torn last
line from a power cut is skipped when read). Lines are flushed to the kernel at once and fsync'ed at
most every FSYNC_EVERY seconds and at the end. The run holds an exclusive flock on its journal, so two
runs never write one file, and a journal nobody holds is known to be left over.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cattrs

from shareaudit import scanfile
from shareaudit.errors import InputError
from shareaudit.model import SCHEMA, HostResult, ScanResult
from shareaudit.rules.coverage import UNSCANNED

FORMAT = "shareaudit-journal/1"
FSYNC_EVERY = 2.0  # seconds between fsyncs: a power cut loses at most this much
SUFFIX = ".journal"
REBUILT = "rebuilt_from_journal"  # options key of a document rebuilt from a left-over journal


def path_for(json_path: Path | None, data_dir: Path) -> Path:
    """Where a run's journal goes: beside its JSON output, else a new name in the data directory."""
    if json_path is not None:
        return json_path.with_name(json_path.name + SUFFIX)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "journals" / f"scan-{stamp}-{os.getpid()}.jsonl"


def _line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _leftover(path: Path) -> Path | None:
    """A journal already at `path`: InputError when a live run holds it; else moved aside, its new name."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"cannot read the journal {path}: {exc.strerror}") from exc
    try:
        if not _try_lock(fd):
            raise InputError(f"another scan is writing {path} (it holds the journal); wait for it to finish")
        stamp = datetime.fromtimestamp(os.fstat(fd).st_mtime, UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = path.with_name(f"{path.name}.{stamp}")
        os.replace(path, kept)
        return kept
    finally:
        os.close(fd)


def leftovers_in(directory: Path) -> list[Path]:
    """Journals in a data directory's journals/ that no running scan holds: runs that did not finish."""
    found = []
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _try_lock(fd):
                    found.append(path)
            finally:
                os.close(fd)
    return found


class Journal:
    """The journal of the run in progress: created with its header, appended host by host, held locked."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self._synced = time.monotonic()

    @classmethod
    def create(cls, path: Path, head: ScanResult, targets: Sequence[str]) -> tuple[Journal, list[str]]:
        """A new journal at `path` with the run's header; warnings about journals earlier runs left behind."""
        warnings = []
        kept = _leftover(path)
        if kept is not None:
            warnings.append(
                f"an earlier run that did not finish left its journal; kept as {kept} "
                f"(rebuild its results with: shareaudit report {kept} --json FILE)"
            )
        elif path.parent.name == "journals":
            for old in leftovers_in(path.parent):
                warnings.append(
                    f"a run that did not finish left {old} (rebuild: shareaudit report {old} --json FILE)"
                )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise InputError(f"cannot write the journal {path}: {exc.strerror or exc}") from exc
        if not _try_lock(fd):  # created by another run between our check and now
            os.close(fd)
            raise InputError(f"another scan is writing {path} (it holds the journal); wait for it to finish")
        journal = cls(path, fd)
        journal._write(header(head, targets))
        return journal, warnings

    def add(self, index: int, host: HostResult) -> None:
        """Append one finished host (the index of its target in the plan's targets)."""
        self._write(_line({"n": index, "host": scanfile.unstructure(host)}))

    def _write(self, line: bytes) -> None:
        if self._fd is None:
            raise ValueError(f"the journal {self.path} is closed")
        try:
            os.write(self._fd, line)
            if time.monotonic() - self._synced >= FSYNC_EVERY:
                os.fsync(self._fd)
                self._synced = time.monotonic()
        except OSError as exc:
            raise InputError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        """Flush to disk and let go of the lock (the journal stays: a run that did not finish)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """The document is written: the journal has served."""
        self.path.unlink(missing_ok=True)
        self.close()


def header(head: ScanResult, targets: Sequence[str]) -> bytes:
    """The first line: the result's own fields without hosts and findings, and every target in order."""
    # Field by field: unstructuring a whole ScanResult first builds cattrs' code for every class in it
    # (measured 0.2 s), which would delay the first connection of every run.
    data = {
        "schema": head.schema,
        "tool": scanfile.unstructure(head.tool),
        "started_at": head.started_at,
        "identities": [scanfile.unstructure(identity) for identity in head.identities],
        "options": head.options,
        "input_problems": list(head.input_problems),
        "vantage": head.vantage,
        "vantages": [scanfile.unstructure(point) for point in head.vantages],
    }
    return _line({"journal": FORMAT, **data, "targets": list(targets)})


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a journal holds: the run's header, its targets in order, and each finished host by index."""

    head: ScanResult
    targets: tuple[str, ...]
    hosts: dict[int, HostResult]
    torn: bool  # the last line was cut short (a power cut while it was written) and is left out

    def unscanned(self) -> list[str]:
        """Targets no line reports (a target listed twice counts once, at its last position)."""
        last = {spec: n for n, spec in enumerate(self.targets)}
        return [spec for spec, n in last.items() if n not in self.hosts]

    def result(self, finished_at: str, mark_unscanned: bool) -> ScanResult:
        """The document: hosts in target order; with `mark_unscanned`, the targets never reached listed
        (rules/coverage.py makes each a `target-not-scanned` finding)."""
        hosts = tuple(self.hosts[n] for n in sorted(self.hosts))
        result = replace(self.head, hosts=hosts, finished_at=finished_at)
        missing = self.unscanned()
        if mark_unscanned and missing:
            result = replace(result, options={**result.options, UNSCANNED: missing})
        return result


def is_journal(path: Path) -> bool:
    """Whether the file starts like a journal (its first line names the format)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(1 << 16)
    except OSError:
        return False
    return first.startswith(b'{"journal":') and FORMAT.encode() in first


def read(path: Path) -> Recovered:
    """Read a journal; InputError (with the line number) on anything that is not one."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    with handle:
        head, targets = _head(path, handle.readline())
        hosts: dict[int, HostResult] = {}
        torn = False
        for number, raw in enumerate(handle, start=2):
            try:
                entry = json.loads(raw)
                index, data = entry["n"], entry["host"]
                if not isinstance(index, int) or not 0 <= index < len(targets):
                    raise ValueError(f"target index {index!r} out of range")
                hosts[index] = scanfile.structure(data, HostResult)
            except (ValueError, KeyError, TypeError, RecursionError, cattrs.BaseValidationError) as exc:
                if not raw.endswith(b"\n"):  # the last line, cut short: what came before is whole
                    torn = True
                    break
                raise InputError(f"{path}:{number}: not a journal entry ({type(exc).__name__})") from None
    return Recovered(head, targets, hosts, torn)


def _head(path: Path, first: bytes) -> tuple[ScanResult, tuple[str, ...]]:
    try:
        data = json.loads(first)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or data.get("journal") != FORMAT or data.get("schema") != SCHEMA:
        raise InputError(f"{path} is not a shareaudit journal (expected {FORMAT} of schema {SCHEMA})")
    targets = data.pop("targets", None)
    data.pop("journal")
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise InputError(f"{path}:1: the journal's header has no list of targets")
    try:
        head = scanfile.structure({**data, "finished_at": "", "hosts": [], "findings": []}, ScanResult)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}:1: the journal's header does not match schema {SCHEMA}: {exc}") from None
    return head, tuple(targets)


def rebuild(path: Path) -> ScanResult:
    """The document a run that did not finish would have written: what it gathered, the rest not scanned."""
    recovered = read(path)
    finished = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    result = recovered.result(finished, mark_unscanned=True)
    return replace(result, options={**result.options, REBUILT: str(path)})


def load_saved(path: Path) -> ScanResult:
    """A saved scan result, or the document rebuilt from a journal (what `shareaudit report` reads)."""
    return rebuild(path) if is_journal(path) else scanfile.read(path)
