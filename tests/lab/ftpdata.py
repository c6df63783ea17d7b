"""Facts about the loopback FTP lab (tests/lab/ftplab.py), shared by the lab controller and the tests.

Three FTP servers from Debian packages on the Samba lab's addresses, so that one host shows its SMB, DICOM
and FTP doors together:
- labnas 127.0.0.11:21, ProFTPD (MLSD with RFC 3659 perm facts): the legacy NAS. Anonymous reads a tree
  holding medical files (the Samba lab's own fixtures) and may upload into `incoming` (a write-only drop);
  the scanner account labscan and the audit account log on in plain text or after AUTH TLS, which is
  offered with a self-signed certificate that has expired.
- labfs 127.0.0.12:21 and :990, ProFTPD: the hardened file server. TLS is required before any login
  (explicit on 21, implicit on 990), with a certificate from the lab's CA; no anonymous; the device
  account labdevice is confined to its scan inbox.
- labnas 127.0.0.11:2121, vsFTPd (no MLSD: the LIST fallback): an anonymous server with an upload folder
  and a write-only drop; not a default port, so only scans given --ftp-port 2121 see it.

The passwords are the Samba lab's (labdata.PASSWORDS): lab-only constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from labdata import LABFS, LABNAS, PASSWORDS

# Numeric ids of the lab's FTP accounts (ProFTPD reads them from the lab's own AuthUserFile; nothing is
# added to /etc/passwd). The tree's owner, the anonymous account and the named accounts.
OWNER_UID = 60020
ANON_UID = 60021
UIDS = {"labaudit": 60031, "labscan": 60032, "labdevice": 60033}
NOBODY = 65534  # vsftpd's anonymous sessions run as nobody (ftp_username)


@dataclass(frozen=True)
class FtpAccount:
    """A named account of one FTP server: who it is, where it lands (relative to the server's tree)."""

    name: str
    home: str  # "" is the tree itself; DefaultRoot ~ chroots the account there

    @property
    def password(self) -> str:
        return PASSWORDS[self.name]

    @property
    def uid(self) -> int:
        return UIDS[self.name]


@dataclass(frozen=True)
class FtpServer:
    """One FTP daemon of the lab."""

    name: str
    daemon: str  # proftpd | vsftpd
    address: str
    port: int
    tls: str  # none | optional (AUTH TLS offered) | required
    implicit_port: int | None = None  # implicit FTPS (990) beside `port`
    anonymous: bool = False
    anonymous_root: str = ""  # relative to the tree
    accounts: tuple[FtpAccount, ...] = ()
    passive: tuple[int, int] = (30000, 30049)
    certificate: str | None = None  # self-signed-expired | lab-ca

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.implicit_port) if self.implicit_port else (self.port,)


LABNAS_FTP = FtpServer(
    "labnas",
    "proftpd",
    LABNAS.address,
    21,
    tls="optional",
    anonymous=True,
    anonymous_root="pub",
    accounts=(FtpAccount("labscan", ""), FtpAccount("labaudit", "")),
    passive=(30000, 30049),
    certificate="self-signed-expired",
)
LABFS_FTP = FtpServer(
    "labfs",
    "proftpd",
    LABFS.address,
    21,
    tls="required",
    implicit_port=990,
    accounts=(FtpAccount("labaudit", ""), FtpAccount("labdevice", "scaninbox")),
    passive=(30050, 30099),
    certificate="lab-ca",
)
LABNAS_LIST = FtpServer(
    "labnas-list",
    "vsftpd",
    LABNAS.address,
    2121,
    tls="none",
    anonymous=True,
    passive=(30100, 30149),
)
SERVERS = (LABNAS_FTP, LABFS_FTP, LABNAS_LIST)

# Folders of each tree (tree-relative) and what the lab makes of them for anonymous; the tests check the
# scan's claims against doing the thing for real, these only say where to look.
ANON_UPLOAD = "incoming"  # labnas: write-only drop (ProFTPD <Limit READ DIRS> DenyAll inside it)
LIST_UPLOAD = "upload"  # labnas-list: anyone may upload and list
LIST_DROP = "dropzone"  # labnas-list: anyone may upload, nobody may list

# Loopback addresses for throwaway copies of an FTP server (ftplab.py `copy`, tests/test_ftp_lab.py):
# outside the Samba lab's copies (labdata.COPY_ADDRESSES, 127.0.0.40-59).
COPY_ADDRESSES = tuple(f"127.0.0.{n}" for n in range(60, 70))
