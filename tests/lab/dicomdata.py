"""Facts about the DICOM lab, shared by its controller (dicomlab.py) and the tests.

Two Orthanc servers on the SMB lab's addresses, so that one host shows both doors: the permissive PACS
on labnas (127.0.0.11) and the hardened one on labfs (127.0.0.12). The studies are synthetic: every
patient name and ID carries the marker DICOMTEST, which no shareaudit output may ever contain.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    modality: str
    instances: int


@dataclass(frozen=True)
class Study:
    patient_name: str
    patient_id: str
    birth_date: str
    date: str  # StudyDate, YYYYMMDD
    series: tuple[Series, ...]


@dataclass(frozen=True)
class DicomServer:
    """One Orthanc of the lab: its config template (tests/lab/dicom/), addresses, AE title, studies."""

    name: str
    config: str
    address: str
    port: int
    http_port: int
    aet: str
    studies: tuple[Study, ...]
    tls: bool = False


MARKER = "DICOMTEST"

PERMISSIVE = DicomServer(
    name="permissive",
    config="permissive.json",
    address="127.0.0.11",  # labnas
    port=11112,
    http_port=8042,
    aet="ORTHANC",  # Orthanc's factory default, as exposed archives keep it
    studies=(
        Study(
            "DOE^JANE^DICOMTEST", "DICOMTEST-0001", "19610412", "20190314", (Series("CT", 2), Series("SR", 1))
        ),
        Study("ROE^RICHARD^DICOMTEST", "DICOMTEST-0002", "19780930", "20210702", (Series("MR", 2),)),
        Study("DOE^JANE^DICOMTEST", "DICOMTEST-0001", "19610412", "20230102", (Series("CR", 1),)),
    ),
)
HARDENED = DicomServer(
    name="hardened",
    config="hardened.json",
    address="127.0.0.12",  # labfs
    port=4242,
    http_port=8042,
    aet="HARDPACS",
    studies=(Study("POE^EDGAR^DICOMTEST", "DICOMTEST-0003", "19450101", "20220505", (Series("MR", 1),)),),
    tls=True,
)
SERVERS = (PERMISSIVE, HARDENED)
# The one modality the hardened server knows (its DicomModalities entry): AE title and source address.
KNOWN_MODALITY = ("LABRIS", "127.0.0.1")

PATIENT_NAMES = tuple(sorted({s.patient_name for server in SERVERS for s in server.studies}))
PATIENT_IDS = tuple(sorted({s.patient_id for server in SERVERS for s in server.studies}))


def expected_counts(server: DicomServer) -> dict[str, object]:
    """What a counting C-FIND of the server must report."""
    modalities: dict[str, int] = {}
    for study in server.studies:
        for modality in {s.modality for s in study.series}:
            modalities[modality] = modalities.get(modality, 0) + 1
    dates = sorted(f"{s.date[:4]}-{s.date[4:6]}-{s.date[6:]}" for s in server.studies)
    return {
        "studies": len(server.studies),
        "series": sum(len(s.series) for s in server.studies),
        "instances": sum(x.instances for s in server.studies for x in s.series),
        "modalities": modalities,
        "earliest": dates[0],
        "latest": dates[-1],
    }
