"""The NFS door in words (`Service.nfs`), for the HTML report and the terminal summary.

Facts only; export paths and client names are what a server said: plain text that the callers escape
(HTML) or print as rich Text (terminal).
"""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.model import HostResult, NfsAccess, NfsExport, NfsFacts, Service
from shareaudit.render.services import BAD, GOOD, NEUTRAL, Row
from shareaudit.rules.facts import medical_files, medical_summary


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One export: its clients, each identity's marks, root squash, what its walk found."""

    path: str
    clients: str
    everyone: bool
    cells: tuple[
        tuple[str, str, str], ...
    ]  # per identity label: marks, css class (read/write/deny/na), title
    squash: tuple[str, str]  # text, tone
    content: str


@dataclass(frozen=True, slots=True)
class NfsView:
    """One NFS port (or rpcbind) that answered, as rows and an export table."""

    port: int
    role: str
    rows: tuple[Row, ...]
    labels: tuple[str, ...] = ()
    exports: tuple[ExportRow, ...] = ()
    error: str | None = None


def nfs_services(host: HostResult) -> tuple[Service, ...]:
    """The host's NFS ports (and rpcbind) that answered."""
    return tuple(s for s in host.services if s.protocol == "nfs" and s.reachable)


def marks(access: NfsAccess | None) -> str:
    """L/R/W for what the identity did or was told it may do; - when the mount was refused."""
    if access is None:
        return ""
    if not access.mount:
        return "-"
    text = "".join(mark for mark, ok in (("L", access.list), ("R", access.read), ("W", access.write)) if ok)
    return text or "m"  # mounted, nothing more


def _title(label: str, access: NfsAccess | None) -> str:
    if access is None:
        return f"{label}: not tried"
    if not access.mount:
        return f"{label}: mount refused ({access.status or 'refused'})"
    basis = ", ".join(f"{right} {how}" for right, how in access.basis.items())
    refused = f"; refused: {access.status}" if access.status else ""
    return f"{label}: mounted; {basis or 'nothing more'}{refused}"


def squash_text(export: NfsExport) -> tuple[str, str]:
    """The root squash test in words, with its tone."""
    squash = export.root_squash
    if squash is None:
        return "not tested", NEUTRAL
    if squash.squashed is False:
        return f"NO root squash: uid 0 read {squash.path}", BAD
    if squash.squashed:
        return "root squashed (uid 0 refused)", GOOD
    return f"undecided: {squash.note or 'nothing to test'}", NEUTRAL


def content_text(export: NfsExport) -> str:
    content = export.content
    if content is None:
        return "not walked"
    found = medical_files(content)
    text = f"walked as {content.crawled_as}: {content.files_seen} files"
    if found:
        text += f"; medical: {medical_summary(content)}"
    if content.truncated:
        text += " (stopped by a bound)"
    if content.error:
        text += f"; {content.error}"
    return text


def export_rows(nfs: NfsFacts, labels: tuple[str, ...]) -> tuple[ExportRow, ...]:
    rows = []
    for export in nfs.exports:
        cells = []
        for label in labels:
            access = export.access.get(label)
            text = marks(access)
            css = "write" if "W" in text else "read" if text[:1] in ("L", "R") else "deny" if text else "na"
            cells.append((text, css, _title(label, access)))
        rows.append(
            ExportRow(
                export.path,
                ", ".join(export.clients) or "(everyone)",
                export.everyone,
                tuple(cells),
                squash_text(export),
                content_text(export),
            )
        )
    return tuple(rows)


def nfs_rows(nfs: NfsFacts) -> tuple[Row, ...]:
    """The door's posture, line by line."""
    if nfs.role == "rpcbind":
        registered = sorted({(p.name, p.port) for p in nfs.programs})
        text = ", ".join(f"{name} {port}" for name, port in registered) or "nothing registered"
        return (Row("rpcbind lists", text, BAD if nfs.programs else NEUTRAL),)
    rows = []
    if nfs.version_range:
        low, high = nfs.version_range
        rows.append(Row("versions named", f"NFSv{low} to NFSv{high}"))
    rows.append(Row("connected with", ", ".join(f"NFSv{v}" for v in nfs.versions) or "no version"))
    auth = {True: ("accepted", BAD), False: ("refused", GOOD), None: ("not decided", NEUTRAL)}[nfs.auth_sys]
    rows.append(Row("AUTH_SYS (uid stated by the client)", *auth))
    rows.append(Row("identities tried", ", ".join(f"{k} {v}" for k, v in nfs.identities.items())))
    if nfs.exports_error:
        rows.append(Row("export list", nfs.exports_error, NEUTRAL))
    else:
        everyone = sum(1 for e in nfs.exports if e.everyone)
        rows.append(
            Row(
                "export list",
                f"{len(nfs.exports)} exports, {everyone} open to any host",
                BAD if everyone else NEUTRAL,
            )
        )
    return tuple(rows)


def nfs_views(host: HostResult) -> tuple[NfsView, ...]:
    """rpcbind first, then every NFS port of the host that answered."""
    views = []
    for service in sorted(nfs_services(host), key=lambda s: s.nfs is None or s.nfs.role != "rpcbind"):
        nfs = service.nfs
        error = f"{service.error_kind}: {service.error}" if service.error else None
        if nfs is None:
            views.append(NfsView(service.port, "nfs", (), error=error))
            continue
        labels = tuple(nfs.identities)
        views.append(NfsView(service.port, nfs.role, nfs_rows(nfs), labels, export_rows(nfs, labels), error))
    return tuple(views)


def absent_nfs(host: HostResult) -> tuple[str, ...]:
    """One line for NFS ports that were looked at and found closed."""
    closed: dict[str, list[int]] = {}
    for service in host.services:
        if service.protocol == "nfs" and not service.reachable:
            closed.setdefault(service.error or "no answer", []).append(service.port)
    return tuple(
        f"NFS: nothing on port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}: {error}"
        for error, ports in closed.items()
    )
