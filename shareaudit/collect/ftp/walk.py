"""FTP's `Lister` for the protocol-neutral crawl (collect/crawl.py): one logged-in session, one request at a time.

Each directory is listed with MLSD when the server has it (RFC 3659: the entries carry perm facts), else
with LIST after a CWD (a LIST argument may be globbed or read as options by the server). Heads are read
with a bounded RETR (client.FtpClient.read: at most the bytes asked, then the transfer is abandoned),
ranges with REST + RETR. Every request waits for the walk's rate limit.

FTP runs one request at a time per connection, so a walk is bound by round trips: the lister lists and
reads over up to `sessions` connections of the same identity at once (the first is the survey's login;
the others are opened, and logged in, when a batch needs them; a server that refuses one more keeps the
walk at the connections it has).

While it lists, the lister keeps what the listings say about the identity's rights (`Rights`): the folders
that take new files (the perm fact c on a directory, or LIST mode bits that leave room for it), whether a
file may be retrieved (perm r), and whether a read really worked. The collector turns them into
`FtpFolder`s and the tree's read right.

The crawl joins paths with backslashes (SMB's separator); FTP names may contain one, so the lister maps a
crawl path to the server's path for every name that would be ambiguous.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import TypeVar

from shareaudit.collect.ftp import judge
from shareaudit.collect.ftp.client import Data, FtpClient, Reply
from shareaudit.collect.ftp.listing import DIR, FILE, LINK, FtpEntry, Parsed, parse_list, parse_mlsd
from shareaudit.collect.ftp.options import MAX_FOLDERS
from shareaudit.collect.walk import Entry, Listing, RateLimit
from shareaudit.errors import CollectError
from shareaudit.model import Basis

_T = TypeVar("_T")
_NOT_IMPLEMENTED = (500, 502, 504)  # a command the server does not know or serve (RFC 959 4.2)
_UNSENDABLE = ("\r", "\n", "\0")  # a name with one of these cannot be put on a command line


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder that takes new files, as a listing claims it (server path and crawl path)."""

    path: str  # relative to where the login lands, '/' separated ('' is the landing folder)
    basis: Basis  # granted (perm fact) | uncertain (mode bits)
    perm: str | None = None
    mode: str | None = None


@dataclass
class Rights:
    """What the listings of one session said about its identity's rights."""

    folders: dict[str, Folder] = field(default_factory=dict)  # path -> folder that takes new files
    folders_found: int = 0  # such folders, kept or not
    folders_checked: int = 0  # folders whose rights a listing told
    retrievable: bool = False  # a perm fact r on some file
    files_listed: bool = False
    read_worked: bool = False  # a bounded RETR brought bytes
    bare: bool = False  # a LIST without perm facts or mode bits (MS-DOS format): nothing is known


