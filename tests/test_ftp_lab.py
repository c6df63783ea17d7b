"""The FTP door against real servers (tests/lab/ftplab.py): ProFTPD on labnas with anonymous read and upload,
FTPS-only ProFTPD on labfs, vsftpd (LIST only) on labnas:2121. One host shows its SMB and FTP doors with
findings and remediation; the access claims are checked by doing the thing on throwaway copies; a default
scan leaves every tree as it was; no password or patient name reaches an output; dead ports, refused logins
and bad input fail fast with one line."""

from __future__ import annotations

import contextlib
import ftplib
import json
import socket
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ftplab
import pytest
from clirun import Run, full_scan, lab_env, shareaudit
from ftpdata import COPY_ADDRESSES, LABFS_FTP, LABNAS_FTP, LABNAS_LIST, FtpServer
from labdata import LABFS, LABNAS, PASSWORDS, PATIENT_MARKERS, UNUSED_ADDRESSES

pytestmark = pytest.mark.usefixtures("lab", "ftplab")

NAS, FS = LABNAS.address, LABFS.address
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return lab_env(tmp, **{"SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"], **extra})


def snapshot(tree: Path) -> dict[str, tuple[bool, int, int, int]]:
    """Every file and folder of a tree: relative path -> (folder, size, mtime ns, mode)."""
    state = {}
    for path in sorted(tree.rglob("*")):
        info = path.lstat()
        state[str(path.relative_to(tree))] = (path.is_dir(), info.st_size, info.st_mtime_ns, info.st_mode)
    return state


def _trees() -> dict[str, dict[str, tuple[bool, int, int, int]]]:
    return {server.name: snapshot(ftplab.tree_of(server)) for server in (LABNAS_FTP, LABFS_FTP, LABNAS_LIST)}


def _ftp_services(data: dict[str, Any], address: str) -> dict[int, dict[str, Any]]:
    host = next(h for h in data["hosts"] if h["address"] == address)
    return {s["port"]: s for s in host["services"] if s["protocol"] == "ftp"}


def _tree(service: dict[str, Any], identity: str) -> dict[str, Any]:
    return next(t for t in service["ftp"]["trees"] if t["identity"] == identity)


def _ftp_findings(data: dict[str, Any], host: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (f["rule"], f["share"]): f
        for f in data["findings"]
        if f["host"] == host and f["share"] and f["share"].startswith("ftp:")
    }


@pytest.fixture(scope="module")
def default_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Path, dict[str, Any], Any]]:
    """One scan of labnas and labfs, SMB and FTP (with vsftpd's port), every output and the --debug log;
    the FTP trees before and after it."""
    tmp = tmp_path_factory.mktemp("ftp")
    out = tmp / "out"
    before = _trees()
    run, data = full_scan(
        out, NAS, FS, "--protocols", "smb,ftp", "-u", "labaudit", "--identity", "printer=labscan",
        "--ftp-port", "2121", env=_env(tmp),
    )  # fmt: skip
    after = _trees()
    yield run, out, data, (before, after)


