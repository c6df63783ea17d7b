#!/usr/bin/env python3
"""Bring the loopback Samba lab up and down: `lab.py up|down|status|serve NAME|copy NAME|discard DIR`.

Each personality (tests/lab/labdata.py) is its own smbd on its own 127.0.0.x address, port 445,
with every file it needs under the lab directory ($SHAREAUDIT_LAB_DIR, default /tmp/shareaudit-lab):
no change to /etc/samba and no system service. The Unix accounts and groups the servers map users
to are created with useradd/groupadd (idempotently). Needs root: port 445, useradd, ip addr, xattrs.

`up` is idempotent: when the lab is already running it returns at once; when some personalities run
and others do not (one was added, or died), it prepares and starts only the missing ones; when none
runs it rebuilds the lab directory from scratch. `serve NAME` prepares one personality and runs its
smbd in the foreground (used by docker/compose.yaml, which mounts this same directory).

`copy NAME` starts a throwaway copy of one personality (an `Instance` with its own lab directory under
/tmp and its own loopback address from labdata.COPY_ADDRESSES), prepared from scratch like the lab;
`discard DIR` stops it and removes it (in Python: `start_copy`/`discard`, or `with throwaway(...)`).
tests/test_truth_lab.py writes to such copies only, never to the shared lab.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labdata
from labdata import LABACL, LABFS, LABNAS, LABPOSIX, PERSONALITIES, Personality

HERE = Path(__file__).resolve().parent
CONF_DIR = HERE / "conf"
LAB_DIR = Path(os.environ.get("SHAREAUDIT_LAB_DIR", "/tmp/shareaudit-lab"))
READY = LAB_DIR / "ready.json"
NEEDED = ("smbd", "pdbedit", "smbpasswd", "net", "smbcacls", "sharesec", "rpcclient", "setfacl", "ip")


class LabError(RuntimeError):
    """The lab could not be brought up; the message says why."""


def run(cmd: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command, raising LabError with its output when it fails."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


@dataclass(frozen=True)
class Instance:
    """One smbd of a personality: the lab directory its files live in and the address it binds to.

    The shared lab is one instance per personality under LAB_DIR on the personality's address; a
    throwaway copy (`throwaway()`) is another instance with its own directory and address.
    """

    personality: Personality
    address: str  # what smbd binds to; "0.0.0.0" in a container
    root: Path = LAB_DIR

    @property
    def name(self) -> str:
        return self.personality.name

    @property
    def state(self) -> Path:
        return self.root / self.personality.name

    @property
    def conf(self) -> Path:
        return self.state / "smb.conf"

    @property
    def shares(self) -> Path:
        return self.root / "shares" / self.personality.name

    @property
    def reach(self) -> str:
        """The address a client on this machine connects to."""
        return "127.0.0.1" if self.address == "0.0.0.0" else self.address


def shared(p: Personality) -> Instance:
    """The shared lab's instance of a personality."""
    return Instance(p, p.address)


def state_dir(p: Personality) -> Path:
    return shared(p).state


def conf_path(p: Personality) -> Path:
    return shared(p).conf


def shares_dir(p: Personality) -> Path:
    return shared(p).shares


# --- preparation -------------------------------------------------------------------------------


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (port 445, useradd, ip addr, security.* xattrs)")
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (apt-get install samba smbclient acl iproute2)")


def port_open(address: str, port: int = 445, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=timeout):
        return True
    return False


def check_no_wildcard_listener() -> None:
    # A system smbd bound to 0.0.0.0:445 would answer on every lab address (and on the "unused" ones
    # the CIDR tests expect to be closed), so refuse to start rather than test the wrong server.
    probe = labdata.UNUSED_ADDRESSES[0]
    ensure_address(probe)
    try:
        if port_open(probe):
            raise LabError(
                f"something already listens on {probe}:445 (a system smbd on all addresses?); "
                "stop it first (e.g. `service smbd stop`)"
            )
    finally:
        run(["ip", "addr", "del", f"{probe}/32", "dev", "lo"], check=False)


def ensure_address(address: str) -> None:
    if address in ("127.0.0.1", "0.0.0.0"):
        return
    shown = run(["ip", "-4", "addr", "show", "dev", "lo"]).stdout
    if f"inet {address}/" not in shown:
        run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])


