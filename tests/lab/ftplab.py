#!/usr/bin/env python3
"""Bring the loopback FTP lab up and down: `ftplab.py up|down|status|copy NAME ADDRESS|discard DIR`.

The servers are described in tests/lab/ftpdata.py: ProFTPD on labnas (127.0.0.11:21, MLSD, anonymous
read and upload, optional TLS with an expired self-signed certificate) and on labfs (127.0.0.12:21 and
:990, TLS required, a certificate from the lab's CA), and vsFTPd on labnas:2121 (no MLSD). Each daemon runs
in the foreground as a child of this script (its own session), never as the packages' system services,
with its config rendered from tests/lab/conf/ftp/ and every file under its state directory in the lab
directory ($SHAREAUDIT_FTPLAB_DIR, default /tmp/shareaudit-ftplab). The trees hold the Samba lab's medical
fixtures (tests/lab/populate.py). The accounts live in the lab's own AuthUserFile: /etc/passwd is not
touched.

Two packages are not installed with the others: ProFTPD's TLS module is in proftpd-mod-crypto, and vsftpd
conflicts with proftpd-core as a Debian package. When they are missing, `up` fetches them with
`apt-get download` and unpacks them with `dpkg -x` into a cache ($SHAREAUDIT_FTPLAB_CACHE, default
/tmp/shareaudit-ftplab-cache) that `down` keeps; nothing is installed.

`up` is idempotent (a running lab is reused) and otherwise rebuilds everything from scratch; `down` stops
the daemons it started (by the pids it recorded) and removes the lab directory. `copy NAME ADDRESS`
starts a throwaway copy of one server on another loopback address (ftpdata.COPY_ADDRESSES) with its own
directory; `discard DIR` stops and removes it (in Python: `with throwaway(server, address) as copy`).
Tests that write use copies only. Needs root (ip addr, port 21, chown); Python with pydicom and
cryptography (the lab's certificates).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import daemons
from daemons import LabError, alive, ensure_address, port_open, run, stop

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ftpdata
from ftpdata import ANON_UID, NOBODY, OWNER_UID, SERVERS, UIDS, FtpServer

HERE = Path(__file__).resolve().parent
CONF_DIR = HERE / "conf" / "ftp"
LAB_DIR = Path(os.environ.get("SHAREAUDIT_FTPLAB_DIR", "/tmp/shareaudit-ftplab"))
CACHE = Path(os.environ.get("SHAREAUDIT_FTPLAB_CACHE", "/tmp/shareaudit-ftplab-cache"))
READY = LAB_DIR / "ready.json"
SYSTEM_MODULES = Path("/usr/lib/proftpd")
NEEDED = ("proftpd", "ip")


def check_prerequisites() -> None:
    daemons.check_prerequisites(
        "FTP", "ip addr add on lo, port 21, chown", NEEDED, "apt-get install proftpd-core iproute2"
    )


def check_no_wildcard_listener() -> None:
    """A server of the system's own on 0.0.0.0 would answer on every lab address, and the tests would audit it."""
    daemons.check_no_wildcard_listener(sorted({p for s in SERVERS for p in s.ports}), "a system FTP service?")


# --- the two packages that are not installed ------------------------------------------------------------


def unpacked(package: str) -> Path:
    """The package's files, unpacked into the cache (fetched with apt-get download when not there yet)."""
    target = CACHE / package
    if (target / ".unpacked").exists():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise LabError(f"{package} is needed and apt-get/dpkg are not there to fetch it")
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    debs.chmod(0o755)  # apt's download user must be able to write here, or it warns
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        run(["apt-get", "download", "-q", package], cwd=debs)
        found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise LabError(f"apt-get download {package} gave no package")
    shutil.rmtree(target, ignore_errors=True)
    run(["dpkg", "-x", str(found[-1]), str(target)])
    (target / ".unpacked").touch()
    return target


def tls_modules() -> Path:
    """A ModulePath holding mod_tls.so: the installed one (proftpd-mod-crypto), else the cached copy."""
    if (SYSTEM_MODULES / "mod_tls.so").exists():
        return SYSTEM_MODULES
    return unpacked("proftpd-mod-crypto") / "usr" / "lib" / "proftpd"


