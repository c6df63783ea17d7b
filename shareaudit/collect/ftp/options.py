"""What a scan asks of FTP ports: which ports, which of them speak TLS from the first byte."""

from __future__ import annotations

from dataclasses import dataclass

from shareaudit.errors import InputError

# The FTP control port and implicit FTPS (RFC 4217 does not define it; port 990 is the registered one).
DEFAULT_PORTS = (21, 990)
IMPLICIT_TLS_PORTS = (990,)
# Anonymous FTP (RFC 1635): either name, with an e-mail address as the password.
ANONYMOUS_USERS = ("anonymous", "ftp")
ANONYMOUS_PASSWORD = "shareaudit@audit.invalid"
MAX_PROBED_FOLDERS = 10  # per identity: --active-write-probe stores (and deletes) one file in each
MAX_FOLDERS = 50  # folders that take new files kept per identity (all are counted)


@dataclass(frozen=True, slots=True)
class FtpOptions:
    """The FTP part of a plan."""

    ports: tuple[int, ...] = DEFAULT_PORTS
    implicit_tls_ports: tuple[int, ...] = (
        IMPLICIT_TLS_PORTS  # TLS first; any other port that greets nobody gets TLS tried
    )


def ftp_options(ports: tuple[int, ...]) -> FtpOptions:
    """Options from what the user gave: extra ports added to the defaults."""
    for port in ports:
        if not 0 < port < 65536:
            raise InputError(f"FTP port {port} is not a number from 1 to 65535")
    return FtpOptions(ports=tuple(dict.fromkeys((*DEFAULT_PORTS, *ports))))