def ensure_unix_accounts() -> None:
    for group in labdata.GROUPS:
        try:
            grp.getgrnam(group)
        except KeyError:
            run(["groupadd", "--system", group])
    for user in labdata.USERS:
        try:
            pwd.getpwnam(user.name)
        except KeyError:
            run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user.name])
        missing = [g for g in user.groups if user.name not in grp.getgrnam(g).gr_mem]
        if missing:  # only then: concurrent copies would otherwise race for the lock on /etc/group
            run(["usermod", "-a", "-G", ",".join(missing), user.name])


def render_conf(inst: Instance) -> str:
    p = inst.personality
    text = (CONF_DIR / "global.conf.in").read_text() + (CONF_DIR / f"{p.name}.conf.in").read_text()
    values = {
        "NETBIOS": p.netbios,
        "SERVER_STRING": p.server_string,
        "ADDRESS": inst.address,
        "STATE": str(inst.state),
        "SHARES": str(inst.shares),
        "CONF_DIR": str(inst.state),
        "VFS_OBJECTS": "acl_xattr full_audit" if p is LABACL else "full_audit",
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if inst.address == "0.0.0.0":  # container: listen on every interface it has
        text = re.sub(r"^\s*(interfaces|bind interfaces only) = .*\n", "", text, flags=re.M)
    return text


def prepare(inst: Instance) -> None:
    """Write the config, passdb, group mapping and share content of one instance, from scratch."""
    p, state = inst.personality, inst.state
    for old in (state, inst.shares):  # a personality restarted alone, or a copy's directory reused
        if old.exists():
            shutil.rmtree(old)
    for sub in ("private", "state", "lock", "cache", "run", "ncalrpc", "log", "bind-dns"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "private").chmod(0o700)
    (state / "printcap").write_text(
        "HP_MFP_2F|HP MFP second floor:\nRadiology_Laser|Radiology film printer:\n"
    )
    shutil.copy(CONF_DIR / "labacl.usermap", state / "labacl.usermap")
    inst.conf.write_text(render_conf(inst))
    conf = str(inst.conf)

    for user in labdata.USERS:
        if user.name == "labguest":
            if p is LABACL:
                # A real account whose password is empty. smbpasswd refuses an empty password and
                # `-n` (null password) leaves no session key, which SMB2 needs; so give it the NT hash
                # of the empty string, MD4(UTF-16LE("")) ([MS-NLMP] 3.3.1).
                run(["smbpasswd", "-c", conf, "-s", "-a", user.name], stdin="placeholder-1\nplaceholder-1\n")
                run(
                    ["pdbedit", "-s", conf, "-u", user.name, "--set-nt-hash=31D6CFE0D16AE931B73C59D7E0C089C0"]
                )
            continue
        run(["smbpasswd", "-c", conf, "-s", "-a", user.name], stdin=f"{user.password}\n{user.password}\n")
    for group in labdata.GROUPS:
        run(["net", "-s", conf, "groupmap", "add", f"ntgroup={group}", f"unixgroup={group}", "type=domain"])

    from populate import POPULATE  # pydicom is only needed here, not for up/down/status

    POPULATE[p.name](inst.shares)
    set_unix_permissions(inst)


def set_unix_permissions(inst: Instance) -> None:
    p, shares = inst.personality, inst.shares
    run(["chown", "-R", "root:root", str(shares)])
    run(["chmod", "-R", "u=rwX,go=rX", str(shares)])
    if p is LABNAS:
        for name in ("scans", "spool"):
            (shares / name).chmod(0o1777 if name == "spool" else 0o777)
        run(["chown", "-R", "nobody:nogroup", str(shares / "scans")])
        run(["chmod", "-R", "a+rw", str(shares / "scans")])
        restricted = [("imaging", "labstaff", "2750"), ("hr", "labadmins", "2770")]
        restricted.append(("print_drivers", "labscanners", "2775"))
        for name, group, mode in restricted:
            run(["chgrp", "-R", group, str(shares / name)])
            run(["chmod", mode, str(shares / name)])
        run(["chmod", "-R", "g+w", str(shares / "print_drivers")])
        run(
            [
                "setfacl",
                "-R",
                "-m",
                "u:labscan:rX,u:labaudit:rX,d:u:labscan:rX,d:u:labaudit:rX",
                str(shares / "imaging"),
            ]
        )
        # A directory inside a guest-readable share that guest cannot enter but the audit account can.
        staff_only = shares / "public" / "Staff only"
        from populate import dicom_bytes

        staff_only.mkdir(exist_ok=True)
        (staff_only / "handover.dcm").write_bytes(dicom_bytes("STAFF^ONLY", "S0001", seed=77))
        run(["chgrp", "-R", "labstaff", str(staff_only)])
        staff_only.chmod(0o750)
        run(["setfacl", "-R", "-m", "u:labaudit:rX", str(staff_only)])
    elif p is LABFS:
        for name, group, mode in (("finance", "labadmins", "2770"), ("clinical", "labstaff", "2750")):
            run(["chgrp", "-R", group, str(shares / name)])
            run(["chmod", mode, str(shares / name)])
        run(["setfacl", "-R", "-m", "u:labaudit:rX,d:u:labaudit:rX", str(shares / "clinical")])
        (shares / "scaninbox").chmod(0o777)  # the NT ACL set after start-up is the real gate
    elif p is LABACL:
        for name in ("depts", "records", "research", "itadmin"):
            run(["chmod", "-R", "a+rwX", str(shares / name)])  # the NT ACLs are the real gate
    elif p is LABPOSIX:
        # The mode bits are the only gate; Samba shows each class with rwx as FULL control.
        (shares / "dropbox").chmod(0o777)  # root-owned, everyone rwx: nobody but root may chmod/chown it
        for name, mode in (("wards", "2770"), ("archive", "2775")):  # the group's rwx; archive is read only
            run(["chgrp", "-R", "labstaff", str(shares / name)])
            run(["chmod", "-R", "g+w", str(shares / name)])
            run(["chmod", mode, str(shares / name)])
        home = shares / "home_labuser"  # the one root whose owner really can change its permissions
        run(["chown", "-R", "labuser:labuser", str(home)])
        home.chmod(0o755)


# --- start-up ----------------------------------------------------------------------------------


def start_smbd(inst: Instance) -> subprocess.Popen[bytes]:
    cmd = ["smbd", "-s", str(inst.conf), "--foreground", "--no-process-group", "--debug-stdout", "-d", "1"]
    log = open(inst.state / "log" / "smbd.stdout", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 15
    while not port_open(inst.reach):
        if proc.poll() is not None:
            tail = (inst.state / "log" / "smbd.stdout").read_text(errors="replace")[-800:]
            raise LabError(f"smbd for {inst.name} exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise LabError(f"smbd for {inst.name} did not listen on {inst.reach}:445 within 15 s")
        time.sleep(0.05)
    return proc


def sid_of_group(inst: Instance, group: str) -> str:
    out = run(["net", "-s", str(inst.conf), "groupmap", "list", f"ntgroup={group}"]).stdout
    match = re.search(r"\((S-1-5-21-[\d-]+)\)", out)
    if not match:
        raise LabError(f"no SID for group {group} on {inst.name}: {out!r}")
    return match.group(1)


def sid_of_user(inst: Instance, user: str) -> str:
    out = run(["pdbedit", "-s", str(inst.conf), "-u", user, "-v"]).stdout
    match = re.search(r"User SID:\s+(S-1-5-21-[\d-]+)", out)
    if not match:
        raise LabError(f"no SID for user {user} on {inst.name}")
    return match.group(1)


def domain_sid(inst: Instance) -> str:
    """The instance's own machine SID (each instance has its own, made when its passdb was)."""
    out = run(["net", "-s", str(inst.conf), "getlocalsid"]).stdout
    match = re.search(r"(S-1-5-21-[\d-]+)", out)
    if not match:
        raise LabError(f"no local SID for {inst.name}: {out!r}")
    return match.group(1)


def smbcacls_set(inst: Instance, share: str, path: str, acl: str) -> None:
    admin = f"labadmin%{labdata.PASSWORDS['labadmin']}"
    run(["smbcacls", f"//{inst.reach}/{share}", path, "-U", admin, "--set", acl, "-s", str(inst.conf)])


def apply_acls(inst: Instance) -> None:
    """NT ACLs (through the running server, as the admin) and share-level ACLs."""
    p, conf = inst.personality, str(inst.conf)
    admins = sid_of_group(inst, "labadmins")
    if p is LABNAS:
        run(
            [
                "sharesec",
                "-s",
                conf,
                "imaging",
                "--replace",
                f"S-1-1-0:ALLOWED/0x0/READ,{admins}:ALLOWED/0x0/FULL",
            ]
        )
        run(["sharesec", "-s", conf, "scans", "--replace", "S-1-1-0:ALLOWED/0x0/FULL"])
    elif p is LABFS:
        device = sid_of_user(inst, "labdevice")
        # The confined scanner account may add files and traverse, nothing else: 0x1000a2 =
        # FILE_ADD_FILE | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE ([MS-SMB2] 2.2.13.1.2).
        smbcacls_set(
            inst,
            "scaninbox",
            "/",
            f"REVISION:1,OWNER:{admins},GROUP:{admins},ACL:{device}:ALLOWED/0x0/0x001000a2,"
            f"ACL:{admins}:ALLOWED/OI|CI/FULL,ACL:S-1-3-0:ALLOWED/OI|CI|IO/FULL",
        )
    elif p is LABACL:
        staff, audit = sid_of_group(inst, "labstaff"), sid_of_user(inst, "labaudit")
        owner = f"REVISION:1,OWNER:{admins},GROUP:{admins}"
        full_admins = f"ACL:{admins}:ALLOWED/OI|CI/FULL"
        smbcacls_set(inst, "depts", "/", f"{owner},ACL:S-1-1-0:ALLOWED/OI|CI/CHANGE,{full_admins}")
        read = "ALLOWED/OI|CI/READ"
        smbcacls_set(inst, "records", "/", f"{owner},ACL:{staff}:{read},ACL:{audit}:{read},{full_admins}")
        smbcacls_set(inst, "research", "/", f"{owner},ACL:S-1-5-11:ALLOWED/OI|CI/CHANGE,{full_admins}")
        smbcacls_set(inst, "itadmin", "/", f"{owner},{full_admins}")
        run(
            [
                "sharesec",
                "-s",
                conf,
                "research",
                "--replace",
                f"S-1-5-11:ALLOWED/0x0/FULL,{admins}:ALLOWED/0x0/FULL",
            ]
        )


def load_printers(inst: Instance) -> None:
    # [printers] shares appear only once rpcd_spoolss has read the printcap, which happens on the
    # first spoolss call (measured: samba-lab-notes Q1 "Gotchas").
    admin = f"labadmin%{labdata.PASSWORDS['labadmin']}"
    conf = str(inst.conf)
    run(["rpcclient", "-U", admin, "-c", "enumprinters", inst.reach, "-s", conf], check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = run(["smbclient", "-N", "-L", f"//{inst.reach}", "-s", conf], check=False).stdout
        if "HP_MFP_2F" in out:
            return
        time.sleep(0.2)
    raise LabError("the lab printers did not appear in the share list within 10 s")


def start(inst: Instance) -> subprocess.Popen[bytes]:
    """Prepare one instance from scratch and start it: smbd listening, ACLs set, printers loaded."""
    prepare(inst)
    proc = start_smbd(inst)
    apply_acls(inst)
    if inst.personality is LABNAS:
        load_printers(inst)
    return proc


def instance_processes(inst: Instance) -> list[int]:
    """Processes started for this instance: smbd (`-s CONF`) and its helpers (`--configfile=CONF`)."""
    conf, found = str(inst.conf), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if conf in args or f"--configfile={conf}" in args:
            found.append(int(entry.name))
    return found


def stop(inst: Instance, pid: int | None) -> None:
    """Stop one instance: its smbd's process group, then the helpers that carry its config path."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for helper in instance_processes(inst):
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (instance_processes(inst) or port_open(inst.reach, timeout=0.1)):
        time.sleep(0.05)
    for helper in instance_processes(inst):
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)


# --- throwaway copies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """A running throwaway instance: what to connect to, and what to stop."""

    instance: Instance
    pid: int
    seconds: float  # how long preparing and starting it took

    @property
    def address(self) -> str:
        return self.instance.reach


def start_copy(p: Personality, address: str, root: Path | None = None) -> Copy:
    """Start a throwaway copy of one personality: its own directory and address, prepared from scratch.

    The copy has its own config, passdb (and so its own machine SID), content, permissions and NT
    ACLs; nothing of the shared lab is read or written. `discard(copy)` stops and removes it.
    """
    check_prerequisites()
    if address in {q.address for q in PERSONALITIES} or address in labdata.UNUSED_ADDRESSES:
        raise LabError(f"{address} belongs to the shared lab; use one of labdata.COPY_ADDRESSES")
    ensure_address(address)
    if port_open(address, timeout=0.1):
        raise LabError(f"something already listens on {address}:445")
    started = time.monotonic()
    root = root or Path(tempfile.mkdtemp(prefix=f"shareaudit-copy-{p.name}-", dir="/tmp"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # smbd serves the shares as the lab users: the path must be traversable
    ensure_unix_accounts()
    inst = Instance(p, address, root)
    try:
        proc = start(inst)
    except BaseException:
        stop(inst, None)
        run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)
        shutil.rmtree(root, ignore_errors=True)
        raise
    copy = Copy(inst, proc.pid, time.monotonic() - started)
    (root / "copy.json").write_text(
        json.dumps({"personality": p.name, "address": address, "pid": proc.pid, "seconds": copy.seconds})
    )
    return copy


def discard(copy: Copy) -> None:
    """Stop a throwaway copy (smbd and its RPC helpers), release its address and remove its directory."""
    stop(copy.instance, copy.pid)
    run(["ip", "addr", "del", f"{copy.instance.address}/32", "dev", "lo"], check=False)
    shutil.rmtree(copy.instance.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway(p: Personality, address: str, root: Path | None = None) -> Iterator[Copy]:
    """A throwaway copy of one personality for the duration of a `with` block."""
    copy = start_copy(p, address, root)
    try:
        yield copy
    finally:
        discard(copy)


def load_copy(root: Path) -> Copy:
    """The copy started in this directory (by `lab.py copy`)."""
    info = json.loads((root / "copy.json").read_text())
    p = next(q for q in PERSONALITIES if q.name == info["personality"])
    return Copy(Instance(p, info["address"], root), info["pid"], info["seconds"])


# --- commands ----------------------------------------------------------------------------------


def running() -> bool:
    if not READY.exists():
        return False
    info = json.loads(READY.read_text())
    return all(alive(pid) for pid in info["pids"].values()) and all(
        port_open(p.address) for p in PERSONALITIES
    )


def alive(pid: int) -> bool:
    """Whether a process exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up() -> None:
    check_prerequisites()
    if running():
        print(f"lab already running ({LAB_DIR})")
        return
    started = time.monotonic()
    pids = json.loads(READY.read_text())["pids"] if READY.exists() else {}
    healthy = {
        p.name for p in PERSONALITIES if p.name in pids and alive(pids[p.name]) and port_open(p.address)
    }
    if healthy:
        start_missing(pids, healthy, started)
        return
    down(quiet=True)
    check_no_wildcard_listener()
    if LAB_DIR.exists():
        shutil.rmtree(LAB_DIR)
    LAB_DIR.mkdir(parents=True)
    LAB_DIR.chmod(0o755)
    ensure_unix_accounts()
    pids = {}
    for p in PERSONALITIES:
        ensure_address(p.address)
        prepare(shared(p))
        pids[p.name] = start_smbd(shared(p)).pid
    for p in PERSONALITIES:
        apply_acls(shared(p))
    load_printers(shared(LABNAS))
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR)}, indent=2))
    print(
        f"lab up in {time.monotonic() - started:.1f} s: "
        + ", ".join(f"{p.name}={p.address}" for p in PERSONALITIES)
    )


