"""The door map: per host, who (identities) gets through which door (SMB shares, DICOM ports, ...) with
which right, and where the medical data sits; drawn as inline SVG by templates/partials/doormap.html.j2.

Everything protocol-specific happens in `build_doors`: one builder per protocol turns a host's facts into
neutral `Door`s (a name, a kind, the medical data behind it, and one `Edge` per identity that gets in with
its strongest right). Adding a protocol is adding a builder to `BUILDERS` (SMB, DICOM, FTP and NFS have theirs); a service
of an unknown protocol is drawn as a door of its own without edges. The layout (`layout`) only knows doors,
identities and edges: coordinates for the template, which writes the SVG with autoescaping on, so a hostile
server name is text in a <text> element, never markup. No script draws anything.

Accessibility and print: every edge has its right as a letter at its door end (R, W, C) and a <title> in
words, and the three rights differ in line style (solid, dashed, dotted) as well as in colour; the template
adds the legend and the whole map as a list in words.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from shareaudit.model import Access, Basis, Content, HostResult, Role, Service, Share
from shareaudit.render.printable import printable
from shareaudit.rules.facts import host_label, identity_class, medical_files, medical_summary

READ, WRITE, CONTROL = "read", "write", "control"
_STRENGTH = {READ: 1, WRITE: 2, CONTROL: 3}
LETTERS = {READ: "R", WRITE: "W", CONTROL: "C"}
MAX_DOORS = 12  # more than this: the least important are folded into one door
ANY_AE = "any AE title"


@dataclass(frozen=True, slots=True)
class Edge:
    """One identity through one door, with its strongest right."""

    identity: str
    right: str  # read | write | control
    uncertain: bool = False  # a stronger right is claimed by the server but could not be confirmed
    via: str = ""  # how, when it is not a logon of the identity itself ("any AE title")


@dataclass(frozen=True, slots=True)
class Door:
    """A way into a host's data, whatever the protocol."""

    protocol: str  # smb | dicom | ftp | nfs | ...
    name: str
    kind: str  # "disk share", "DICOM port", ...
    edges: tuple[Edge, ...] = ()
    medical: int = 0  # medical files (or studies) behind it
    medical_text: str = ""  # what they are: "dicom 9, hl7v2 3" / "3 studies (CT 2, MR 1)"
    folded: int = 0  # > 0: stands for this many doors folded together
    note: str = ""

    @property
    def open_edges(self) -> tuple[Edge, ...]:
        """Edges of identities without a proper account (anonymous, guest, service accounts)."""
        return tuple(edge for edge in self.edges if identity_class(edge.identity) is not Role.AUDIT)


# --- builders: facts -> doors ------------------------------------------------------------------------------
def _right(access: Access) -> tuple[str | None, bool]:
    """The strongest confirmed right, and whether a stronger one is claimed but uncertain."""
    held = [
        (CONTROL, "change_permissions"),
        (CONTROL, "take_ownership"),
        (WRITE, "write"),
        (WRITE, "delete"),
        (READ, "read"),
    ]
    sure = next((right for right, name in held if access.sure(name)), None)
    if sure is None and (access.list or access.read):
        sure = READ
    claimed = next((right for right, name in held if getattr(access, name)), None)
    uncertain = bool(claimed and (sure is None or _STRENGTH[claimed] > _STRENGTH[sure]))
    return sure, uncertain


def _medical_text(share: Share) -> str:
    content = share.content
    if content is None or not content.medical:
        return ""
    ranked = sorted(content.medical.items(), key=lambda kv: (-kv[1].count, kv[0]))
    return ", ".join(f"{type_id} {count.count}" for type_id, count in ranked)


def smb_doors(host: HostResult) -> Iterable[Door]:
    """Disk shares (printer queues and IPC$ are not doors to data)."""
    for share in host.shares:
        if share.type != "disk" or share.excluded:
            continue
        edges = []
        for label, access in share.access.items():
            if not access.connect:
                continue
            right, uncertain = _right(access)
            if right is not None:
                edges.append(Edge(label, right, uncertain))
        note = "" if share.content is not None else "not walked"
        yield Door(
            "smb",
            share.name,
            "hidden share" if share.hidden else "share",
            tuple(edges),
            medical_files(share.content),
            _medical_text(share),
            note=note,
        )


