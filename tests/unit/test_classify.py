"""Medical file classification: by name, by content (first 4 KiB), and by ZIP/7z listing."""

import gzip
import io
import random
import struct
import zipfile
from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    TwelveLeadECGWaveformStorage,
    generate_uid,
)

from shareaudit.classify import (
    HEAD_LIMIT,
    ArchiveFormat,
    ByteRange,
    CentralDirectoryRead,
    Confidence,
    NameOutcome,
    NameVerdict,
    TableError,
    Verdict,
    ZipListing,
    ZipProblem,
    ZipUnreadable,
    classify_archive,
    classify_name,
    classify_unlisted_archive,
    default_table,
    list_zip,
    load_table,
    parse_central_directory,
    parse_zip_tail,
    resolve,
    sniff,
    zip_tail_range,
)
from shareaudit.classify.archive import MAX_CENTRAL_DIRECTORY, TAIL_WINDOW

STRONG, MEDIUM, WEAK = Confidence.STRONG, Confidence.MEDIUM, Confidence.WEAK


# --- Sample builders --------------------------------------------------------------------------------------
def part10(sop_class: UID = CTImageStorage) -> bytes:
    """A real DICOM Part 10 file written by pydicom, with a patient name in it."""
    dataset = Dataset()
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = generate_uid()
    dataset.PatientName = "DOE^JOHN"
    dataset.PatientID = "MRN448812"
    dataset.Modality = "CT"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def raw_dataset(*, implicit: bool) -> bytes:
    """A DICOM data set with no preamble and no file meta (ACR-NEMA style)."""
    dataset = Dataset()
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = generate_uid()
    dataset.PatientName = "DOE^JOHN"
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, implicit_vr=implicit, little_endian=True)
    return buffer.getvalue()


def nifti1(magic: bytes = b"n+1\x00", order: str = "<") -> bytes:
    header = bytearray(352)
    struct.pack_into(f"{order}i", header, 0, 348)
    struct.pack_into(f"{order}8h", header, 40, 3, 64, 64, 32, 1, 1, 1, 1)
    struct.pack_into(f"{order}h", header, 70, 4)  # datatype: int16
    struct.pack_into(f"{order}f", header, 108, 352.0)  # vox_offset
    header[148 : 148 + 11] = b"T1 weighted"
    header[344:348] = magic
    return bytes(header)


def analyze75() -> bytes:
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    header[38] = ord("r")
    struct.pack_into("<8h", header, 40, 3, 128, 128, 64, 1, 0, 0, 0)
    return bytes(header)


def nifti2() -> bytes:
    header = bytearray(544)
    struct.pack_into("<i", header, 0, 540)
    header[4:12] = b"n+2\x00\r\n\x1a\n"
    struct.pack_into("<8q", header, 16, 3, 64, 64, 32, 1, 1, 1, 1)
    return bytes(header)


def edf(*, plus: bool = True, signals: int = 1, version: bytes = b"0       ") -> bytes:
    def field(text: str, width: int) -> bytes:
        return text.ljust(width).encode("ascii")

    header = (
        version
        + field("MCH-0234567 F 02-MAY-1951 Haagse_Harry", 80)
        + field("Startdate 02-MAR-2002 PSG-1234/2002 NN Telemetry03", 80)
        + b"02.03.02"
        + b"10.11.12"
        + field(str(256 * (signals + 1)), 8)
        + field("EDF+C" if plus else "", 44)
        + field("10", 8)
        + field("1", 8)
        + field(str(signals), 4)
    )
    assert len(header) == 256
    return header + b" " * (256 * signals)


def mgh() -> bytes:
    return struct.pack(">7i", 1, 256, 256, 256, 1, 0, 0) + b"\x00" * 256


def zip_bytes(names: list[str], *, comment: bytes = b"", prefix: bytes = b"", payload: int = 10) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in names:
            archive.writestr(name, b"\x00" * payload)
        archive.comment = comment
    return prefix + buffer.getvalue()


def tail_of(data: bytes) -> tuple[bytes, int]:
    tail = zip_tail_range(len(data))
    return data[tail.offset : tail.offset + tail.length], len(data)


# --- The table --------------------------------------------------------------------------------------------
REQUIRED_TYPES = {
    "dicom", "dicomdir", "hl7v2", "fhir", "cda", "ecg_xml", "nifti", "analyze", "metaimage", "nrrd", "minc",
    "ecat", "parrec", "siemens_ima", "edf", "bdf", "scp_ecg", "interfile", "mgh", "dicom_archive",
}  # fmt: skip


