"""Every parser of untrusted bytes, fed random and mutated input: a declared error at most, never a crash.

Seeds are real layouts (a lab security descriptor, directory entries as Samba sends them, a ZIP, DICOM and
other medical heads); Hypothesis mutates them (flipped bytes, truncations, splices) within a bounded number
of examples. A parser may answer with its own error type; any other exception is a bug.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sd import imaging_root

from shareaudit.acl import SecurityDescriptorError
from shareaudit.classify.archive import parse_central_directory, parse_zip_tail
from shareaudit.classify.sniff import sniff
from shareaudit.collect.smb.sd import parse_security_descriptor
from shareaudit.collect.smb.walk import parse_directory_information

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed with bytes replaced, a prefix kept, or random bytes spliced in; or random bytes."""
    flips = st.lists(st.tuples(st.integers(0, max(0, len(seed) - 1)), st.integers(0, 255)), max_size=8).map(
        lambda changes: bytes(_flip(seed, changes))
    )
    prefixes = st.integers(0, len(seed)).map(lambda n: seed[:n])
    splices = st.tuples(st.integers(0, len(seed)), st.binary(max_size=64)).map(
        lambda cut: seed[: cut[0]] + cut[1] + seed[cut[0] :]
    )
    return st.one_of(flips, prefixes, splices, st.binary(max_size=2048))


def _flip(seed: bytes, changes: list[tuple[int, int]]) -> bytearray:
    data = bytearray(seed)
    for index, value in changes:
        if index < len(data):
            data[index] = value
    return data


def _entry(name: str, attributes: int, size: int, next_offset: int) -> bytes:
    """One FILE_DIRECTORY_INFORMATION record ([MS-FSCC] 2.4.10)."""
    encoded = name.encode("utf-16-le")
    fixed = struct.pack(
        "<IIqqqqqqII", next_offset, 0, 0, 0, 133_000_000_000_000_000, 0, size, size, attributes, len(encoded)
    )
    return fixed + encoded


def _listing() -> bytes:
    first = _entry("scan_0001.dcm", 0x20, 4096, 0)
    first = struct.pack("<I", (len(first) + 7) & ~7) + first[4:]
    first += b"\0" * (((len(first) + 7) & ~7) - len(first))
    return first + _entry("Staff only", 0x10, 0, 0)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(3):
            archive.writestr(f"DICOM/IM{n:05d}", b"\0" * 132 + b"DICM")
        archive.writestr("DICOMDIR", b"x")
    return buffer.getvalue()


SD = imaging_root()
LISTING = _listing()
ZIP = _zip()
HEADS = (
    b"\0" * 128 + b"DICM" + b"\x02\x00\x02\x00UI\x1a\x00" + b"1.2.840.10008.5.1.4.1.1.2\0",
    b"MSH|^~\\&|LAB|HOSP|||20260101||ORU^R01|1|P|2.5\r",
    b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
    b"0       " + b" " * 248,  # an EDF header's start
    b"\x1f\x8b\x08\x00" + b"\0" * 60,  # gzip
)


@FUZZ
@given(_mutations(SD))
def test_security_descriptors(data: bytes) -> None:
    with contextlib.suppress(SecurityDescriptorError):
        parse_security_descriptor(data)


@FUZZ
@given(_mutations(LISTING))
def test_directory_entries(data: bytes) -> None:
    for entry in parse_directory_information(data):
        assert entry.name and entry.size >= 0 and 0 <= entry.mtime < 253_402_300_799


@FUZZ
@given(_mutations(ZIP), st.integers(0, 1 << 40))
def test_zip_tails(data: bytes, extra: int) -> None:
    parse_zip_tail(data, len(data) + extra % 4096)


@FUZZ
@given(_mutations(ZIP), st.one_of(st.none(), st.integers(0, 70_000)))
def test_zip_central_directories(data: bytes, entries: int | None) -> None:
    parse_central_directory(data, entries)


@FUZZ
@given(
    st.sampled_from(HEADS).flatmap(_mutations),
    st.sampled_from(("x", "a.dcm", "b.json", "c.xml", "d.gz", "e")),
)
def test_content_sniffers(head: bytes, name: str) -> None:
    sniff(head, name)
