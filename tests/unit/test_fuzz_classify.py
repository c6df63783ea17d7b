"""The parsers of untrusted bytes added for issue #11, fed random and mutated input (as tests/unit/test_fuzz.py):
ZIP entry heads (local header, inflate), whole ZIPs judged with bounded reads, tar members, the new
content signatures, and patient names. A parser may answer None; any exception is a bug."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile

from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import FUZZ, _mutations

from shareaudit.classify.archive import ZipEntry, classify_zip, entry_head
from shareaudit.classify.probe import classify_file
from shareaudit.classify.sniff import sniff
from shareaudit.redact import patient_identifier


def _deflated_zip() -> bytes:
    """One deflated DICOM entry and one stored FHIR entry: the entry-head reader's two methods."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/IM000001", b"\0" * 128 + b"DICM\x02\x00" + b"\0" * 400, zipfile.ZIP_DEFLATED)
        archive.writestr("Patient.json", b'{"resourceType": "Patient"}', zipfile.ZIP_STORED)
    return buffer.getvalue()


def _mgh() -> bytes:
    """A FreeSurfer MGH header with its orientation block (nibabel freesurfer/mghformat.py layout)."""
    ints = struct.pack(">7ih", 1, 4, 4, 4, 1, 3, 0, 1)
    return ints + struct.pack(">15f", 1, 1, 1, -1, 0, 0, 0, 0, -1, 0, 1, 0, 0, 0, 0) + b"\0" * 200


def _tar_head() -> bytes:
    """A tar whose first member is DICOM: the sniffer walks its headers (ustar at 257, octal size at 124)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"\0" * 128 + b"DICM\x02\x00"
        info = tarfile.TarInfo("IM000001")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()[:2048]


DEFLATED_ZIP = _deflated_zip()
HEADS = (
    gzip.compress(b"\0" * 128 + b"DICM\x02\x00" + b"\0" * 64, mtime=0),  # gzipped DICOM
    b"\x00\x08\x00\x05CS\x00\x0aISO_IR 100\x00\x08\x00\x16UI\x00\x02" + b"1\0",  # big-endian data set
    b'{"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}, "00100010": {"vr": "PN"}}',  # DICOM JSON
    b'[{"resourceType": "Patient", "id": "1"}]',  # FHIR as an array
    b"100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n100.dat 212 200 11 1024 1011 20052 0 V5\n",
    b"TRACK" + b"\0" * 991 + struct.pack("<i", 1000),  # TrackVis
    b"mrtrix tracks\ndatatype: Float32LE\nfile: . 67\nEND\n",
    b"\x00\x00\x00\x64\x00\x00\x00\x1f\x00\x00\x00\x14\x00\x00\x00\x00" + b"\0" * 20,  # FIF
    b"\ntype = string-attribute\nname = TYPESTRING\ncount = 8\n'3DIM_HEAD_ANAT~\n",  # AFNI
    _mgh(),
    b"ISHNE1.0" + b"\0" * 64,
    _tar_head(),
    gzip.compress(_tar_head(), mtime=0),
)


@FUZZ
@given(
    st.sampled_from(HEADS).flatmap(_mutations),
    st.sampled_from(("x", "a.dcm", "b.json", "c.hea", "d.gz", "e.tar", "f.v", "g.mgz", "h.HEAD")),
)
def test_new_content_sniffers(head: bytes, name: str) -> None:
    sniff(head, name)


@FUZZ
@given(_mutations(DEFLATED_ZIP), st.integers(0, 3), st.integers(0, 1 << 20))
def test_zip_entry_heads(data: bytes, method: int, size: int) -> None:
    # A local header and what follows, read through a central record that may lie about the entry.
    entry = ZipEntry("x", (0, 8, 8, 12)[method], 0, size, 0, 0)
    head = entry_head(entry, data)
    assert head is None or 0 < len(head) <= 4096


@FUZZ
@given(_mutations(DEFLATED_ZIP))
def test_whole_zips_are_judged_with_bounded_reads(data: bytes) -> None:
    reads: list[int] = []

    def read(offset: int, length: int) -> bytes:
        assert offset >= 0 and length >= 0
        reads.append(length)
        return data[offset : offset + length]

    classify_zip(len(data), read)
    assert len(reads) <= 2 + 4  # tail, central directory, the heads of at most four entries
    classify_file("export.zip", len(data), read)


@FUZZ
@given(st.text(max_size=120), st.sampled_from(("", ".pdf", ".tif", ".xml")))
def test_patient_names(text: str, extension: str) -> None:
    found = patient_identifier(text + extension)
    assert found is None or found.strength in ("strong", "medium", "weak")
    classify_file(f"Scans/{text}{extension}", 0, lambda offset, length: b"")
