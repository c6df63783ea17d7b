"""The live progress display of a scan: hosts done, shares walked, entries walked, elapsed time.

Drawn on stderr, and only on a terminal: with --quiet or when stderr is not a terminal (cron, CI) the
CLI uses collect.NoProgress and nothing is drawn. rich's Progress is safe to update from the host and
share threads.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from shareaudit.model import HostResult
from shareaudit.plan.targets import Target


class LiveProgress:
    """A rich progress bar over the hosts, with the crawl's running totals."""

    def __init__(self, hosts: int) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("hosts  {task.fields[shares]} shares  {task.fields[entries]:,} entries"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("scan", total=hosts, shares=0, entries=0)
        self._lock = threading.Lock()
        self._entries = 0
        self._shares: set[tuple[str, str]] = set()

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()

    def host_started(self, target: Target) -> None:
        """Nothing to draw until something finishes."""

    def host_finished(self, result: HostResult) -> None:
        """One more host done."""
        self.bar.advance(self.task)

    def entries_walked(self, target: Target, share: str, count: int) -> None:
        """Add entries walked on a share."""
        with self._lock:
            self._entries += count
            self._shares.add((target.spec + target.host, share))
            entries, shares = self._entries, len(self._shares)
        self.bar.update(self.task, entries=entries, shares=shares)
