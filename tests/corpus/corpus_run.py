"""Classifying the corpus: four variants of every medical file, ordinary system files, patient-named documents.

Shared by tests/corpus/test_corpus.py (the floors), the lab test that lets the crawler classify the same
files, and `python tests/corpus/corpus_run.py` (prints the table for docs/corpus.md).
"""

from __future__ import annotations

import io
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_sources import Corpus, build

from shareaudit.classify.probe import classify_file
from shareaudit.classify.verdict import Verdict

VARIANTS = ("own name", "medical folder", "no extension", "alone in a ZIP")
ORDINARY_FOLDER = "Documents/Projects"
MEDICAL_FOLDER = "Radiology/Exports"
_EXTENSIONS = re.compile(r"(?:\.[A-Za-z][A-Za-z0-9]{0,9})+$")
DICOM_KINDS = frozenset({"dicom", "dicomdir", "dicom_ecg"})


def strip_extensions(name: str) -> str:
    """The name renamed without extension: trailing letter-led extensions removed (.nii.gz, .BRIK.gz too)."""
    return _EXTENSIONS.sub("", name) or name


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def variant_file(variant: str, name: str, data: bytes) -> tuple[str, bytes]:
    """The share-relative path and the bytes of one variant of a file."""
    if variant == "own name":
        return f"{ORDINARY_FOLDER}/{name}", data
    if variant == "medical folder":
        return f"{MEDICAL_FOLDER}/{name}", data
    if variant == "no extension":
        return f"{ORDINARY_FOLDER}/{strip_extensions(name)}", data
    return f"{ORDINARY_FOLDER}/{strip_extensions(name) or 'archive'}.zip", zipped(name, data)


def classify_variant(variant: str, name: str, data: bytes) -> Verdict | None:
    path, content = variant_file(variant, name, data)
    return classify_file(path, len(content), lambda offset, length: content[offset : offset + length])


def typed_right(true_type: str, variant: str, verdict: Verdict | None) -> bool:
    if verdict is None:
        return False
    if verdict.type_id == true_type:
        return True
    return variant == "alone in a ZIP" and true_type in DICOM_KINDS and verdict.type_id == "dicom_archive"


# --- Ordinary files ---------------------------------------------------------------------------------------
ORDINARY_ROOTS = (
    "/usr/share/doc",
    "/usr/share/common-licenses",
    "/usr/share/man",
    "/usr/share/icons",
    "/usr/share/locale",
    "/usr/share/zoneinfo",
    "/usr/share/mime",
    "/usr/share/fonts",
    "/usr/share/X11",
    "/usr/share/perl5",
    "/usr/share/javascript",
    "/usr/share/xml",
    "/usr/share/samba",
    "/usr/lib/python3/dist-packages",
    "/etc",
)
# Anything from a medical toolkit installed on this machine is left out: only files that are not medical.
_MEDICAL_PATH = re.compile(r"dcmtk|orthanc|dicom|gdcm|nibabel|nifti|hl7|fhir|edflib|wfdb|medical", re.I)
ORDINARY_TARGET = 3000
PER_EXTENSION = 120
MAX_ORDINARY_BYTES = 256 * 1024