def test_default_table_defines_every_required_type() -> None:
    assert set(default_table().types) >= REQUIRED_TYPES
    assert default_table().types["nifti"].label == "NIfTI image"


def test_content_rules_are_tried_strongest_first() -> None:
    ranks = [rule.confidence.rank for rule in default_table().content_rules]
    assert ranks == sorted(ranks, reverse=True)


MINIMAL_TABLE = """
schema = 1
[locations]
words = ["ward"]
fragments = []

[[type]]
id = "unreadable_archive"
label = "Archive"

[[type]]
id = "acme_scan"
label = "ACME scanner file"

[[type.name]]
suffixes = [".acme", ".acme.gz"]
action = "medical"
confidence = "medium"

[[type.content]]
why = "ACME magic"
confidence = "strong"
at = [{ offset = 2, bytes = "ACME" }]
"""


def test_a_new_type_is_data_only() -> None:
    table = load_table(MINIMAL_TABLE)
    assert classify_name("a/b.ACME.GZ", table) == NameVerdict(
        NameOutcome.MEDICAL, Verdict("acme_scan", "ACME scanner file", MEDIUM, "extension .acme.gz")
    )
    assert sniff(b"\x00\x00ACME....", "x", table) == Verdict(
        "acme_scan", "ACME scanner file", STRONG, "ACME magic"
    )
    assert sniff(b"ACME", "x", table) is None
    assert classify_name("a/b.dcm", table).outcome is NameOutcome.NOT_MEDICAL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('action = "medical"', 'action = "maybe"'),
            "action: Input should be 'medical', 'sniff' or 'archive'",
        ),
        (
            ('confidence = "medium"', 'confidence = "high"'),
            "confidence: Input should be 'strong', 'medium' or 'weak'",
        ),
        (('why = "ACME magic"', 'why = "ACME magic"\ncheck = "no_such_check"'), "unknown check"),
        (('why = "ACME magic"', 'why = "ACME magic"\nmagic = "x"'), "unknown key"),
        (("offset = 2", "offset = 5000"), "offset: must be an integer"),
        (('bytes = "ACME"', 'hex = "zz"'), "bad signature bytes"),
        (('".acme.gz"]', '".acme.gz", ".ACME"]'), "already in another rule"),
        (('id = "unreadable_archive"', 'id = "other_archive"'), "must define 'unreadable_archive'"),
        (("schema = 1", "schema = 2"), "schema: must be 1"),
        (('id = "acme_scan"', 'id = "Acme Scan"'), "lowercase identifier"),
    ],
)
def test_malformed_tables_fail_loudly(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MINIMAL_TABLE
    with pytest.raises(TableError, match=message):
        load_table(MINIMAL_TABLE.replace(old, new, 1))


def test_table_must_be_toml() -> None:
    with pytest.raises(TableError, match="not valid TOML"):
        load_table("schema = [")


# --- Names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "type_id", "confidence"),
    [
        ("Radiology/2024/scan.dcm", "dicom", WEAK),
        ("x\\y\\SCAN.DICOM", "dicom", WEAK),
        ("old/film.acr", "dicom", WEAK),
        ("a/b.dc3", "dicom", WEAK),
        ("a/IM1.dcm.gz", "dicom", WEAK),
        ("CD/DICOMDIR", "dicomdir", MEDIUM),
        ("CD/dicomdir", "dicomdir", MEDIUM),
        ("feeds/adt.hl7", "hl7v2", WEAK),
        ("a/summary.ccda", "cda", WEAK),
        ("study/brain.nii", "nifti", WEAK),
        ("study/brain.nii.gz", "nifti", WEAK),
        ("study/Brain.T1.NII.GZ", "nifti", WEAK),
        ("study/ct.mha", "metaimage", WEAK),
        ("study/ct.mhd", "metaimage", WEAK),
        ("study/vol.nrrd", "nrrd", WEAK),
        ("study/vol.mnc", "minc", WEAK),
        ("study/vol.mnc.gz", "minc", WEAK),
        ("subj/mri/orig.mgz", "mgh", WEAK),
        ("sleep/night1.edf", "edf", WEAK),
        ("spect/scan.h33", "interfile", WEAK),
        ("eeg/run1.vhdr", "brainvision", WEAK),
    ],
)
def test_names_that_decide(path: str, type_id: str, confidence: Confidence) -> None:
    verdict = classify_name(path)
    assert verdict.outcome is NameOutcome.MEDICAL
    assert verdict.verdict is not None
    assert (verdict.verdict.type_id, verdict.verdict.confidence) == (type_id, confidence)