def dicom_doors(host: HostResult, service: Service) -> Iterable[Door]:
    """A DICOM port: anyone (an unknown calling AE title) reads it when it answers a query or would send."""
    dicom = service.dicom
    if dicom is None:
        return
    query = dicom.query
    studies = query.studies if query is not None and query.outcome == "answered" else 0
    text = ""
    if studies:
        modalities = ", ".join(f"{m} {n}" for m, n in (query.modalities if query else {}).items())
        text = f"{'at least ' if query and query.truncated else ''}{studies} stud{'y' if studies == 1 else 'ies'}"
        text += f" ({modalities})" if modalities else ""
    retrieves = any(p is not None and p.outcome == "accepted" for p in (dicom.get, dicom.move))
    edges: tuple[Edge, ...] = ()
    if dicom.any_calling_ae and (studies or retrieves or (query and query.outcome == "answered")):
        edges = (Edge(Role.ANONYMOUS.value, READ, via=ANY_AE),)
    transport = "TLS" if dicom.transport == "tls" else "plain"
    yield Door("dicom", f"port {service.port}", f"port, {transport}", edges, studies, text)


def _content_text(content: Content | None) -> str:
    return medical_summary(content) if content is not None and content.medical else ""


def ftp_doors(host: HostResult, service: Service) -> Iterable[Door]:
    """An FTP port: one door per tree logins land in; each login's strongest right in it (its folders that
    take files: write, uncertain when only LIST mode bits say so; a readable landing folder: read)."""
    ftp = service.ftp
    if ftp is None:
        return
    trees = {tree.identity: tree for tree in ftp.trees}
    walker_of = {label: tree.same_as or label for label, tree in trees.items()}
    for label, tree in trees.items():
        if tree.same_as is not None:
            continue  # drawn with the tree of the less privileged login that walked it
        edges = []
        for member, walker in walker_of.items():
            if walker != label:
                continue
            held = trees[member]
            writable = [f for f in held.folders if f.writable]
            if writable:
                sure = any(f.basis is not Basis.UNCERTAIN for f in writable)
                edges.append(Edge(member, WRITE, uncertain=not sure))
            elif held.list or held.read:
                edges.append(Edge(member, READ, uncertain=held.read_basis is Basis.UNCERTAIN))
        transport = "implicit TLS" if ftp.transport == "implicit_tls" else "TLS" if ftp.auth_tls else "plain"
        root = tree.root or "/"
        yield Door(
            "ftp",
            f"port {service.port} {root}",
            f"FTP tree, {transport}",
            tuple(edges),
            medical_files(tree.content),
            _content_text(tree.content),
            note="" if tree.content is not None else "not walked",
        )


def nfs_doors(host: HostResult, service: Service) -> Iterable[Door]:
    """An NFS port: one door per export; each AUTH_SYS identity's strongest right (list and read done, write
    as the server's ACCESS answer claims it: uncertain)."""
    nfs = service.nfs
    if nfs is None or nfs.role != "nfs":
        return
    for export in nfs.exports:
        edges = []
        for label, access in export.access.items():
            if not access.mount:
                continue
            if access.write:
                edges.append(Edge(label, WRITE, uncertain=access.basis.get("write") is not Basis.MEASURED))
            elif access.read or access.list:
                edges.append(Edge(label, READ, uncertain=access.basis.get("read") is Basis.GRANTED))
        note = "" if export.content is not None else "not walked"
        yield Door(
            "nfs",
            export.path,
            "NFS export" + (", any host" if export.everyone else ""),
            tuple(edges),
            medical_files(export.content),
            _content_text(export.content),
            note=note,
        )


def other_doors(host: HostResult, service: Service) -> Iterable[Door]:
    """A protocol without a builder of its own: the door is shown, who gets through is not drawn."""
    yield Door(service.protocol, f"port {service.port}", "port", note="answered; who gets in is not mapped")


ServiceBuilder = Callable[[HostResult, Service], Iterable[Door]]
# Protocol -> builder for its services.
BUILDERS: dict[str, ServiceBuilder] = {"dicom": dicom_doors, "ftp": ftp_doors, "nfs": nfs_doors}