def vsftpd_binary() -> Path:
    installed = shutil.which("vsftpd")
    if installed:
        return Path(installed)
    return unpacked("vsftpd") / "usr" / "sbin" / "vsftpd"


# --- one daemon -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """One server of the lab (or a throwaway copy of it): where its files are, which address it binds."""

    server: FtpServer
    address: str
    root: Path = LAB_DIR

    @property
    def state(self) -> Path:
        return self.root / self.server.name

    @property
    def tree(self) -> Path:
        """The files the server serves (the named accounts' homes and the anonymous root are below)."""
        return self.state / "tree"

    @property
    def pid_file(self) -> Path:
        return self.state / "daemon.pid"


def build_tree(inst: Instance) -> None:
    """The server's files, from the Samba lab's fixtures (pydicom is needed here only)."""
    from populate import dicom_bytes, populate_labfs, populate_labnas

    server, tree = inst.server, inst.tree
    with tempfile.TemporaryDirectory(prefix="ftplab-") as scratch:
        source = Path(scratch)
        if server.name == "labnas":
            populate_labnas(source)
            pub = tree / "pub"
            pub.mkdir(parents=True)
            for name in ("public", "imaging"):
                shutil.copytree(source / name, pub / name)
            (pub / "README.txt").write_bytes(b"Anonymous FTP of the radiology NAS. Uploads: incoming/\n")
            (pub / ftpdata.ANON_UPLOAD).mkdir()
            (tree / "scans").mkdir()
            shutil.copy(source / "scans" / "scan_2024-03-04_001.pdf", tree / "scans")
        elif server.name == "labfs":
            populate_labfs(source)
            tree.mkdir(parents=True)
            for name in ("clinical", "finance", "scaninbox"):
                shutil.copytree(source / name, tree / name)
        else:  # labnas-list
            populate_labnas(source)
            public = tree / "public"
            shutil.copytree(source / "public" / "forms", public / "forms")
            (public / "case_7").mkdir()
            (public / "case_7" / "IM00001.dcm").write_bytes(dicom_bytes("LIST^ONLY", "L0007", seed=707))
            (public / "Exports").mkdir()
            shutil.copy(source / "public" / "Exports" / "adt_feed_backup.hl7", public / "Exports")
            (tree / ftpdata.LIST_UPLOAD).mkdir()
            (tree / ftpdata.LIST_DROP).mkdir()
    set_ownership(inst)


def set_ownership(inst: Instance) -> None:
    """Owners and modes: the Unix permissions are half of what the servers enforce (<Limit> the other)."""
    server, tree = inst.server, inst.tree
    run(["chown", "-R", f"{OWNER_UID}:{OWNER_UID}", str(tree)])
    run(["chmod", "-R", "u=rwX,go=rX", str(tree)])
    if server.name == "labnas":
        (tree / "pub" / ftpdata.ANON_UPLOAD).chmod(0o1733)  # anyone adds files; only their owner removes
        run(["chown", "-R", f"{UIDS['labscan']}:{UIDS['labscan']}", str(tree / "scans")])
    elif server.name == "labfs":
        for name in ("clinical", "finance"):  # only the audit account reads them
            run(["chown", "-R", f"{UIDS['labaudit']}:{OWNER_UID}", str(tree / name)])
            run(["chmod", "-R", "o-rwx", str(tree / name)])
        run(["chown", "-R", f"{UIDS['labdevice']}:{UIDS['labdevice']}", str(tree / "scaninbox")])
        (tree / "scaninbox").chmod(0o700)
    else:
        run(["chown", "-R", "0:0", str(tree)])
        run(["chmod", "-R", "a=rX", str(tree)])  # vsftpd refuses a writable anonymous root
        (tree / ftpdata.LIST_UPLOAD).chmod(0o777)
        (tree / ftpdata.LIST_DROP).chmod(0o733)


