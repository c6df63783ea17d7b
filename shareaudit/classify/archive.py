"""Looking into archives without extracting them: ZIP central directories from ranged reads, and 7-Zip.

A ZIP lists its entries in the central directory at the end of the file (APPNOTE.TXT 4.3.6), so the
tail of the file, plus at most one more bounded read, gives every entry name. When the names do not
decide, the first bytes of a few entries are read (`entry_head_ranges`): one ranged read per entry
covering its local header and the start of its data, inflated (stored or deflated only) to at most
HEAD_LIMIT bytes and handed to the sniffer. Nothing else is decompressed and nothing is kept.
"""

import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from shareaudit.classify.checks import HEAD_LIMIT
from shareaudit.classify.sniff import sniff
from shareaudit.classify.table import (
    UNREADABLE_ARCHIVE,
    TypeTable,
    default_table,
    is_dicom_uid_name,
    is_file_set_id,
    split_path,
)
from shareaudit.classify.verdict import Confidence, NameOutcome, Verdict

# APPNOTE.TXT 4.3.16: the End of Central Directory record is 22 bytes plus a comment of up to 64 KiB.
EOCD_SIZE = 22
MAX_COMMENT = 0xFFFF
# APPNOTE.TXT 4.3.14 / 4.3.15: the ZIP64 end record (56 bytes without its extensible data sector) and
# its 20-byte locator sit right before the EOCD; the tail window covers them too.
ZIP64_EOCD_SIZE = 56
ZIP64_LOCATOR_SIZE = 20
TAIL_WINDOW = EOCD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE
# Beyond this the central directory is not read (about 20,000 entries with typical names).
MAX_CENTRAL_DIRECTORY = 1 << 20

_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_CENTRAL_HEADER_SIGNATURE = b"PK\x01\x02"
_CENTRAL_HEADER_SIZE = 46
_UTF8_NAMES = 0x0800  # APPNOTE.TXT 4.4.4 general purpose bit 11 (language encoding flag)

SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
# At least this many bare file-set IDs (IM000001, ...) before a flat ZIP counts as a DICOM export.
MIN_BARE_FILE_SET_IDS = 3


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A range of a remote file to read."""

    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central directory record: what is needed to find and read the start of the entry's data."""

    name: str
    method: int  # APPNOTE.TXT 4.4.5: 0 stored, 8 deflated
    flags: int
    compressed_size: int
    header_offset: int  # of the local file header, from the start of the ZIP (before any prefix stub)
    header_extra: int  # length of the central record's extra field (the local one is usually alike)


@dataclass(frozen=True, slots=True)
class ZipListing:
    """The entry names of a ZIP; `complete` is False when the central directory stopped parsing early.

    `entries` has the records behind `names` (same order); `prefix` is the number of bytes in front of
    the archive proper (a self-extractor's stub), to be added to every header offset.
    """

    names: tuple[str, ...]
    complete: bool
    entries: tuple[ZipEntry, ...] = field(default=(), compare=False)
    prefix: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class CentralDirectoryRead:
    """The central directory lies before the tail: read `range` and pass it to parse_central_directory."""

    range: ByteRange
    entries: int
    prefix: int = 0


class ZipProblem(StrEnum):
    """Why a ZIP's entries cannot be listed."""

    NO_END_RECORD = "no end of central directory record"
    TOO_LARGE = "central directory too large"
    MULTI_DISK = "split (multi-disk) archive"
    ZIP64_RECORD_MISSING = "zip64 end record not found"
    BAD_OFFSETS = "central directory outside the file"


@dataclass(frozen=True, slots=True)
class ZipUnreadable:
    """A ZIP whose entries were not listed, and why."""

    problem: ZipProblem


def zip_tail_range(file_size: int) -> ByteRange:
    """The tail of a ZIP to read first: the EOCD search window (and the ZIP64 records before it)."""
    length = max(0, min(file_size, TAIL_WINDOW))
    return ByteRange(max(0, file_size) - length, length)


