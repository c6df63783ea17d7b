"""The NFS collector: rpcbind's list (port 111) and the NFS door (port 2049) of a host, as `Service`s.

Per host, in order, each step only when the one before allows it:
1. rpcbind (rpc.dump): every registered RPC program; where MOUNT listens;
2. the NFS port: the version range it names (rpc.version_range), then the MOUNT export list with each
   export's clients (client.list_exports), then NFSv4.0 and 4.1 connections to the pseudo root;
3. per export, in parallel (at most --max-shares): a mount as each AUTH_SYS identity, nobody
   (65534:65534, labelled anonymous) first, then --nfs-uid's; the root listed and a file's first byte
   read (done), write as the ACCESS answer claims it (a claim: nothing is written);
4. root squash, read-only: a file only root may read (seen in a listing) read as uid 0, one byte;
5. the walk (collect/crawl.py over client.NfsLister) as the least privileged identity that listed it.
Every call carries --timeout as its deadline; after one timeout the host's remaining NFS work is
skipped, so a server that stops answering costs a small multiple of --timeout, and what was learned
is kept with the service's error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NoReturn

import nfs_rs

from shareaudit.collect.crawl import MedicalFile, ShareCrawl
from shareaudit.collect.hosts import HostJob, port_service
from shareaudit.collect.nfs import judge, rpc
from shareaudit.collect.nfs.client import Endpoint, Mount, NfsLister, RootOnlySink, list_exports, status_of
from shareaudit.collect.nfs.options import ROOT, RPCBIND_PORT, NfsUid
from shareaudit.collect.walk import Entry, RateLimit
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import Basis, Content, NfsAccess, NfsExport, NfsFacts, RootSquash, Service

log = logging.getLogger(__name__)

PROTOCOL = "nfs"
MAX_PARALLEL_EXPORTS = 8
READ_TRIES = 3  # files of the export root whose first byte is read to decide `read`
V4_MINORS = ("4.0", "4.1")


class _Stop(Exception):
    """The server stopped answering: the host's remaining NFS work is skipped."""


@dataclass
class _Door:
    """What one host's NFS door has taught so far; shared by the export workers (guarded by `lock`)."""

    job: HostJob
    endpoint: Endpoint
    lock: threading.Lock = field(default_factory=threading.Lock)
    failure: CollectError | None = None
    versions: set[str] = field(default_factory=set)
    auth_sys: bool | None = None

    def check(self) -> None:
        if self.failure is not None:
            raise _Stop

    def fail(self, error: CollectError) -> NoReturn:
        with self.lock:
            if self.failure is None:
                self.failure = error
        raise _Stop


class NfsCollector:
    """The NFS door of a host: rpcbind, then the NFS port(s) of `job.options.nfs`; never raises."""

    protocol = PROTOCOL

    def collect(self, job: HostJob) -> tuple[Service, ...]:
        # After a sweep, only the ports that accepted a connection (collect.hosts reports the others).
        ports = tuple(p for p in job.options.nfs.ports if job.open_ports is None or p in job.open_ports)
        services: list[Service] = []
        mount_port = None
        if RPCBIND_PORT in ports:
            rpcbind = probe_rpcbind(job.address, job.options.timeout)
            services.append(rpcbind)
            programs = rpcbind.nfs.programs if rpcbind.nfs else ()
            mount_port = next(
                (
                    p.port
                    for p in programs
                    if p.program == rpc.MOUNT and p.transport == "tcp" and p.version == 3
                ),
                None,
            )
        for port in ports:
            if port != RPCBIND_PORT:
                services.append(probe_nfs(job, port, mount_port))
        return tuple(services)


def probe_rpcbind(address: str, timeout: float) -> Service:
    """rpcbind's list of registered programs."""
    started = time.monotonic()
    try:
        programs = rpc.dump(address, RPCBIND_PORT, timeout)
    except CollectError as exc:
        log.info("%s:%d: no rpcbind: %s", address, RPCBIND_PORT, exc)
        answered = exc.kind is FailureKind.PROTOCOL and "refused the list" in str(exc)
        return port_service(PROTOCOL, RPCBIND_PORT, started, answered, exc)
    log.info("%s:%d: rpcbind lists %d registrations", address, RPCBIND_PORT, len(programs))
    facts = NfsFacts(role="rpcbind", programs=programs)
    return port_service(PROTOCOL, RPCBIND_PORT, started, True, nfs=facts)


