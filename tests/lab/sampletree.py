"""A study archive where a quarter of the files have no extension: the tree sampling is measured and tested on.

`populate_sampled(root, files)` writes about `files` files under YYYY/MM/PATyyyymmNNN/ folders and returns
the truth: how many files of each medical type it wrote (the crawl's type ids), and how many without an
extension, by kind. The extensionless quarter is what a hospital share holds without extensions:
- DICOM series exported by a modality, one folder per series (`series01/img0001`...), mostly 20-80 files,
  some small ones (6-19) that are read whole;
- application caches of extensionless blobs that are not medical (`cache/blob0001`...);
- export folders mixing DICOM and HL7 messages under one name shape (`export/msg0001`...): the sample
  disagrees and every file is read;
- empty lock files (`lock0001`), which no signature fits.
The other three quarters carry extensions (.dcm, .hl7, .nii.gz, .pdf, .docx, .txt).
"""

from __future__ import annotations

import gzip
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from populate import dicom_bytes, hl7_bytes, nifti1_bytes, office_bytes

# The share of extensionless files of each kind (the rest of a quarter of the tree).
EXTENSIONLESS = {"series": 0.70, "cache": 0.15, "export": 0.05, "lock": 0.10}


@dataclass(frozen=True)
class Truth:
    """What the tree holds: files of each medical type, extensionless files by kind, files in all."""

    types: Counter[str]
    extensionless: Counter[str]
    files: int


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def populate_sampled(root: Path, files: int = 20_000, seed: int = 4242) -> Truth:
    """Write the tree under `root` and return what it holds."""
    rng = random.Random(seed)
    dicoms = [dicom_bytes(f"SERIES^{i}", f"S{i:04d}", "CT" if i % 2 else "MR", seed=i) for i in range(16)]
    hl7 = hl7_bytes("EXPORT^PATIENT", "E0001")
    types: Counter[str] = Counter()
    bare: Counter[str] = Counter()
    written = 0
    budget = {kind: round(files / 4 * share) for kind, share in EXTENSIONLESS.items()}

    def study() -> Path:
        year = 2010 + rng.randrange(14)
        month = rng.randrange(1, 13)
        return root / f"{year}" / f"{month:02d}" / f"PAT{year}{month:02d}{rng.randrange(1000):03d}"

    def fresh(kind: str) -> Path:
        folder = study() / f"{kind}{rng.randrange(1, 100):02d}"
        return folder if not folder.exists() else fresh(kind)

    # The extensionless quarter, in folders of like files.
    while budget["series"] > 0:
        size = rng.randrange(6, 20) if rng.random() < 0.15 else rng.randrange(20, 81)
        size = min(size, budget["series"])
        blob = rng.choice(dicoms)
        folder = fresh("series")
        for i in range(size):
            _write(folder / f"img{i + 1:04d}", blob)
        types["dicom"] += size
        bare["dicom series"] += size
        budget["series"] -= size
        written += size
    while budget["cache"] > 0:
        size = min(rng.randrange(20, 120), budget["cache"])
        folder = fresh("cache")
        for i in range(size):
            _write(folder / f"blob{i + 1:04d}", rng.randbytes(rng.randrange(600, 1000)))
        bare["cache"] += size
        budget["cache"] -= size
        written += size
    while budget["export"] > 0:
        size = min(rng.randrange(20, 60), budget["export"])
        folder = fresh("export")
        for i in range(size):
            # Messages padded into the DICOM files' size class, so that only content tells them apart.
            dicom = rng.random() < 0.6
            data = dicoms[0] if dicom else hl7.ljust(len(dicoms[0]), b"\r")
            _write(folder / f"msg{i + 1:04d}", data)
            types["dicom" if dicom else "hl7v2"] += 1
        bare["export"] += size
        budget["export"] -= size
        written += size
    while budget["lock"] > 0:
        folder = study()
        size = min(rng.randrange(1, 4), budget["lock"])
        for i in range(size):
            _write(folder / f"lock{written + i:06d}", b"")
        bare["lock"] += size
        budget["lock"] -= size
        written += size

    # Three quarters with extensions.
    pdf = office_bytes("pdf", 1)
    docx = office_bytes("docx", 2)
    nifti = gzip.compress(nifti1_bytes(), mtime=0)
    while written < files:
        folder = study()
        for _ in range(rng.randrange(6, 20)):
            if written >= files:
                break
            roll = rng.random()
            if roll < 0.15:
                name, data, kind = f"IM{written:06d}.dcm", dicoms[1], "dicom"
            elif roll < 0.22:
                name, data, kind = f"adt{written:06d}.hl7", hl7, "hl7v2"
            elif roll < 0.23:
                name, data, kind = f"vol{written:06d}.nii.gz", nifti, "nifti"
            elif roll < 0.60:
                name, data, kind = f"report{written:06d}.pdf", pdf, ""
            elif roll < 0.85:
                name, data, kind = f"letter{written:06d}.docx", docx, ""
            else:
                name, data, kind = f"notes{written:06d}.txt", b"seen, nothing to add\n", ""
            _write(folder / name, data)
            if kind:
                types[kind] += 1
            written += 1
    return Truth(types, bare, written)