def parse_zip_tail(tail: bytes, file_size: int) -> ZipListing | CentralDirectoryRead | ZipUnreadable:
    """Parse the EOCD (and ZIP64 records): the names if the central directory is in the tail, else what to read."""
    tail_start = file_size - len(tail)
    if tail_start < 0:
        return ZipUnreadable(ZipProblem.BAD_OFFSETS)
    eocd = _find_eocd(tail)
    if eocd < 0:
        return ZipUnreadable(ZipProblem.NO_END_RECORD)
    disk, cd_disk, disk_entries, entries, cd_size, cd_offset = struct.unpack_from("<HHHHII", tail, eocd + 4)
    cd_end = tail_start + eocd
    locator = eocd - ZIP64_LOCATOR_SIZE
    has_locator = locator >= 0 and tail.startswith(_ZIP64_LOCATOR_SIGNATURE, locator)
    if has_locator or 0xFFFF in (disk, cd_disk, disk_entries, entries) or 0xFFFFFFFF in (cd_size, cd_offset):
        if not has_locator:
            return ZipUnreadable(ZipProblem.ZIP64_RECORD_MISSING)
        (locator_disks,) = struct.unpack_from("<I", tail, locator + 16)
        record = locator - ZIP64_EOCD_SIZE
        # Like CPython's zipfile, expect the ZIP64 end record right before its locator.
        if record < 0 or not tail.startswith(_ZIP64_EOCD_SIGNATURE, record):
            return ZipUnreadable(ZipProblem.ZIP64_RECORD_MISSING)
        disk, cd_disk, disk_entries, entries, cd_size, cd_offset = struct.unpack_from(
            "<IIQQQQ", tail, record + 16
        )
        if locator_disks > 1:
            return ZipUnreadable(ZipProblem.MULTI_DISK)
        cd_end = tail_start + record
    if disk != 0 or cd_disk != 0 or disk_entries != entries:
        return ZipUnreadable(ZipProblem.MULTI_DISK)
    if cd_size > MAX_CENTRAL_DIRECTORY:
        return ZipUnreadable(ZipProblem.TOO_LARGE)
    # The directory ends where the end record begins. Counting back from there, rather than trusting
    # cd_offset, also works for self-extracting archives with a stub in front (zipfile does the same).
    cd_start = cd_end - cd_size
    if cd_start < 0:
        return ZipUnreadable(ZipProblem.BAD_OFFSETS)
    prefix = max(0, cd_start - cd_offset)
    if cd_start >= tail_start:
        start = cd_start - tail_start
        return parse_central_directory(tail[start : start + cd_size], entries, prefix)
    return CentralDirectoryRead(ByteRange(cd_start, cd_size), entries, prefix)


def _find_eocd(tail: bytes) -> int:
    """Position of the EOCD record: the last signature whose comment length reaches the end exactly."""
    fallback = -1
    position = tail.rfind(_EOCD_SIGNATURE, 0, max(0, len(tail) - EOCD_SIZE + len(_EOCD_SIGNATURE)))
    while position >= 0:
        (comment_length,) = struct.unpack_from("<H", tail, position + 20)
        end = position + EOCD_SIZE + comment_length
        if end == len(tail):
            return position
        if end < len(tail) and fallback < 0:
            fallback = position  # trailing garbage after the comment; zipfile tolerates it too
        position = tail.rfind(_EOCD_SIGNATURE, 0, position)
    return fallback


def parse_central_directory(data: bytes, entries: int | None = None, prefix: int = 0) -> ZipListing:
    """Entry names (and records) from central directory bytes; stops at the first malformed record."""
    names: list[str] = []
    records: list[ZipEntry] = []
    position = 0
    limit = min(len(data), MAX_CENTRAL_DIRECTORY)
    while position + _CENTRAL_HEADER_SIZE <= limit and data.startswith(_CENTRAL_HEADER_SIGNATURE, position):
        flags, method = struct.unpack_from("<HH", data, position + 8)
        (compressed,) = struct.unpack_from("<I", data, position + 20)
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, position + 28)
        (offset,) = struct.unpack_from("<I", data, position + 42)
        name_start = position + _CENTRAL_HEADER_SIZE
        if name_start + name_length > limit:
            break
        raw = data[name_start : name_start + name_length]
        # APPNOTE.TXT appendix D: names are CP437 unless bit 11 says UTF-8.
        name = raw.decode("utf-8" if flags & _UTF8_NAMES else "cp437", errors="replace")
        names.append(name)
        extra = data[name_start + name_length : min(limit, name_start + name_length + extra_length)]
        compressed, offset = _zip64_sizes(extra, compressed, offset)
        records.append(ZipEntry(name, method, flags, compressed, offset, extra_length))
        position = name_start + name_length + extra_length + comment_length
    complete = len(names) == entries if entries is not None else position == len(data)
    return ZipListing(tuple(names), complete, tuple(records), prefix)


_ZIP64_EXTRA = 0x0001
_FULL32 = 0xFFFFFFFF