@pytest.mark.parametrize(
    ("path", "fallback"),
    [
        ("PATIENT/DICOM/PA000000/ST000000/SE000000/IM000001", ("dicom", MEDIUM)),
        ("export\\dicom\\IM000001", ("dicom", MEDIUM)),
        ("PT000000/ST000000/SE000000/IM000000", ("dicom", MEDIUM)),
        ("pacs/1.2.840.113619.2.55.3.604688119.969.1268071029.320", ("dicom", WEAK)),
        ("pacs/MR.1.3.12.2.1107.5.2.32.35162", ("dicom", WEAK)),
        ("mri/IMAGE0001.IMA", ("siemens_ima", WEAK)),
        ("x/CUSTOM.DIC", ("dicom", WEAK)),
        ("ecg/rest.scp", ("scp_ecg", WEAK)),
        ("PET/scan.v", None),
        ("src/core.v", None),  # ECAT or Verilog: read anywhere, the MATRIX7 magic decides
        ("notes.txt", None),  # .txt, .json, .xml: read anywhere (HL7, FHIR, CDA heads are cheap to check)
        ("config/settings.json", None),
        ("build/pom.xml", None),
        ("backup/site.tar.gz", None),  # gzip: the decompressed head is looked at
        ("misc/report v2.0-final", None),  # what follows the dot is no extension
        ("misc/IM000001", None),
        ("misc/scan_without_extension", None),
        ("misc/image.1", None),
        ("brain/subj01.hdr", None),
        ("brain/subj01.img", None),
        ("exports/Patient.ndjson", None),
        ("HL7/inbound/batch_0001.txt", None),
        ("Cardiology/MUSE/12345.xml", None),
        ("RIS/out/resource.json", None),
        ("CT Scans/notes.txt", None),
        ("misc/hl7_messages.txt", None),
        ("phantom/scan.PAR", None),
        ("fonts/ecg.bdf", None),
    ],
)
def test_names_that_need_the_content(path: str, fallback: tuple[str, Confidence] | None) -> None:
    verdict = classify_name(path)
    assert verdict.outcome is NameOutcome.SNIFF
    if fallback is None:
        assert verdict.verdict is None
    else:
        assert verdict.verdict is not None
        assert (verdict.verdict.type_id, verdict.verdict.confidence) == fallback


@pytest.mark.parametrize(
    "path",
    [
        "Finance/Q3 budget.xlsx",
        "policies/handbook.pdf",
        "users/alice/scan.rec",
        "projects/Contracts/scan.rec",  # "CT" must be a word of its own, not part of "Contracts"
        "Paris/trip.rec",  # nor RIS inside Paris
        "src/Main.hs",
        "mail/meeting.msg",
        "home/.bashrc",
        "home/.DS_Store",
        "photos/x.jpg",
        "data/",
        "",
    ],
)
def test_names_that_are_not_medical(path: str) -> None:
    assert classify_name(path) == NameVerdict(NameOutcome.NOT_MEDICAL)


def test_archives_by_name() -> None:
    assert classify_name("misc/export.zip") == NameVerdict(NameOutcome.ARCHIVE, None, ArchiveFormat.ZIP)
    assert classify_name("misc/export.7z") == NameVerdict(NameOutcome.ARCHIVE, None, ArchiveFormat.SEVEN_ZIP)
    medical = classify_name("Radiologie/Export/patient_cd.zip")
    assert medical.outcome is NameOutcome.ARCHIVE and medical.archive is ArchiveFormat.ZIP
    assert medical.verdict is not None
    assert (medical.verdict.type_id, medical.verdict.confidence) == ("unreadable_archive", WEAK)


def test_many_names_classify_consistently() -> None:
    # Throughput is measured by the crawl benchmark (bench/), never asserted in a test.
    paths = [
        f"Share/dept{i % 50}/Sub{i % 7}/file{i}.{ext}" for i, ext in enumerate(["docx", "pdf", "dcm"] * 40000)
    ]
    paths += [f"DICOM/PA{i:06d}/ST000000/IM{i:06d}" for i in range(20000)]
    outcomes = [classify_name(path).outcome for path in paths]
    assert outcomes.count(NameOutcome.MEDICAL) == 40000
    assert outcomes.count(NameOutcome.SNIFF) == 20000