def start_missing(pids: dict[str, int], healthy: set[str], started: float) -> None:
    """Prepare and start the personalities that do not run; leave the running ones alone."""
    ensure_unix_accounts()
    missing = [p for p in PERSONALITIES if p.name not in healthy]
    for p in missing:
        stop(shared(p), pids.get(p.name))  # whatever is left of it (a dead smbd's helpers)
        ensure_address(p.address)
        if port_open(p.address):
            raise LabError(f"something else listens on {p.address}:445")
        pids[p.name] = start(shared(p)).pid
    pids = {p.name: pids[p.name] for p in PERSONALITIES}
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR)}, indent=2))
    print(
        f"lab up in {time.monotonic() - started:.1f} s: started "
        + ", ".join(f"{p.name}={p.address}" for p in missing)
        + "; already running: "
        + ", ".join(sorted(healthy))
    )


def down(quiet: bool = False) -> None:
    pids = json.loads(READY.read_text())["pids"] if READY.exists() else {}
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    # smbd's helpers (samba-dcerpcd, rpcd_*, samba-bgqd) carry the lab's config path on their command line.
    for p in PERSONALITIES:
        run(["pkill", "-TERM", "-f", str(conf_path(p))], check=False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(port_open(p.address, timeout=0.1) for p in PERSONALITIES):
        time.sleep(0.05)
    for p in PERSONALITIES:
        run(["pkill", "-KILL", "-f", str(conf_path(p))], check=False)
    READY.unlink(missing_ok=True)
    if not quiet:
        print("lab down")


def reset_rpc(names: list[str]) -> None:
    """Stop the RPC helpers of some personalities; smbd starts fresh ones on the next pipe open.

    Samba 4.17's rpcd_classic worker, once it has answered srvsvc for an administrator, goes on
    returning level-502 share ACLs to every later caller, anonymous included (measured in this lab).
    The test session resets them after every test that scanned as an administrator (tests/labrpc.py).
    """
    for p in PERSONALITIES:
        if p.name in names:
            for helper in ("samba-dcerpcd", "rpcd_"):
                run(["pkill", "-TERM", "-f", f"{helper}.*--configfile={conf_path(p)}"], check=False)
    patterns = [f"rpcd_classic.*--configfile={conf_path(p)}" for p in PERSONALITIES if p.name in names]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        run(["pgrep", "-f", pat], check=False).stdout for pat in patterns
    ):
        time.sleep(0.05)


