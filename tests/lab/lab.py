#!/usr/bin/env python3
"""Bring the loopback Samba lab up and down: `lab.py up|down|status|serve NAME`.

Each personality (tests/lab/labdata.py) is its own smbd on its own 127.0.0.x address, port 445,
with every file it needs under the lab directory ($SHAREAUDIT_LAB_DIR, default /tmp/shareaudit-lab):
no change to /etc/samba and no system service. The Unix accounts and groups the servers map users
to are created with useradd/groupadd (idempotently). Needs root: port 445, useradd, ip addr, xattrs.

`up` is idempotent: when the lab is already running it returns at once; otherwise it rebuilds the
lab directory from scratch. `serve NAME` prepares one personality and runs its smbd in the
foreground (used by docker/compose.yaml, which mounts this same directory).
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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labdata
from labdata import LABACL, LABFS, LABNAS, PERSONALITIES, Personality

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


def state_dir(p: Personality) -> Path:
    return LAB_DIR / p.name


def conf_path(p: Personality) -> Path:
    return state_dir(p) / "smb.conf"


def shares_dir(p: Personality) -> Path:
    return LAB_DIR / "shares" / p.name


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
        if user.groups:
            run(["usermod", "-a", "-G", ",".join(user.groups), user.name])


def render_conf(p: Personality, address: str) -> str:
    state = state_dir(p)
    text = (CONF_DIR / "global.conf.in").read_text() + (CONF_DIR / f"{p.name}.conf.in").read_text()
    values = {
        "NETBIOS": p.netbios,
        "SERVER_STRING": p.server_string,
        "ADDRESS": address,
        "STATE": str(state),
        "SHARES": str(shares_dir(p)),
        "CONF_DIR": str(state),
        "VFS_OBJECTS": "acl_xattr full_audit" if p is LABACL else "full_audit",
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if address == "0.0.0.0":  # container: listen on every interface it has
        text = re.sub(r"^\s*(interfaces|bind interfaces only) = .*\n", "", text, flags=re.M)
    return text


def prepare(p: Personality, address: str) -> None:
    """Write the config, passdb, group mapping and share content of one personality."""
    state = state_dir(p)
    for sub in ("private", "state", "lock", "cache", "run", "ncalrpc", "log", "bind-dns"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "private").chmod(0o700)
    (state / "printcap").write_text(
        "HP_MFP_2F|HP MFP second floor:\nRadiology_Laser|Radiology film printer:\n"
    )
    shutil.copy(CONF_DIR / "labacl.usermap", state / "labacl.usermap")
    conf_path(p).write_text(render_conf(p, address))
    conf = str(conf_path(p))

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

    POPULATE[p.name](shares_dir(p))
    set_unix_permissions(p)


def set_unix_permissions(p: Personality) -> None:
    shares = shares_dir(p)
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


# --- start-up ----------------------------------------------------------------------------------


def start_smbd(p: Personality, address: str) -> subprocess.Popen[bytes]:
    cmd = ["smbd", "-s", str(conf_path(p)), "--foreground", "--no-process-group", "--debug-stdout", "-d", "1"]
    log = open(state_dir(p) / "log" / "smbd.stdout", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 15
    while not port_open(address):
        if proc.poll() is not None:
            tail = (state_dir(p) / "log" / "smbd.stdout").read_text(errors="replace")[-800:]
            raise LabError(f"smbd for {p.name} exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise LabError(f"smbd for {p.name} did not listen on {address}:445 within 15 s")
        time.sleep(0.05)
    return proc


def sid_of_group(p: Personality, group: str) -> str:
    out = run(["net", "-s", str(conf_path(p)), "groupmap", "list", f"ntgroup={group}"]).stdout
    match = re.search(r"\((S-1-5-21-[\d-]+)\)", out)
    if not match:
        raise LabError(f"no SID for group {group} on {p.name}: {out!r}")
    return match.group(1)


def sid_of_user(p: Personality, user: str) -> str:
    out = run(["pdbedit", "-s", str(conf_path(p)), "-u", user, "-v"]).stdout
    match = re.search(r"User SID:\s+(S-1-5-21-[\d-]+)", out)
    if not match:
        raise LabError(f"no SID for user {user} on {p.name}")
    return match.group(1)


def smbcacls_set(p: Personality, address: str, share: str, path: str, acl: str) -> None:
    admin = f"labadmin%{labdata.PASSWORDS['labadmin']}"
    run(["smbcacls", f"//{address}/{share}", path, "-U", admin, "--set", acl, "-s", str(conf_path(p))])


def apply_acls(p: Personality, address: str) -> None:
    """NT ACLs (through the running server, as the admin) and share-level ACLs."""
    conf = str(conf_path(p))
    admins = sid_of_group(p, "labadmins")
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
        device = sid_of_user(p, "labdevice")
        # The confined scanner account may add files and traverse, nothing else: 0x1000a2 =
        # FILE_ADD_FILE | FILE_TRAVERSE | FILE_READ_ATTRIBUTES | SYNCHRONIZE ([MS-SMB2] 2.2.13.1.2).
        smbcacls_set(
            p,
            address,
            "scaninbox",
            "/",
            f"REVISION:1,OWNER:{admins},GROUP:{admins},ACL:{device}:ALLOWED/0x0/0x001000a2,"
            f"ACL:{admins}:ALLOWED/OI|CI/FULL,ACL:S-1-3-0:ALLOWED/OI|CI|IO/FULL",
        )
    elif p is LABACL:
        staff, audit = sid_of_group(p, "labstaff"), sid_of_user(p, "labaudit")
        owner = f"REVISION:1,OWNER:{admins},GROUP:{admins}"
        full_admins = f"ACL:{admins}:ALLOWED/OI|CI/FULL"
        smbcacls_set(p, address, "depts", "/", f"{owner},ACL:S-1-1-0:ALLOWED/OI|CI/CHANGE,{full_admins}")
        read = "ALLOWED/OI|CI/READ"
        smbcacls_set(
            p, address, "records", "/", f"{owner},ACL:{staff}:{read},ACL:{audit}:{read},{full_admins}"
        )
        smbcacls_set(p, address, "research", "/", f"{owner},ACL:S-1-5-11:ALLOWED/OI|CI/CHANGE,{full_admins}")
        smbcacls_set(p, address, "itadmin", "/", f"{owner},{full_admins}")
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


def load_printers(p: Personality, address: str) -> None:
    # [printers] shares appear only once rpcd_spoolss has read the printcap, which happens on the
    # first spoolss call (measured: samba-lab-notes Q1 "Gotchas").
    admin = f"labadmin%{labdata.PASSWORDS['labadmin']}"
    run(["rpcclient", "-U", admin, "-c", "enumprinters", address, "-s", str(conf_path(p))], check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = run(["smbclient", "-N", "-L", f"//{address}", "-s", str(conf_path(p))], check=False).stdout
        if "HP_MFP_2F" in out:
            return
        time.sleep(0.2)
    raise LabError("the lab printers did not appear in the share list within 10 s")


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
        prepare(p, p.address)
        pids[p.name] = start_smbd(p, p.address).pid
    for p in PERSONALITIES:
        apply_acls(p, p.address)
    load_printers(LABNAS, LABNAS.address)
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR)}, indent=2))
    print(
        f"lab up in {time.monotonic() - started:.1f} s: "
        + ", ".join(f"{p.name}={p.address}" for p in PERSONALITIES)
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
    prepare(p, address)
    proc = start_smbd(p, "127.0.0.1" if address == "0.0.0.0" else address)
    apply_acls(p, "127.0.0.1" if address == "0.0.0.0" else address)
    if p is LABNAS:
        load_printers(p, "127.0.0.1" if address == "0.0.0.0" else address)
    sys.exit(proc.wait())


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
        else:
            serve(args.name, args.address)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
