"""The corpus on a real share: the crawler reaches the same verdict as the classifier, file for file.

A throwaway copy of labnas (tests/lab/lab.py) gets the corpus in its guest-readable `public` share (each
file in its own folder, in three of the four variants of tests/corpus: own name, in a medical folder,
renamed without extension, alone in a ZIP), about 300 ordinary system files and the patient-named and
dated documents. `shareaudit scan --show-names --inventory` walks it; every planted file's type in the
inventory (or its absence) must equal what `classify.probe.classify_file` says for the same path and
bytes. Then a scanner's drop folder full of patient-named documents: guest-readable, so critical, with
every patient name redacted from the outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import lab as lab_control
import pytest
from labdata import COPY_ADDRESSES, LABNAS

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_run import (
    MEDICAL_FOLDER,
    ORDINARY_DATED_NAMES,
    PATIENT_NAMES,
    ordinary_files,
    strip_extensions,
    zipped,
)
from corpus_sources import build

from shareaudit.classify.probe import classify_file

ADDRESS = COPY_ADDRESSES[-8]
ORDINARY_IN_LAB = 300


@pytest.fixture(scope="module")
def copy() -> Iterator[lab_control.Copy]:
    with lab_control.throwaway(LABNAS, ADDRESS) as started:
        yield started


def _scan(copy: lab_control.Copy, tmp: Path, share: str, *extra: str) -> tuple[dict, list[dict], str]:
    out, inventory = tmp / f"{share}.json", tmp / f"{share}.jsonl"
    args = [sys.executable, "-m", "shareaudit", "scan", copy.address, "--no-history", "--protocols", "smb"]
    args += ["--data-dir", str(tmp / "data"), "--include-share", share, "--max-rate", "0"]
    args += ["--max-sniff", "20000", "--json", str(out), "--inventory", str(inventory), *extra]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [json.loads(line) for line in inventory.read_text().splitlines()] if inventory.exists() else []
    return json.loads(out.read_text()), lines, proc.stdout + proc.stderr


def _plant(public: Path) -> dict[str, bytes]:
    """Write the files; return share-relative path (backslashes, as the crawl reports it) -> bytes."""
    corpus = build()
    planted: dict[str, bytes] = {}

    def put(relative: str, data: bytes) -> None:
        target = public / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        planted[relative.replace("/", "\\")] = data

    for number, sample in enumerate(s for s in corpus.samples if s.true_type != "ordinary"):
        data = sample.data(corpus.root)
        folder = f"corpus/{number:05d}"
        put(f"{folder}/{sample.name}", data)
        put(f"{folder}/{MEDICAL_FOLDER}/{sample.name}", data)
        put(f"{folder}/bare/{strip_extensions(sample.name)}", data)
        put(f"{folder}/zip/{strip_extensions(sample.name) or 'archive'}.zip", zipped(sample.name, data))
    for number, (path, data) in enumerate(ordinary_files()[:: max(1, 3000 // ORDINARY_IN_LAB)]):
        put(f"ordinary/{number:05d}/{path.rsplit('/', 1)[-1]}", data)
    carrier = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    for number, name in enumerate(PATIENT_NAMES + ORDINARY_DATED_NAMES):
        put(f"named/{number:05d}/{name}", carrier)
    os.system(f"chmod -R a+rX {public}")
    return planted


@pytest.mark.usefixtures("lab")
def test_the_crawler_agrees_with_the_classifier_file_for_file(copy: lab_control.Copy, tmp_path: Path) -> None:
    planted = _plant(copy.instance.shares / "public")
    result, inventory, _ = _scan(copy, tmp_path, "public", "--show-names")
    share = next(s for h in result["hosts"] for s in h["shares"] if s["name"] == "public")
    assert not share["content"]["truncated"], share["content"]["bounds_hit"]
    crawled = {line["path"]: line["type"] for line in inventory if line["path"] in planted}
    expected = {}
    for path, data in planted.items():
        verdict = classify_file(path, len(data), lambda offset, length, d=data: d[offset : offset + length])
        if verdict is not None:
            expected[path] = verdict.type_id
    disagree = sorted(
        f"{path}: crawl {crawled.get(path)}, classifier {expected.get(path)}"
        for path in set(crawled) | set(expected)
        if crawled.get(path) != expected.get(path)
    )
    print(f"{len(planted)} files planted, {len(expected)} medical, {len(disagree)} disagreements")
    assert len(expected) > 1500
    assert disagree == []


SCAN_FOLDER = "Eingang/2024-03"


@pytest.mark.usefixtures("lab")
def test_a_guest_readable_scan_folder_of_patient_documents_is_critical(
    copy: lab_control.Copy, tmp_path: Path
) -> None:
    scans = copy.instance.shares / "scans"
    before, _, _ = _scan(copy, tmp_path / "before", "scans")
    assert "medical-data-exposed" not in {f["rule"] for f in before["findings"] if f["share"] == "scans"}
    carrier = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    for name in PATIENT_NAMES:
        (scans / SCAN_FOLDER).mkdir(parents=True, exist_ok=True)
        (scans / SCAN_FOLDER / name).write_bytes(carrier)
    os.system(f"chmod -R a+rwX {scans}")
    result, inventory, output = _scan(copy, tmp_path / "after", "scans")
    share = next(s for h in result["hosts"] for s in h["shares"] if s["name"] == "scans")
    assert share["content"]["medical"]["patient_document"]["count"] == len(PATIENT_NAMES)
    exposed = [f for f in result["findings"] if f["rule"] == "medical-data-exposed" and f["share"] == "scans"]
    assert exposed and exposed[0]["severity"] == "critical"
    assert {line["type"] for line in inventory} == {"patient_document"}
    # Every patient name stays out of the report, the JSON and the inventory.
    written = output + json.dumps(result) + json.dumps(inventory)
    for name in PATIENT_NAMES:
        stem = name.rsplit(".", 1)[0]
        assert stem not in written
        for word in ("MUELLER", "OKAFOR", "SCHNEIDER", "Weber", "KOWALSKI", "BRANDT", "JOHNSON", "ROSSI"):
            assert word not in written