def _zip64_sizes(extra: bytes, compressed: int, offset: int) -> tuple[int, int]:
    """APPNOTE.TXT 4.5.3: the ZIP64 extra field holds, in order, only the values whose 32-bit field is full
    (uncompressed size, compressed size, header offset); the uncompressed size is not recorded here."""
    position = 0
    while position + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + size]
        position += 4 + size
        if tag != _ZIP64_EXTRA:
            continue
        values = [struct.unpack_from("<Q", body, at)[0] for at in range(0, len(body) - 7, 8)]
        # The uncompressed size comes first when it is full; the central record does not say, so both
        # layouts are tried from the end: offset last, compressed size before it.
        if offset == _FULL32 and values:
            offset = values.pop()
        if compressed == _FULL32 and values:
            compressed = values.pop()
        break
    return compressed, offset


def list_zip(file_size: int, read: Callable[[int, int], bytes]) -> ZipListing | ZipUnreadable:
    """List a remote ZIP's entries with at most two ranged reads, read(offset, length) -> bytes."""
    tail_range = zip_tail_range(file_size)
    result = parse_zip_tail(read(tail_range.offset, tail_range.length), file_size)
    if isinstance(result, CentralDirectoryRead):
        return parse_central_directory(
            read(result.range.offset, result.range.length), result.entries, result.prefix
        )
    return result


# --- The first bytes of a few entries ---------------------------------------------------------------------
# At most this many entries of one ZIP have their head read, and only when the names do not decide.
MAX_ENTRY_HEADS = 4
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
_STORED, _DEFLATED = 0, 8
_ENCRYPTED = 0x0001  # APPNOTE.TXT 4.4.4 bit 0
# Slack for a local extra field longer than the central one (Info-ZIP adds timestamps to both, but not
# always the same), and for deflate block headers: 4 KiB of output never needs more than this input.
_EXTRA_SLACK = 256
_DEFLATE_SLACK = 64


def entry_head_ranges(
    listing: ZipListing, file_size: int, table: TypeTable | None = None
) -> list[tuple[ZipEntry, ByteRange]]:
    """The few entries worth reading, with the range holding each one's local header and first bytes.

    Chosen only when the names do not decide (no DICOMDIR, no DICOM-named entry): entries whose name asks
    for reading (SNIFF) or may be refined by content, stored or deflated and not encrypted, in listing order.
    """
    table = table or default_table()
    decided = classify_archive(listing.names, table)
    if (
        decided is not None
        and decided.type_id == "dicom_archive"
        and decided.confidence is not Confidence.WEAK
    ):
        return []
    chosen: list[tuple[ZipEntry, ByteRange]] = []
    for entry in listing.entries:
        if len(chosen) >= MAX_ENTRY_HEADS:
            break
        if not entry.name or entry.name.endswith(("/", "\\")) or entry.flags & _ENCRYPTED:
            continue
        if entry.method not in (_STORED, _DEFLATED) or entry.compressed_size <= 0:
            continue
        name = table.classify_name(entry.name)
        if name.outcome is NameOutcome.NOT_MEDICAL or name.outcome is NameOutcome.ARCHIVE:
            continue
        if name.outcome is NameOutcome.MEDICAL and not name.refine:
            continue
        start = listing.prefix + entry.header_offset
        want = _LOCAL_HEADER_SIZE + len(entry.name.encode("utf-8")) + entry.header_extra + _EXTRA_SLACK
        want += min(entry.compressed_size, HEAD_LIMIT + _DEFLATE_SLACK)
        length = min(want, file_size - start)
        if start < 0 or length <= _LOCAL_HEADER_SIZE:
            continue
        chosen.append((entry, ByteRange(start, length)))
    return chosen


def entry_head(entry: ZipEntry, data: bytes) -> bytes | None:
    """The entry's first bytes (at most HEAD_LIMIT) from a read of its local header onwards, or None."""
    if len(data) < _LOCAL_HEADER_SIZE or not data.startswith(_LOCAL_HEADER_SIGNATURE):
        return None
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    start = _LOCAL_HEADER_SIZE + name_length + extra_length
    if start > len(data):
        return None
    body = data[start : start + min(entry.compressed_size, HEAD_LIMIT + _DEFLATE_SLACK)]
    if entry.method == _STORED:
        return body[:HEAD_LIMIT] or None
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)  # raw deflate (APPNOTE.TXT 4.4.5 method 8)
    try:
        # max_length bounds the output: a bomb yields HEAD_LIMIT bytes and no more.
        return inflater.decompress(body, HEAD_LIMIT) or None
    except zlib.error:
        return None


