"""The medical-file inventory: one JSON line per medical file, written as the walk finds it.

Streaming keeps memory flat on a share of a million files, and a crash loses nothing already found:
every line is flushed. Paths are redacted (unless --show-names); no file content is ever written.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from shareaudit.collect.crawl import MedicalFile
from shareaudit.errors import InputError


class Inventory:
    """An append-only JSON Lines file shared by the host threads."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise InputError(f"cannot write inventory {path}: {exc.strerror}") from exc
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self.count = 0

    def add(self, host: str, share: str, found: MedicalFile) -> None:
        """Write one medical file."""
        record = {
            "host": host,
            "share": share,
            "path": found.path,
            "type": found.type_id,
            "confidence": found.confidence,
            "size": found.size,
            "mtime": datetime.fromtimestamp(found.mtime, UTC).isoformat(timespec="seconds")
            if found.mtime
            else None,
            "estimated": found.estimated,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self.count += 1

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close."""
        with self._lock:
            self._file.close()
