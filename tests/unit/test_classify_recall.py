"""The recall work of issue #11, each rule both ways: the new signatures, .dcm/.ecg refinement, ZIP entry
heads, and patient documents by name (tests/corpus/ measures the same on real files)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import pytest

from shareaudit.classify import NameOutcome, classify_name, resolve, sniff
from shareaudit.classify.archive import classify_zip, entry_head_ranges, list_zip
from shareaudit.classify.probe import classify_file
from shareaudit.model import Confidence
from shareaudit.redact import Redactor, looks_identifying, patient_identifier

STRONG, MEDIUM, WEAK = Confidence.STRONG, Confidence.MEDIUM, Confidence.WEAK
PREAMBLE = b"\0" * 128 + b"DICM"


def _meta(sop_class: str) -> bytes:
    value = sop_class.encode() + (b"\0" if len(sop_class) % 2 else b"")
    return PREAMBLE + b"\x02\x00\x02\x00UI" + struct.pack("<H", len(value)) + value


def _mgh(cosines: tuple[float, ...]) -> bytes:
    head = struct.pack(">7ih", 1, 4, 4, 4, 1, 3, 0, 1)
    return head + struct.pack(">15f", 1, 1, 1, *cosines, 0, 0, 0) + b"\0" * 200


BIG_ENDIAN = b"\x00\x08\x00\x05CS\x00\x0aISO_IR 100\x00\x08\x00\x16UI\x00\x02" + b"1\0"


@pytest.mark.parametrize(
    ("head", "name", "type_id", "confidence"),
    [
        (BIG_ENDIAN, "IMAGE", "dicom", WEAK),
        (b'{"00080005": {"vr": "CS", "Value": ["ISO_IR 100"]}}', "meta.json", "dicom_json", STRONG),
        (b'[{"00080016": {"vr": "UI", "Value": ["1.2"]}}]', "x", "dicom_json", STRONG),
        (b'[ {"resourceType": "Patient", "id": "1"} ]', "export-2024.json", "fhir", MEDIUM),
        (b"100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n", "100.hea", "wfdb", MEDIUM),
        (b"# comment\nrec/2 1 250 100\nseg1 50\nseg2 50\n", "rec.hea", "wfdb", MEDIUM),
        (b"TRACK" + b"\0" * 991 + struct.pack("<i", 1000), "fibres", "trk", STRONG),
        (b"TRACK" + b"\0" * 991 + struct.pack(">i", 1000), "fibres.trk", "trk", STRONG),
        (b"mrtrix tracks\ndatatype: Float32LE\nEND\n", "x", "tck", STRONG),
        (b"\x00\x00\x00\x64\x00\x00\x00\x1f\x00\x00\x00\x14" + b"\0" * 24, "raw", "fif", STRONG),
        (b"\ntype = string-attribute\nname = TYPESTRING\ncount = 8\n", "x+orig.HEAD", "afni", STRONG),
        (
            b'<?xml version="1.0"?>\n<!DOCTYPE GIFTI SYSTEM "gifti.dtd">\n<GIFTI Version="1.0">',
            "x",
            "gifti",
            STRONG,
        ),
        (_mgh((-1, 0, 0, 0, 0, -1, 0, 1, 0)), "brain", "mgh", WEAK),
        (gzip.compress(_mgh((-1, 0, 0, 0, 0, -1, 0, 1, 0)), mtime=0), "brain", "mgh", WEAK),
        (b"MATRIX72v" + b"\0" * 64, "scan.v", "ecat", STRONG),
        (gzip.compress(PREAMBLE + b"\x02\x00", mtime=0), "study.gz", "dicom", STRONG),
        (b"ISHNE1.0" + b"\0" * 64, "holter", "ishne", STRONG),
    ],
)
def test_new_signatures(head: bytes, name: str, type_id: str, confidence: Confidence) -> None:
    verdict = sniff(head, name)
    assert verdict is not None and (verdict.type_id, verdict.confidence) == (type_id, confidence)


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b'{"00080005": "CS"}', "x.json"),  # tag keys without a vr member
        (b'{"name": "x", "version": "1.0"}', "package.json"),
        (b"[1, 2, 3]", "list.json"),
        (b"line one\nline two\n", "notes.hea"),
        (b"100 2 360\nnot a signal line\n", "x.hea"),
        (b"TRACK" + b"\0" * 2000, "gps.trk"),  # no 1000-byte header size
        (b"mrtrix image\n", "x.tck"),
        (b"\x00\x00\x00\x65\x00\x00\x00\x1f\x00\x00\x00\x14" + b"\0" * 24, "x.fif"),
        (b"type = string\nname = x\n", "x.HEAD"),
        (b"module counter(input clk);\nendmodule\n", "core.v"),
        (_mgh((0, 0, 0, 0, 0, 0, 0, 0, 0)), "x"),  # an MGH-like start with no orientation
        (struct.pack(">7i", 1, 4, 4, 4, 1, 3, 0) + b"\0" * 100, "x"),  # goodRASFlag 0 outside .mgh
        (gzip.compress(b"Debian changelog\n" * 40, mtime=0), "changelog.Debian.gz"),
        (b"\x00\x08\x00\x05XX\x00\x02ab", "x"),  # big-endian start with an unknown VR
    ],
)
def test_new_signatures_stay_quiet(head: bytes, name: str) -> None:
    assert sniff(head, name) is None


@pytest.mark.parametrize(
    ("head", "type_id"),
    [
        (_meta("1.2.840.10008.1.3.10"), "dicomdir"),
        (_meta("1.2.840.10008.5.1.4.1.1.9.1.1"), "dicom_ecg"),
        (_meta("1.2.840.10008.5.1.4.1.1.2"), "dicom"),
        (b"not dicom at all", "dicom"),  # the name still decides
    ],
)
def test_dcm_subtypes_are_refined_from_the_content(head: bytes, type_id: str) -> None:
    name = classify_name("export/image.dcm")
    assert name.outcome is NameOutcome.MEDICAL and name.refine
    assert classify_file("export/image.dcm", len(head), lambda o, n: head[o : o + n]).type_id == type_id
    unread = classify_file("export/image.dcm", len(head), lambda o, n: b"", refine=False)
    assert unread is not None and unread.type_id == "dicom"


def test_ecg_files_are_ishne_only_by_content() -> None:
    ishne = b"ISHNE1.0" + b"\0" * 64
    contec = b"\x01\x02ECG DATA" + b"\0" * 64
    assert classify_file("Holter/p1.ecg", 72, lambda o, n: ishne[o : o + n]).type_id == "ishne"
    assert classify_file("Holter/p2.ECG", 72, lambda o, n: contec[o : o + n]).type_id == "ecg_recording"


def _zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_entries_are_judged_by_their_heads(method: int) -> None:
    data = _zip({"export": PREAMBLE + b"\x02\x00" + b"\0" * 5000, "readme.pdf": b"%PDF"}, method)
    verdict = classify_zip(len(data), lambda o, n: data[o : o + n])
    assert verdict is not None and (verdict.type_id, verdict.confidence) == ("dicom_archive", STRONG)
    fhir = _zip({"bundle.json": b'{"resourceType": "Bundle"}'}, method)
    verdict = classify_zip(len(fhir), lambda o, n: fhir[o : o + n])
    assert verdict is not None and verdict.type_id == "fhir"


def test_zip_entry_heads_are_few_and_bounded() -> None:
    data = _zip({f"file{n}": b"x" * 100_000 for n in range(10)})
    listing = list_zip(len(data), lambda o, n: data[o : o + n])
    ranges = entry_head_ranges(listing, len(data))  # type: ignore[arg-type]
    assert len(ranges) == 4 and all(window.length <= 4096 + 64 + 256 + 30 + 10 for _, window in ranges)
    ordinary = _zip({"a.txt": b"hello", "b.png": b"\x89PNG"})
    assert classify_zip(len(ordinary), lambda o, n: ordinary[o : o + n]) is None
    # A DICOMDIR decides by name: no entry is read.
    named = _zip({"DICOMDIR": b"x", "DICOM/IM000001": b"y"})
    listing = list_zip(len(named), lambda o, n: named[o : o + n])
    assert entry_head_ranges(listing, len(named)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "strength"),
    [
        ("Referral_MUELLER_Hans_1957-03-02.pdf", "medium"),
        ("Lab_SCHNEIDER_ANNA_MRN448812.pdf", "strong"),
        ("MRN 0088231 echo report.docx", "medium"),
        ("Doe, John 02.03.1957.pdf", "medium"),
        ("SMITH^JOHN_19570302.tif", "medium"),
        ("Befund_Weber_Klaus_12.04.1961.pdf", "medium"),
        ("ZIMMER_PAUL_1957-03-02.pdf", "weak"),  # two words in capitals may be any two words
        ("NHS 4857773456 clinic letter.pdf", "medium"),
        ("123-45-6789.pdf", "medium"),
    ],
)
def test_patient_names(name: str, strength: str) -> None:
    found = patient_identifier(name)
    assert found is not None and found.strength == strength
    assert looks_identifying(name)  # whatever counts as a patient document is also redacted
    verdict = classify_name(f"Scans/{name}")
    assert verdict.outcome is NameOutcome.MEDICAL and verdict.verdict is not None
    assert verdict.verdict.type_id == "patient_document"


@pytest.mark.parametrize(
    "name",
    [
        "Screenshot 2024-03-02 at 10.15.33.png",
        "IMG_20240302_123456.jpg",
        "Invoice_2024-03-02.pdf",
        "ACME_Corp_2024-01-15.pdf",
        "WHO_Guidelines_2023-05-01.pdf",
        "README_FIRST_2024-01-01.txt",
        "Board Presentation 2024-03-02.pptx",
        "PO-448812.pdf",
        "SMITH^MARY_referral.pdf",  # a name without a date or number: not enough
        "Smith, Anna - CV.pdf",
        "pid_12345.log",
    ],
)
def test_ordinary_names_with_dates_and_numbers_are_no_patient_documents(name: str) -> None:
    assert patient_identifier(name) is None
    assert classify_name(f"Scans/{name}").verdict is None


def test_a_patient_name_stands_when_the_content_shows_nothing() -> None:
    name = classify_name("Scans/DOE_JOHN_MRN448812")  # no extension: read, DICOM would win
    assert name.outcome is NameOutcome.SNIFF and name.stands
    assert resolve(name, None, content_read=True).type_id == "patient_document"  # type: ignore[union-attr]
    dicom = sniff(PREAMBLE + b"\x02\x00", "x")
    assert resolve(name, dicom, content_read=True) == dicom
    archive = classify_name("Scans/Doe, John 02.03.1957.zip")
    assert archive.outcome is NameOutcome.ARCHIVE and archive.stands
    assert archive.verdict is not None and archive.verdict.type_id == "patient_document"


def test_patient_documents_are_redacted() -> None:
    redactor = Redactor(b"k" * 32)
    path = redactor.path("Scans\\Eingang\\Referral_MUELLER_Hans_1957-03-02.pdf", "patient_document")
    assert "MUELLER" not in path and path.startswith("Scans\\Eingang\\[patient_document:")


def _tar(members: list[tuple[str, bytes | None]]) -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_the_first_member_of_a_tar_is_judged_gzipped_or_not() -> None:
    raw = _tar([("export/", None), ("export/Ünïcode/IM000001", PREAMBLE + b"\x02\x00" + b"\0" * 600)])
    for data, name in ((raw, "study.tar"), (gzip.compress(raw, mtime=0), "study.tgz")):
        verdict = classify_file(f"Backup/{name}", len(data), lambda o, n, d=data: d[o : o + n])
        assert verdict is not None and (verdict.type_id, verdict.confidence) == ("dicom", STRONG)
        assert "tar member" in verdict.evidence
    ordinary = gzip.compress(_tar([("site/", None), ("site/index.html", b"<html></html>")]), mtime=0)
    assert sniff(ordinary, "site.tar.gz") is None
    # A size field that is no octal number ends the look, it does not raise.
    broken = bytearray(_tar([("IM000001", PREAMBLE + b"\x02\x00")]))
    broken[124:136] = b"zzzzzzzzzzz\0"
    assert sniff(bytes(broken), "x.tar") is None
