"""Directory listings as FTP servers send them: MLSD lines (RFC 3659 7) and LIST lines (Unix and MS-DOS).

Pure: bytes a server sent in, entries out. A line that cannot be read is skipped (and counted by the
caller), never an error: a hostile or odd listing must not stop a walk. Names are decoded with
`surrogateescape`, so that a name in any encoding goes back to the server byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ENCODING = "utf-8"
ERRORS = "surrogateescape"
MAX_LINE = 8_192  # longer lines are not a directory entry any server sends

# Entry kinds, from the MLSD type fact or the LIST mode's first letter.
FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


@dataclass(frozen=True, slots=True)
class FtpEntry:
    """One entry of a listing: what the walk and the rights decisions need."""

    name: str
    kind: str  # file | dir | link | other
    size: int = 0
    mtime: float = 0.0  # Unix time, 0 when the server did not say
    perm: str | None = None  # MLSD: the perm fact, lower case (RFC 3659 7.5.5); None when absent
    mode: str | None = None  # LIST: the mode column (drwxr-xr-x)
    owner: str | None = None  # LIST: the owner column
    current: bool = False  # MLSD type=cdir: the listed directory itself (its perm fact is the folder's)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A listing's entries (never "." or "..") and how many lines could not be read."""

    entries: tuple[FtpEntry, ...]
    skipped: int = 0
    current: FtpEntry | None = None  # MLSD: the cdir entry, the listed folder's own facts


def decode(data: bytes) -> list[str]:
    """Lines of a listing (CRLF or LF), undecodable bytes kept as surrogates."""
    text = data.decode(ENCODING, ERRORS)
    return [line.rstrip("\r") for line in text.split("\n") if line.strip("\r")]


