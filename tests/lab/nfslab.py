#!/usr/bin/env python3
"""Bring the loopback NFS lab up and down: `nfslab.py up|down|status|copy EXPORT|discard`.

NFS-Ganesha from the Debian package (nfs-ganesha, nfs-ganesha-vfs) and rpcbind, both run by hand as
children of this script (their own session, never systemd), bound to labnas's address 127.0.0.11 only:
Ganesha by its Bind_addr, rpcbind (which binds TCP to every address) through the DICOM lab's bind shim
(tests/lab/dicom/bindaddr.c, built here). The exports (tests/lab/conf/nfs/ganesha.conf.in) hold files
made by tests/lab/populate.py; everything lives under $SHAREAUDIT_NFSLAB_DIR (default
/tmp/shareaudit-nfslab).

`copy EXPORT` makes a throwaway copy of one export (its tree copied with owners and modes, the same
clients, squash and access type) under a new path, added to the running server with SIGHUP, and prints
its path as JSON: tests write there, never in the lab's own exports. `discard` unexports every copy and
deletes it (the tests that make copies discard them when they are done, so other tests see the lab's own
exports only).

`up` is idempotent (a running lab is reused) and otherwise rebuilds everything from scratch; `down`
stops the servers it started (by the pids it recorded) and removes the lab directory.
Needs root (port 111, ip addr, chown), ganesha.nfsd, rpcbind, gcc.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import daemons
from daemons import LabError, alive, ensure_address, port_open, run, stop

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "conf" / "nfs" / "ganesha.conf.in"
SHIM_SOURCE = HERE / "dicom" / "bindaddr.c"
LAB_DIR = Path(os.environ.get("SHAREAUDIT_NFSLAB_DIR", "/tmp/shareaudit-nfslab"))
READY = LAB_DIR / "ready.json"
SHIM = LAB_DIR / "bindaddr.so"
NEEDED = ("ganesha.nfsd", "rpcbind", "gcc", "ip")


def check_prerequisites() -> None:
    daemons.check_prerequisites(
        "NFS",
        "port 111, ip addr add on lo, chown",
        NEEDED,
        "apt-get install nfs-ganesha nfs-ganesha-vfs rpcbind gcc libc6-dev iproute2",
    )


ADDRESS = "127.0.0.11"  # labnas: the same host as the SMB and DICOM doors
NFS_PORT = 2049
MNT_PORT = 20048
RPCBIND_PORT = 111
PRINTER_UID = 3001  # the scanner/printer's numeric uid on the NAS (no account needed: AUTH_SYS)
NOBODY = 65534


@dataclass(frozen=True)
class Export:
    """One export of the lab, as the scanner should find it."""

    name: str
    clients: tuple[str, ...]  # as Ganesha lists them in the MOUNT export list
    mountable: bool  # from 127.0.0.1
    root_squash: bool
    writable: bool  # Access_Type RW for the scanner's address

    @property
    def path(self) -> str:
        return f"/export/{self.name}"


EXPORTS = (
    Export("radiology", ("*",), mountable=True, root_squash=True, writable=True),
    Export("restricted", ("10.9.9.0/24",), mountable=False, root_squash=True, writable=True),
    Export("backup", ("127.0.0.0/8",), mountable=True, root_squash=False, writable=False),
    Export("scans", ("127.0.0.0/8", "192.0.2.7/32"), mountable=True, root_squash=True, writable=True),
)
ROOT_ONLY_FILE = "db_dump.sql"  # in backup: mode 0600, owner root


def export_dir(name: str) -> Path:
    return LAB_DIR / "exports" / name


# --- content ---------------------------------------------------------------------------------------------


def populate() -> None:
    """The exports' trees, from the SMB lab's own generators (tests/lab/populate.py)."""
    from populate import dicom_bytes, hl7_bytes, office_bytes, populate_labnas

    with tempfile.TemporaryDirectory() as tmp:
        populate_labnas(Path(tmp))
        shutil.copytree(Path(tmp) / "imaging", export_dir("radiology"))
        shutil.copytree(Path(tmp) / "pacs_export", export_dir("restricted"))
    index = export_dir("radiology") / ".index.db"  # only root may read it: the root squash test's file
    index.write_bytes(b"lab index stand-in\n" * 10)
    index.chmod(0o600)
    incoming = export_dir("radiology") / "incoming"  # a drop folder everyone may write to
    incoming.mkdir()
    incoming.chmod(0o1777)

    backup = export_dir("backup")
    (backup / "nightly").mkdir(parents=True)
    (backup / "nightly" / "README.txt").write_bytes(b"Nightly backups of the RIS database.\n")
    dump = backup / ROOT_ONLY_FILE
    dump.write_bytes(b"-- RIS database dump (lab stand-in)\n" * 20)
    dump.chmod(0o600)
    private = backup / "private"
    private.mkdir(mode=0o700)
    (private / "RIS_2024.hl7").write_bytes(hl7_bytes("DOE^JOHN", "448812"))
    (private / "RIS_2024.hl7").chmod(0o600)

    scans = export_dir("scans")
    scans.mkdir(parents=True)
    for day in (4, 5, 6):
        (scans / f"scan_2024-03-{day:02d}_001.pdf").write_bytes(office_bytes("pdf", 100 + day))
    (scans / "SMITH^MARY_referral.pdf").write_bytes(office_bytes("pdf", 160))
    (scans / "IM000001.dcm").write_bytes(dicom_bytes("SMITH^MARY", "551234", "CT", seed=170))
    for path in (scans, *scans.iterdir()):
        os.chown(path, PRINTER_UID, PRINTER_UID)
        path.chmod(0o700 if path.is_dir() else 0o600)
    for name in ("radiology", "restricted", "backup"):
        export_dir(name).chmod(0o755)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """Every entry under root: relative path -> (size, mtime ns, mode, uid, gid); the root itself as ''."""
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        size = 0 if path.is_dir() else info.st_size
        found[str(path.relative_to(root)) if path != root else ""] = (
            size,
            info.st_mtime_ns,
            info.st_mode,
            info.st_uid,
            info.st_gid,
        )
    return found


# --- servers ---------------------------------------------------------------------------------------------


def render_config() -> Path:
    text = CONFIG.read_text()
    for key, value in {
        "@LAB@": str(LAB_DIR),
        "@ADDRESS@": ADDRESS,
        "@NFS_PORT@": str(NFS_PORT),
        "@MNT_PORT@": str(MNT_PORT),
    }.items():
        text = text.replace(key, value)
    path = LAB_DIR / "ganesha.conf"
    path.write_text(text)
    (LAB_DIR / "copies.conf").write_text("# throwaway copies (nfslab.py copy)\n")
    return path


def spawn(cmd: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = open(LAB_DIR / log_name, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        cmd,
        cwd=LAB_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_listening(proc: subprocess.Popen[bytes], what: str, port: int, log_name: str) -> None:
    deadline = time.monotonic() + 30
    while not port_open(ADDRESS, port):
        if proc.poll() is not None:
            tail = (LAB_DIR / log_name).read_text(errors="replace")[-2000:]
            raise LabError(f"{what} exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            tail = (LAB_DIR / log_name).read_text(errors="replace")[-2000:]
            raise LabError(f"{what} did not listen on {ADDRESS}:{port} within 30 s:\n{tail}")
        time.sleep(0.1)


def start_rpcbind() -> int:
    """rpcbind bound to the lab address only (TCP and UDP), in the foreground."""
    env = {**os.environ, "LD_PRELOAD": str(SHIM), "SHAREAUDIT_BIND_ADDRESS": ADDRESS}
    proc = spawn(["rpcbind", "-f"], "rpcbind.log", env)
    wait_listening(proc, "rpcbind", RPCBIND_PORT, "rpcbind.log")
    return proc.pid


def start_ganesha(config: Path) -> int:
    for sub in ("recovery",):
        (LAB_DIR / sub).mkdir(exist_ok=True)
    proc = spawn(
        [
            "ganesha.nfsd", "-F", "-f", str(config), "-L", str(LAB_DIR / "ganesha.log"),
            "-p", str(LAB_DIR / "ganesha.pid"), "-N", "NIV_EVENT",
        ],
        "ganesha.out",
    )  # fmt: skip
    wait_listening(proc, "ganesha.nfsd", NFS_PORT, "ganesha.log")
    wait_listening(proc, "ganesha.nfsd (MOUNT)", MNT_PORT, "ganesha.log")
    return proc.pid


def recorded() -> dict[str, int]:
    return daemons.recorded(READY)


def running() -> bool:
    """Both servers run (by their recorded pids) and answer on their ports."""
    pids = recorded()
    return (
        all(name in pids and alive(pids[name]) for name in ("rpcbind", "ganesha"))
        and port_open(ADDRESS, NFS_PORT)
        and port_open(ADDRESS, RPCBIND_PORT)
    )


def up() -> None:
    check_prerequisites()
    ensure_address(ADDRESS)
    if running():
        print(f"NFS lab already up ({LAB_DIR})")
        return
    down(quiet=True)
    for port in (RPCBIND_PORT, NFS_PORT, MNT_PORT):
        if port_open(ADDRESS, port):
            raise LabError(f"something else listens on {ADDRESS}:{port} (a system rpcbind or nfsd?)")
    if Path("/run/rpcbind.sock").exists() and port_open("127.0.0.1", RPCBIND_PORT):
        raise LabError("a system rpcbind runs already (127.0.0.1:111): stop it before the NFS lab starts")
    LAB_DIR.mkdir(parents=True)
    run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(SHIM), str(SHIM_SOURCE), "-ldl"])
    populate()
    config = render_config()
    pids: dict[str, int] = {}
    try:
        pids["rpcbind"] = start_rpcbind()
        pids["ganesha"] = start_ganesha(config)
    except BaseException:
        for pid in pids.values():
            stop(pid)
        raise
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR), "copies": 0}, indent=2))
    print(f"labnas NFS: Ganesha on {ADDRESS}:{NFS_PORT} (MOUNT {MNT_PORT}), rpcbind on {ADDRESS}:111")
    for export in EXPORTS:
        print(f"  {export.path}: clients {', '.join(export.clients)}")


def down(quiet: bool = False) -> None:
    # Ganesha unregisters from rpcbind on its way out: it stops first.
    daemons.down(READY, LAB_DIR, "NFS lab", first=("ganesha", "rpcbind"), quiet=quiet)


_BLOCK = re.compile(r"^EXPORT \{\n(?:.*\n)*?^\}\n", re.MULTILINE)


def copy(name: str) -> dict[str, str]:
    """A throwaway copy of export `name`, served by the running Ganesha; its export path and directory."""
    if not running():
        raise LabError("the NFS lab is not running (nfslab.py up)")
    state = json.loads(READY.read_text())
    number = int(state.get("copies", 0)) + 1
    config = (LAB_DIR / "ganesha.conf").read_text()
    block = next((b for b in _BLOCK.findall(config) if f"Pseudo = /export/{name};" in b), None)
    if block is None:
        raise LabError(f"no export named {name!r}")
    copy_name = f"{name}-copy{number}"
    target = LAB_DIR / "copies" / copy_name
    target.parent.mkdir(exist_ok=True)
    shutil.copytree(export_dir(name), target, symlinks=True, copy_function=shutil.copy2)
    for path in [export_dir(name), *export_dir(name).rglob("*")]:
        twin = target / path.relative_to(export_dir(name))
        info = path.lstat()
        os.chown(twin, info.st_uid, info.st_gid, follow_symlinks=False)
        twin.chmod(info.st_mode & 0o7777)
    block = re.sub(r"Export_Id = \d+;", f"Export_Id = {100 + number};", block)
    block = block.replace(f"Path = {export_dir(name)};", f"Path = {target};")
    block = block.replace(f"Pseudo = /export/{name};", f"Pseudo = /copies/{copy_name};")
    with (LAB_DIR / "copies.conf").open("a") as out:
        out.write(block)
    state["copies"] = number
    READY.write_text(json.dumps(state, indent=2))
    os.kill(recorded()["ganesha"], signal.SIGHUP)
    deadline = time.monotonic() + 10
    log = LAB_DIR / "ganesha.log"
    while log.read_text(errors="replace").count("Reread exports complete") < number:
        if time.monotonic() > deadline:
            raise LabError("Ganesha did not reload its exports within 10 s (see ganesha.log)")
        time.sleep(0.1)
    return {"export": f"/copies/{copy_name}", "dir": str(target)}


def discard_copies() -> None:
    """Unexport every throwaway copy (Ganesha drops exports a reload no longer names) and delete their trees."""
    if not running():
        return
    config = LAB_DIR / "copies.conf"
    if not _BLOCK.findall(config.read_text()):
        return
    log = LAB_DIR / "ganesha.log"
    reloads = log.read_text(errors="replace").count("Reread exports complete")
    config.write_text("# throwaway copies (nfslab.py copy)\n")
    os.kill(recorded()["ganesha"], signal.SIGHUP)
    deadline = time.monotonic() + 10
    while log.read_text(errors="replace").count("Reread exports complete") <= reloads:
        if time.monotonic() > deadline:
            raise LabError("Ganesha did not reload its exports within 10 s (see ganesha.log)")
        time.sleep(0.1)
    shutil.rmtree(LAB_DIR / "copies", ignore_errors=True)


def status() -> int:
    up_now = running()
    report = {
        "running": up_now,
        "dir": str(LAB_DIR),
        "address": ADDRESS,
        "listening": {str(p): port_open(ADDRESS, p) for p in (RPCBIND_PORT, NFS_PORT, MNT_PORT)},
        "exports": [e.path for e in EXPORTS],
    }
    print(json.dumps(report, indent=2))
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
        elif command == "copy" and len(sys.argv) == 3:
            print(json.dumps(copy(sys.argv[2])))
        elif command == "discard":
            discard_copies()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except LabError as exc:
        print(f"nfslab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