def build_doors(host: HostResult) -> tuple[Door, ...]:
    """Every door of a host: SMB's shares, then one door per service port that answered."""
    doors = list(smb_doors(host))
    for service in host.services:
        if service.protocol == "smb" or not service.reachable:
            continue
        doors += BUILDERS.get(service.protocol, other_doors)(host, service)
    return tuple(doors)


# --- importance and folding --------------------------------------------------------------------------------
def importance(door: Door) -> tuple[int, int, int, str]:
    """Smaller first: medical data behind open doors, then the strongest open right, then the rest."""
    strongest = max((_STRENGTH[e.right] for e in door.open_edges), default=0)
    exposed = 0 if door.medical and door.open_edges else 1
    return (exposed, -strongest, -door.medical, door.name)


def fold(doors: Sequence[Door], limit: int = MAX_DOORS) -> tuple[Door, ...]:
    """At most `limit` doors: the most important ones, and the rest as one door with their edges merged."""
    ranked = sorted(doors, key=importance)
    if len(ranked) <= limit:
        return tuple(ranked)
    kept, rest = ranked[: limit - 1], ranked[limit - 1 :]
    strongest: dict[str, Edge] = {}
    for door in rest:
        for edge in door.edges:
            have = strongest.get(edge.identity)
            if have is None or _STRENGTH[edge.right] > _STRENGTH[have.right]:
                strongest[edge.identity] = Edge(edge.identity, edge.right)
    medical = sum(door.medical for door in rest)
    protocols = sorted({door.protocol for door in rest})
    folded = Door(
        "+".join(protocols),
        f"{len(rest)} more doors",
        "folded: see the access matrix",
        tuple(strongest.values()),
        medical,
        f"{medical} medical in {sum(1 for d in rest if d.medical)} of them" if medical else "",
        folded=len(rest),
    )
    return (*kept, folded)


# --- layout ------------------------------------------------------------------------------------------------
WIDTH = 960
LEFT_X, LEFT_W = 8, 200
DOOR_X, DOOR_W = 560, 392
ROW_GAP = 12
IDENT_H = 40
TOP = 8
NAME_PX = DOOR_W - 26  # room for a door's name (13 px bold) and caption (11 px): padding and the medical bar
IDENT_PX = LEFT_W - 20


def _em(char: str) -> float:
    """A generous estimate of a character's advance in em (sans-serif): wide scripts, capitals, the rest."""
    if unicodedata.east_asian_width(char) in ("W", "F") or ord(char) > 0xFFFF:
        return 1.1
    if char.isupper() or char.isdigit() or char in "mwMW@%&":
        return 0.78
    if unicodedata.combining(char):
        return 0.0
    return 0.62


def short(text: str, width: float, size: float = 13, bold: bool = True) -> str:
    """A name made safe for one SVG text line of at most `width` px: control characters escaped, cut with
    an ellipsis where it would not fit (estimated generously, so that it never spills out of its box)."""
    text = printable(text)
    scale = size * (1.08 if bold else 1.0)
    budget, used = width - _em("\u2026") * scale, 0.0
    for n, char in enumerate(text):
        used += _em(char) * scale
        if used > width:
            cut, total = n, used - _em(char) * scale
            while cut and total > budget:
                cut -= 1
                total -= _em(text[cut]) * scale
            return text[:cut] + "\u2026"
    return text


@dataclass(frozen=True, slots=True)
class IdentityBox:
    label: str
    text: str  # shortened
    kind: str  # anonymous | guest | service | audit
    caption: str
    x: int
    y: int
    h: int

    @property
    def cy(self) -> int:
        return self.y + self.h // 2


@dataclass(frozen=True, slots=True)
class DoorBox:
    door: Door
    text: str  # shortened name
    caption: str  # shortened second line: protocol, kind, medical data or a note
    x: int
    y: int
    h: int
    exposed: bool  # medical data behind an edge of someone without a proper account

    @property
    def full(self) -> str:
        """The caption uncut (for the box's tooltip)."""
        return caption(self.door)


def caption(door: Door) -> str:
    """The door's second line in full: protocol and kind, then its medical data or its note."""
    parts = [f"{door.protocol.upper()} {door.kind}"]
    if door.medical:
        parts.append(f"medical: {door.medical_text}")
    elif door.note:
        parts.append(door.note)
    if not door.edges:
        parts.append("nobody measured gets in")
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class EdgeLine:
    identity: str
    door: str
    right: str
    letter: str
    path: str  # SVG path data
    lx: int  # where the letter goes
    ly: int
    title: str
    audit: bool  # the audit account's own edge: drawn faint
    uncertain: bool