def ordinary_files() -> list[tuple[str, bytes]]:
    """At least ORDINARY_TARGET readable, non-medical system files, spread over many extensions."""
    by_extension: dict[str, list[Path]] = {}
    for root in ORDINARY_ROOTS:
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            if _MEDICAL_PATH.search(directory):
                dirs.clear()
                continue
            for name in sorted(files):
                path = Path(directory, name)
                if _MEDICAL_PATH.search(name) or path.is_symlink() or not path.is_file():
                    continue
                extension = name.rsplit(".", 1)[-1].lower() if "." in name[1:] else ""
                by_extension.setdefault(extension, []).append(path)
    chosen: list[Path] = []
    rounds = 0
    while len(chosen) < ORDINARY_TARGET and rounds < 100:
        before = len(chosen)
        for extension in sorted(by_extension):
            paths = by_extension[extension]
            step = max(1, len(paths) // PER_EXTENSION)
            pick = paths[rounds * step // 7 :: step][: PER_EXTENSION // 4]
            chosen.extend(path for path in pick if path not in chosen)
        rounds += 1
        if len(chosen) == before:
            break
    result: list[tuple[str, bytes]] = []
    for path in chosen:
        try:
            data = path.read_bytes()[:MAX_ORDINARY_BYTES]
        except OSError:
            continue
        result.append((str(path), data))
    return result


# --- Names after patients, and ordinary names with dates and numbers -------------------------------------
PATIENT_NAMES = (
    "Referral_MUELLER_Hans_1957-03-02.pdf",
    "Referral_OKAFOR_Chidi_1988-11-23.pdf",
    "Lab_SCHNEIDER_ANNA_MRN448812.pdf",
    "Lab_GARCIA_Lucia_MRN20931.pdf",
    "Befund_Weber_Klaus_12.04.1961.pdf",
    "Doe, John 02.03.1957.pdf",
    "Nguyen, Thi 1990-07-14 discharge letter.pdf",
    "SMITH^JOHN_19570302.tif",
    "KOWALSKI^ANNA 1979-01-30.jpg",
    "MRN 0088231 echo report.docx",
    "PatientID-5521893_consent.pdf",
    "Fallnr_2024117733_Arztbrief.docx",
    "KVNR 483920119 Ueberweisung.pdf",
    "NHS 4857773456 clinic letter.pdf",
    "accession_778812331.pdf",
    "Histologie_BRANDT_Erika_03.05.1948.pdf",
    "scan_JOHNSON_Mary_1966-09-09.jpeg",
    "Anamnese Fischer, Petra 21.02.1975.docx",
    "ROSSI_Marco_MRN7719920.tiff",
    "Ultraschall_WAGNER_Jonas_2001-12-01.png",
)
ORDINARY_DATED_NAMES = (
    "Invoice_2024-03-02.pdf",
    "Screenshot 2024-03-02 at 10.15.33.png",
    "IMG_20240302_123456.jpg",
    "DSC01234.JPG",
    "scan_20240302_0001.pdf",
    "Q3_Report_2023-09-30.xlsx",
    "Meeting notes 2024-03-02.docx",
    "Board Presentation 2024-03-02.pptx",
    "PO-448812.pdf",
    "Order 12345.pdf",
    "backup-2024-03-02.tar.gz",
    "Payslip 2024-03.pdf",
    "ACME_Corp_2024-01-15.pdf",
    "WHO_Guidelines_2023-05-01.pdf",
    "IEEE_Standard_2023-01-01.pdf",
    "README_FIRST_2024-01-01.txt",
    "CUSTOMER_SURVEY_2024-01-01.xlsx",
    "Budget 2025 v3.xlsx",
    "Flight LH1234 2024-05-06.pdf",
    "Room 1204 floor plan.pdf",
    "Minutes 12.04.2023.docx",
    "Release_Notes_v2.3.1_2024-02-01.pdf",
    "Windows10_x64_1909.iso",
    "PXL_20230812_101530123.jpg",
    "WhatsApp Image 2024-03-02 at 10.15.33.jpeg",
    "Timesheet_March_2024.xlsx",
    "Contract 2023-001234.pdf",
    "photo 2019-07-14 beach.jpg",
    "Server_Inventory_2024-01-31.csv",
    "Quote_No_20240302-17.pdf",
)


# --- Running ----------------------------------------------------------------------------------------------
@dataclass
class TypeRow:
    files: int = 0
    signature: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VARIANTS, 0))
    typed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VARIANTS, 0))
    name_only_found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VARIANTS, 0))


@dataclass
class Outcome:
    corpus: Corpus
    rows: dict[str, TypeRow]
    misses: dict[str, list[str]]  # variant -> origins of signature files not found
    ordinary: int
    false_positives: dict[str, list[str]]  # variant -> "path: type (evidence)"
    patient_found: dict[str, int]
    patient_total: int
    dated_false: dict[str, list[str]]