def probe_nfs(job: HostJob, port: int, mount_port: int | None) -> Service:
    """Everything about one NFS port; what was learned before a failure is kept."""
    started = time.monotonic()
    timeout = job.options.timeout
    try:
        version_range = rpc.version_range(job.address, port, timeout)
    except CollectError as exc:
        log.info("%s:%d: no NFS: %s", job.address, port, exc)
        return port_service(PROTOCOL, port, started, False, exc)
    door = _Door(job, Endpoint(job.address, port, mount_port, timeout))
    identities = job.options.nfs.identities()
    exports: list[NfsExport] = []
    exports_error = None
    try:
        listed = list_exports(door.endpoint)
    except CollectError as exc:
        listed = ()
        exports_error = str(exc)
        if exc.kind is FailureKind.TIMEOUT:
            door.failure = exc
    if door.failure is None and listed:
        workers = max(1, min(len(listed), job.options.max_shares, MAX_PARALLEL_EXPORTS))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nfs") as pool:
            exports = list(pool.map(lambda item: _export(door, item[0], item[1], identities), listed))
    if door.failure is None and version_range is not None and version_range[1] >= 4:
        _v4(door)
    facts = NfsFacts(
        versions=tuple(v for v in ("3", *V4_MINORS) if v in door.versions),
        version_range=version_range,
        auth_sys=door.auth_sys,
        identities={u.label: u.text for u in identities},
        exports=tuple(exports),
        exports_error=exports_error,
    )
    log.info(
        "%s:%d: NFS %s; %d exports%s",
        job.address,
        port,
        ", ".join(facts.versions) or "(no version mounted)",
        len(exports),
        f" ({exports_error})" if exports_error else "",
    )
    return port_service(PROTOCOL, port, started, True, door.failure, nfs=facts)


def _v4(door: _Door) -> None:
    """NFSv4.0 and 4.1: does a connection to the pseudo root (as nobody) succeed?"""
    for minor in V4_MINORS:
        try:
            with Mount(door.endpoint, "/", 65534, 65534, version=minor):
                door.versions.add(minor)
        except CollectError as exc:
            door.failure = exc
            return
        except nfs_rs.NfsError as exc:
            log.debug("%s: NFS %s refused: %s", door.endpoint.address, minor, status_of(exc))


def _export(door: _Door, path: str, clients: tuple[str, ...], identities: tuple[NfsUid, ...]) -> NfsExport:
    """One export: access per identity, root squash, the walk; never raises."""
    export = NfsExport(path=path, clients=clients, everyone=judge.open_to_everyone(clients))
    candidates = RootOnlySink()
    access: dict[str, NfsAccess] = {}
    try:
        for uid in identities:
            door.check()
            access[uid.label] = _access(door, path, uid, candidates)
        export = replace(export, access=dict(access))
        if any(a.mount for a in access.values()):
            export = replace(export, content=_walk(door, export, identities, candidates))
            door.check()
            export = replace(export, root_squash=_root_squash(door, path, candidates))
    except _Stop:
        return replace(export, access=dict(access))
    return export


