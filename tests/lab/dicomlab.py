#!/usr/bin/env python3
"""Bring the loopback DICOM lab up and down: `dicomlab.py up|down|status`.

Two Orthanc servers from the Debian package (tests/lab/dicomdata.py): a permissive PACS on
127.0.0.11:11112 and a hardened one on 127.0.0.12:4242 (TLS, known AE titles only), each holding a few
synthetic studies generated with pydicom and loaded through its REST API. Each runs `Orthanc CONFIG.json`
in the foreground as a child of this script (started in its own session, never the package's systemd
service), with its config rendered from tests/lab/dicom/*.json and every file under the lab directory
($SHAREAUDIT_DICOMLAB_DIR, default /tmp/shareaudit-dicomlab). Orthanc 1.10 has no bind-address option:
tests/lab/dicom/bindaddr.c, compiled here and preloaded, makes its DICOM and HTTP servers listen on
the server's own loopback address only. The REST API also refuses any client but 127.0.0.1.

`up` is idempotent (a running lab is reused) and otherwise rebuilds everything from scratch; `down` stops
the servers it started (by the pids it recorded) and removes the lab directory.
Needs root (ip addr), Orthanc, gcc and openssl; Python with pydicom.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import daemons
from daemons import LabError, alive, ensure_address, port_open, run, stop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dicomdata import SERVERS, DicomServer, Study

HERE = Path(__file__).resolve().parent
CONFIGS = HERE / "dicom"
LAB_DIR = Path(os.environ.get("SHAREAUDIT_DICOMLAB_DIR", "/tmp/shareaudit-dicomlab"))
READY = LAB_DIR / "ready.json"
SHIM = LAB_DIR / "bindaddr.so"
NEEDED = ("Orthanc", "gcc", "openssl", "ip")


def check_prerequisites() -> None:
    daemons.check_prerequisites(
        "DICOM", "ip addr add on lo", NEEDED, "apt-get install orthanc dcmtk gcc libc6-dev openssl"
    )


def check_no_wildcard_listener() -> None:
    """A server of the system's own on 0.0.0.0 would answer on every lab address, and the tests would audit it."""
    daemons.check_no_wildcard_listener(
        sorted({p for s in SERVERS for p in (s.port, s.http_port)} | {104}),
        "the orthanc systemd service? systemctl disable --now orthanc",
    )


def server_dir(server: DicomServer) -> Path:
    return LAB_DIR / server.name


# --- REST, from 127.0.0.1 only (RemoteAccessAllowed is false) -------------------------------------------