def status() -> int:
    for p in PERSONALITIES:
        state = "up" if port_open(p.address) else "down"
        print(f"{p.name:8} {p.address:12} {state}")
    return 0 if running() else 1


def serve(name: str, address: str) -> None:
    check_prerequisites()
    p = next(p for p in PERSONALITIES if p.name == name)
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    ensure_unix_accounts()
    proc = start(Instance(p, address))
    sys.exit(proc.wait())


def copy_command(name: str, address: str, root: Path | None) -> None:
    p = next(p for p in PERSONALITIES if p.name == name)
    copy = start_copy(p, address, root)
    print(
        json.dumps(
            {
                "dir": str(copy.instance.root),
                "address": address,
                "pid": copy.pid,
                "seconds": round(copy.seconds, 2),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("status")
    reset = sub.add_parser("reset-rpc", help="restart the RPC helpers of some personalities")
    reset.add_argument("names", nargs="+", choices=[p.name for p in PERSONALITIES])
    serve_cmd = sub.add_parser("serve", help="prepare one personality and run its smbd in the foreground")
    serve_cmd.add_argument("name", choices=[p.name for p in PERSONALITIES])
    serve_cmd.add_argument("--address", default="0.0.0.0")
    copy_cmd = sub.add_parser("copy", help="start a throwaway copy of one personality; prints its directory")
    copy_cmd.add_argument("name", choices=[p.name for p in PERSONALITIES])
    copy_cmd.add_argument("--address", default=labdata.COPY_ADDRESSES[-1], choices=labdata.COPY_ADDRESSES)
    copy_cmd.add_argument("--dir", type=Path, help="its lab directory (default: a new one under /tmp)")
    discard_cmd = sub.add_parser("discard", help="stop a throwaway copy and remove its directory")
    discard_cmd.add_argument("dir", type=Path)
    args = parser.parse_args()
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down()
        elif args.command == "status":
            return status()
        elif args.command == "reset-rpc":
            reset_rpc(args.names)
        elif args.command == "copy":
            copy_command(args.name, args.address, args.dir)
        elif args.command == "discard":
            discard(load_copy(args.dir))
        else:
            serve(args.name, args.address)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