# --- Content ----------------------------------------------------------------------------------------------
HL7_MESSAGE = (
    b"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20240302101112||ORM^O01|MSG00001|P|2.5\r"
    b"PID|1||448812^^^HOSP^MR||DOE^JOHN||19570302|M\r"
)
CDA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="CDA.xsl"?>\n'
    b'<!-- exported -->\n<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc">\n'
    b'<templateId root="2.16.840.1.113883.10.20.22.1.1"/><recordTarget/></ClinicalDocument>'
)
MUSE = (
    b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
    b"<RestingECG><MuseInfo><MuseVersion>9.0.9.18167</MuseVersion></MuseInfo>"
    b"<PatientDemographics><PatientID>448812</PatientID></PatientDemographics></RestingECG>"
)
METAIMAGE = b"ObjectType = Image\nNDims = 3\nDimSize = 256 256 128\nElementType = MET_SHORT\nElementDataFile = LOCAL\n"


@pytest.mark.parametrize(
    ("head", "name", "type_id", "confidence"),
    [
        (part10(), "IM000001", "dicom", STRONG),
        (part10(MediaStorageDirectoryStorage), "DICOMDIR", "dicomdir", STRONG),
        (part10(TwelveLeadECGWaveformStorage), "ecg.dcm", "dicom_ecg", STRONG),
        (b"DICM\x02\x00\x00\x00UL\x04\x00\x10\x00\x00\x00", "x", "dicom", MEDIUM),
        (raw_dataset(implicit=True), "IMG0001", "dicom", WEAK),
        (raw_dataset(implicit=False), "IMG0001", "dicom", WEAK),
        (nifti1(), "brain.nii", "nifti", STRONG),
        (nifti1(b"ni1\x00"), "brain.hdr", "nifti", STRONG),
        (nifti1(order=">"), "brain.nii", "nifti", STRONG),
        (nifti2(), "brain.nii", "nifti", STRONG),
        (analyze75(), "brain.hdr", "analyze", WEAK),
        (b"NRRD0004\n# Complete NRRD file format specification\ntype: short\n", "a.nrrd", "nrrd", STRONG),
        (edf(plus=True), "night.edf", "edf", STRONG),
        (edf(plus=False, signals=3), "night.rec", "edf", MEDIUM),
        (b"\xffBIOSEMI" + edf()[8:], "run.bdf", "bdf", STRONG),
        (
            b"\x12\x34\x00\x10\x00\x00\x00\x00\x00\x00\x88\x00\x00\x00\x14\x14SCPECG\x00\x00",
            "r.scp",
            "scp_ecg",
            STRONG,
        ),
        (b"MATRIX72v\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 500, "pet.v", "ecat", STRONG),
        (b"# === DATA DESCRIPTION FILE ======================\n#\n# CAUTION\n", "scan.PAR", "parrec", STRONG),
        (HL7_MESSAGE, "msg.txt", "hl7v2", STRONG),
        (b"\x0b" + HL7_MESSAGE + b"\x1c\r", "capture.bin", "hl7v2", STRONG),
        (b"FHS|^~\\&|LAB|HOSP\rBHS|^~\\&|LAB\r" + HL7_MESSAGE, "batch.hl7", "hl7v2", STRONG),
        (b"\xef\xbb\xbfBHS|^~\\&|LAB\r" + HL7_MESSAGE, "batch.hl7", "hl7v2", STRONG),
        (b"MSH#^~\\&#RIS#HOSP\rPID#1\r", "odd.hl7", "hl7v2", MEDIUM),
        (b'{"resourceType": "Patient", "id": "p1", "name": [{"family": "Doe"}]}', "p.json", "fhir", MEDIUM),
        (b'{"id":"b1",\n "entry":[{"x":1}],\n "resourceType":"Bundle"}', "b.json", "fhir", MEDIUM),
        (
            b'{"resourceType":"Observation","id":"1"}\n{"resourceType":"Observation","id":"2"}\n',
            "o.ndjson",
            "fhir",
            MEDIUM,
        ),
        (
            b'<?xml version="1.0"?>\n<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>',
            "b.xml",
            "fhir",
            STRONG,
        ),
        (b'<f:Patient xmlns:f="http://hl7.org/fhir"><f:id value="1"/></f:Patient>', "p.xml", "fhir", STRONG),
        (CDA, "doc.xml", "cda", STRONG),
        ("\ufeff".encode("utf-16-le") + CDA.decode().encode("utf-16-le"), "doc.xml", "cda", STRONG),
        (
            b'<cda:ClinicalDocument xmlns:cda="urn:hl7-org:v3"><cda:id/></cda:ClinicalDocument>',
            "d.xml",
            "cda",
            STRONG,
        ),
        (b"<soap:Envelope><soap:Body><ClinicalDocument xmlns='urn:hl7-org:v3'>", "m.xml", "cda", MEDIUM),
        (MUSE, "12345.xml", "ecg_xml", STRONG),
        (MUSE.decode("latin-1").encode("utf-16-le"), "12345.xml", "ecg_xml", STRONG),
        (
            b'<?xml version="1.0"?>\n<restingecgdata xmlns="http://www3.medical.philips.com">',
            "p.xml",
            "ecg_xml",
            STRONG,
        ),
        (b'<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="x"><id root="1"/>', "a.xml", "ecg_xml", STRONG),
        (
            b"CDF\x01\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x00\x03\x00\x00\x00\x06xspace\x00\x00",
            "v.bin",
            "minc",
            STRONG,
        ),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 200 + b"minc-2.0\x00", "v.bin", "minc", STRONG),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 200, "v.mnc", "minc", MEDIUM),
        (b"\x00" * 512 + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "v.mnc", "minc", MEDIUM),
        (METAIMAGE, "ct.mha", "metaimage", STRONG),
        (b"!INTERFILE  :=\n!imaging modality := nucmed\npatient name := DOE\n", "s.hdr", "interfile", STRONG),
        (mgh(), "orig.mgh", "mgh", MEDIUM),
        (b"Brain Vision Data Exchange Header File Version 1.0\r\n", "run.vhdr", "brainvision", STRONG),
        (b"ISHNE1.0" + b"\x00" * 100, "holter.ecg", "ishne", STRONG),
        (b"@  MFER " + b"\x00" * 100, "w.mwf", "mfer", STRONG),
        (b"GDF 2.20" + b"\x00" * 100, "r.gdf", "gdf", MEDIUM),
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, "PACS/export/study.7z", "unreadable_archive", WEAK),
    ],
)
def test_sniff_recognises(head: bytes, name: str, type_id: str, confidence: Confidence) -> None:
    verdict = sniff(head, name)
    assert verdict is not None
    assert (verdict.type_id, verdict.confidence) == (type_id, confidence)
    assert verdict.label == default_table().types[type_id].label