class FtpLister:
    """Read-only listing and bounded reads of one FTP tree as one logged-in identity."""

    def __init__(
        self,
        client: FtpClient,
        root: str | None,
        mlsd: bool,
        rate: RateLimit,
        username: str,
        anonymous: bool,
        now: datetime,
        connect: Callable[[], FtpClient] | None = None,
        sessions: int = 1,
    ) -> None:
        self.client = client  # the survey's login: also the one the probes use after the walk
        self.root = root  # PWD after login; None: relative paths (the session never changes directory)
        self.mlsd = mlsd
        self.rate = rate
        self.username = username
        self.anonymous = anonymous
        self.now = now
        self.rights = Rights()
        self.requests = 0
        self.skipped_lines = 0
        self._real: dict[str, str] = {}  # crawl path -> server-relative path, where they differ
        self._cached: dict[str, Listing] = {}  # the landing folder's listing, kept for the crawl
        self._lock = threading.Lock()
        self._connect = connect
        self._limit = max(1, sessions if connect is not None else 1)
        self.opened = [client]  # every connection of the walk (the collector closes the extra ones)
        self._idle: SimpleQueue[FtpClient] = SimpleQueue()
        self._idle.put(client)

    # -- paths --------------------------------------------------------------------------------------------

    def relative(self, crawl_path: str) -> str:
        """The server-relative path ('/' separated) of a crawl path."""
        return self._real.get(crawl_path) or crawl_path.replace("\\", "/")

    def server_path(self, relative: str) -> str | None:
        """The path to send (absolute when the landing folder is known); None for the landing folder itself."""
        if not relative:
            return self.root
        if self.root is None:
            return relative
        return f"{self.root.rstrip('/')}/{relative}"

    def _remember(self, crawl_dir: str, relative_dir: str, name: str) -> str:
        crawl = f"{crawl_dir}\\{name}" if crawl_dir else name
        real = f"{relative_dir}/{name}" if relative_dir else name
        if "\\" in name or crawl_dir in self._real:
            with self._lock:
                self._real[crawl] = real
        return real

    # -- connections --------------------------------------------------------------------------------------

    def _borrow(self) -> FtpClient:
        """An idle connection, or one more (up to the limit), or the next one to come back."""
        try:
            return self._idle.get_nowait()
        except Empty:
            pass
        with self._lock:
            more = self._connect is not None and len(self.opened) < self._limit
            if more:
                self._limit -= 1  # reserved while it logs in
        if more and self._connect is not None:
            try:
                client = self._connect()
            except CollectError:
                return self._idle.get()  # the server keeps us at the connections we have
            with self._lock:
                self._limit += 1
                self.opened.append(client)
            return client
        return self._idle.get()

    def _parallel(self, items: Sequence[str], work: Callable[[FtpClient, str], _T]) -> Iterator[_T]:
        """`work(connection, item)` for each item, over as many connections as the limit allows."""

        def one(item: str) -> _T:
            client = self._borrow()
            try:
                return work(client, item)
            finally:
                self._idle.put(client)

        if self._limit == 1 or len(items) <= 1:
            yield from (one(item) for item in items)
            return
        with ThreadPoolExecutor(
            max_workers=min(self._limit, len(items)), thread_name_prefix="ftp-walk"
        ) as pool:
            yield from pool.map(one, items)

    # -- listings -----------------------------------------------------------------------------------------

    def _request(self) -> None:
        self.rate.take()
        with self._lock:
            self.requests += 1

    def _fetch(self, client: FtpClient, relative: str) -> Parsed | Reply:
        path = self.server_path(relative)
        if path is not None and any(char in path for char in _UNSENDABLE):
            return Reply(0, "a name with a line break cannot be sent to the server")
        if self.mlsd:
            self._request()
            answer = client.listing("MLSD", path)
            if isinstance(answer, Reply) and answer.code in _NOT_IMPLEMENTED:
                self.mlsd = False  # advertised, but not served (a <Limit MLSD> or a proxy): LIST from here on
            elif isinstance(answer, Reply):
                return answer
            else:
                return parse_mlsd(answer.data)
        if path is not None and self.root is not None:
            # LIST after CWD: a LIST argument may be globbed or taken for options.
            self._request()
            moved = client.command(f"CWD {path}")
            if not moved.ok:
                return moved
            path = None
        self._request()
        answer = client.listing("LIST", path)
        if isinstance(answer, Reply):
            return answer
        return parse_list(answer.data, self.now)

    def _note_folder(self, relative: str, entry: FtpEntry) -> None:
        basis = judge.folder_basis(entry, self.username, self.anonymous)
        with self._lock:
            self.rights.folders_checked += 1
            if basis is None:
                return
            self.rights.folders_found += 1
            if relative not in self.rights.folders and len(self.rights.folders) < MAX_FOLDERS:
                self.rights.folders[relative] = Folder(relative, basis, entry.perm, entry.mode)

    def _listing(self, client: FtpClient, crawl_path: str) -> Listing:
        relative = self.relative(crawl_path)
        parsed = self._fetch(client, relative)
        if isinstance(parsed, Reply):
            return Listing(crawl_path, status=parsed.line)
        with self._lock:
            self.skipped_lines += parsed.skipped
        if parsed.current is not None:
            self._note_folder(relative, parsed.current)
        entries = []
        for item in parsed.entries:
            child = self._remember(crawl_path, relative, item.name)
            if item.kind == DIR:
                self._note_folder(child, item)
            elif item.kind == FILE:
                self.rights.files_listed = True  # (flags only ever set: no lock needed)
                if item.perm is not None and judge.can_retrieve(item.perm):
                    self.rights.retrievable = True
            if item.perm is None and item.mode is None:
                self.rights.bare = True
            entries.append(
                Entry(item.name, item.kind == DIR, item.size, item.mtime, reparse=item.kind == LINK)
            )
        return Listing(crawl_path, tuple(entries))

    def landing(self) -> Listing:
        """The landing folder's listing (kept: the crawl's first request is answered from it)."""
        if "" not in self._cached:
            self._cached[""] = self._listing(self.client, "")
        return self._cached[""]

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        cached = [self._cached.pop(path) for path in paths if path in self._cached]
        yield from cached
        wanted = [path for path in paths if path not in {listing.path for listing in cached}]
        yield from self._parallel(wanted, self._listing)

    def list_directory_fully(self, path: str) -> Listing:
        # An FTP listing is always whole (within client.MAX_LISTING_BYTES).
        return next(self._parallel([path], self._listing))

    # -- reads --------------------------------------------------------------------------------------------

    def _read(self, client: FtpClient, crawl_path: str, offset: int, length: int) -> bytes | str:
        path = self.server_path(self.relative(crawl_path))
        if path is None or any(char in path for char in _UNSENDABLE):
            return "a name with a line break cannot be sent to the server"
        self._request()
        answer = client.read(path, offset, length)
        if isinstance(answer, Reply):
            return answer.line
        if isinstance(answer, Data) and answer.data:
            self.rights.read_worked = True
        return answer.data

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        def head(client: FtpClient, path: str) -> tuple[str, bytes | str]:
            return path, self._read(client, path, 0, length)

        yield from self._parallel(paths, head)

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        wanted = {path: (offset, length) for path, offset, length in ranges}

        def part(client: FtpClient, path: str) -> tuple[str, bytes | str]:
            return path, self._read(client, path, *wanted[path])

        yield from self._parallel(list(wanted), part)

    def close_extra(self) -> None:
        """Close the connections the walk opened beside the survey's login."""
        for client in self.opened[1:]:
            client.close()
        self.opened = self.opened[:1]
