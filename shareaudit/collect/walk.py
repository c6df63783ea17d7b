"""What the protocol-neutral crawl needs from a file protocol: entries, listings, a rate limit, a lister.

Each file protocol (SMB, FTP, NFS) provides a `Lister` over one share or export. The
crawl (`collect/crawl.py`) never learns which protocol it walks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry: enough to classify and count, nothing more."""

    name: str
    is_dir: bool
    size: int
    mtime: float  # Unix time
    reparse: bool = False  # a link or junction: listed, never followed


@dataclass(frozen=True, slots=True)
class Listing:
    """A directory's entries, or why it could not be listed; `partial` when it had more than one query's worth."""

    path: str
    entries: tuple[Entry, ...] = ()
    status: str | None = None
    partial: bool = False


class Lister(Protocol):
    """Read-only listing and bounded reads of one share, as one identity (paths are share-relative, '/')."""

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        """List each directory ('' is the root), in any order the protocol finds fastest."""
        ...

    def list_directory_fully(self, path: str) -> Listing:
        """List a directory that `list_directories` reported as partial, all of it."""
        ...

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        """The first `length` bytes of each file, or why it could not be read."""
        ...

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        """Bytes [offset, offset+length) of each file, or why it could not be read."""
        ...


class RateLimit:
    """At most `per_second` requests per second (0: unlimited), shared by a walker's threads."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second if per_second > 0 else 0.0
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.waited = 0.0  # seconds callers have waited in take(), all threads together
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def take(self, count: int = 1) -> None:
        """Wait until `count` more requests may be sent."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now) + self.interval * count
            wait = self._next - now - self.interval * count
            if wait > 0:
                self.waited += wait
        if wait > 0:
            time.sleep(wait)