def test_sniff_reports_evidence_not_content() -> None:
    verdict = sniff(part10(), "IM000001")
    assert verdict == Verdict("dicom", "DICOM object", STRONG, "DICM at offset 128 (Part 10 preamble)")
    hl7 = sniff(HL7_MESSAGE, "m.hl7")
    assert hl7 is not None and "DOE" not in hl7.evidence and "448812" not in hl7.evidence


def test_sniff_looks_inside_gzip() -> None:
    verdict = sniff(gzip.compress(nifti1()), "brain.nii.gz")
    assert verdict == Verdict(
        "nifti", "NIfTI image", STRONG, "gzip-compressed: NIfTI-1 header (sizeof_hdr 348, magic at 344)"
    )
    dicom = sniff(gzip.compress(part10()), "IM1.dcm.gz")
    assert dicom is not None and (dicom.type_id, dicom.confidence) == ("dicom", STRONG)
    # .mgz is a gzipped .mgh: the MGH rule (limited to .mgh names) applies to the decompressed head.
    freesurfer = sniff(gzip.compress(mgh()), "subj/mri/orig.mgz")
    assert freesurfer is not None and (freesurfer.type_id, freesurfer.confidence) == ("mgh", MEDIUM)


def test_sniff_uses_only_what_the_head_holds_of_a_gzip() -> None:
    rng = random.Random(7)
    volume = nifti1() + bytes(rng.getrandbits(8) for _ in range(200_000))
    compressed = gzip.compress(volume)
    assert len(compressed) > HEAD_LIMIT
    verdict = sniff(compressed[:HEAD_LIMIT], "brain.nii.gz")
    assert verdict is not None and verdict.type_id == "nifti"
    # A compression bomb yields at most one head of output and nothing medical.
    assert sniff(gzip.compress(b"\x00" * 10_000_000)[:HEAD_LIMIT], "x.gz") is None
    assert sniff(b"\x1f\x8b\x08\x00garbage", "x.nii.gz") is None


