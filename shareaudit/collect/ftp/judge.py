"""Pure decisions about what an FTP server said: its software, who may add files where, plain-text logins.

No network here: the collector asks, these functions read the answers (and the unit tests feed them).
"""

from __future__ import annotations

import re

from shareaudit.collect.ftp.listing import FtpEntry
from shareaudit.model import Basis

# The product in a greeting or a SYST/STAT answer, most specific first: NAS firmwares run a stock daemon
# under their own name (QNAP's ProFTPD says "NASFTPD Turbo station", TrueNAS's says "TrueNAS FTP Server").
_PRODUCTS = (
    ("synology", re.compile(r"synology|diskstation|rackstation", re.IGNORECASE), None),
    ("qnap", re.compile(r"nasftpd|qnap|turbo ?station", re.IGNORECASE), None),
    ("truenas", re.compile(r"truenas|freenas", re.IGNORECASE), None),
    ("proftpd", re.compile(r"proftpd", re.IGNORECASE), re.compile(r"ProFTPD (\d[\w.]*)", re.IGNORECASE)),
    ("vsftpd", re.compile(r"vsftpd", re.IGNORECASE), re.compile(r"vsFTPd (\d[\w.]*)", re.IGNORECASE)),
    ("iis", re.compile(r"microsoft ftp service", re.IGNORECASE), None),
    ("pure-ftpd", re.compile(r"pure-?ftpd", re.IGNORECASE), None),
    (
        "filezilla",
        re.compile(r"filezilla", re.IGNORECASE),
        re.compile(r"FileZilla Server (\d[\w.]*)", re.IGNORECASE),
    ),
)
# Anonymous accounts as servers name them in listings (the owner of what anonymous uploads).
_ANONYMOUS_OWNERS = frozenset({"ftp", "anonymous", "nobody", "ftpuser", "guest"})
# An answer to USER that asks for a password (RFC 959: 331 need password, 332 need account).
_PASSWORD_WANTED = (331, 332)


def software(texts: list[str]) -> tuple[str | None, str | None]:
    """The product and version that the greeting, SYST or STAT name, or (None, None)."""
    joined = "\n".join(texts)
    for name, pattern, version in _PRODUCTS:
        if pattern.search(joined):
            found = version.search(joined) if version else None
            return name, found.group(1) if found else None
    if re.search(r"windows_nt", joined, re.IGNORECASE):
        return "iis", None  # SYST "215 Windows_NT": IIS's FTP service is what Windows serves
    return None, None


def can_store(perm: str) -> bool:
    """RFC 3659 7.5.5: c on a directory, the user may create (STOR) files in it."""
    return "c" in perm


def can_retrieve(perm: str) -> bool:
    """RFC 3659 7.5.5: r on a file, the user may RETR it."""
    return "r" in perm


def mode_may_store(entry: FtpEntry, username: str, anonymous: bool) -> bool:
    """A LIST line's mode bits leave room for this user to add files: the claim stays uncertain.

    The server's mapping of the FTP user to a Unix user is unknown: write for others or for the group may
    be ours; write for the owner only when the owner is this user (or, for anonymous, an anonymous one).
    """
    mode = entry.mode
    if mode is None or len(mode) < 10 or entry.kind != "dir":
        return False
    if mode[8] == "w" or mode[5] == "w":
        return True
    owner = (entry.owner or "").lower()
    mine = owner in _ANONYMOUS_OWNERS if anonymous else owner == username.lower()
    return mode[2] == "w" and mine


def folder_basis(entry: FtpEntry, username: str, anonymous: bool) -> Basis | None:
    """Whether a folder takes new files: granted by a perm fact, uncertain from mode bits, else None."""
    if entry.perm is not None:
        return Basis.GRANTED if can_store(entry.perm) else None
    return Basis.UNCERTAIN if mode_may_store(entry, username, anonymous) else None


def password_wanted(code: int) -> bool | None:
    """What the answer to USER (a random name, before any TLS) says about plain-text logins.

    331/332: the server asks for the password in clear text; 230: it let the name in without one.
    A 5xx refuses it (TLS required, or anonymous only); anything else decides nothing.
    """
    if code in _PASSWORD_WANTED or code == 230:
        return True
    if 500 <= code < 600:
        return False
    return None


def parse_features(text: str) -> tuple[str, ...]:
    """The FEAT answer (RFC 2389 3.2): one feature per line between 211- and 211, as the server wrote it."""
    lines = text.splitlines()[1:-1] if text.count("\n") >= 1 else []
    return tuple(line.strip() for line in lines if line.strip())[:100]


def has_feature(features: tuple[str, ...], name: str) -> bool:
    """Whether FEAT lists `name` (its first word, case-insensitive)."""
    return any(feature.split(" ", 1)[0].upper() == name.upper() for feature in features)