def write_accounts(inst: Instance) -> None:
    """ProFTPD's AuthUserFile/AuthGroupFile: the daemon's own user, the anonymous one, the named accounts."""
    server, tree = inst.server, inst.tree
    users = [
        f"nobody:*:{NOBODY}:{NOBODY}::/nonexistent:/usr/sbin/nologin",
        f"ftp:*:{ANON_UID}:{ANON_UID}:anonymous FTP:{tree / server.anonymous_root}:/usr/sbin/nologin",
    ]
    groups = [f"nogroup:x:{NOBODY}:", f"ftp:x:{ANON_UID}:", f"ftpowner:x:{OWNER_UID}:"]
    for account in server.accounts:
        hashed = run(["openssl", "passwd", "-6", "-salt", f"lab{account.uid}", account.password]).strip()
        home = tree / account.home if account.home else tree
        users.append(f"{account.name}:{hashed}:{account.uid}:{account.uid}::{home}:/bin/sh")
        groups.append(f"{account.name}:x:{account.uid}:")
    for name, lines in (("passwd", users), ("group", groups)):
        path = inst.state / name
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)


def write_certificates(inst: Instance) -> None:
    """labnas: self-signed and expired; labfs: issued by the lab's CA for its address, valid for 30 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls = inst.state / "tls"
    tls.mkdir()
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(f"{inst.server.name}.lab")
    alt = x509.SubjectAlternativeName(
        [x509.DNSName(f"{inst.server.name}.lab"), x509.IPAddress(ipaddress.ip_address(inst.address))]
    )
    builder = x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
    builder = builder.serial_number(x509.random_serial_number()).add_extension(alt, critical=False)
    if inst.server.certificate == "self-signed-expired":
        cert = (
            builder.issuer_name(subject)
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=35))
            .sign(key, hashes.SHA256())
        )
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = name("shareaudit lab FTP CA")
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=60))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        (tls / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cert = (
            builder.issuer_name(ca_name)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca_key, hashes.SHA256())
        )
    (tls / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tls / "server.key").write_bytes(pem(key))
    (tls / "server.key").chmod(0o600)


def render_config(inst: Instance) -> Path:
    server = inst.server
    if server.daemon == "proftpd":
        text = (CONF_DIR / "proftpd-common.conf.in").read_text() + (
            CONF_DIR / f"{server.name}.conf.in"
        ).read_text()
        path = inst.state / "proftpd.conf"
    else:
        text = (CONF_DIR / "vsftpd.conf.in").read_text()
        path = inst.state / "vsftpd.conf"
    values = {
        "ADDRESS": inst.address,
        "PORT": str(server.port),
        "IMPLICIT_PORT": str(server.implicit_port or 0),
        "STATE": str(inst.state),
        "TREE": str(inst.tree),
        "MODULES": str(tls_modules()) if server.daemon == "proftpd" else "",
        "PASV_LOW": str(server.passive[0]),
        "PASV_HIGH": str(server.passive[1]),
    }
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    path.write_text(text)
    path.chmod(0o600)  # vsftpd refuses a config file others may write; nobody else needs to read it
    return path


def prepare(inst: Instance) -> Path:
    """Every file of one server, from scratch; the path of its config."""
    if inst.state.exists():
        shutil.rmtree(inst.state)
    inst.state.mkdir(parents=True)
    inst.state.chmod(0o755)  # the daemons switch to the session's user before they read the tree
    (inst.state / "empty").mkdir()
    build_tree(inst)
    if inst.server.daemon == "proftpd":
        write_accounts(inst)
        write_certificates(inst)
    return render_config(inst)


def start(inst: Instance) -> int:
    """Prepare and start one daemon; its pid once it listens on every port."""
    server = inst.server
    config = prepare(inst)
    if server.daemon == "proftpd":
        command = ["proftpd", "--nodaemon", "--config", str(config)]
    else:
        command = [str(vsftpd_binary()), str(config)]
    log_path = inst.state / "daemon.out"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 20
    while not all(port_open(inst.address, port) for port in server.ports):
        if proc.poll() is not None:
            raise LabError(
                f"{server.daemon} for {server.name} exited ({proc.returncode}):\n"
                + log_path.read_text(errors="replace")[-1500:]
            )
        if time.monotonic() > deadline:
            stop(proc.pid)
            raise LabError(f"{server.daemon} for {server.name} did not listen on {inst.address} within 20 s")
        time.sleep(0.05)
    inst.pid_file.write_text(str(proc.pid))
    return proc.pid


# --- the shared lab --------------------------------------------------------------------------------------


def running() -> bool:
    """Every server runs (by its recorded pid) and answers on each of its ports."""
    pids = daemons.recorded(READY)
    return all(
        s.name in pids and alive(pids[s.name]) and all(port_open(s.address, p) for p in s.ports)
        for s in SERVERS
    )


def up() -> None:
    check_prerequisites()
    for server in SERVERS:
        ensure_address(server.address)
    if running():
        print(f"FTP lab already up ({LAB_DIR})")
        return
    down(quiet=True)
    check_no_wildcard_listener()
    for server in SERVERS:
        for port in server.ports:
            if port_open(server.address, port):
                raise LabError(f"something else listens on {server.address}:{port}")
    LAB_DIR.mkdir(parents=True)
    LAB_DIR.chmod(0o755)
    pids: dict[str, int] = {}
    try:
        for server in SERVERS:
            pids[server.name] = start(Instance(server, server.address))
    except BaseException:
        for pid in pids.values():
            stop(pid)
        raise
    READY.write_text(json.dumps({"pids": pids, "dir": str(LAB_DIR)}, indent=2))
    for server in SERVERS:
        ports = ", ".join(map(str, server.ports))
        print(f"{server.name}: {server.daemon} on {server.address} port {ports} (TLS {server.tls})")


def down(quiet: bool = False) -> None:
    daemons.down(READY, LAB_DIR, "FTP lab", quiet=quiet)


def status() -> int:
    up_now = running()
    report = {
        s.name: {"address": s.address, "ports": {p: port_open(s.address, p) for p in s.ports}}
        for s in SERVERS
    }
    print(json.dumps({"running": up_now, "dir": str(LAB_DIR), "servers": report}, indent=2))
    return 0 if up_now else 1


def tree_of(server: FtpServer) -> Path:
    """The shared lab's tree of a server (what its accounts see, below their homes)."""
    return Instance(server, server.address).tree


