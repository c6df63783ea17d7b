"""The NFS door against a real server (tests/lab/nfslab.py: NFS-Ganesha and rpcbind on labnas).

One scan of labnas over SMB and NFS reports the NFS door with its findings and remediation; every
right it reports is then done for real (and write on throwaway copies) and compared; the export trees
are unchanged by a default scan; dead ports and bad input fail fast with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nfs_rs
import nfslab
import pytest
from clirun import Run, full_scan, lab_env, shareaudit
from labdata import LABFS, LABNAS, PATIENT_MARKERS

pytestmark = pytest.mark.usefixtures("lab", "nfslab")

NAS = LABNAS.address
assert nfslab.ADDRESS == NAS  # one host, several doors
PRINTER = f"printer={nfslab.PRINTER_UID}"
EXPORTS = {e.path: e for e in nfslab.EXPORTS}
LISTED = {e.path for e in nfslab.EXPORTS if e.mountable}  # Ganesha lists only what the client may mount
IDENTITIES = {
    "anonymous": (nfslab.NOBODY, nfslab.NOBODY),
    "printer": (nfslab.PRINTER_UID, nfslab.PRINTER_UID),
}


def _trees() -> dict[str, dict[str, tuple[int, int, int, int, int]]]:
    return {name: nfslab.snapshot(nfslab.export_dir(name)) for name in (e.name for e in nfslab.EXPORTS)}


def _nfs(data: dict[str, Any], role: str = "nfs") -> dict[str, Any]:
    host = next(h for h in data["hosts"] if h["address"] == NAS)
    return next(
        s for s in host["services"] if s["protocol"] == "nfs" and s["nfs"] and s["nfs"]["role"] == role
    )


def _exports(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in _nfs(data)["nfs"]["exports"] if e["path"].startswith("/export/")}


def _findings(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["rule"], f["share"]): f for f in data["findings"] if f["rule"].startswith("nfs-")}


@pytest.fixture(scope="module")
def default_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Path, dict[str, Any], Any]]:
    """One default scan of labnas over SMB and NFS (every output, --debug), and the trees before and after."""
    tmp = tmp_path_factory.mktemp("nfs")
    out = tmp / "out"
    before = _trees()
    run, data = full_scan(
        out, NAS, "--protocols", "smb,nfs", "-u", "labaudit", "--nfs-uid", PRINTER, env=lab_env(tmp)
    )
    after = _trees()
    yield run, out, data, (before, after)


def test_the_nfs_door_is_reported_beside_smb(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    run, _, data, _ = default_scan
    assert "Traceback" not in run.text
    host = next(h for h in data["hosts"] if h["address"] == NAS)
    assert host["posture"] is not None and host["shares"]  # the SMB door of the same host
    rpcbind = _nfs(data, "rpcbind")
    assert rpcbind["port"] == 111
    programs = {(p["name"], p["transport"], p["port"]) for p in rpcbind["nfs"]["programs"]}
    assert ("nfs", "tcp", nfslab.NFS_PORT) in programs and ("mountd", "tcp", nfslab.MNT_PORT) in programs
    nfs = _nfs(data)["nfs"]
    assert _nfs(data)["port"] == nfslab.NFS_PORT and _nfs(data)["error"] is None
    assert nfs["version_range"] == [3, 4]
    assert set(nfs["versions"]) == {"3", "4.0", "4.1"}
    assert nfs["auth_sys"] is True
    assert nfs["identities"] == {"anonymous": "65534:65534", "printer": "3001:3001"}
    exports = _exports(data)
    assert set(exports) == LISTED  # the restricted one is not listed to this client...
    for path, export in exports.items():
        assert tuple(export["clients"]) == EXPORTS[path].clients
        assert export["everyone"] == (EXPORTS[path].clients == ("*",))
    # ... and mounting it by its path is refused to the scanner (what a client outside 10.9.9.0/24 gets).
    with pytest.raises(nfs_rs.NfsMountError):
        nfs_rs.Client.connect(f"nfs://{NAS}/export/restricted", uid=0, gid=0, connect_timeout=5)
    # The terminal shows the exports, and the HTML report has the NFS door.
    assert "NFS exports" in run.out and "/export/radiology" in run.out
    html = (default_scan[1] / "report.html").read_text()
    assert "NFS port 2049" in html and "rpcbind, port 111" in html


def test_root_squash_is_tested_by_reading(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    exports = _exports(default_scan[2])
    backup, radiology = exports["/export/backup"], exports["/export/radiology"]
    assert backup["root_squash"]["squashed"] is False  # Squash = No_Root_Squash
    assert backup["root_squash"]["path"] == nfslab.ROOT_ONLY_FILE
    assert radiology["root_squash"]["squashed"] is True  # root squashed: uid 0 was refused
    # The scan's claim, done by hand: root reads the root-only file of backup, not that of radiology.
    for path, readable in (("/export/backup", True), ("/export/radiology", False)):
        name = nfslab.ROOT_ONLY_FILE if path.endswith("backup") else ".index.db"
        with nfs_rs.Client.connect(f"nfs://{NAS}{path}", uid=0, gid=0, connect_timeout=5) as client:
            if readable:
                with client.open(name, "rb") as handle:
                    assert handle.read_at(0, 1)
            else:
                with pytest.raises(nfs_rs.NfsPermissionError), client.open(name, "rb") as handle:
                    handle.read_at(0, 1)


def test_findings_and_remediation(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    found = _findings(default_scan[2])
    expected = {
        ("nfs-export-everyone", "/export/radiology"): "high",
        ("nfs-medical-open", "/export/radiology"): "critical",
        ("nfs-no-root-squash", "/export/backup"): "critical",  # clients: a /8
        ("nfs-auth-sys-any-host", "/export/scans"): "high",  # claiming uid 3001 opened the printer's scans
        ("nfs-medical-open", "/export/scans"): "critical",
    }
    for key, severity in expected.items():
        assert key in found, f"{key} not reported: {sorted(found)}"
        assert found[key]["severity"] == severity, (key, found[key]["evidence"])
        assert set(found[key]["remediation"]) == {"synology", "qnap", "truenas", "linux", "ganesha"}
    assert ("nfs-export-everyone", "/export/scans") not in found  # its clients are networks, not everyone
    assert not any(rule == "nfs-not-scanned" for rule, _ in found)
    steps = " ".join(found[("nfs-no-root-squash", "/export/backup")]["remediation"]["linux"])
    assert "/export/backup" in steps and "root_squash" in steps
    assert "printer (3001:3001)" in found[("nfs-auth-sys-any-host", "/export/scans")]["evidence"]


def test_no_patient_name_in_any_output(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    run, out, _, _ = default_scan
    outputs = [run.text] + [p.read_text(errors="replace") for p in out.iterdir() if p.suffix != ".sqlite"]
    for text in outputs:
        for marker in PATIENT_MARKERS:
            assert marker not in text
    inventory = [json.loads(line) for line in (out / "inventory.jsonl").read_text().splitlines()]
    assert {"/export/radiology", "/export/scans"} <= {row["share"] for row in inventory}


def test_a_default_scan_changes_nothing(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    before, after = default_scan[3]
    assert before == after  # sizes, mtimes, modes and owners of every entry of every export


def _copy(name: str) -> tuple[str, Path]:
    proc = subprocess.run(
        [sys.executable, str(Path(nfslab.__file__)), "copy", name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    return made["export"], Path(made["dir"])


def _truth(path: str, uid: int, gid: int) -> dict[str, bool]:
    """Each right done for real on one (throwaway) export: mount, list, read a root file, create and remove one."""
    done = {"mount": False, "list": False, "read": False, "write": False}
    try:
        client = nfs_rs.Client.connect(f"nfs://{NAS}{path}", uid=uid, gid=gid, connect_timeout=5)
    except nfs_rs.NfsError:
        return done
    with client:
        done["mount"] = True
        try:
            entries = list(client.scandir(""))
        except nfs_rs.NfsError:
            return done
        done["list"] = True
        for entry in entries:
            if entry.info.type is nfs_rs.FileType.FILE and entry.info.size:
                try:
                    with client.open(entry.name, "rb") as handle:
                        handle.read_at(0, 1)
                    done["read"] = True
                    break
                except nfs_rs.NfsError:
                    continue
        probe = f"truth-probe-{uid}.tmp"
        try:
            with client.open(probe, "wb") as handle:
                handle.write(b"x")
            done["write"] = True
            client.unlink(probe)
        except nfs_rs.NfsError:
            pass
    return done


def test_every_reported_right_is_real(tmp_path: Path) -> None:
    """The truth test: scan throwaway copies read-only, then do every right for real and compare."""
    try:
        _every_reported_right_is_real(tmp_path)
    finally:
        subprocess.run([sys.executable, str(Path(nfslab.__file__)), "discard"], check=True)


def _every_reported_right_is_real(tmp_path: Path) -> None:
    copies = {name: _copy(name) for name in ("radiology", "backup", "scans")}
    before = {name: nfslab.snapshot(directory) for name, (_, directory) in copies.items()}
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", NAS, "--protocols", "nfs", "--nfs-uid", PRINTER, "--no-crawl", "--json", str(out),
        "--no-history", env=lab_env(tmp_path),
    )  # fmt: skip
    assert run.code in (0, 1), run.text
    assert {name: nfslab.snapshot(d) for name, (_, d) in copies.items()} == before  # read-only
    reported = {e["path"]: e for e in _nfs(json.loads(out.read_text()))["nfs"]["exports"]}
    table = []
    wrong = []
    for name, (path, _) in copies.items():
        for label, (uid, gid) in IDENTITIES.items():
            claim = reported[path]["access"][label]
            real = _truth(path, uid, gid)
            for right in ("mount", "list", "read", "write"):
                table.append(f"{name:10} {label:9} {right:5} reported={claim[right]!s:5} real={real[right]}")
                if claim[right] != real[right]:
                    wrong.append(table[-1])
    artifacts = Path(__file__).resolve().parent.parent / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "truth-nfs.txt").write_text("\n".join(table) + "\n")
    assert not wrong, "\n".join(wrong)
    # The table is not empty of truths: some rights exist and some do not.
    assert any("real=True" in row for row in table) and any("real=False" in row for row in table)


def test_a_host_without_nfs_fails_fast_with_one_line(tmp_path: Path) -> None:
    run = shareaudit(
        "scan", LABFS.address, "--protocols", "nfs", "--timeout", "2", "--no-history", env=lab_env(tmp_path)
    )
    assert run.code == 3, run.text
    assert "Traceback" not in run.text
    assert "no service answered" in run.text and "nfs 2049" in run.text


def test_a_silent_nfs_port_costs_one_timeout(tmp_path: Path, silent_server: int) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", "127.0.0.1", "--protocols", "nfs", "--nfs-port", str(silent_server), "--timeout", "1",
        "--json", str(out), "--no-history", env=lab_env(tmp_path),
    )  # fmt: skip
    assert "Traceback" not in run.text
    services = {s["port"]: s for s in json.loads(out.read_text())["hosts"][0]["services"]}
    silent = services[silent_server]
    assert not silent["reachable"] and silent["error_kind"] == "timeout"
    assert "no RPC answer" in silent["error"]
    assert silent["elapsed_s"] < 10  # a generous ceiling: one timeout of 1 s, not one per step


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--nfs-uid", "printer"), "expected LABEL=UID[:GID]"),
        (("--nfs-uid", "printer=abc"), "uid must be a number"),
        (("--nfs-uid", "root=0"), "uid 0"),
        (("--protocols", "smb,nfs,nfs4"), "unknown protocol 'nfs4'"),
    ],
)
def test_bad_nfs_input_is_one_line(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    run = shareaudit("scan", NAS, *args, "--no-history", env=lab_env(tmp_path))
    assert run.code == 2, run.text
    assert said in run.err and "Traceback" not in run.text
    assert len(run.err.strip().splitlines()) == 1


def test_the_lab_is_bound_to_labnas_only() -> None:
    # rpcbind binds TCP to every address unless told otherwise: the lab's shim keeps it on labnas.
    assert not nfslab.port_open("127.0.0.9", nfslab.RPCBIND_PORT)
    assert not nfslab.port_open("127.0.0.9", nfslab.NFS_PORT)
    assert os.path.exists("/run/rpcbind.sock")
