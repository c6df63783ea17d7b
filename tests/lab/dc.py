#!/usr/bin/env python3
"""Bring the lab's Samba AD DC up and down: `dc.py up|down|status`.

One `samba` (Active Directory domain controller) on its own loopback address (tests/lab/dcdata.py),
with all its state under $SHAREAUDIT_DC_DIR (default /tmp/shareaudit-dc): provisioned with
`samba-tool domain provision --targetdir`, configured from tests/lab/dc/smb.conf.in, seeded offline
with users, nested groups, computers, DNS records and published printers (dc_seed.py), and given
file shares whose NT ACLs name the domain's groups. Nothing under /etc changes.

The DC runs in a private mount namespace (`unshare --mount`), in the host's network namespace: its
smbd only finds its winbindd at the compiled-in /run/samba/winbindd (lab notes Q4, problem 2), so a
private directory is bind-mounted over /run/samba for it alone, and the lab's standalone smbds never
see a winbindd. Needs root (ports 53/88/389/445/636, ip addr, mount).

`up` is idempotent: when the DC is already running it returns at once; otherwise it rebuilds. A DC
seeded from other data than dcdata.py/dc_seed.py hold now is not reused silently: `up` fails and says
to rebuild it (`down`, then `up`), which only the person who knows nobody else is testing against it
should do.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dcdata
import lab
from lab import LabError as DcError
from lab import alive, run

HERE = Path(__file__).resolve().parent
DC_DIR = Path(os.environ.get("SHAREAUDIT_DC_DIR", "/tmp/shareaudit-dc"))
CONF = DC_DIR / "etc" / "smb.conf"
CLIENT_CONF = DC_DIR / "client.conf"
KRB5_CONF = DC_DIR / "krb5.conf"
CA_FILE = DC_DIR / "tls" / "ca.pem"
READY = DC_DIR / "ready.json"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with Samba's bindings (python3-samba)
NEEDED = ("samba", "samba-tool", "smbcacls", "unshare", "mount", "openssl", "ip", SYSTEM_PYTHON)
PORTS = (53, 88, 389, 445, 636)


def seed_fingerprint() -> str:
    """What the DC is built from: the seeded data (not the tests' expectations) and the seeder."""
    seeded = (
        dcdata.REALM, dcdata.WORKGROUP, dcdata.OUS, dcdata.GROUPS, dcdata.USERS, dcdata.MANAGED,
        dcdata.COMPUTERS, dcdata.PRINTERS, dcdata.DC_SHARES,
    )  # fmt: skip
    digest = hashlib.sha256(repr(seeded).encode())
    digest.update((HERE / "dc_seed.py").read_bytes())
    return digest.hexdigest()[:16]


def stale() -> bool:
    """The running DC was seeded from other data than the checkout's (or by a dc.py that did not say)."""
    return READY.exists() and json.loads(READY.read_text()).get("seed") != seed_fingerprint()


def port_open(port: int, timeout: float = 0.3) -> bool:
    """Whether the DC accepts connections on one of its ports."""
    return lab.port_open(dcdata.ADDRESS, port, timeout)


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise DcError("the DC needs root (privileged ports, ip addr, mount namespace)")
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        raise DcError(f"missing: {', '.join(missing)} (apt-get install samba-ad-dc winbind krb5-user)")


def ensure_address() -> None:
    lab.ensure_address(dcdata.ADDRESS)


def provision() -> None:
    # --host-ip gives the DC's own A record; interfaces/bind interfaces only keep it on its address.
    run(
        [
            "samba-tool",
            "domain",
            "provision",
            f"--targetdir={DC_DIR}",
            f"--realm={dcdata.REALM}",
            f"--domain={dcdata.WORKGROUP}",
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={dcdata.ADMIN_PASSWORD}",
            f"--host-name={dcdata.NETBIOS.lower()}",
            f"--host-ip={dcdata.ADDRESS}",
            "--use-rfc2307",
            f"--option=interfaces={dcdata.ADDRESS}",
            "--option=bind interfaces only=yes",
        ]
    )


def make_tls() -> None:
    """A lab CA and a server certificate for the DC's name and address, so clients can verify it."""
    tls = DC_DIR / "tls"
    tls.mkdir(mode=0o700, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        tls / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
         "/CN=shareaudit lab CA", "-keyout", str(ca_key), "-out", str(ca)])  # fmt: skip
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={dcdata.HOSTNAME}",
         "-keyout", str(key), "-out", str(csr)])  # fmt: skip
    extensions = tls / "san.ext"
    extensions.write_text(f"subjectAltName = DNS:{dcdata.HOSTNAME}, IP:{dcdata.ADDRESS}\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "30", "-extfile", str(extensions), "-out", str(cert)])  # fmt: skip
    key.chmod(0o600)  # samba refuses a key file others can read
    CA_FILE.chmod(0o644)


def write_configs() -> None:
    shares = "".join(
        f"\n[{name}]\n    path = {DC_DIR / 'shares' / name}\n    read only = no\n"
        # As on labacl: the NT ACL is the only gate (no POSIX mirror the kernel would check too).
        "    acl_xattr:ignore system acls = yes\n"
        for name in dcdata.DC_SHARES
    )
    values = {
        "NETBIOS": dcdata.NETBIOS,
        "WORKGROUP": dcdata.WORKGROUP,
        "REALM": dcdata.REALM,
        "DNSDOMAIN": dcdata.DNS_DOMAIN,
        "ADDRESS": dcdata.ADDRESS,
        "DIR": str(DC_DIR),
        "SHARES": shares,
    }
    text = (HERE / "dc" / "smb.conf.in").read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    CONF.write_text(text)
    # For smbcacls: NTLM to an address, never Kerberos (which would look the realm up in DNS).
    CLIENT_CONF.write_text(
        f"[global]\n    workgroup = {dcdata.WORKGROUP}\n    realm = {dcdata.REALM}\n"
        "    client use kerberos = off\n    client min protocol = SMB2\n"
    )
    # For Kerberos clients (kinit, GSSAPI binds): the KDC by address, no DNS look-ups at all.
    KRB5_CONF.write_text(
        "[libdefaults]\n"
        f"    default_realm = {dcdata.REALM}\n"
        "    dns_lookup_realm = false\n    dns_lookup_kdc = false\n"
        "    dns_canonicalize_hostname = false\n    rdns = false\n"
        f"[realms]\n    {dcdata.REALM} = {{\n        kdc = {dcdata.ADDRESS}\n    }}\n"
        f"[domain_realm]\n    .{dcdata.DNS_DOMAIN} = {dcdata.REALM}\n    {dcdata.DNS_DOMAIN} = {dcdata.REALM}\n"
    )


def prepare_dirs() -> None:
    for sub in ("lock", "cache", "run", "ncalrpc", "log", "run-samba"):
        (DC_DIR / sub).mkdir(parents=True, exist_ok=True)
    signd = DC_DIR / "ntp_signd"
    signd.mkdir(exist_ok=True)
    signd.chmod(0o750)  # samba exits otherwise (lab notes Q4, problem 1)
    for name in dcdata.DC_SHARES:
        path = DC_DIR / "shares" / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # the NT ACL set after start-up is the real gate
    from populate import dicom_bytes  # pydicom is needed here only

    study = DC_DIR / "shares" / "radiology" / "CT" / "STUDY01"
    study.mkdir(parents=True)
    for number in range(3):
        (study / f"IM{number:05d}.dcm").write_bytes(dicom_bytes("DOE^JANE", "R0042", seed=300 + number))
    (DC_DIR / "shares" / "scans" / "scan_0001.pdf").write_bytes(b"%PDF-1.4\n%lab scan\n")


def start() -> subprocess.Popen[bytes]:
    mount = f"mount --bind {DC_DIR / 'run-samba'} /run/samba && exec samba -s {CONF} --foreground --no-process-group"
    Path("/run/samba").mkdir(exist_ok=True)  # the bind-mount target (normally there with samba installed)
    log = open(DC_DIR / "log" / "samba.stdout", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not all(port_open(port) for port in PORTS):
        if proc.poll() is not None:
            tail = (DC_DIR / "log" / "samba.stdout").read_text(errors="replace")[-1200:]
            raise DcError(f"samba exited ({proc.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            raise DcError(f"samba did not listen on {dcdata.ADDRESS} ports {PORTS} within 60 s")
        time.sleep(0.1)
    return proc


def _trustee(name: str) -> str:
    return name if name.startswith("S-1-") else f"{dcdata.WORKGROUP}\\{name}"


def apply_acls() -> None:
    """NT ACLs on the DC's share roots, naming the domain's groups (smbcacls resolves them over LSA)."""
    admin = f"{dcdata.WORKGROUP}\\Administrator%{dcdata.ADMIN_PASSWORD}"
    owner = f"{dcdata.WORKGROUP}\\Domain Admins"
    for share, aces in dcdata.DC_SHARES.items():
        acl = ",".join(f"ACL:{_trustee(who)}:{kind}/{flags}/{mask}" for who, kind, flags, mask in aces)
        text = f"REVISION:1,OWNER:{owner},GROUP:{owner},{acl}"
        deadline = time.monotonic() + 20
        while True:  # right after start-up the DC's smbd may still be waiting for its winbindd
            proc = run(
                [
                    "smbcacls",
                    f"//{dcdata.ADDRESS}/{share}",
                    "/",
                    "-U",
                    admin,
                    "-s",
                    str(CLIENT_CONF),
                    "--set",
                    text,
                ],
                check=False,
            )
            if proc.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise DcError(f"smbcacls on {share} failed: {proc.stderr.strip() or proc.stdout.strip()}")
            time.sleep(0.5)


def running() -> bool:
    if not READY.exists():
        return False
    info = json.loads(READY.read_text())
    return alive(int(info["pid"])) and all(port_open(port) for port in PORTS)


def up() -> None:
    check_prerequisites()
    if running():
        if stale():
            raise DcError(
                f"the running DC ({DC_DIR}) was seeded from older tests/lab/dcdata.py or dc_seed.py; rebuild it "
                "when nobody else runs AD tests (pgrep -f 'pytest.*test_ad_lab'): "
                "tests/lab/dc.py down && tests/lab/dc.py up"
            )
        print(f"dc already running ({DC_DIR})")
        return
    started = time.monotonic()
    down(quiet=True)
    if DC_DIR.exists():
        shutil.rmtree(DC_DIR)
    DC_DIR.mkdir(parents=True)
    ensure_address()
    provision()
    provisioned = time.monotonic()
    make_tls()
    write_configs()
    prepare_dirs()
    run([SYSTEM_PYTHON, str(HERE / "dc_seed.py"), str(CONF)])
    seeded = time.monotonic()
    proc = start()
    listening = time.monotonic()
    apply_acls()
    READY.write_text(
        json.dumps(
            {"pid": proc.pid, "dir": str(DC_DIR), "address": dcdata.ADDRESS, "seed": seed_fingerprint()},
            indent=2,
        )
    )
    print(
        f"dc up in {time.monotonic() - started:.1f} s (provision {provisioned - started:.1f} s, "
        f"seed {seeded - provisioned:.1f} s, start {listening - seeded:.1f} s): "
        f"{dcdata.HOSTNAME}={dcdata.ADDRESS}, CA {CA_FILE}"
    )


def _our_processes(session: int | None) -> list[int]:
    """samba's processes: its session (the tasks) and whatever names this DC's configuration (smbd, winbindd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # /proc/PID/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if (session is not None and int(fields[3]) == session) or str(CONF).encode() in (
                entry / "cmdline"
            ).read_bytes():
                found.append(int(entry.name))
    return found


def down(quiet: bool = False) -> None:
    session = int(json.loads(READY.read_text())["pid"]) if READY.exists() else None
    for pid in _our_processes(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_our_processes(session) or any(port_open(p, 0.1) for p in PORTS)):
        time.sleep(0.1)
    for pid in _our_processes(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    READY.unlink(missing_ok=True)
    if not quiet:
        print("dc down")


def status() -> int:
    state = "up" if running() else "down"
    note = " (seeded from older data: rebuild with down, then up)" if state == "up" and stale() else ""
    print(f"labdc    {dcdata.ADDRESS:12} {state}{note}")
    return 0 if state == "up" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args()
    try:
        if args.command == "up":
            up()
        elif args.command == "down":
            down()
        else:
            return status()
    except DcError as exc:
        print(f"dc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