def run(corpus: Corpus | None = None, ordinary: list[tuple[str, bytes]] | None = None) -> Outcome:
    corpus = corpus or build()
    rows: dict[str, TypeRow] = {}
    misses: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
    for sample in corpus.samples:
        if sample.true_type == "ordinary":
            continue
        row = rows.setdefault(sample.true_type, TypeRow())
        row.files += 1
        row.signature += sample.signature
        data = sample.data(corpus.root)
        for variant in VARIANTS:
            verdict = classify_variant(variant, sample.name, data)
            if sample.signature:
                row.found[variant] += verdict is not None
                row.typed[variant] += typed_right(sample.true_type, variant, verdict)
                if verdict is None:
                    misses[variant].append(sample.origin)
            else:
                row.name_only_found[variant] += verdict is not None
    ordinary = ordinary if ordinary is not None else ordinary_files()
    ordinary += [
        (sample.origin, sample.data(corpus.root))
        for sample in corpus.samples
        if sample.true_type == "ordinary"
    ]
    false_positives: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
    for path, data in ordinary:
        name = path.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        for variant in VARIANTS:
            verdict = classify_variant(variant, name, data)
            if verdict is not None:
                false_positives[variant].append(f"{path}: {verdict.type_id} ({verdict.evidence})")
    patient_found = dict.fromkeys(VARIANTS, 0)
    dated_false: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
    carriers = _carriers(ordinary)
    for index, name in enumerate(PATIENT_NAMES):
        data = carriers[index % len(carriers)]
        for variant in VARIANTS:
            verdict = classify_variant(variant, name, data)
            patient_found[variant] += verdict is not None and verdict.type_id == "patient_document"
    for index, name in enumerate(ORDINARY_DATED_NAMES):
        data = carriers[index % len(carriers)]
        for variant in VARIANTS:
            verdict = classify_variant(variant, name, data)
            if verdict is not None:
                dated_false[variant].append(f"{name}: {verdict.type_id} ({verdict.evidence})")
    return Outcome(
        corpus,
        rows,
        misses,
        len(ordinary),
        false_positives,
        patient_found,
        len(PATIENT_NAMES),
        dated_false,
    )


def _carriers(ordinary: list[tuple[str, bytes]]) -> list[bytes]:
    """Real document bytes (PDF, PNG, JPEG, office files) to carry the patient-named and dated names."""
    wanted = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"PK\x03\x04", b"II*\x00", b"MM\x00*")
    found = [data for _, data in ordinary if data.startswith(wanted)]
    return found[:50] or [b"%PDF-1.4\n"]


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def table(outcome: Outcome) -> str:
    """The per-type table (Markdown), as printed by the test and kept in docs/corpus.md."""
    header = "| type | files | with signature | " + " | ".join(VARIANTS) + " | right type (own name) |"
    lines = [header, "|" + "---|" * (len(VARIANTS) + 4)]
    totals = TypeRow()
    for kind in sorted(outcome.rows):
        row = outcome.rows[kind]
        cells = [percent(row.found[variant], row.signature) for variant in VARIANTS]
        lines.append(
            f"| {kind} | {row.files} | {row.signature} | "
            + " | ".join(cells)
            + f" | {percent(row.typed['own name'], row.signature)} |"
        )
        totals.files += row.files
        totals.signature += row.signature
        for variant in VARIANTS:
            totals.found[variant] += row.found[variant]
            totals.typed[variant] += row.typed[variant]
    cells = [percent(totals.found[variant], totals.signature) for variant in VARIANTS]
    lines.append(
        f"| **all** | {totals.files} | {totals.signature} | "
        + " | ".join(cells)
        + f" | {percent(totals.typed['own name'], totals.signature)} |"
    )
    lines.append(
        f"| patient-named documents | {outcome.patient_total} | - | "
        + " | ".join(percent(outcome.patient_found[v], outcome.patient_total) for v in VARIANTS)
        + " | - |"
    )
    fp = " | ".join(str(len(outcome.false_positives[v])) for v in VARIANTS)
    lines.append(f"| ordinary files: false positives | {outcome.ordinary} | - | {fp} | - |")
    dated = " | ".join(str(len(outcome.dated_false[v])) for v in VARIANTS)
    lines.append(
        f"| ordinary names with dates/numbers: false positives | {len(ORDINARY_DATED_NAMES)} | - | {dated} | - |"
    )
    return "\n".join(lines)


def report(outcome: Outcome) -> Iterator[str]:
    yield table(outcome)
    for variant in VARIANTS:
        for origin in outcome.misses[variant]:
            yield f"missed ({variant}): {origin}"
        for line in outcome.false_positives[variant]:
            yield f"false positive ({variant}): {line}"
        for line in outcome.dated_false[variant]:
            yield f"false positive, dated name ({variant}): {line}"


if __name__ == "__main__":
    result = run()
    print(
        f"corpus: {len(result.corpus.samples)} files from {result.corpus.download_bytes / 1e6:.1f} MB of packages"
    )
    for line in report(result):
        print(line)
