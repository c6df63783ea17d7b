"""FTP's `Lister` for the protocol-neutral crawl (collect/crawl.py): one logged-in session, one request at a time.

Each directory is listed with MLSD when the server has it (RFC 3659: the entries carry perm facts), else
with LIST after a CWD (a LIST argument may be globbed or read as options by the server). Heads are read
with a bounded RETR (client.FtpClient.read: at most the bytes asked, then the transfer is abandoned),
ranges with REST + RETR. Every request waits for the walk's rate limit.

While it lists, the lister keeps what the listings say about the identity's rights (`Rights`): the folders
that take new files (the perm fact c on a directory, or LIST mode bits that leave room for it), whether a
file may be retrieved (perm r), and whether a read really worked. The collector turns them into
`FtpFolder`s and the tree's read right.

The crawl joins paths with backslashes (SMB's separator); FTP names may contain one, so the lister maps a
crawl path to the server's path for every name that would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shareaudit.collect.ftp import judge
from shareaudit.collect.ftp.client import Data, FtpClient, Reply
from shareaudit.collect.ftp.listing import DIR, FILE, LINK, FtpEntry, Parsed, parse_list, parse_mlsd
from shareaudit.collect.ftp.options import MAX_FOLDERS
from shareaudit.collect.walk import Entry, Listing, RateLimit
from shareaudit.model import Basis

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
    ) -> None:
        self.client = client
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
            self._real[crawl] = real
        return real

    # -- listings -----------------------------------------------------------------------------------------

    def _request(self) -> None:
        self.rate.take()
        self.requests += 1

    def _fetch(self, relative: str) -> Parsed | Reply:
        path = self.server_path(relative)
        if path is not None and any(char in path for char in _UNSENDABLE):
            return Reply(0, "a name with a line break cannot be sent to the server")
        if self.mlsd:
            self._request()
            answer = self.client.listing("MLSD", path)
            if isinstance(answer, Reply):
                return answer
            return parse_mlsd(answer.data)
        if path is not None and self.root is not None:
            # LIST after CWD: a LIST argument may be globbed or taken for options.
            self._request()
            moved = self.client.command(f"CWD {path}")
            if not moved.ok:
                return moved
            path = None
        self._request()
        answer = self.client.listing("LIST", path)
        if isinstance(answer, Reply):
            return answer
        return parse_list(answer.data, self.now)

    def _note_folder(self, relative: str, entry: FtpEntry) -> None:
        self.rights.folders_checked += 1
        basis = judge.folder_basis(entry, self.username, self.anonymous)
        if basis is None:
            return
        self.rights.folders_found += 1
        if relative not in self.rights.folders and len(self.rights.folders) < MAX_FOLDERS:
            self.rights.folders[relative] = Folder(relative, basis, entry.perm, entry.mode)

    def _listing(self, crawl_path: str) -> Listing:
        relative = self.relative(crawl_path)
        parsed = self._fetch(relative)
        if isinstance(parsed, Reply):
            return Listing(crawl_path, status=parsed.line)
        self.skipped_lines += parsed.skipped
        if parsed.current is not None:
            self._note_folder(relative, parsed.current)
        entries = []
        for item in parsed.entries:
            child = self._remember(crawl_path, relative, item.name)
            if item.kind == DIR:
                self._note_folder(child, item)
            elif item.kind == FILE:
                self.rights.files_listed = True
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
            self._cached[""] = self._listing("")
        return self._cached[""]

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        for path in paths:
            cached = self._cached.pop(path, None)
            yield cached if cached is not None else self._listing(path)

    def list_directory_fully(self, path: str) -> Listing:
        return self._listing(path)  # an FTP listing is always whole (within client.MAX_LISTING_BYTES)

    # -- reads --------------------------------------------------------------------------------------------

    def _read(self, crawl_path: str, offset: int, length: int) -> bytes | str:
        path = self.server_path(self.relative(crawl_path))
        if path is None or any(char in path for char in _UNSENDABLE):
            return "a name with a line break cannot be sent to the server"
        self._request()
        answer = self.client.read(path, offset, length)
        if isinstance(answer, Reply):
            return answer.line
        if isinstance(answer, Data) and answer.data:
            self.rights.read_worked = True
        return answer.data

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        for path in paths:
            yield path, self._read(path, 0, length)

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        for path, offset, length in ranges:
            yield path, self._read(path, offset, length)