def _access(door: _Door, path: str, uid: NfsUid, candidates: RootOnlySink) -> NfsAccess:
    """Mount as one uid/gid: list the root, read a file's first byte (done), write as ACCESS claims it."""
    try:
        mount = Mount(door.endpoint, path, uid.uid, uid.gid)
    except CollectError as exc:
        door.fail(exc)
    except nfs_rs.NfsError as exc:
        return NfsAccess(mount=False, status=status_of(exc))
    with door.lock:
        door.versions.add("3")
        door.auth_sys = True
    basis: dict[str, Basis] = {}
    try:
        with mount:
            try:
                found = mount.entries_with_owner("")
            except nfs_rs.NfsError as exc:
                return NfsAccess(mount=True, status=status_of(exc), basis={"list": Basis.MEASURED})
            for entry, owner in found:
                candidates("", entry, owner)
            basis["list"] = Basis.MEASURED
            files = [(e, owner) for e, owner in found if not e.is_dir and not e.reparse and e.size]
            read = _read_one(mount, judge.likely_readable(files, uid.uid, uid.gid))
            if read is None:
                read = mount.access("", os.R_OK)
                basis["read"] = Basis.GRANTED
            else:
                basis["read"] = Basis.MEASURED
            write = mount.access("", os.W_OK)
            basis["write"] = Basis.GRANTED
    except CollectError as exc:
        door.fail(exc)
    return NfsAccess(mount=True, list=True, read=read, write=write, basis=basis)


def _read_one(mount: Mount, files: Sequence[Entry]) -> bool | None:
    """Whether the first byte of one of the root's first files could be read (None: no file to try)."""
    tried = files[:READ_TRIES]
    for entry in tried:
        try:
            mount.read(entry.name, 0, 1)
            return True
        except nfs_rs.NfsError:
            continue
    return False if tried else None


def _walk(
    door: _Door, export: NfsExport, identities: tuple[NfsUid, ...], sink: RootOnlySink
) -> Content | None:
    """The export's walk as its least privileged lister, or None when walks are off or nobody may list."""
    options = door.job.options
    label = judge.walker(export.access, [u.label for u in identities])
    if options.crawl is None or options.redactor is None or label is None:
        return None
    uid = next(u for u in identities if u.label == label)
    target = door.job.target
    medical: Callable[[MedicalFile], None] | None = None
    if options.on_medical is not None:
        report = options.on_medical

        def medical(found: MedicalFile) -> None:
            report(target.spec, export.path, found)

    walked: Callable[[int], None] | None = None
    if options.progress is not None:
        progress = options.progress

        def walked(count: int) -> None:
            progress.entries_walked(target, export.path, count)

    try:
        with Mount(door.endpoint, export.path, uid.uid, uid.gid) as mount:
            lister = NfsLister(mount, RateLimit(options.crawl.rate), on_owner=sink)
            crawl = ShareCrawl(lister, label, options.crawl, options.redactor, medical, on_entries=walked)
            content = crawl.run()
    except CollectError as exc:
        door.fail(exc)
    except nfs_rs.NfsError as exc:
        return Content(label, 0, 0, 0, True, False, 0.0, error=f"mount refused: {status_of(exc)}")
    if content.error and "stopped answering" in content.error:
        with door.lock:
            if door.failure is None:
                door.failure = CollectError(FailureKind.TIMEOUT, content.error)
    return content


def _root_squash(door: _Door, path: str, candidates: RootOnlySink) -> RootSquash:
    """Read one byte of a file only root may read, as uid 0/gid 0: read means no_root_squash."""
    redactor = door.job.options.redactor
    if not candidates.found:
        return RootSquash(None, note="no file only root may read was seen in what was listed")
    try:
        mount = Mount(door.endpoint, path, ROOT, ROOT)
    except CollectError as exc:
        door.fail(exc)
    except nfs_rs.NfsError as exc:
        return RootSquash(None, note=f"uid 0 could not mount: {status_of(exc)}")
    with mount:
        for candidate in candidates.found:
            shown = redactor.path(candidate, None) if redactor else candidate
            try:
                mount.read(candidate, 0, 1)
            except nfs_rs.NfsError as exc:
                status = status_of(exc)
                if "ACCES" in status or "PERM" in status:
                    return RootSquash(True, shown, f"uid 0 was refused ({status}): root is squashed")
                continue  # gone since it was listed, or unreadable for another reason: try the next
            except CollectError as exc:
                door.fail(exc)
            return RootSquash(False, shown, "uid 0 read the first byte of a file only root may read")
    return RootSquash(None, note="no file only root may read could be tried")