def rest(server: DicomServer, method: str, path: str, body: bytes | None = None) -> object:
    """One call to the server's REST API from 127.0.0.1; the decoded JSON answer."""
    conn = http.client.HTTPConnection(
        server.address, server.http_port, timeout=10, source_address=("127.0.0.1", 0)
    )
    try:
        headers = {"Content-Type": "application/dicom"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise LabError(f"{server.name}: {method} {path}: HTTP {answer.status}")
        return json.loads(data) if data else None
    finally:
        conn.close()


def study_count(server: DicomServer) -> int:
    """How many studies the server holds, asked over REST (not over DICOM)."""
    studies = rest(server, "GET", "/studies")
    assert isinstance(studies, list)
    return len(studies)


def storage_snapshot(server: DicomServer) -> dict[str, tuple[int, int]]:
    """Every file of the server's storage directory: relative path -> (size, mtime in ns)."""
    root = server_dir(server) / "storage"
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# --- synthetic studies ---------------------------------------------------------------------------------


def instances(study: Study) -> list[bytes]:
    """The study's DICOM files (Part 10 bytes): tiny images, one text SR for an SR series."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_classes = {
        "CT": "1.2.840.10008.5.1.4.1.1.2",
        "MR": "1.2.840.10008.5.1.4.1.1.4",
        "CR": "1.2.840.10008.5.1.4.1.1.1",
        "SR": "1.2.840.10008.5.1.4.1.1.88.11",
    }
    study_uid = generate_uid()
    files = []
    for number, series in enumerate(study.series, 1):
        series_uid = generate_uid()
        for index in range(1, series.instances + 1):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = sop_classes[series.modality]
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
            ds.PatientName = study.patient_name
            ds.PatientID = study.patient_id
            ds.PatientBirthDate = study.birth_date
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.StudyDate = study.date
            ds.StudyID = "1"
            ds.AccessionNumber = f"ACC{study.patient_id[-4:]}{study.date}"
            ds.Modality = series.modality
            ds.SeriesNumber = number
            ds.InstanceNumber = index
            if series.modality != "SR":
                ds.Rows = ds.Columns = 8
                ds.SamplesPerPixel = 1
                ds.PhotometricInterpretation = "MONOCHROME2"
                ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
                ds.PixelData = bytes(8 * 8 * 2)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            files.append(buffer.getvalue())
    return files


def seed(server: DicomServer) -> None:
    for study in server.studies:
        for data in instances(study):
            rest(server, "POST", "/instances", data)
    if study_count(server) != len(server.studies):
        raise LabError(f"{server.name}: expected {len(server.studies)} studies after seeding")


# --- servers -------------------------------------------------------------------------------------------


def build_shim() -> None:
    run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(SHIM), str(CONFIGS / "bindaddr.c"), "-ldl"])


def make_certificate(server: DicomServer) -> None:
    tls = server_dir(server) / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            "-subj", f"/CN=labpacs-{server.name}",
            "-keyout", str(tls / "server.key"), "-out", str(tls / "server.crt"),
        ]
    )  # fmt: skip


def render_config(server: DicomServer) -> Path:
    text = (CONFIGS / server.config).read_text()
    for key, value in {
        "@LAB@": str(server_dir(server)),
        "@AET@": server.aet,
        "@DICOM_PORT@": str(server.port),
        "@HTTP_PORT@": str(server.http_port),
    }.items():
        text = text.replace(key, value)
    path = server_dir(server) / "orthanc.json"
    path.write_text(text)
    return path


def start(server: DicomServer) -> int:
    """Prepare and start one Orthanc; its pid once it answers on both ports."""
    home = server_dir(server)
    for sub in ("storage", "index"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    if server.tls:
        make_certificate(server)
    config = render_config(server)
    env = {**os.environ, "LD_PRELOAD": str(SHIM), "SHAREAUDIT_BIND_ADDRESS": server.address}
    log = open(home / "orthanc.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["Orthanc", str(config)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (port_open(server.address, server.port) and port_open(server.address, server.http_port)):
        if proc.poll() is not None:
            tail = (home / "orthanc.log").read_text(errors="replace")[-1500:]
            raise LabError(f"Orthanc {server.name} exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise LabError(
                f"Orthanc {server.name} did not listen on {server.address}:{server.port} within 30 s"
            )
        time.sleep(0.1)
    return proc.pid


def running() -> bool:
    """Every server of the lab runs (by its recorded pid) and answers on its DICOM port."""
    pids = daemons.recorded(READY)
    return all(s.name in pids and alive(pids[s.name]) and port_open(s.address, s.port) for s in SERVERS)


def up() -> None:
    check_prerequisites()
    for server in SERVERS:
        ensure_address(server.address)
    if running():
        print(f"DICOM lab already up ({LAB_DIR})")
        return
    down(quiet=True)
    check_no_wildcard_listener()
    for server in SERVERS:
        for port in (server.port, server.http_port):
            if port_open(server.address, port):
                raise LabError(f"something else listens on {server.address}:{port}")
    LAB_DIR.mkdir(parents=True)
    build_shim()
    pids: dict[str, int] = {}
    try:
        for server in SERVERS:
            pids[server.name] = start(server)
            seed(server)
    except BaseException:
        for pid in pids.values():
            stop(pid)
        raise
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR)}, indent=2))
    for server in SERVERS:
        mode = "TLS" if server.tls else "plain"
        print(
            f"{server.name}: Orthanc {server.aet} on {server.address}:{server.port} ({mode}), {len(server.studies)} studies"
        )


def down(quiet: bool = False) -> None:
    daemons.down(READY, LAB_DIR, "DICOM lab", quiet=quiet)


def status() -> int:
    up_now = running()
    report = {
        s.name: {
            "address": f"{s.address}:{s.port}",
            "listening": port_open(s.address, s.port),
            "studies": study_count(s) if up_now else None,
        }
        for s in SERVERS
    }
    print(json.dumps({"running": up_now, "dir": str(LAB_DIR), "servers": report}, indent=2))
    return 0 if up_now else 1


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "status"
    try:
        if command == "up":
            up()
        elif command == "down":
            down()
        elif command == "status":
            return status()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except LabError as exc:
        print(f"dicomlab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