def test_one_host_shows_its_smb_and_ftp_doors(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    run, out, data, _ = default_scan
    assert run.code == 0, run.text[-3000:]
    nas = next(h for h in data["hosts"] if h["address"] == NAS)
    assert nas["error"] is None and nas["posture"]["smb1"] is True and len(nas["shares"]) == 10
    assert {port: s["reachable"] for port, s in _ftp_services(data, NAS).items()} == {
        21: True,
        990: False,
        2121: True,
    }
    assert data["options"]["protocols"] == ["smb", "ftp"] and data["options"]["ftp"] == {
        "ports": [21, 990, 2121]
    }
    assert "FTP" in run.out and "reads + uploads" in run.out  # the terminal's FTP table
    page = (out / "report.html").read_text()
    assert "FTP port 21" in page and "FTP port 2121" in page and "FTP: nothing on port 990" in page
    with (out / "findings.csv").open(encoding="utf-8-sig") as csv_file:
        assert "ftp-anonymous-read" in csv_file.read()


def test_the_legacy_nas_ftp_is_found_with_its_findings_and_remediation(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    _, _, data, _ = default_scan
    ftp = _ftp_services(data, NAS)[21]["ftp"]
    assert (ftp["software"], ftp["transport"], ftp["mlsd"], ftp["auth_tls"]) == (
        "proftpd",
        "plain",
        True,
        True,
    )
    assert ftp["plaintext_login"] is True and ftp["plaintext_reply"].startswith("331")
    cert = ftp["certificate"]
    assert (cert["self_signed"], cert["expired"], cert["subject"]) == (True, True, "labnas.lab")
    logins = {login["identity"]: (login["accepted"], login["tls"]) for login in ftp["logins"]}
    assert logins == {"anonymous": (True, False), "printer": (True, True), "audit": (True, True)}
    anonymous = _tree(_ftp_services(data, NAS)[21], "anonymous")
    assert anonymous["landing"] == ["README.txt", "imaging/", "incoming/", "public/"]
    assert [(f["path"], f["basis"], f["perm"]) for f in anonymous["folders"]] == [
        ("incoming", "granted", "cdmpe")
    ]
    assert anonymous["content"]["denied_dirs"] == 1  # incoming: anonymous may add files, not list them
    printer = _tree(_ftp_services(data, NAS)[21], "printer")
    assert {f["path"] for f in printer["folders"]} == {"scans", "pub/incoming"}
    assert _tree(_ftp_services(data, NAS)[21], "audit")["same_as"] == "printer"  # one tree, walked once
    found = {key: (f["severity"], f["platform"]) for key, f in _ftp_findings(data, NAS).items()}
    assert found == {
        ("ftp-anonymous-read", "ftp:21"): ("critical", "proftpd"),
        ("ftp-anonymous-upload", "ftp:21"): ("critical", "proftpd"),
        ("ftp-plaintext-login", "ftp:21"): ("medium", "proftpd"),
        ("ftp-tls-certificate", "ftp:21"): ("medium", "proftpd"),
        ("ftp-anonymous-read", "ftp:2121"): ("critical", "vsftpd"),
        ("ftp-anonymous-upload", "ftp:2121"): ("medium", "vsftpd"),  # LIST mode bits only: uncertain
    }
    read = _ftp_findings(data, NAS)[("ftp-anonymous-read", "ftp:21")]
    assert set(read["remediation"]) == {"proftpd", "vsftpd", "iis", "synology", "qnap", "truenas", "generic"}
    assert any("<Anonymous" in step for step in read["remediation"]["proftpd"])


def test_ftp_and_smb_count_the_same_medical_files(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    """The anonymous FTP tree is the Samba lab's public and imaging fixtures: both doors count them alike."""
    _, _, data, _ = default_scan
    nas = next(h for h in data["hosts"] if h["address"] == NAS)
    smb: dict[str, int] = {}
    for share in nas["shares"]:
        if share["name"] in ("public", "imaging"):
            for kind, count in share["content"]["medical"].items():
                smb[kind] = smb.get(kind, 0) + count["count"]
    ftp = _tree(_ftp_services(data, NAS)[21], "anonymous")["content"]["medical"]
    assert {kind: count["count"] for kind, count in ftp.items()} == smb
    assert sum(smb.values()) > 10


def test_the_hardened_ftps_server_has_no_finding(default_scan: tuple[Run, Path, dict[str, Any], Any]) -> None:
    _, _, data, _ = default_scan
    services = _ftp_services(data, FS)
    explicit, implicit = services[21]["ftp"], services[990]["ftp"]
    assert (explicit["transport"], explicit["auth_tls"], explicit["plaintext_login"]) == (
        "plain",
        True,
        False,
    )
    assert "TLS required" in explicit["plaintext_reply"]
    assert (implicit["transport"], implicit["tls_version"]) == ("implicit_tls", "TLSv1.3")
    for ftp in (explicit, implicit):
        assert ftp["software"] is None  # the greeting names no product
        assert (ftp["certificate"]["self_signed"], ftp["certificate"]["expired"]) == (False, False)
        logins = {login["identity"]: (login["accepted"], login["tls"]) for login in ftp["logins"]}
        assert logins == {"anonymous": (False, True), "printer": (False, True), "audit": (True, True)}
    assert _ftp_findings(data, FS) == {}


def test_a_default_scan_changes_nothing_on_the_ftp_servers(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    before, after = default_scan[3]
    assert before == after
    assert len(before["labnas"]) > 40  # the trees were there to be walked


def test_no_password_or_patient_name_reaches_any_output(
    default_scan: tuple[Run, Path, dict[str, Any], Any],
) -> None:
    run, out, _, _ = default_scan
    texts = {"stdout": run.out, "stderr (--debug log)": run.err}
    for path in out.iterdir():
        texts[path.name] = path.read_bytes().decode("utf-8", errors="replace")
    with sqlite3.connect(out / "history.sqlite") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        texts["history rows"] = "\n".join(repr(db.execute(f"SELECT * FROM {t}").fetchall()) for t in tables)
    assert "RETR <path>" in run.err and "PASS <password>" in run.err  # the debug log did talk FTP
    assert any('"share": "ftp:21"' in line for line in texts["inventory.jsonl"].splitlines())
    secrets = (PASSWORDS["labaudit"], PASSWORDS["labscan"])
    leaks = {
        (name, marker)
        for name, text in texts.items()
        for marker in (*secrets, *PATIENT_MARKERS)
        if marker in text
    }
    assert not leaks


def test_smb_absent_and_ftp_answering_is_not_a_failed_target(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", f"{NAS}:4455", "--protocols", "smb,ftp", "--no-crawl", "--json", str(out), env=_env(tmp_path)
    )
    assert run.code == 0, run.text
    host = json.loads(out.read_text())["hosts"][0]
    assert (host["reachable"], host["error"], host["services"][0]["protocol"]) == (True, None, "smb")
    findings = {f["rule"]: f["severity"] for f in json.loads(out.read_text())["findings"]}
    # Not walked (--no-crawl): anonymous reads, what it holds is unknown.
    assert findings["ftp-anonymous-read"] == "high" and "target-not-scanned" not in findings


# --- the truth: every claim checked by doing it, on throwaway copies ---------------------------------------


class _Session(ftplib.FTP_TLS):
    """ftplib with the data connection's TLS session resumed (ProFTPD requires it; cpython#63699)."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            conn = self.context.wrap_socket(conn, session=self.sock.session)  # type: ignore[union-attr]
        return conn, size


def _open(server: FtpServer, address: str, user: str, password: str, tls: bool) -> ftplib.FTP:
    if not tls:
        plain = ftplib.FTP()
        plain.connect(address, server.port, timeout=10)
        plain.login(user, password)
        return plain
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    secured = _Session(context=context)
    secured.connect(address, server.port, timeout=10)
    secured.auth()
    secured.login(user, password)
    secured.prot_p()
    return secured


def _real(
    server: FtpServer,
    address: str,
    home: str,
    known: dict[str, tuple[bool, int, int, int]],
    account: tuple[str, str, bool],
) -> tuple[set[str], set[str]]:
    """What an account really does below where it lands: the folders a STOR works in, the files a RETR reads.

    The folders and files are the copy's own, as they were before any scan (`known`, from disk), so nothing
    depends on a listing the server might shape, nor on what earlier attempts left; every attempt is real."""
    user, password, tls = account
    writable, readable = set(), set()
    prefix = f"{home}/" if home else ""
    paths = {"": True} | {
        p[len(prefix) :]: d[0] for p, d in known.items() if p.startswith(prefix) and p != home
    }
    for relative, is_dir in sorted(paths.items()):
        with contextlib.closing(_open(server, address, user, password, tls)) as ftp:
            target = f"/{relative}" if relative else "/"
            if is_dir:
                name = f"{target.rstrip('/')}/truth-{uuid.uuid4().hex[:8]}.tmp"
                with contextlib.suppress(ftplib.error_perm):
                    ftp.storbinary(f"STOR {name}", _Empty())
                    writable.add(relative)
            else:
                with contextlib.suppress(ftplib.error_perm):
                    ftp.retrbinary(f"RETR {target}", lambda _: None)
                    readable.add(relative)
    return writable, readable


class _Empty:
    def read(self, _: int) -> bytes:
        return b""


_ANON = ("anonymous", "truth@audit.invalid")


def _claims(
    scan: dict[str, Any], port: int, identity: str, key: str = "writable"
) -> tuple[set[str], set[str]]:
    """What shareaudit said an identity may add files to: sure (granted or measured) and uncertain."""
    tree = _tree(_ftp_services(scan, scan["hosts"][0]["address"])[port], identity)
    sure = {f["path"] for f in tree["folders"] if f[key] and f["basis"] != "uncertain"}
    uncertain = {f["path"] for f in tree["folders"] if f[key] and f["basis"] == "uncertain"}
    return sure, uncertain


def _scan_copy(copy: ftplab.Copy, tmp: Path, name: str, *extra: str) -> tuple[Run, dict[str, Any]]:
    out = tmp / f"{name}.json"
    port = str(copy.instance.server.port)
    run = shareaudit(
        "scan", copy.address, "--protocols", "ftp", "--ftp-port", port, "--show-names", "-u", "labaudit",
        *extra, "--json", str(out), "--no-history", env=_env(tmp, SHAREAUDIT_PASSWORD_SCANNER=PASSWORDS["labdevice"]),
    )  # fmt: skip
    assert run.code in (0, 1), run.text[-3000:]
    return run, json.loads(out.read_text())


# (server, identities: label -> (user, password, TLS as shareaudit used it), the --identity options)
TRUTH_CASES = [
    (
        LABNAS_FTP,
        {
            "anonymous": (*_ANON, False),
            "printer": ("labscan", PASSWORDS["labscan"], True),
            "audit": ("labaudit", PASSWORDS["labaudit"], True),
        },
        ("--identity", "printer=labscan"),
        {"anonymous": "pub", "printer": "", "audit": ""},
    ),
    (LABNAS_LIST, {"anonymous": (*_ANON, False)}, (), {"anonymous": ""}),
    (
        LABFS_FTP,
        {
            "scanner": ("labdevice", PASSWORDS["labdevice"], True),
            "audit": ("labaudit", PASSWORDS["labaudit"], True),
        },
        ("--identity", "scanner=labdevice"),
        {"scanner": "scaninbox", "audit": ""},
    ),
]


@pytest.mark.parametrize(
    ("server", "identities", "options", "homes"), TRUTH_CASES, ids=[c[0].name for c in TRUTH_CASES]
)
def test_the_claims_are_true(
    tmp_path: Path,
    server: FtpServer,
    identities: dict[str, tuple[str, str, bool]],
    options: tuple[str, ...],
    homes: dict[str, str],
) -> None:
    """Read-only scan, the copy unchanged; the write probe; then each right done for real, as each identity:
    0 folders claimed writable that are not, 0 writable folders missed (uncertain ones only from LIST), and
    every file the walk counted is one the identity really reads."""
    address = COPY_ADDRESSES[TRUTH_CASES.index(next(c for c in TRUTH_CASES if c[0] is server))]
    table = [f"{server.name} ({server.daemon}) on {address}:{server.port}"]
    with ftplab.throwaway(server, address) as copy:
        before = snapshot(copy.tree)
        _, quiet = _scan_copy(copy, tmp_path, "read-only", *options)
        assert snapshot(copy.tree) == before, "a default scan changed the FTP tree"
        probe_run, probed = _scan_copy(copy, tmp_path, "probed", *options, "--active-write-probe")
        for label, account in identities.items():
            writable, readable = _real(server, copy.address, homes[label], before, account)
            sure, uncertain = _claims(quiet, server.port, label)
            measured, _ = _claims(probed, server.port, label)
            tree = _tree(_ftp_services(quiet, copy.address)[server.port], label)
            walked = (
                tree["content"]
                or _tree(_ftp_services(quiet, copy.address)[server.port], tree["same_as"])["content"]
            )
            looked_at = writable if tree["same_as"] is None else {w for w in writable if "/" not in w}
            table.append(
                f"  {label}: writable real {sorted(writable)}; claimed {sorted(sure)} + uncertain {sorted(uncertain)};"
                f" probed {sorted(measured)}; files read {len(readable)}, counted {walked['files_seen']}"
            )
            assert sure <= writable, f"{label}: claimed writable but not: {sure - writable}"
            assert looked_at <= sure | uncertain, (
                f"{label}: writable but missed: {looked_at - sure - uncertain}"
            )
            if server.daemon == "proftpd":
                assert not uncertain  # MLSD perm facts decide it
            assert looked_at <= measured <= writable, f"{label}: the probe says {measured}, really {writable}"
            assert walked["files_seen"] == len(readable), (
                f"{label}: counted {walked['files_seen']}, reads {len(readable)}"
            )
        left = [
            f["probe"]
            for tree in _ftp_services(probed, copy.address)[server.port]["ftp"]["trees"]
            for f in tree["folders"]
            if f["probe"] and f["probe"]["created"] and not f["probe"]["cleaned"]
        ]
        for probe in left:  # vsftpd lets anonymous upload but not delete: the probe says so, loudly
            assert (copy.tree / probe["path"]).exists() and probe["path"] in probe_run.err
            assert "left a file behind" in probe_run.err
        if server is LABNAS_LIST:
            assert left, "vsftpd refuses anonymous deletes: the probe file must be reported as left"
        else:
            assert not left
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"truth-ftp-{server.name}.txt").write_text("\n".join(table) + "\n")


# --- failing fast -------------------------------------------------------------------------------------------


def test_dead_and_silent_ports_fail_fast_with_one_line(tmp_path: Path, silent_server: int) -> None:
    out = tmp_path / "scan.json"
    started = time.monotonic()
    run = shareaudit(
        "scan", UNUSED_ADDRESSES[0], "127.0.0.1", "--protocols", "ftp", "--ftp-port", str(silent_server),
        "--timeout", "2", "--json", str(out), env=_env(tmp_path),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert run.code == 3, run.text
    assert "Traceback" not in run.err
    hosts = {h["address"]: h for h in json.loads(out.read_text())["hosts"]}
    dead = hosts[UNUSED_ADDRESSES[0]]
    assert dead["error"].startswith("no service answered (ftp 21: connection refused")
    for service in dead["services"]:
        assert (service["reachable"], service["error_kind"]) == (False, "refused") and service[
            "elapsed_s"
        ] < 1
    silent = {s["port"]: s for s in hosts["127.0.0.1"]["services"]}[silent_server]
    assert (silent["reachable"], silent["error_kind"], silent["error"]) == (
        False,
        "timeout",
        "connected, but no FTP greeting within 2 s",
    )
    assert silent["elapsed_s"] < 3 * 2 + 1  # plain, then TLS: two timeouts at most
    assert elapsed < 60  # a generous ceiling: ports are probed in parallel


@pytest.fixture
def dripping_ftp() -> Iterator[int]:
    """An FTP server on 127.0.0.1 that logs anonymous in and then drips its MLSD listing, a byte at a time."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def session(conn: socket.socket) -> None:
        data_listener: socket.socket | None = None
        conn.sendall(b"220 drip\r\n")
        buffer = b""
        while not stop.is_set():
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
            while b"\r\n" in buffer:
                line, buffer = buffer.split(b"\r\n", 1)
                verb = line.split(b" ", 1)[0].upper()
                if verb == b"PASV":
                    data_listener = socket.create_server(("127.0.0.1", 0))
                    port = data_listener.getsockname()[1]
                    conn.sendall(f"227 Passive (127,0,0,1,{port // 256},{port % 256})\r\n".encode())
                elif verb == b"MLSD" and data_listener is not None:
                    conn.sendall(b"150 here it comes\r\n")
                    data, _ = data_listener.accept()
                    while not stop.is_set():
                        data.sendall(b"t")
                        time.sleep(0.3)
                    data.close()
                    return
                else:
                    answers = {
                        b"FEAT": b"211-Features:\r\n MLST type*;perm*;size*;\r\n211 End\r\n",
                        b"USER": b"331 password please\r\n"
                        if line.lower().endswith(b"anonymous")
                        else b"530 no\r\n",
                        b"PASS": b"230 in\r\n",
                        b"PWD": b'257 "/"\r\n',
                        b"QUIT": b"221 bye\r\n",
                    }
                    conn.sendall(answers.get(verb, b"502 not here\r\n"))

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=lambda c=conn: _quietly(session, c), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def _quietly(session: Any, conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):
        session(conn)


def test_a_server_that_drips_a_listing_holds_the_host_for_a_bounded_time(
    tmp_path: Path, dripping_ftp: int
) -> None:
    out = tmp_path / "scan.json"
    run = shareaudit(
        "scan", "127.0.0.1", "--protocols", "ftp", "--ftp-port", str(dripping_ftp), "--timeout", "1",
        "--json", str(out), env=_env(tmp_path),
    )  # fmt: skip
    assert run.code == 3, run.text
    assert "Traceback" not in run.err
    data = json.loads(out.read_text())
    service = {s["port"]: s for s in data["hosts"][0]["services"]}[dripping_ftp]
    assert (service["reachable"], service["error_kind"]) == (True, "timeout")
    assert service["error"] == "the server did not finish a MLSD listing within 4 s"
    assert service["elapsed_s"] < 20  # a generous ceiling: the listing's deadline is 4 x --timeout
    assert "ftp-not-scanned" in {f["rule"] for f in data["findings"]}


def test_a_refused_login_is_recorded_and_bad_input_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    env = _env(tmp_path, SHAREAUDIT_PASSWORD_PRINTER="not-the-password")
    run = shareaudit(
        "scan",
        NAS,
        "--protocols",
        "ftp",
        "--no-crawl",
        "--identity",
        "printer=labscan",
        "--json",
        str(out),
        env=env,
    )
    assert run.code == 0 and "Traceback" not in run.err, run.text
    ftp = _ftp_services(json.loads(out.read_text()), NAS)[21]["ftp"]
    printer = next(login for login in ftp["logins"] if login["identity"] == "printer")
    assert (printer["accepted"], printer["reply"]) == (False, "530 Login incorrect.")
    assert "not-the-password" not in out.read_text() + run.text
    for args in (("--ftp-port", "0"), ("--ftp-port", "ftp"), ("--protocols", "ftp,telnet")):
        bad = shareaudit("scan", NAS, *args, env=env)
        assert bad.code == 2 and "Traceback" not in bad.err, bad.text
    config = tmp_path / "audit.toml"
    config.write_text("[ftp]\nports = [70000]\n")
    bad = shareaudit("scan", NAS, "--config", str(config), env=env)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "ftp.ports" in bad.err, bad.err


def test_the_device_check_covers_ftp(tmp_path: Path) -> None:
    """labscan over FTP reaches pub/ and medical data beyond its drop folder; labdevice is confined."""
    env = _env(tmp_path, SHAREAUDIT_PASSWORD_SCANNER=PASSWORDS["labdevice"])
    results = {}
    for target, account, drop in ((NAS, "printer=labscan", "scans"), (FS, "scanner=labdevice", "scaninbox")):
        out = tmp_path / f"device-{target}.json"
        run = shareaudit(
            "device", target, "--account", account, "--drop-share", drop, "--json", str(out), env=env
        )
        assert run.code in (0, 1) and "Traceback" not in run.err, run.text
        results[target] = (run, json.loads(out.read_text()))
    nas_run, nas = results[NAS]
    found = {f["rule"]: f["severity"] for f in nas["findings"] if f["rule"].startswith("device-ftp")}
    assert found == {"device-ftp-reach": "critical", "device-ftp-plaintext": "medium"}
    assert "over FTP: reaches nothing beyond its drop folder" in nas_run.out
    fs_run, fs = results[FS]
    assert not [f for f in fs["findings"] if f["rule"].startswith("device-ftp")]
    assert "over FTP: its password never crosses in clear text" in fs_run.out
