"""The FTP door without a server: listings (MLSD, LIST; with a Hypothesis fuzz), the pure decisions, the
certificate's facts, the client's deadlines and abandoned transfers against scripted servers, the rules both
ways, platforms, options, the JSON round trip and the renderers. tests/test_ftp_lab.py does it for real."""

from __future__ import annotations

import contextlib
import datetime
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from synthetic import HOSTILE, content, host, result

from shareaudit import scanfile
from shareaudit.collect.ftp import judge
from shareaudit.collect.ftp.certificate import certificate_facts
from shareaudit.collect.ftp.client import FtpClient, Reply, _shown
from shareaudit.collect.ftp.listing import (
    DIR,
    FILE,
    LINK,
    FtpEntry,
    parse_list,
    parse_list_line,
    parse_mlsd,
    parse_mlsd_line,
)
from shareaudit.collect.ftp.options import DEFAULT_PORTS, ftp_options
from shareaudit.errors import CollectError, FailureKind, InputError
from shareaudit.model import (
    Basis,
    FtpCertificate,
    FtpFacts,
    FtpFolder,
    FtpLogin,
    FtpTree,
    ScanResult,
    Service,
    WriteProbe,
)
from shareaudit.render import html
from shareaudit.render.services import absent_notes, ftp_rows
from shareaudit.render.terminal import leftover_probes, print_summary
from shareaudit.rules import evaluate
from shareaudit.rules.catalog import family_texts
from shareaudit.rules.platform import FTP_PLATFORMS, detect_ftp

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- listings ------------------------------------------------------------------------------------------------

# As the lab's ProFTPD 1.3.8 sends them (tests/lab/ftplab.py), and two that servers write differently.
PROFTPD_MLSD = (
    b"modify=20261129185842;perm=fle;type=dir;unique=FE00U2105D3;UNIX.group=60020;UNIX.mode=0755; public\r\n"
    b"modify=20261129185842;perm=fle;type=cdir;unique=FE00U2105C3;UNIX.mode=0755; .\r\n"
    b"modify=20261129185842;perm=cdmpe;type=dir;unique=FE00U210777;UNIX.mode=01733; incoming\r\n"
    b"modify=20261129185842;perm=adfr;size=55;type=file;unique=FE00U210776;UNIX.mode=0644; README.txt\r\n"
    b"modify=20261129185842;perm=fle;type=pdir;unique=FE00U2105C3;UNIX.mode=0755; ..\r\n"
    b"Type=File;Size=12;Perm=r; name with spaces; and semicolons.dcm\r\n"
    b"type=OS.unix=slink:/etc/passwd;perm=r; link\r\n"
)
VSFTPD_LIST = (
    b"drwx-wx-wx    2 0        0            4096 Nov 29 18:59 dropzone\r\n"
    b"dr-xr-xr-x    5 0        0            4096 Nov 29  2024 public\r\n"
    b"drwxrwxrwx    2 ftp      ftp          4096 Jan 03 09:15 upload\r\n"
    b"-rw-r--r--    1 0        0          131204 Dec 01 10:00 IM 0001 2024 Jan 1.dcm\r\n"
    b"lrwxrwxrwx    1 0        0              11 Nov 29 18:59 latest -> public/case\r\n"
    b"total 24\r\n"
)
IIS_LIST = (
    b"11-29-24  06:59PM       <DIR>          Scans\r\n11-29-2024  18:59                 1234 report.pdf\r\n"
)


def test_mlsd_entries_their_facts_and_the_folder_itself() -> None:
    parsed = parse_mlsd(PROFTPD_MLSD)
    by_name = {entry.name: entry for entry in parsed.entries}
    assert list(by_name) == [
        "public",
        "incoming",
        "README.txt",
        "name with spaces; and semicolons.dcm",
        "link",
    ]
    assert (by_name["incoming"].kind, by_name["incoming"].perm) == (DIR, "cdmpe")
    readme = by_name["README.txt"]
    assert (readme.kind, readme.size, readme.perm) == (FILE, 55, "adfr")
    assert readme.mtime == datetime.datetime(2026, 11, 29, 18, 58, 42, tzinfo=datetime.UTC).timestamp()
    assert by_name["name with spaces; and semicolons.dcm"].perm == "r"  # fact names in any case
    assert by_name["link"].kind == LINK
    assert parsed.current is not None and parsed.current.perm == "fle"  # cdir: the listed folder's own
    assert parsed.skipped == 0  # pdir is not a line that failed


