"""What a scan asks of NFS: which ports, and which AUTH_SYS identities (uid:gid) each export is tried as."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shareaudit.errors import InputError

NFS_PORT, RPCBIND_PORT = 2049, 111
DEFAULT_PORTS = (NFS_PORT, RPCBIND_PORT)
NOBODY = 65534  # the uid and gid of nobody: what any client may claim to be without an account
ANONYMOUS = "anonymous"  # the label nobody's uid/gid goes by: the identity anyone on the network has
ROOT = 0
MAX_UIDS = 16  # --nfs-uid entries: each costs a mount (and a listing) per export
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ID_MAX = 2**32 - 2  # uid_t/gid_t: 4294967295 is (uid_t)-1, "no change"


@dataclass(frozen=True, slots=True)
class NfsUid:
    """One AUTH_SYS identity: a label (shown in reports, matched with --identity labels) and its uid/gid."""

    label: str
    uid: int
    gid: int

    @property
    def text(self) -> str:
        return f"{self.uid}:{self.gid}"


NOBODY_UID = NfsUid(ANONYMOUS, NOBODY, NOBODY)


@dataclass(frozen=True, slots=True)
class NfsOptions:
    """The NFS part of a plan."""

    ports: tuple[int, ...] = DEFAULT_PORTS
    uids: tuple[NfsUid, ...] = ()  # --nfs-uid, tried after nobody

    def identities(self) -> tuple[NfsUid, ...]:
        """nobody first (the least privileged), then the configured uids in the order given."""
        return (NOBODY_UID, *self.uids)


def parse_uid(text: str) -> NfsUid:
    """LABEL=UID[:GID] (GID defaults to UID), or InputError saying what is wrong."""
    label, sep, ids = text.partition("=")
    label, ids = label.strip(), ids.strip()
    if not sep or not label or not ids:
        raise InputError(f"--nfs-uid {text!r}: expected LABEL=UID[:GID], e.g. printer=3001:3001")
    if not _LABEL.fullmatch(label):
        raise InputError(f"--nfs-uid {text!r}: the label may hold letters, digits, '.', '_' and '-'")
    if label == ANONYMOUS:
        raise InputError(f"--nfs-uid {text!r}: {ANONYMOUS} is nobody ({NOBODY}:{NOBODY}), always tried")
    uid_text, _, gid_text = ids.partition(":")
    numbers = []
    for what, value in (("uid", uid_text), ("gid", gid_text or uid_text)):
        if not value.isdigit() or not value.isascii() or int(value) > _ID_MAX:
            raise InputError(f"--nfs-uid {text!r}: {what} must be a number from 0 to {_ID_MAX}")
        numbers.append(int(value))
    if numbers[0] == ROOT:
        raise InputError(f"--nfs-uid {text!r}: uid 0 is tried by the root squash test only, read-only")
    return NfsUid(label, numbers[0], numbers[1])


def nfs_options(ports: tuple[int, ...], uids: tuple[str, ...]) -> NfsOptions:
    """Options from what the user gave: extra ports added to the defaults, uids parsed."""
    if len(uids) > MAX_UIDS:
        raise InputError(f"at most {MAX_UIDS} --nfs-uid entries (each costs a mount per export)")
    for port in ports:
        if not 0 < port < 65536:
            raise InputError(f"NFS port {port} is not a number from 1 to 65535")
    parsed = tuple(parse_uid(text) for text in uids)
    labels = [u.label for u in parsed]
    duplicate = next((label for label in labels if labels.count(label) > 1), None)
    if duplicate:
        raise InputError(f"--nfs-uid: the label {duplicate!r} is given twice")
    return NfsOptions(ports=tuple(dict.fromkeys((*DEFAULT_PORTS, *ports))), uids=parsed)
