"""nfs-rs, wrapped: the export list, mounts as one AUTH_SYS uid/gid, listings and bounded reads.

The only module that imports nfs_rs. Every call carries --timeout as both its connect and its operation
deadline; a timed-out or dropped connection becomes `CollectError` (the server stopped answering), any
other NFS error a one-line status for the fact that needed it. Nothing here writes: no call that
creates, changes or removes anything on the server is made (tests/test_nfs_lab.py checks the trees).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import nfs_rs

from shareaudit.collect.walk import Entry, Listing, RateLimit
from shareaudit.errors import CollectError, FailureKind

log = logging.getLogger(__name__)

_GONE = (nfs_rs.NfsTimeoutError, nfs_rs.NfsConnectionError)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a host's NFS and MOUNT services listen, and how long any one call may take."""

    address: str
    nfs_port: int
    mount_port: int | None  # from rpcbind's list; None: nfs-rs asks rpcbind itself
    timeout: float

    def url(self, path: str) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"nfs://{host}{quote(path or '/', safe='/')}"


def status_of(exc: BaseException) -> str:
    """A short status for a refused NFS call: the protocol's error name, else the library's words."""
    if isinstance(exc, nfs_rs.NfsError):
        return exc.code_name or exc.message.replace("\n", " ")[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def gone(exc: BaseException, what: str) -> CollectError:
    """The server stopped answering (timeout) or went away (connection) during `what`."""
    kind = FailureKind.TIMEOUT if isinstance(exc, nfs_rs.NfsTimeoutError) else FailureKind.PROTOCOL
    return CollectError(kind, f"the NFS server stopped answering during {what}: {status_of(exc)}")


def _options(endpoint: Endpoint) -> dict[str, object]:
    return {
        "nfs_port": endpoint.nfs_port,
        "mount_port": endpoint.mount_port,
        # A reserved source port only where we may bind one (root); Linux's `secure` default refuses
        # others, and that refusal is then what the mount records.
        "noresvport": os.geteuid() != 0,
        "connect_timeout": endpoint.timeout,
        "operation_timeout": endpoint.timeout,
    }


def list_exports(endpoint: Endpoint) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The MOUNT export list: (path, groups) per export; CollectError when it cannot be read."""
    try:
        entries = nfs_rs.list_exports(endpoint.url("/"), **_options(endpoint))  # type: ignore[arg-type]
    except _GONE as exc:
        raise gone(exc, "the export list") from None
    except nfs_rs.NfsError as exc:
        raise CollectError(FailureKind.PROTOCOL, f"the MOUNT export list: {status_of(exc)}") from None
    return tuple((entry.path, tuple(entry.groups)) for entry in entries)


class Mount:
    """One export mounted as one uid/gid over one NFS version ('3', '4.0', '4.1')."""

    def __init__(self, endpoint: Endpoint, path: str, uid: int, gid: int, version: str = "3") -> None:
        self.endpoint = endpoint
        self.path = path
        self.uid, self.gid = uid, gid
        try:
            self.client = nfs_rs.Client.connect(
                endpoint.url(path),
                versions=[version],
                uid=uid,
                gid=gid,
                **_options(endpoint),  # type: ignore[arg-type]
            )
        except _GONE as exc:
            raise gone(exc, f"the mount of {path}") from None

    def __enter__(self) -> Mount:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.client.close()
        except nfs_rs.NfsError as exc:  # closing what could not be used: nothing to keep
            log.debug("closing the mount of %s: %s", self.path, status_of(exc))

    def entries(self, path: str) -> tuple[Entry, ...]:
        """One directory's entries; NfsError for a refusal, CollectError when the server is gone."""
        return tuple(entry for entry, _ in self.entries_with_owner(path))

    def entries_with_owner(self, path: str) -> list[tuple[Entry, tuple[int, int, int]]]:
        """One directory's entries with (uid, mode, type bits) each; the same errors as `entries`."""
        found = []
        try:
            for item in self.client.scandir(path):
                info = item.info
                kind = info.type
                is_dir = kind is nfs_rs.FileType.DIRECTORY
                link = kind is nfs_rs.FileType.SYMLINK
                entry = Entry(item.name, is_dir, 0 if is_dir else info.size, info.mtime / 1e9, reparse=link)
                bits = stat.S_IFDIR if is_dir else stat.S_IFLNK if link else stat.S_IFREG
                found.append((entry, (info.uid, info.mode, bits)))
        except _GONE as exc:
            raise gone(exc, f"a listing of {self.path}") from None
        return found

    def access(self, path: str, mode: int) -> bool:
        """What the server's ACCESS answer claims for `mode` (os.R_OK / W_OK / X_OK): a claim only."""
        try:
            return self.client.access(path, mode)
        except _GONE as exc:
            raise gone(exc, f"an ACCESS call on {self.path}") from None

    def read(self, path: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset+length) of a file (fewer at its end); NfsError for a refusal."""
        try:
            with self.client.open(path, "rb") as handle:
                return handle.read_at(offset, length)
        except _GONE as exc:
            raise gone(exc, f"a read on {self.path}") from None


def server_path(path: str) -> str:
    """The crawl joins names with a backslash (SMB's separator); NFS paths use '/'.

    A name that itself holds a backslash (legal on NFS) is therefore not found, and counts as a folder
    or file that could not be read: a known limit of sharing the crawl with SMB.
    """
    return path.replace("\\", "/")


class NfsLister:
    """The crawl's `Lister` over one mounted export (paths export-relative, '/'-separated)."""

    def __init__(self, mount: Mount, rate: RateLimit, on_owner: RootOnlySink | None = None) -> None:
        self.mount = mount
        self.rate = rate
        self.on_owner = on_owner  # told about every file's owner and mode (the root squash test's candidates)

    def _listing(self, path: str) -> Listing:
        self.rate.take()
        try:
            found = self.mount.entries_with_owner(server_path(path))
        except nfs_rs.NfsError as exc:
            return Listing(path, status=status_of(exc))
        if self.on_owner is not None:
            for entry, owner in found:
                self.on_owner(server_path(path), entry, owner)
        return Listing(path, tuple(entry for entry, _ in found))

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        for path in paths:
            yield self._listing(path)

    def list_directory_fully(self, path: str) -> Listing:
        return self._listing(path)  # nfs-rs pages through the whole directory: a listing is never partial

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        yield from self.read_ranges([(path, 0, length) for path in paths])

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        for path, offset, length in ranges:
            self.rate.take()
            try:
                yield path, self.mount.read(server_path(path), offset, length)
            except nfs_rs.NfsError as exc:
                yield path, status_of(exc)


class RootOnlySink:
    """Collects the first few files only root may read (owner uid 0, no group or other read bit)."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self.found: list[str] = []

    def __call__(self, directory: str, entry: Entry, owner: tuple[int, int, int]) -> None:
        uid, mode, kind = owner
        if len(self.found) >= self.limit or kind != stat.S_IFREG or entry.size == 0:
            return
        if root_only(uid, mode):
            self.found.append(f"{directory}/{entry.name}" if directory else entry.name)


def root_only(uid: int, mode: int) -> bool:
    """A file only its owner root may read: owner uid 0 with read, and neither group nor others may read."""
    return uid == 0 and bool(mode & stat.S_IRUSR) and not mode & (stat.S_IRGRP | stat.S_IROTH)