def test_list_lines_in_the_unix_and_the_ms_dos_format() -> None:
    parsed = parse_list(VSFTPD_LIST, NOW)
    by_name = {entry.name: entry for entry in parsed.entries}
    assert list(by_name) == ["dropzone", "public", "upload", "IM 0001 2024 Jan 1.dcm", "latest"]
    assert (by_name["dropzone"].kind, by_name["dropzone"].mode) == (DIR, "drwx-wx-wx")
    assert by_name["upload"].owner == "ftp"
    dicom = by_name["IM 0001 2024 Jan 1.dcm"]  # a name that looks like a date is still the name
    assert (dicom.kind, dicom.size) == (FILE, 131204)
    # No year within six months: this year, unless that is in the future (then last year).
    assert dicom.mtime == datetime.datetime(2025, 12, 1, 10, 0, tzinfo=datetime.UTC).timestamp()
    assert by_name["public"].mtime == datetime.datetime(2024, 11, 29, tzinfo=datetime.UTC).timestamp()
    assert by_name["latest"].kind == LINK
    assert parsed.skipped == 0  # "total" is not a failed line
    german = parse_list_line("-rw-r--r-- 1 ftp ftp 12 Mär 14 09:30 Befund.pdf", NOW)
    assert german is not None and (german.name, german.size, german.mtime) == ("Befund.pdf", 12, 0.0)
    iis = {entry.name: entry for entry in parse_list(IIS_LIST, NOW).entries}
    assert (iis["Scans"].kind, iis["report.pdf"].size) == (DIR, 1234)
    assert iis["Scans"].mtime == datetime.datetime(2024, 11, 29, 18, 59, tzinfo=datetime.UTC).timestamp()


@pytest.mark.parametrize(
    "line",
    ["", "garbage", "type=dir;perm=el;", "perm=r; ", "drwxr-xr-x 2 0 0 4096 Mar x", "-" * 20000],
)
def test_lines_that_are_no_entry_are_skipped(line: str) -> None:
    assert parse_mlsd_line(line) is None or line.startswith("perm")
    assert parse_list_line(line, NOW) is None


def test_names_in_any_encoding_survive_byte_for_byte() -> None:
    raw = b"type=file;size=1; M\xfcller_\xff.dcm\r\n"  # Latin-1, not UTF-8
    name = parse_mlsd(raw).entries[0].name
    assert name.encode("utf-8", "surrogateescape") == b"M\xfcller_\xff.dcm"


_NAMES = st.text(
    st.characters(blacklist_characters="/\r\n\0", blacklist_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda n: n not in (".", "..") and n.strip() == n and " -> " not in n)


@FUZZ
@given(name=_NAMES, size=st.integers(0, 10**12), perm=st.text("acdeflmprw", max_size=10))
def test_an_mlsd_line_gives_back_its_name_size_and_perm(name: str, size: int, perm: str) -> None:
    entry = parse_mlsd_line(f"type=file;size={size};perm={perm};modify=20240101120000; {name}")
    assert entry is not None and (entry.name, entry.size, entry.perm) == (name, size, perm)


@FUZZ
@given(name=_NAMES, size=st.integers(0, 10**12), directory=st.booleans())
def test_a_unix_list_line_gives_back_its_name(name: str, size: int, directory: bool) -> None:
    mode = "drwxr-xr-x" if directory else "-rw-r--r--"
    entry = parse_list_line(f"{mode}    1 owner    group {size:>12} Mar 14  2023 {name}", NOW)
    assert entry is not None and entry.name == name and entry.kind == (DIR if directory else FILE)


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    flips = st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=8).map(
        lambda changes: bytes(_flip(seed, changes))
    )
    splices = st.tuples(st.integers(0, len(seed)), st.binary(max_size=64)).map(
        lambda cut: seed[: cut[0]] + cut[1] + seed[cut[0] :]
    )
    return st.one_of(
        flips, splices, st.integers(0, len(seed)).map(lambda n: seed[:n]), st.binary(max_size=2048)
    )


def _flip(seed: bytes, changes: list[tuple[int, int]]) -> bytearray:
    data = bytearray(seed)
    for index, value in changes:
        data[index] = value
    return data


