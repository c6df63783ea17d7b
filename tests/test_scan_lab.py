"""`shareaudit scan` against the lab: posture and share lists exactly as configured, and bad input."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clirun import shareaudit
from labdata import LAB_CIDR, LABACL, LABFS, LABNAS, PASSWORDS, UNUSED_ADDRESSES

pytestmark = pytest.mark.usefixtures("lab")

ALL_DIALECTS = ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1")

# What each lab personality is configured to be (tests/lab/conf/*.conf.in).
POSTURE = {
    LABNAS.address: {
        "smb1": True,
        "dialects": ["NT LM 0.12", *ALL_DIALECTS],
        "signing_required": False,
        "encryption": True,
        "null_session": True,
        "guest_account": True,
        "guest_fallback": True,
    },
    LABFS.address: {
        "smb1": False,
        "dialects": ["3.0", "3.0.2", "3.1.1"],
        "signing_required": True,
        "encryption": True,
        "null_session": False,
        "guest_account": False,
        "guest_fallback": False,
    },
    LABACL.address: {
        "smb1": False,
        "dialects": list(ALL_DIALECTS),
        "signing_required": False,
        "encryption": True,
        "null_session": True,
        "guest_account": True,
        "guest_fallback": False,
    },
}

# (name, type, hidden) as the servers list them.
SHARES = {
    LABNAS.address: [
        ("public", "disk", False),
        ("scans", "disk", False),
        ("imaging", "disk", False),
        ("hr", "disk", False),
        ("pacs$", "disk", True),
        ("archive", "disk", False),
        ("print$", "disk", True),
        ("IPC$", "ipc", True),
        ("HP_MFP_2F", "printer", False),
        ("Radiology_Laser", "printer", False),
    ],
    LABFS.address: [
        ("finance", "disk", False),
        ("clinical", "disk", False),
        ("scaninbox", "disk", False),
        ("IPC$", "ipc", True),
    ],
    LABACL.address: [
        ("depts", "disk", False),
        ("records", "disk", False),
        ("research", "disk", False),
        ("itadmin", "disk", False),
        ("IPC$", "ipc", True),
    ],
}


def _hosts(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    assert data["schema"] == "shareaudit/1"
    return {h["address"]: h for h in data["hosts"]}


@pytest.fixture(scope="module")
def lab_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, dict[str, Any]], Path]:
    """One full scan of the three lab servers as the audit account."""
    out = tmp_path_factory.mktemp("scan") / "scan.json"
    env = {"SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"], "PATH": "/usr/bin:/bin"}
    run = shareaudit(
        "scan", LABNAS.address, LABFS.address, LABACL.address, "-u", "labaudit", "--json", str(out), env=env
    )
    return run, _hosts(out), out


def test_scan_of_the_lab_completes(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path]) -> None:
    run, hosts, out = lab_scan
    assert run.code == 0, run.text
    assert sorted(hosts) == sorted(POSTURE)
    assert all(h["reachable"] and h["error"] is None for h in hosts.values())
    data = json.loads(out.read_text())
    assert data["tool"]["version"]
    assert data["started_at"] <= data["finished_at"]
    assert [i["label"] for i in data["identities"]] == ["audit", "anonymous", "guest"]
    assert PASSWORDS["labaudit"] not in out.read_text() + run.text


@pytest.mark.parametrize("address", list(POSTURE))
def test_posture_is_exactly_as_configured(
    lab_scan: tuple[Any, dict[str, dict[str, Any]], Path], address: str
) -> None:
    posture = lab_scan[1][address]["posture"]
    assert {key: posture[key] for key in POSTURE[address]} == POSTURE[address]


def test_three_guest_doors_are_told_apart(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path]) -> None:
    hosts = lab_scan[1]
    nas, fs, acl = (hosts[p.address]["posture"]["sessions"] for p in (LABNAS, LABFS, LABACL))
    # labnas maps any unknown user (including "Guest") to its guest account.
    assert nas["guest_fallback"]["accepted"] and nas["guest_fallback"]["guest"]
    assert nas["guest_fallback"]["username"].startswith("sa-probe-")
    assert nas["guest_account"]["guest"]
    # labacl has a real account called Guest with an empty password, and refuses unknown users.
    assert acl["guest_account"]["accepted"] and not acl["guest_account"]["guest"]
    assert not acl["guest_fallback"]["accepted"] and acl["guest_fallback"]["status"] == "STATUS_LOGON_FAILURE"
    # labfs (restrict anonymous = 2) accepts the null session setup but not IPC$: no usable null session.
    assert fs["anonymous"]["accepted"] and fs["anonymous"]["ipc"] is False
    assert not fs["guest_account"]["accepted"] and not fs["guest_fallback"]["accepted"]


def test_server_identity(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path]) -> None:
    for personality in (LABNAS, LABFS, LABACL):
        server = lab_scan[1][personality.address]["posture"]["server"]
        assert server["netbios_name"] == personality.netbios
        assert server["server_string"] == personality.server_string
        assert server["os"] and server["os"].startswith("Windows")  # what Samba claims in NTLM VERSION


@pytest.mark.parametrize("address", list(SHARES))
def test_share_list_is_exact(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path], address: str) -> None:
    shares = lab_scan[1][address]["shares"]
    assert [(s["name"], s["type"], s["hidden"]) for s in shares] == SHARES[address]


def test_level_502_paths_and_who_was_told(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path]) -> None:
    hosts = lab_scan[1]
    nas = {s["name"]: s for s in hosts[LABNAS.address]["shares"]}
    assert nas["imaging"]["path"].endswith("\\labnas\\imaging")
    assert nas["imaging"]["path_disclosed_to"] == "anonymous"  # restrict anonymous = 0
    fs = {s["name"]: s for s in hosts[LABFS.address]["shares"]}
    assert fs["finance"]["path_disclosed_to"] == "audit"  # nobody less privileged could enumerate
    enumeration = {e["identity"]: e for e in hosts[LABACL.address]["enumeration"]}
    assert enumeration["anonymous"]["ok"] is False and "ACCESS_DENIED" in enumeration["anonymous"]["error"]
    assert enumeration["audit"] == {"identity": "audit", "ok": True, "level": 502, "count": 5, "error": None}


def test_terminal_summary(lab_scan: tuple[Any, dict[str, dict[str, Any]], Path]) -> None:
    out = lab_scan[0].out
    assert "3 host(s) scanned, 0 failed" in out
    # The hosts table's row (the fix plan above it names the host in its actions too).
    row = next(line for line in out.splitlines() if line.startswith(f"│ {LABNAS.address} "))
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == [LABNAS.address, "ok", "yes", "no", "yes", "yes", "yes", "10"]


def test_cidr_finds_lab_hosts_and_reports_the_rest_quickly(tmp_path: Path, audit_env: dict[str, str]) -> None:
    out = tmp_path / "cidr.json"
    started = time.monotonic()
    run = shareaudit("scan", LAB_CIDR, "-u", "labaudit", "--json", str(out), env=audit_env)
    elapsed = time.monotonic() - started
    hosts = _hosts(out)
    assert run.code == 3, run.text
    assert {a for a, h in hosts.items() if h["reachable"]} == {LABNAS.address, LABFS.address, LABACL.address}
    for address in UNUSED_ADDRESSES:
        assert hosts[address]["reachable"] is False
        assert hosts[address]["error_kind"] == "refused"
    assert elapsed < 60  # a generous ceiling: refused ports must not cost a timeout each


def test_bad_targets_are_skipped_with_their_line_numbers(tmp_path: Path, audit_env: dict[str, str]) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(
        f"# lab\n{LABNAS.address}\n999.1.1.1\n\nnot a host!\n{LABFS.address}:70000  # bad port\n"
    )
    out = tmp_path / "scan.json"
    run = shareaudit("scan", f"@{targets}", "-u", "labaudit", "--json", str(out), env=audit_env)
    assert run.code == 3  # skipped entries are targets that were not scanned
    assert f"{targets}:3: '999.1.1.1': not a valid IPv4 address" in run.err
    assert f"{targets}:5: 'not a host!'" in run.err
    assert f"{targets}:6: '{LABFS.address}:70000': port '70000' is not a number from 1 to 65535" in run.err
    assert list(_hosts(out)) == [LABNAS.address]
    assert len(json.loads(out.read_text())["input_problems"]) == 3
    assert "Traceback" not in run.text


def test_strict_refuses_to_scan_with_bad_targets(tmp_path: Path, audit_env: dict[str, str]) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", LABNAS.address, "10.0.0.0/8", "--strict", "-u", "labaudit", "--json", str(out), env=audit_env
    )
    assert run.code == 2
    assert (
        run.err.strip()
        .splitlines()[-1]
        .startswith("shareaudit: error: bad target command line: '10.0.0.0/8'")
    )
    assert not out.exists()


def test_missing_password_is_a_clear_input_error(tmp_path: Path) -> None:
    run = shareaudit("scan", LABNAS.address, "-u", "labaudit", env={"PATH": "/usr/bin:/bin"})
    assert run.code == 2
    assert run.err.strip() == (
        "shareaudit: error: no password for labaudit: set SHAREAUDIT_PASSWORD, use --password-file, "
        "or run on a terminal to be asked"
    )


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORDS["labaudit"] + "\n")
    secret.chmod(0o644)
    run = shareaudit(
        "scan", LABNAS.address, "-u", "labaudit", "--password-file", str(secret), env={"PATH": "/usr/bin"}
    )
    assert run.code == 2 and "readable by group or others" in run.err
    secret.chmod(0o600)
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan",
        LABFS.address,
        "-u",
        "labaudit",
        "--password-file",
        str(secret),
        "--json",
        str(out),
        env={"PATH": "/usr/bin"},
    )
    assert run.code == 0, run.text
    assert _hosts(out)[LABFS.address]["enumeration"][0]["ok"] is True
    assert PASSWORDS["labaudit"] not in run.text + out.read_text()


def test_wrong_password_is_reported_and_other_facts_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    env = {"SHAREAUDIT_PASSWORD": "Not-The-Password-9", "PATH": "/usr/bin"}
    run = shareaudit("scan", LABNAS.address, "-u", "labaudit", "--json", str(out), env=env)
    assert run.code == 3
    host = _hosts(out)[LABNAS.address]
    assert host["error_kind"] == "login"
    assert host["error"] == "logon as labaudit refused: STATUS_LOGON_FAILURE"
    assert host["posture"]["smb1"] is True  # posture gathered before the refusal is kept
    assert len(host["shares"]) == 10  # enumerated as the null session instead
    assert f"{LABNAS.address}: logon as labaudit refused: STATUS_LOGON_FAILURE" in run.out
    assert "Not-The-Password-9" not in run.text + out.read_text()


def test_closed_port(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    # SMB only: with the DICOM lab up, labnas's PACS answers, and a host with a door open is not a failed
    # target (tests/test_dicom_lab.py::test_smb_refused_but_dicom_answering_is_not_a_failed_target).
    run = shareaudit("scan", f"{LABNAS.address}:4455", "--protocols", "smb", "--json", str(out))
    assert run.code == 3
    host = _hosts(out)[LABNAS.address]
    assert (host["port"], host["reachable"], host["error_kind"]) == (4455, False, "refused")


@pytest.fixture
def banner_server() -> Iterator[int]:
    """A TCP service that is not SMB: it greets like an FTP server and closes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.sendall(b"220 LAB-MFP FTP ready\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def stalling_proxy() -> Iterator[int]:
    """Forwards the first connections to labnas faithfully, then accepts and never answers again."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    faithful = 5  # enough for the negotiate probes; the session probes then hang
    held: list[socket.socket] = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def serve() -> None:
        server.settimeout(0.2)
        count = 0
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            count += 1
            if count > faithful:
                held.append(conn)  # accepted, read nothing, answer nothing
                continue
            upstream = socket.create_connection((LABNAS.address, 445))
            threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_non_smb_service_and_stalled_server_do_not_stop_other_hosts(
    tmp_path: Path, banner_server: int, stalling_proxy: int
) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan",
        f"127.0.0.1:{banner_server}",
        f"127.0.0.1:{stalling_proxy}",
        LABFS.address,
        "--timeout",
        "2",
        "--json",
        str(out),
    )
    assert run.code == 3
    hosts = {(h["address"], h["port"]): h for h in json.loads(out.read_text())["hosts"]}
    banner = hosts[("127.0.0.1", banner_server)]
    assert (banner["reachable"], banner["error_kind"]) == (False, "not_smb")
    stalled = hosts[("127.0.0.1", stalling_proxy)]
    assert stalled["error_kind"] == "timeout"
    assert stalled["error"] == "the server stopped answering (no reply within 2 s)"
    assert stalled["posture"]["smb1"] is True  # negotiated before the server went silent: kept
    assert hosts[(LABFS.address, 445)]["error"] is None
    assert "Traceback" not in run.text


def _under_a_terminal(*args: str) -> str:
    """Run the CLI with a pseudo-terminal as its stdout and stderr (util-linux `script`), return what it drew."""
    import shlex
    import subprocess
    import sys

    command = shlex.join([sys.executable, "-m", "shareaudit", *args])
    proc = subprocess.run(
        ["script", "-q", "-e", "-c", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "TERM": "xterm",
            "COLUMNS": "160",
            "SHAREAUDIT_DATA_DIR": "/tmp/sa-progress",
        },
    )
    return proc.stdout


def test_progress_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    hosts = (LABNAS.address, LABFS.address, LABACL.address)
    drawn = _under_a_terminal("scan", *hosts)
    assert "scanning" in drawn and "entries" in drawn and "3/3" in drawn
    quiet = _under_a_terminal("scan", *hosts, "--quiet")
    assert "scanning" not in quiet
    piped = shareaudit("scan", *hosts, env={"PATH": "/usr/bin:/bin", "SHAREAUDIT_DATA_DIR": str(tmp_path)})
    assert "scanning" not in piped.err and "entries" not in piped.err