def test_signatures_beyond_the_head_limit_are_ignored() -> None:
    assert sniff(b" " * HEAD_LIMIT + HL7_MESSAGE, "x.txt") is None
    padded = b"\x00" * (HEAD_LIMIT + 10)
    assert sniff(padded[:128] + b"DICM" + padded, "x") == sniff(part10()[:132], "x")


PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
DOCX = zip_bytes(["[Content_Types].xml", "word/document.xml"])
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"", "empty.dcm"),
        (PDF, "report.pdf"),
        (DOCX, "letter.docx"),
        (PNG, "photo.png"),
        (b"Dear team,\nplease find the Q3 budget attached.\n", "HL7/readme.txt"),
        (b'{"name": "settings", "resources": [{"resourceType": "Patient"}]}', "config.json"),
        (b'{"resourceType": 5}', "odd.json"),
        (
            b'<?xml version="1.0"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0"><x/></project>',
            "pom.xml",
        ),
        (b"MSHX not a message", "m.txt"),
        (b"CDF\x01\x00\x00\x00\x00\x00\x00\x00\x0a temperature", "climate.nc"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 200, "model.h5"),
        (mgh(), "file.bin"),  # the MGH header alone is too generic outside .mgh/.mgz
        (b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, "backup/site.7z"),
        (b"0       " + b"x" * 300, "fake.edf"),  # EDF version field without a consistent header
        (edf()[:255], "short.edf"),
        (edf()[:184] + b"768     " + edf()[192:], "wrong_length.edf"),  # 768 bytes, yet 1 signal
        (edf()[:252] + b"x   " + edf()[256:], "bad_count.edf"),
        (edf()[:168] + b"2 March " + edf()[176:], "bad_date.edf"),
        (bytes(348), "zeros.hdr"),
        (b"\x5c\x01\x00\x00" + bytes(344), "dim0.hdr"),  # sizeof_hdr 348 but dim[0] = 0
        (b"\x08\x00\x00\x00" + bytes(60), "x"),  # group 0008 but no plausible element chain
        (b"STARTFONT 2.1\nFONT -misc-fixed\n", "fonts/6x13.bdf"),
        (b"PAR2\x00PKT" + b"\x00" * 64, "movie.par"),
    ],
)
def test_sniff_rejects(head: bytes, name: str) -> None:
    assert sniff(head, name) is None


SAMPLES = [
    part10(),
    part10(MediaStorageDirectoryStorage),
    raw_dataset(implicit=True),
    nifti1(),
    nifti2(),
    analyze75(),
    edf(),
    mgh(),
    HL7_MESSAGE,
    CDA,
    MUSE,
    METAIMAGE,
    gzip.compress(nifti1()),
    b"7z\xbc\xaf\x27\x1c",
    b'{"resourceType": "Patient", "name": "\\"x\\""}',
]


@pytest.mark.parametrize("sample", SAMPLES, ids=range(len(SAMPLES)))
def test_sniff_never_raises_on_truncated_heads(sample: bytes) -> None:
    for length in range(len(sample) + 1):
        result = sniff(sample[:length], "DICOM/IM000001.nii.gz")
        assert result is None or isinstance(result, Verdict)


def test_sniff_never_raises_on_garbage() -> None:
    rng = random.Random(20240302)
    prefixes = [
        b"",
        b"\x1f\x8b",
        b"\x08\x00",
        b"\x02\x00",
        b"\x5c\x01\x00\x00",
        b"0       ",
        b"<",
        b"{",
        b"\xff\xfe",
    ]
    for _ in range(3000):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 700)))
        head = rng.choice(prefixes) + body
        planted = rng.random() < 0.2 and len(head) > 132 and not head.startswith(b"\x1f\x8b")
        if planted:
            head = head[:128] + b"DICM" + head[132:]
        verdict = sniff(head, "DICOM/x")
        if planted:
            assert verdict is not None and verdict.type_id == "dicom" and verdict.confidence is STRONG
        else:
            # Random bytes may meet the weak raw-DICOM heuristic in theory; nothing stronger may match.
            assert verdict is None or verdict.confidence is WEAK