def classify_entry_heads(heads: Mapping[str, bytes], table: TypeTable | None = None) -> Verdict | None:
    """The archive's type from its entries' heads (entry name -> first bytes): DICOM first, else the strongest."""
    table = table or default_table()
    best: Verdict | None = None
    dicom: Verdict | None = None
    for name, head in heads.items():
        verdict = sniff(head, name, table)
        if verdict is None:
            continue
        if verdict.type_id in _DICOM_CONTENT:
            if dicom is None or verdict.confidence.rank > dicom.confidence.rank:
                dicom = verdict
        elif best is None or verdict.confidence.rank > best.confidence.rank:
            best = verdict
    if dicom is not None:
        return table.verdict("dicom_archive", dicom.confidence, f"archive entry content: {dicom.evidence}")
    if best is not None:
        return Verdict(best.type_id, best.label, best.confidence, f"archive entry content: {best.evidence}")
    return None


_DICOM_CONTENT = frozenset({"dicom", "dicomdir", "dicom_ecg", "siemens_ima"})


def judge_zip(
    listing: ZipListing, heads: Mapping[str, bytes], table: TypeTable | None = None
) -> Verdict | None:
    """The archive's verdict from its names and the heads read: the stronger of the two (names win a tie)."""
    table = table or default_table()
    by_names = classify_archive(listing.names, table)
    by_heads = classify_entry_heads(heads, table) if heads else None
    if by_heads is None:
        return by_names
    if by_names is None or by_heads.confidence.rank > by_names.confidence.rank:
        return by_heads
    return by_names


def classify_zip(
    file_size: int, read: Callable[[int, int], bytes], table: TypeTable | None = None
) -> Verdict | None:
    """A ZIP's verdict with ranged reads only: the listing, then the heads of a few entries."""
    table = table or default_table()
    listing = list_zip(file_size, read)
    if isinstance(listing, ZipUnreadable):
        return None
    heads: dict[str, bytes] = {}
    for entry, window in entry_head_ranges(listing, file_size, table):
        head = entry_head(entry, read(window.offset, window.length))
        if head:
            heads[entry.name] = head
    return judge_zip(listing, heads, table)


def classify_archive(names: Iterable[str], table: TypeTable | None = None) -> Verdict | None:
    """The medical type of an archive from its entry names: a DICOM export, or the best other medical name."""
    table = table or default_table()
    dicomdir = dicom_named = dicom_weak = bare_ids = 0
    best: Verdict | None = None
    best_count = 0
    for name in names:
        if not name or name.endswith(("/", "\\")):
            continue  # directory entries; their names reappear in the file entries
        base = split_path(name)[1]
        name_verdict = table.classify_name(name)
        verdict = name_verdict.verdict
        if verdict is None:
            # An archive cannot be sniffed entry by entry; flat exports are recognised by their IDs.
            if name_verdict.outcome is NameOutcome.SNIFF and is_file_set_id(base):
                bare_ids += 1
        elif verdict.type_id == "dicomdir":
            dicomdir += 1
        elif verdict.type_id == "dicom":
            if name_verdict.outcome is NameOutcome.MEDICAL or verdict.confidence is Confidence.MEDIUM:
                dicom_named += 1  # *.dcm, or a file-set ID inside a DICOM tree
            elif is_dicom_uid_name(base):
                dicom_weak += 1  # named by SOP Instance UID (.dic stays out: mostly spell-check lists)
        elif name_verdict.outcome is not NameOutcome.ARCHIVE:
            # Decided by name, or the name's own fallback (e.g. .IMA): nothing better is available here.
            if best is None or verdict.confidence.rank > best.confidence.rank:
                best, best_count = verdict, 0
            if verdict.type_id == best.type_id:
                best_count += 1
    # Patient-CD exports carry a DICOMDIR index (survey, "ZIP export of DICOM"): the clearest sign.
    if dicomdir:
        return table.verdict("dicom_archive", Confidence.STRONG, "archive lists a DICOMDIR")
    if dicom_named:
        return table.verdict(
            "dicom_archive", Confidence.MEDIUM, f"archive lists {dicom_named} DICOM-named entries"
        )
    if dicom_weak or bare_ids >= MIN_BARE_FILE_SET_IDS:
        count = dicom_weak + bare_ids
        return table.verdict(
            "dicom_archive", Confidence.WEAK, f"archive lists {count} entries named like DICOM"
        )
    if best is not None:
        return Verdict(
            best.type_id,
            best.label,
            best.confidence,
            f"archive lists {best_count} entries by name ({best.evidence})",
        )
    return None


def classify_unlisted_archive(path: str, table: TypeTable | None = None) -> Verdict | None:
    """A weak verdict for an archive whose entries cannot be listed, if its location looks medical."""
    table = table or default_table()
    if not table.path_looks_medical(path):
        return None
    return table.verdict(
        UNREADABLE_ARCHIVE, Confidence.WEAK, "archive in a medical location, entries not listed"
    )