def _mlsd_time(value: str) -> float:
    """YYYYMMDDHHMMSS[.sss] in UTC (RFC 3659 2.3); 0 when it is not one."""
    match = re.fullmatch(r"(\d{14})(?:\.\d{1,6})?", value)
    if not match:
        return 0.0
    try:
        return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _int(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 20 else 0


def parse_mlsd_line(line: str) -> FtpEntry | None:
    """`fact=value;...; name` (one space before the name, which may hold spaces and semicolons)."""
    if len(line) > MAX_LINE or " " not in line:
        return None
    facts_text, name = line.split(" ", 1)
    if not name:
        return None
    facts: dict[str, str] = {}
    for fact in facts_text.split(";"):
        key, sep, value = fact.partition("=")
        if sep:
            facts[key.strip().lower()] = value
    kind_text = facts.get("type", "").lower()
    if kind_text == "pdir":
        return None
    current = kind_text == "cdir"
    if kind_text in ("dir", "cdir"):
        kind = DIR
    elif kind_text == "file":
        kind = FILE
    elif kind_text.startswith("os.unix=slink") or kind_text.startswith("os.unix=symlink"):
        kind = LINK
    elif not kind_text:
        return None
    else:
        kind = OTHER
    name = name.rsplit("/", 1)[-1] if current else name  # MLST/cdir may name the whole path
    if not current and (name in (".", "..") or "/" in name):
        return None
    perm = facts.get("perm")
    return FtpEntry(
        name=name,
        kind=kind,
        size=_int(facts.get("size", "")),
        mtime=_mlsd_time(facts.get("modify", "")),
        perm=perm.lower() if perm is not None else None,
        current=current,
    )


_MONTHS = {
    m: n
    for n, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
# Unix `ls -l`: mode, links, owner, [group], size, month, day, time or year, name. The size is the number
# just before the date; whatever precedes it are links, owner and group (the name may hold anything). A month
# in another language (Mär, févr.) still makes an entry, without a time.
_UNIX = re.compile(
    r"(?P<mode>[-dlbcpsDnw?][-rwxsStTlL?]{9})[+@.]?\s+(?P<pre>.*?)\s*(?P<size>\d+)\s+"
    r"(?P<month>[^\W\d_]{3,5}\.?)\s+(?P<day>\d{1,2})\s+(?P<when>\d{1,2}:\d{2}|\d{4})\s(?P<name>.+)"
)
# MS-DOS (IIS's default): 11-29-23  06:59PM  <DIR>  name | 11-29-2023  18:59  1234 name
_DOS = re.compile(
    r"(?P<month>\d{2})-(?P<day>\d{2})-(?P<year>\d{2}|\d{4})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?P<ampm>[AaPp][Mm])?\s+(?P<size><DIR>|\d+)\s+(?P<name>.+)"
)


def _unix_time(month: str, day: str, when: str, now: datetime) -> float:
    number = _MONTHS.get(month.lower())
    if number is None:
        return 0.0
    try:
        if ":" in when:  # within the last six months: the year is not shown
            hour, minute = (int(part) for part in when.split(":"))
            stamp = datetime(now.year, number, int(day), hour, minute, tzinfo=UTC)
            if stamp > now + timedelta(days=1):
                stamp = stamp.replace(year=now.year - 1)
        else:
            stamp = datetime(int(when), number, int(day), tzinfo=UTC)
    except ValueError:
        return 0.0
    return stamp.timestamp()


def _dos_time(match: re.Match[str]) -> float:
    year = int(match["year"])
    year += (2000 if year < 70 else 1900) if len(match["year"]) == 2 else 0
    hour = int(match["hour"])
    if match["ampm"]:
        hour = hour % 12 + (12 if match["ampm"].lower() == "pm" else 0)
    try:
        return datetime(
            year, int(match["month"]), int(match["day"]), hour, int(match["minute"]), tzinfo=UTC
        ).timestamp()
    except ValueError:
        return 0.0


def parse_list_line(line: str, now: datetime) -> FtpEntry | None:
    """One LIST line in the Unix or the MS-DOS format; None for `total`, `.`/`..` and what is neither."""
    if len(line) > MAX_LINE:
        return None
    unix = _UNIX.fullmatch(line)
    if unix is not None:
        mode, name = unix["mode"], unix["name"]
        letter = mode[0]
        kind = DIR if letter == "d" else FILE if letter == "-" else LINK if letter == "l" else OTHER
        if kind == LINK and " -> " in name:
            name = name.split(" -> ", 1)[0]
        if not name or name in (".", "..") or "/" in name:
            return None
        owner = unix["pre"].split()[1] if len(unix["pre"].split()) >= 2 else None
        return FtpEntry(
            name=name,
            kind=kind,
            size=_int(unix["size"]) if kind == FILE else 0,
            mtime=_unix_time(unix["month"], unix["day"], unix["when"], now),
            mode=mode,
            owner=owner,
        )
    dos = _DOS.fullmatch(line)
    if dos is not None:
        name = dos["name"]
        if name in (".", "..") or "/" in name:
            return None
        is_dir = dos["size"] == "<DIR>"
        return FtpEntry(
            name=name,
            kind=DIR if is_dir else FILE,
            size=0 if is_dir else _int(dos["size"]),
            mtime=_dos_time(dos),
        )
    return None


def parse_mlsd(data: bytes) -> Parsed:
    """An MLSD answer's entries; the cdir entry is kept apart (its perm fact is the folder's own)."""
    entries: list[FtpEntry] = []
    current = None
    skipped = 0
    for line in decode(data):
        entry = parse_mlsd_line(line)
        if entry is None:
            skipped += line.split(" ", 1)[-1] not in (".", "..") and "type=pdir" not in line.lower()
            continue
        if entry.current:
            current = entry
        else:
            entries.append(entry)
    return Parsed(tuple(entries), skipped, current)


def parse_list(data: bytes, now: datetime) -> Parsed:
    """A LIST answer's entries (`total` lines and `.`/`..` are not counted as skipped)."""
    entries: list[FtpEntry] = []
    skipped = 0
    for line in decode(data):
        entry = parse_list_line(line, now)
        if entry is None:
            name = line.rsplit(" ", 1)[-1]
            skipped += not (line.lower().startswith("total ") or name in (".", ".."))
            continue
        entries.append(entry)
    return Parsed(tuple(entries), skipped)