def test_sniff_accepts_bytearray_and_memoryview() -> None:
    data = part10()
    assert sniff(bytearray(data), "x") == sniff(memoryview(data), "x") == sniff(data, "x")  # type: ignore[arg-type]


# --- Resolve ----------------------------------------------------------------------------------------------
def test_resolve_prefers_content_and_uses_the_name_fallback_only_when_unread() -> None:
    dicom_strong = sniff(part10(), "x")
    ima = classify_name("mri/IMG0001.IMA")
    assert resolve(ima, dicom_strong, content_read=True) == dicom_strong
    assert resolve(ima, None, content_read=True) is None
    assert resolve(ima, None, content_read=False) == ima.verdict
    dcm = classify_name("a/x.dcm")
    assert resolve(dcm, None, content_read=True) == dcm.verdict
    assert resolve(classify_name("a/x.docx"), None, content_read=False) is None


# --- ZIP listing ------------------------------------------------------------------------------------------
def test_tail_range() -> None:
    assert zip_tail_range(0) == ByteRange(0, 0)
    assert zip_tail_range(100) == ByteRange(0, 100)
    assert zip_tail_range(10_000_000) == ByteRange(10_000_000 - TAIL_WINDOW, TAIL_WINDOW)
    assert TAIL_WINDOW >= 22 + 65535


def test_names_from_the_tail() -> None:
    names = ["Patient CD/DICOMDIR", "Patient CD/DICOM/PA000000/ST000000/SE000000/IM000001", "viewer/run.exe"]
    tail, size = tail_of(zip_bytes(names))
    assert parse_zip_tail(tail, size) == ZipListing(tuple(names), True)


def test_central_directory_before_the_tail_needs_one_more_bounded_read() -> None:
    names = [f"DICOM/ST000000/SE000000/IM{i:06d}" for i in range(50)]
    data = zip_bytes(names, comment=b"c" * 65535, prefix=b"MZ stub of a self-extractor" * 40)
    tail, size = tail_of(data)
    result = parse_zip_tail(tail, size)
    assert isinstance(result, CentralDirectoryRead)
    assert result.entries == 50
    assert result.range.offset + result.range.length <= size - 65535
    directory = data[result.range.offset : result.range.offset + result.range.length]
    assert parse_central_directory(directory, result.entries) == ZipListing(tuple(names), True)


def test_list_zip_reads_only_the_tail_and_the_directory() -> None:
    data = zip_bytes(["a.dcm", "b.dcm"], comment=b"c" * 65535, payload=200_000)
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    assert list_zip(len(data), read) == ZipListing(("a.dcm", "b.dcm"), True)
    assert len(reads) == 2
    assert sum(length for _, length in reads) < TAIL_WINDOW + 200


def test_oversized_central_directory_is_refused_without_reading() -> None:
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 50_000, 50_000, MAX_CENTRAL_DIRECTORY + 1, 1000, 0)
    size = 50_000_000
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return (b"\x00" * length)[: length - len(eocd)] + eocd

    assert parse_zip_tail(eocd, size) == ZipUnreadable(ZipProblem.TOO_LARGE)
    assert list_zip(size, read) == ZipUnreadable(ZipProblem.TOO_LARGE)
    assert len(reads) == 1


def zip64_tail(names: list[str]) -> bytes:
    """A ZIP whose EOCD defers to ZIP64 records (as writers do past 65535 entries or 4 GiB)."""
    data = zip_bytes(names)
    eocd = data.rfind(b"PK\x05\x06")
    _, _, _, entries, cd_size, cd_offset, _ = struct.unpack_from("<HHHHIIH", data, eocd + 4)
    record_offset = eocd
    record = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, record_offset, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:eocd] + record + locator + end


def test_zip64_end_records() -> None:
    data = zip64_tail(["DICOMDIR", "DICOM/IM000001"])
    tail, size = tail_of(data)
    assert parse_zip_tail(tail, size) == ZipListing(("DICOMDIR", "DICOM/IM000001"), True)
    # Sentinel values without the ZIP64 records cannot be resolved.
    broken = data.replace(b"PK\x06\x07", b"XX\x06\x07")
    assert parse_zip_tail(*tail_of(broken)) == ZipUnreadable(ZipProblem.ZIP64_RECORD_MISSING)