# --- throwaway copies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """A running throwaway copy of one server."""

    instance: Instance
    pid: int

    @property
    def address(self) -> str:
        return self.instance.address

    @property
    def tree(self) -> Path:
        return self.instance.tree


def start_copy(server: FtpServer, address: str) -> Copy:
    """A copy of `server` on `address` (one of ftpdata.COPY_ADDRESSES), in its own directory."""
    check_prerequisites()
    if address not in ftpdata.COPY_ADDRESSES:
        raise LabError(f"{address} is not one of ftpdata.COPY_ADDRESSES")
    ensure_address(address)
    for port in server.ports:
        if port_open(address, port, timeout=0.1):
            raise LabError(f"something already listens on {address}:{port}")
    root = Path(tempfile.mkdtemp(prefix=f"shareaudit-ftpcopy-{server.name}-", dir="/tmp"))
    root.chmod(0o755)
    inst = Instance(server, address, root)
    try:
        pid = start(inst)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    (root / "copy.json").write_text(json.dumps({"server": server.name, "address": address, "pid": pid}))
    return Copy(inst, pid)


def discard(copy: Copy) -> None:
    """Stop a copy and remove its directory."""
    stop(copy.pid)
    shutil.rmtree(copy.instance.root, ignore_errors=True)


@contextlib.contextmanager
def throwaway(server: FtpServer, address: str) -> Iterator[Copy]:
    """A throwaway copy of one server for the duration of a `with` block."""
    copy = start_copy(server, address)
    try:
        yield copy
    finally:
        discard(copy)


def main() -> int:
    args = sys.argv[1:] or ["status"]
    try:
        if args[0] == "up":
            up()
        elif args[0] == "down":
            down()
        elif args[0] == "status":
            return status()
        elif args[0] == "copy" and len(args) == 3:
            server = next((s for s in SERVERS if s.name == args[1]), None)
            if server is None:
                raise LabError(f"no FTP server named {args[1]} ({', '.join(s.name for s in SERVERS)})")
            copy = start_copy(server, args[2])
            print(f"{server.name} copy on {copy.address} in {copy.instance.root} (pid {copy.pid})")
        elif args[0] == "discard" and len(args) == 2:
            info = json.loads((Path(args[1]) / "copy.json").read_text())
            server = next(s for s in SERVERS if s.name == info["server"])
            discard(Copy(Instance(server, info["address"], Path(args[1])), info["pid"]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except LabError as exc:
        print(f"ftplab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