@FUZZ
@given(data=st.one_of(_mutations(PROFTPD_MLSD), _mutations(VSFTPD_LIST), _mutations(IIS_LIST)))
def test_listing_parsers_never_fail_on_hostile_bytes(data: bytes) -> None:
    """Random and mutated listings: entries or skipped lines, never an exception, never '/' in a name."""
    for parsed in (parse_mlsd(data), parse_list(data, NOW)):
        for entry in parsed.entries:
            assert entry.name and entry.name not in (".", "..") and "/" not in entry.name
            assert entry.size >= 0 and entry.kind in (FILE, DIR, LINK, "other")


# --- pure decisions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "found"),
    [
        (["220 ProFTPD 1.3.5e Server (Debian) [::ffff:10.0.0.5]"], ("proftpd", "1.3.5e")),
        (["220 (vsFTPd 3.0.3)"], ("vsftpd", "3.0.3")),
        (["220 Microsoft FTP Service"], ("iis", None)),
        (["220 Welcome", "Windows_NT"], ("iis", None)),
        (["220 DiskStation FTP server ready."], ("synology", None)),
        (["220 NASFTPD Turbo station 1.3.6e Server (ProFTPD)"], ("qnap", None)),
        (["220 ProFTPD Server (TrueNAS FTP Server) [10.0.0.9]"], ("truenas", None)),
        (["220---------- Welcome to Pure-FTPd [privsep] ----------"], ("pure-ftpd", None)),
        (["220-FileZilla Server 1.5.1"], ("filezilla", "1.5.1")),
        (["220 LABFS FTP server ready", "UNIX Type: L8"], (None, None)),
    ],
)
def test_the_software_from_the_greeting(texts: list[str], found: tuple[str | None, str | None]) -> None:
    assert judge.software(texts) == found


def test_which_folders_take_new_files() -> None:
    def folder(**fields: object) -> FtpEntry:
        return FtpEntry(**{"name": "x", "kind": DIR, **fields})  # type: ignore[arg-type]

    assert judge.folder_basis(folder(perm="cdmpe"), "u", True) is Basis.GRANTED
    assert judge.folder_basis(folder(perm="fle"), "u", True) is None
    assert judge.folder_basis(folder(mode="drwxrwxrwx", owner="0"), "u", True) is Basis.UNCERTAIN
    assert judge.folder_basis(folder(mode="drwx-wx-wx", owner="0"), "u", True) is Basis.UNCERTAIN
    assert judge.folder_basis(folder(mode="drwxr-xr-x", owner="0"), "u", True) is None
    assert judge.folder_basis(folder(mode="drwxr-xr-x", owner="ftp"), "u", True) is Basis.UNCERTAIN
    assert judge.folder_basis(folder(mode="drwxr-xr-x", owner="scan"), "scan", False) is Basis.UNCERTAIN
    assert judge.folder_basis(folder(mode="drwxr-xr-x", owner="ftp"), "scan", False) is None
    assert judge.folder_basis(FtpEntry("f", FILE, mode="-rw-rw-rw-"), "u", True) is None  # not a folder


@pytest.mark.parametrize(
    ("code", "wanted"),
    [(331, True), (332, True), (230, True), (530, False), (550, False), (534, False), (421, None)],
)
def test_what_user_before_tls_says_about_clear_text_passwords(code: int, wanted: bool | None) -> None:
    assert judge.password_wanted(code) is wanted


def test_features_and_debug_lines_keep_paths_and_passwords_out() -> None:
    features = judge.parse_features(
        "211-Features:\n AUTH TLS\n MLST modify*;perm*;size*;type*;\n SIZE\n211 End"
    )
    assert features == ("AUTH TLS", "MLST modify*;perm*;size*;type*;", "SIZE")
    assert judge.has_feature(features, "MLST") and not judge.has_feature(features, "MLSD")
    assert _shown("PASS Secret-1") == "PASS <password>"
    assert _shown("RETR /DOE_JOHN/IM1.dcm") == "RETR <path>"
    assert _shown("USER labscan") == "USER labscan" and _shown("PWD") == "PWD"


# --- certificates -------------------------------------------------------------------------------------------