def test_names_are_decoded_as_the_flags_say() -> None:
    names = ["Röntgen/Aufnahme.dcm", "plain.txt"]
    listing = parse_zip_tail(*tail_of(zip_bytes(names)))
    assert listing == ZipListing(tuple(names), True)
    legacy = zip_bytes(["x.dcm"]).replace(b"x.dcm", b"\x81.dcm")  # CP437 0x81 is u-umlaut, flag bit 11 clear
    assert parse_zip_tail(*tail_of(legacy)) == ZipListing(("ü.dcm",), True)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", ZipProblem.NO_END_RECORD),
        (PDF, ZipProblem.NO_END_RECORD),
        (b"PK\x05\x06" + struct.pack("<HHHHIIH", 1, 0, 1, 1, 46, 0, 0), ZipProblem.MULTI_DISK),
        (b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0), ZipProblem.BAD_OFFSETS),
    ],
)
def test_unlistable_zips(data: bytes, problem: ZipProblem) -> None:
    assert parse_zip_tail(*tail_of(data)) == ZipUnreadable(problem)


def test_zip_parsing_never_raises_on_damage() -> None:
    rng = random.Random(5)
    data = zip_bytes(["DICOMDIR", "DICOM/IM000001", "DICOM/IM000002"])
    for _ in range(2000):
        damaged = bytearray(data)
        for _ in range(rng.randrange(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.getrandbits(8)
        cut = bytes(damaged[rng.randrange(len(damaged) // 2) :])
        result = parse_zip_tail(cut, len(cut))
        assert isinstance(result, ZipListing | CentralDirectoryRead | ZipUnreadable)
    for length in range(len(data)):
        parse_zip_tail(data[-length:] if length else b"", len(data))
        parse_central_directory(data[:length], 3)
    assert parse_central_directory(b"PK\x01\x02" + b"\xff" * 60, 1) == ZipListing((), False)


# --- Archive classification -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["CD/DICOMDIR", "CD/DICOM/IM000001", "CD/viewer.exe"], ("dicom_archive", STRONG)),
        (["study/CT/slice001.dcm", "study/CT/slice002.dcm"], ("dicom_archive", MEDIUM)),
        (["export/DICOM/ST000000/SE000000/IM000001"], ("dicom_archive", MEDIUM)),
        (["IM000001", "IM000002", "IM000003"], ("dicom_archive", WEAK)),
        (["1.2.840.113619.2.55.3.6046.1", "1.2.840.113619.2.55.3.6046.2"], ("dicom_archive", WEAK)),
        (["sub-01/anat/sub-01_T1w.nii.gz", "sub-01/anat/sub-01_T1w.json"], ("nifti", WEAK)),
        (["night1.edf", "readme.txt"], ("edf", WEAK)),
    ],
)
def test_classify_archive(names: list[str], expected: tuple[str, Confidence]) -> None:
    verdict = classify_archive(names)
    assert verdict is not None
    assert (verdict.type_id, verdict.confidence) == expected
    assert not any(name in verdict.evidence for name in names)


@pytest.mark.parametrize(
    "names",
    [
        [],
        ["[Content_Types].xml", "word/document.xml", "docProps/core.xml"],
        ["README", "LICENSE", "Makefile"],
        ["IM000001", "IM000002"],  # too few bare IDs to call it an export
        ["Office/CUSTOM.DIC"],
        ["nested/inner.zip", "docs/"],
    ],
)
def test_classify_archive_negatives(names: list[str]) -> None:
    assert classify_archive(names) is None


def test_classify_archive_end_to_end_from_ranged_reads() -> None:
    data = zip_bytes(["Patient CD/DICOMDIR", "Patient CD/DICOM/00000001/00000001/IM000001"], payload=5000)
    read: Callable[[int, int], bytes] = lambda offset, length: data[offset : offset + length]  # noqa: E731
    listing = list_zip(len(data), read)
    assert isinstance(listing, ZipListing)
    verdict = classify_archive(listing.names)
    assert verdict == Verdict(
        "dicom_archive", "Archive holding a DICOM export", STRONG, "archive lists a DICOMDIR"
    )


def test_unlisted_archives_count_only_in_medical_locations() -> None:
    verdict = classify_unlisted_archive("PACS/exports/2024/big.zip")
    assert verdict is not None and (verdict.type_id, verdict.confidence) == ("unreadable_archive", WEAK)
    assert classify_unlisted_archive("Finance/archive/2024.zip") is None
    assert classify_unlisted_archive("misc/CT_head_export.7z") is not None  # the stem says CT