@dataclass(frozen=True, slots=True)
class DoorMap:
    """A host's map, ready for the template."""

    host: str
    width: int
    height: int
    identities: tuple[IdentityBox, ...]
    doors: tuple[DoorBox, ...]
    edges: tuple[EdgeLine, ...]
    total_doors: int
    words: tuple[str, ...]  # the map as sentences, for screen readers and the text list

    @property
    def empty(self) -> bool:
        return not self.doors


_CAPTIONS = {
    Role.ANONYMOUS: "no account (null session)",
    Role.GUEST: "guest",
    Role.SERVICE: "device/service account",
    Role.AUDIT: "audit account",
}
_ORDER = {Role.ANONYMOUS: 0, Role.GUEST: 1, Role.SERVICE: 2, Role.AUDIT: 3}


def _door_height(door: Door) -> int:
    return max(46, 14 + 9 * len(door.edges))


def _sentence(edge: Edge, door: Door) -> str:
    how = f" (as {edge.via})" if edge.via else ""
    doubt = "; a stronger right is claimed but unconfirmed" if edge.uncertain else ""
    return f"{edge.identity}{how} can {edge.right} {door.name} ({door.kind}){doubt}"


def layout(host: HostResult, labels: Sequence[str]) -> DoorMap:
    """Coordinates of one host's map: identities left, doors right, one curve per identity and door."""
    doors = build_doors(host)
    shown = fold(doors)
    needed = list(dict.fromkeys([*labels, *(e.identity for d in shown for e in d.edges)]))
    needed.sort(key=lambda label: _ORDER[identity_class(label)])
    door_boxes, y = [], TOP
    for door in shown:
        h = _door_height(door)
        exposed = bool(door.medical and door.open_edges)
        text = short(door.name, NAME_PX)
        door_boxes.append(
            DoorBox(door, text, short(caption(door), NAME_PX, 11, False), DOOR_X, y, h, exposed)
        )
        y += h + ROW_GAP
    doors_h = y - ROW_GAP + TOP
    ident_h = len(needed) * (IDENT_H + ROW_GAP) - ROW_GAP + 2 * TOP
    height = max(doors_h, ident_h, 2 * TOP + IDENT_H)
    start = (height - (len(needed) * (IDENT_H + ROW_GAP) - ROW_GAP)) // 2
    boxes = {
        label: IdentityBox(
            label,
            short(label, IDENT_PX),
            identity_class(label).value,
            _CAPTIONS[identity_class(label)],
            LEFT_X,
            start + n * (IDENT_H + ROW_GAP),
            IDENT_H,
        )
        for n, label in enumerate(needed)
    }
    lines, words = [], []
    for box in door_boxes:
        edges = sorted(box.door.edges, key=lambda e: _ORDER[identity_class(e.identity)])
        count = len(edges)
        for n, edge in enumerate(edges):
            source = boxes[edge.identity]
            slot = box.y + box.h // 2 if count == 1 else box.y + 7 + n * (box.h - 14) // (count - 1)
            x1, y1, x2 = LEFT_X + LEFT_W, source.cy, DOOR_X - 16
            mid = (x1 + x2) // 2
            path = f"M{x1},{y1} C{mid},{y1} {mid},{slot} {x2},{slot} L{DOOR_X},{slot}"
            sentence = _sentence(edge, box.door)
            lines.append(
                EdgeLine(
                    edge.identity,
                    box.door.name,
                    edge.right,
                    LETTERS[edge.right] + ("?" if edge.uncertain else ""),
                    path,
                    DOOR_X - 10,
                    slot - 2,
                    sentence,
                    identity_class(edge.identity) is Role.AUDIT,
                    edge.uncertain,
                )
            )
            words.append(sentence)
        if box.door.medical:
            words.append(f"{box.door.name} holds medical data: {box.door.medical_text}")
    return DoorMap(
        host_label(host),
        WIDTH,
        height,
        tuple(boxes.values()),
        tuple(door_boxes),
        tuple(lines),
        len(doors),
        tuple(words),
    )