def _certificate(self_signed: bool, days: tuple[int, int]) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key, issuer_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nas.example")])
    issuer = subject if self_signed else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hospital CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW + datetime.timedelta(days=days[0]))
        .not_valid_after(NOW + datetime.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("nas.example")]), critical=False)
        .sign(key if self_signed else issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_certificate_facts_both_ways() -> None:
    expired = certificate_facts(_certificate(True, (-400, -35)), NOW)
    assert expired is not None
    assert (expired.self_signed, expired.expired, expired.not_yet_valid) == (True, True, False)
    assert (expired.subject, expired.issuer, expired.names) == (
        "nas.example",
        "nas.example",
        ("nas.example",),
    )
    issued = certificate_facts(_certificate(False, (-1, 30)), NOW)
    assert issued is not None and (issued.self_signed, issued.expired, issued.issuer) == (
        False,
        False,
        "Hospital CA",
    )
    early = certificate_facts(_certificate(False, (3, 30)), NOW)
    assert early is not None and early.not_yet_valid
    assert certificate_facts(b"\x30\x03\x02\x01\x01", NOW) is None


# --- the client against scripted servers -------------------------------------------------------------------

Handler = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Handler], int]]:
    """Start a one-connection-at-a-time scripted server on 127.0.0.1; the port."""
    sockets: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(handler: Handler) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        sockets.append(listener)

        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn, contextlib.suppress(OSError):
                    handler(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    for listener in sockets:
        listener.close()


def _lines(conn: socket.socket) -> Iterator[str]:
    buffer = b""
    while True:
        while b"\r\n" not in buffer:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\r\n", 1)
        yield line.decode()


def _retr_server(after_abor: list[bytes]) -> Handler:
    """Greets, serves PASV + RETR with an endless file, answers ABOR as told, then NOOP and PWD."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"220 scripted\r\n")
        data_listener = None
        for line in _lines(conn):
            verb = line.split(" ", 1)[0]
            if verb == "PASV":
                data_listener = socket.create_server(("127.0.0.1", 0))
                port = data_listener.getsockname()[1]
                conn.sendall(f"227 Entering Passive Mode (10,9,8,7,{port // 256},{port % 256})\r\n".encode())
            elif verb == "RETR" and data_listener is not None:
                conn.sendall(b"150 Opening BINARY mode data connection\r\n")
                data, _ = data_listener.accept()
                data_listener.close()
                try:
                    while True:
                        data.sendall(b"\x00" * 65536)
                except OSError:
                    data.close()
            elif verb == "ABOR":
                conn.sendall(b"".join(after_abor))
            elif verb == "NOOP":
                conn.sendall(b"200 NOOP ok\r\n")
            elif verb == "PWD":
                conn.sendall(b'257 "/" is the current directory\r\n')
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return

    return handler


@pytest.mark.parametrize(
    "after_abor",
    [
        [b"426 Transfer aborted. Data connection closed.\r\n", b"226 Abort successful\r\n"],
        [b"226 Transfer complete\r\n", b"225 No transfer to ABOR\r\n"],
        [b"426 Connection closed; transfer aborted.\r\n"],
    ],
    ids=["426-then-226", "226-then-225", "one-reply"],
)
def test_a_read_takes_only_the_head_and_the_session_goes_on(
    server: Callable[[Handler], int], after_abor: list[bytes]
) -> None:
    port = server(_retr_server(after_abor))
    with FtpClient("127.0.0.1", port, 5.0) as client:
        answer = client.read("big.bin", 0, 4096)
        assert not isinstance(answer, Reply) and len(answer.data) == 4096 and answer.cut
        # The data connection went to the control connection's peer, not to 10.9.8.7 (PASV's answer),
        # and the replies are in step again: the next command gets its own answer.
        assert client.pwd() == "/"


def test_a_server_that_drips_its_greeting_is_cut_at_the_deadline(server: Callable[[Handler], int]) -> None:
    def drip(conn: socket.socket) -> None:
        for byte in b"220 a very slow greeting that never ends":
            conn.sendall(bytes([byte]))
            time.sleep(0.2)

    port = server(drip)
    started = time.monotonic()
    with pytest.raises(CollectError) as failure:
        FtpClient("127.0.0.1", port, 1.0)
    assert failure.value.kind is FailureKind.TIMEOUT
    assert str(failure.value) == "the server did not finish its greeting within 1 s"
    assert time.monotonic() - started < 10  # a generous ceiling: each byte came within the socket timeout


@pytest.mark.parametrize(
    ("greeting", "message"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an FTP reply"),
        (b"500 go away\r\n", "an unexpected greeting: 500 go away"),
    ],
)
def test_something_that_is_not_ftp_is_one_line(
    server: Callable[[Handler], int], greeting: bytes, message: str
) -> None:
    port = server(lambda conn: (conn.sendall(greeting), time.sleep(0.5)))  # type: ignore[func-returns-value]
    with pytest.raises(CollectError) as failure:
        FtpClient("127.0.0.1", port, 2.0)
    assert failure.value.kind is FailureKind.PROTOCOL and message in str(failure.value)
    assert "\n" not in str(failure.value)


def test_a_closed_port_is_refused_at_once() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(CollectError) as failure:
        FtpClient("127.0.0.1", port, 2.0)
    assert failure.value.kind is FailureKind.REFUSED


# --- rules ----------------------------------------------------------------------------------------------------


def _tree(identity: str = "anonymous", **fields: object) -> FtpTree:
    defaults: dict[str, object] = {
        "identity": identity,
        "root": "/",
        "listing": "mlsd",
        "list": True,
        "read": True,
    }
    return FtpTree(**{**defaults, **fields})  # type: ignore[arg-type]


def _ftp(**fields: object) -> FtpFacts:
    defaults: dict[str, object] = {
        "transport": "plain",
        "banner": "220 ProFTPD Server (NAS)",
        "software": "proftpd",
        "mlsd": True,
        "auth_tls": True,
        "tls_version": "TLSv1.3",
        "plaintext_login": False,
        "logins": (FtpLogin("anonymous", "anonymous", True, False),),
    }
    return FtpFacts(**{**defaults, **fields})  # type: ignore[arg-type]


def _scan(
    *facts: FtpFacts, port: int = 21, labels: tuple[str, ...] = ("audit", "anonymous"), **options: object
) -> ScanResult:
    services = tuple(Service("ftp", port + n, True, ftp=ftp) for n, ftp in enumerate(facts))
    scan = result(host(services=services), labels=labels, options=dict(options))
    return replace(scan, findings=evaluate(scan))


def _found(scan: ScanResult) -> dict[str, tuple[str, str | None]]:
    return {f.rule: (f.severity, f.identity) for f in scan.findings if "ftp" in f.rule}


DICOM_TREE = content({"dicom": 9, "hl7v2": 2}, files=20)
UPLOAD = FtpFolder("incoming", Basis.GRANTED, perm="cdmpe")


def test_an_open_anonymous_ftp_with_medical_data_and_an_upload_folder() -> None:
    scan = _scan(_ftp(trees=(_tree(content=DICOM_TREE, folders=(UPLOAD,)),), plaintext_login=True))
    assert _found(scan) == {
        "ftp-anonymous-read": ("critical", "anonymous"),
        "ftp-anonymous-upload": ("critical", "anonymous"),
        "ftp-plaintext-login": ("medium", None),
    }
    read = next(f for f in scan.findings if f.rule == "ftp-anonymous-read")
    assert (read.share, read.platform) == ("ftp:21", "proftpd")
    assert "11 medical files: dicom 9, hl7v2 2" in read.evidence
    assert set(read.remediation) == set(FTP_PLATFORMS)


@pytest.mark.parametrize(
    ("tree", "severity"),
    [
        (_tree(content=content({}, files=5)), "medium"),
        (_tree(content=content({}, files=0)), "low"),
        (_tree(), "high"),  # not walked: what it holds is unknown
        (_tree(list=False, status="550 Permission denied"), None),
    ],
)
def test_anonymous_read_severity_follows_what_the_tree_holds(tree: FtpTree, severity: str | None) -> None:
    assert _found(_scan(_ftp(trees=(tree,)))).get("ftp-anonymous-read", (None,))[0] == severity


@pytest.mark.parametrize(
    ("folder", "severity"),
    [
        (UPLOAD, "high"),
        (FtpFolder("upload", Basis.UNCERTAIN, mode="drwxrwxrwx"), "medium"),
        (FtpFolder("upload", Basis.MEASURED, probe=WriteProbe("upload/p.tmp", True, True)), "high"),
        (
            FtpFolder(
                "upload", Basis.MEASURED, writable=False, probe=WriteProbe("upload/p.tmp", False, True)
            ),
            None,
        ),
    ],
)
def test_anonymous_upload_by_basis(folder: FtpFolder, severity: str | None) -> None:
    found = _found(_scan(_ftp(trees=(_tree(content=content({}, files=3), folders=(folder,)),))))
    assert found.get("ftp-anonymous-upload", (None,))[0] == severity


def test_clear_text_passwords_both_ways() -> None:
    crossed = (FtpLogin("anonymous", "anonymous", True, False), FtpLogin("printer", "scan", True, False))
    cases = [
        (_ftp(plaintext_login=True), "medium", None),  # TLS offered, not required
        (_ftp(plaintext_login=True, auth_tls=False), "high", None),  # no TLS at all
        (_ftp(plaintext_login=True, logins=crossed), "high", "printer"),  # a password did cross
        (_ftp(plaintext_login=False), None, None),
        (_ftp(plaintext_login=None, auth_tls=False), None, None),  # undecided: no finding
    ]
    for facts, severity, identity in cases:
        found = _found(_scan(facts)).get("ftp-plaintext-login")
        assert (found or (None, None)) == (severity, identity), facts


def _cert(**fields: object) -> FtpCertificate:
    defaults: dict[str, object] = {
        "subject": "nas",
        "issuer": "CA",
        "self_signed": False,
        "expired": False,
        "not_yet_valid": False,
        "not_before": "2026-01-01T00:00:00+00:00",
        "not_after": "2027-01-01T00:00:00+00:00",
        "sha256": "ab" * 32,
    }
    return FtpCertificate(**{**defaults, **fields})  # type: ignore[arg-type]


def test_certificate_problems_both_ways() -> None:
    for cert, severity in (
        (_cert(expired=True, self_signed=True), "medium"),
        (_cert(self_signed=True, issuer="nas"), "low"),
        (_cert(not_yet_valid=True), "medium"),
        (_cert(), None),
    ):
        assert _found(_scan(_ftp(certificate=cert))).get("ftp-tls-certificate", (None,))[0] == severity


def test_a_port_cut_short_is_a_finding_and_a_closed_one_is_not() -> None:
    cut = Service(
        "ftp", 21, True, "the server did not finish a MLSD listing within 20 s", "timeout", ftp=_ftp()
    )
    closed = Service("ftp", 990, False, "connection refused (nothing listens on the port)", "refused")
    scan = result(host(services=(cut, closed)))
    findings = [f for f in evaluate(scan) if f.rule == "ftp-not-scanned"]
    assert [(f.share, f.severity) for f in findings] == [("ftp:21", "medium")]
    assert absent_notes(scan.hosts[0]) == (
        "FTP: nothing on port 990: connection refused (nothing listens on the port)",
    )


def test_a_hardened_ftps_server_has_no_finding() -> None:
    hardened = _ftp(
        transport="implicit_tls",
        auth_tls=None,
        plaintext_login=None,
        certificate=_cert(),
        logins=(
            FtpLogin("anonymous", "ftp", False, True, "530 Login incorrect."),
            FtpLogin("audit", "a", True, True),
        ),
        trees=(
            _tree(
                "audit", content=DICOM_TREE, folders=(FtpFolder("clinical", Basis.GRANTED, perm="flcdmpe"),)
            ),
        ),
    )
    assert _found(_scan(hardened)) == {}


def test_the_device_check_over_ftp() -> None:
    device = FtpLogin("scanner", "scan", True, True)
    above = _tree("scanner", landing=("pub/", "scans/"), content=DICOM_TREE)
    confined = _tree("scanner", landing=("scan_0001.pdf",), content=content({}, files=1))
    labels = ("audit", "anonymous", "scanner")
    cases = [
        (_ftp(logins=(device,), trees=(above,), plaintext_login=True), ("critical", "medium")),
        (_ftp(logins=(replace(device, tls=False),), trees=(confined,), plaintext_login=True), (None, "high")),
        (_ftp(logins=(device,), trees=(confined,)), (None, None)),
        (_ftp(logins=(device,), trees=(replace(above, content=content({}, files=2)),)), ("high", None)),
    ]
    for facts, (reach, plain) in cases:
        found = _found(_scan(facts, labels=labels, device="scanner", drop_share="scans"))
        assert found.get("device-ftp-reach", (None,))[0] == reach, facts
        assert found.get("device-ftp-plaintext", (None,))[0] == plain, facts
    # Without a device check, the device rules stay quiet.
    assert not {r for r in _found(_scan(cases[0][0], labels=labels)) if r.startswith("device-")}


@pytest.mark.parametrize(
    ("software", "host_platform", "found"),
    [
        ("proftpd", "samba", "proftpd"),
        ("proftpd", "synology", "synology"),  # the NAS firmware's menus configure its FTP
        ("qnap", None, "qnap"),
        (None, "windows", "iis"),
        (None, "samba", None),
        ("pure-ftpd", None, None),
    ],
)
def test_the_ftp_platform(software: str | None, host_platform: str | None, found: str | None) -> None:
    assert detect_ftp(_ftp(software=software), host_platform) == found


def test_the_ftp_family_is_written_for_the_ftp_platforms() -> None:
    texts = family_texts("ftp")
    assert set(texts) == {
        "ftp-anonymous-read",
        "ftp-anonymous-upload",
        "ftp-plaintext-login",
        "ftp-tls-certificate",
        "ftp-not-scanned",
        "device-ftp-plaintext",
        "device-ftp-reach",
    }
    for text in texts.values():
        assert tuple(text.remediation) == tuple(FTP_PLATFORMS)


# --- options, JSON, reports -----------------------------------------------------------------------------------


def test_options_add_ports_to_the_defaults() -> None:
    assert DEFAULT_PORTS == (21, 990)
    assert ftp_options((2121, 21)).ports == (21, 990, 2121)
    with pytest.raises(InputError):
        ftp_options((0,))


def test_ftp_facts_round_trip_and_old_files_load(tmp_path: Path) -> None:
    facts = _ftp(
        certificate=_cert(),
        trees=(
            _tree(
                content=DICOM_TREE,
                folders=(FtpFolder("in", Basis.MEASURED, probe=WriteProbe("in/p", True, True)),),
            ),
        ),
    )
    scan = _scan(facts)
    path = tmp_path / "scan.json"
    scanfile.write(scan, path)
    assert scanfile.read(path) == scan
    old = scanfile.to_dict(scan)
    for service in old["hosts"][0]["services"]:
        del service["ftp"]  # a file written before FTP facts existed
    path.write_text(__import__("json").dumps(old))
    assert scanfile.read(path).hosts[0].services[0].ftp is None


def test_the_reports_show_the_ftp_door_and_escape_what_the_server_said() -> None:
    facts = _ftp(
        banner=f"220 {HOSTILE[0]}",
        certificate=_cert(expired=True),
        plaintext_login=True,
        plaintext_reply="331 Password required",
        logins=(
            FtpLogin("anonymous", "anonymous", True, False),
            FtpLogin("audit", "a", False, True, "530 no"),
        ),
        trees=(_tree(content=DICOM_TREE, folders=(UPLOAD,), landing=("imaging/",)),),
    )
    rows = {row.label: row for row in ftp_rows(facts)}
    assert rows["transport"].text.startswith("AUTH TLS offered") and rows["certificate"].tone == "bad"
    assert rows["passwords in clear text"].tone == "bad" and rows["login audit"].tone == "good"
    assert "adds files to incoming (granted)" in rows["tree of anonymous"].text
    scan = _scan(facts)
    page = html.render(scan)
    assert "FTP port 21" in page and HOSTILE[0] not in page
    console = Console(file=io.StringIO(), width=200, highlight=False)
    print_summary(scan, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "FTP" in text and "reads + uploads" in text


def test_a_probe_file_left_on_an_ftp_server_is_named() -> None:
    left = FtpFolder("upload", Basis.MEASURED, probe=WriteProbe("upload/shareaudit-probe-1.tmp", True, False))
    scan = _scan(_ftp(trees=(_tree(folders=(left,)),)))
    assert leftover_probes(scan) == [
        "ftp://10.0.0.5:21 upload/shareaudit-probe-1.tmp (created as anonymous, below where it lands)"
    ]
    row = {r.label: r for r in ftp_rows(scan.hosts[0].services[0].ftp)}["tree of anonymous"]  # type: ignore[arg-type]
    assert "probe file left behind (delete it by hand): upload/shareaudit-probe-1.tmp" in row.text


def test_the_device_checklist_has_its_ftp_lines_where_the_device_logs_on_over_ftp() -> None:
    from shareaudit.audit.device import checks

    device = FtpLogin("scanner", "scan", True, False)
    facts = _ftp(
        logins=(device,), trees=(_tree("scanner", landing=("pub/", "scans/")),), plaintext_login=True
    )
    scan = _scan(facts, labels=("audit", "anonymous", "scanner"), device="scanner", drop_share="scans")
    listed = {check.name: check for check in checks(scan)}
    assert not listed["over FTP: its password never crosses in clear text"].passed
    reach = listed["over FTP: reaches nothing beyond its drop folder, no medical data"]
    assert not reach.passed and "reaches pub/ beyond its drop folder scans" in reach.reasons[0]
    # A host where the device does not log on over FTP has no FTP lines; one without SMB has only those.
    assert not [c for c in checks(_scan(_ftp(), device="scanner")) if c.name.startswith("over FTP")]
    ftp_only = replace(scan, hosts=(replace(scan.hosts[0], posture=None),))
    assert [c.name for c in checks(ftp_only)] == list(listed)[-2:]


def test_a_greeting_after_120_and_an_mlsd_the_server_does_not_serve(server: Callable[[Handler], int]) -> None:
    """120 ("ready in a moment") is followed by the real greeting; MLSD answered 500 falls back to LIST."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"120 ready in a moment\r\n220 now ready\r\n")
        data_listener = None
        for line in _lines(conn):
            verb = line.split(" ", 1)[0]
            if verb == "PASV":
                data_listener = socket.create_server(("127.0.0.1", 0))
                port = data_listener.getsockname()[1]
                conn.sendall(f"227 Entering Passive Mode (127,0,0,1,{port // 256},{port % 256})\r\n".encode())
            elif verb == "MLSD":
                conn.sendall(b"500 MLSD not understood\r\n")
            elif verb == "CWD":
                conn.sendall(b"250 ok\r\n")
            elif verb == "LIST" and data_listener is not None:
                conn.sendall(b"150 here\r\n")
                data, _ = data_listener.accept()
                data.sendall(b"drwxrwxrwx 2 ftp ftp 4096 Jan 03 09:15 upload\r\n")
                data.close()
                conn.sendall(b"226 done\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 bye\r\n")
                return

    from shareaudit.collect.ftp.walk import FtpLister
    from shareaudit.collect.walk import RateLimit

    with FtpClient("127.0.0.1", server(handler), 5.0) as client:
        assert client.greeting.line == "220 now ready"
        lister = FtpLister(client, "/", True, RateLimit(0), "anonymous", True, NOW)
        listing = lister.landing()
        assert [entry.name for entry in listing.entries] == ["upload"] and not lister.mlsd
        assert lister.rights.folders["upload"].basis is Basis.UNCERTAIN


_SEED_CERTIFICATE = _certificate(True, (-400, -35))


@FUZZ
@given(data=_mutations(_SEED_CERTIFICATE))
def test_certificate_facts_never_fail_on_hostile_bytes(data: bytes) -> None:
    """A server's certificate is untrusted bytes: facts or None, never an exception."""
    facts = certificate_facts(data, NOW)
    assert facts is None or (len(facts.sha256) == 64 and len(facts.subject) <= 200)


def test_the_fix_plan_groups_an_ftp_door_into_anonymous_and_tls_actions() -> None:
    from shareaudit.rules.actions import with_actions

    scan = _scan(_ftp(trees=(_tree(content=DICOM_TREE, folders=(UPLOAD,)),), plaintext_login=True))
    planned = with_actions(scan)
    by_kind = {a.kind: a for a in planned.actions}
    rules_of = {f.id: f.rule for f in planned.findings}
    assert {rules_of[i] for i in by_kind["close-anonymous-ftp"].findings} == {
        "ftp-anonymous-read",
        "ftp-anonymous-upload",
    }
    assert {rules_of[i] for i in by_kind["ftp-tls"].findings} == {"ftp-plaintext-login"}
    assert "--protocols ftp --ftp-port 21" in by_kind["close-anonymous-ftp"].verify
    anonymous = by_kind["close-anonymous-ftp"]
    assert anonymous.medical == 11 and anonymous.widest == "anonymous" and anonymous.rank == 1
