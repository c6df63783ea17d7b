"""How to reach and bind to a domain controller: the options, checked, without loading ldap3.

A scan that names no directory never needs the LDAP libraries (ldap3 and gssapi: a tenth of a second of
start-up); they are loaded by `shareaudit.ad.connection` when a session is opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shareaudit.errors import InputError
from shareaudit.plan.identities import Secret

AUTH_METHODS = ("simple", "kerberos", "ntlm")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the DC is and how TLS is set up: ldaps (implicit TLS) or starttls."""

    host: str
    port: int
    tls: str  # "ldaps" | "starttls"

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_ldap_url(url: str) -> Endpoint:
    """ldap://host[:port] (StartTLS, port 389) or ldaps://host[:port] (port 636); InputError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"--ldap-url {url!r}: {exc}") from exc
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise InputError(
            f"--ldap-url {url!r} must look like ldaps://dc.example.org or ldap://dc.example.org:389"
        )
    if parts.path not in ("", "/") or parts.query:
        raise InputError(
            f"--ldap-url {url!r}: give only scheme, host and port (the base DN comes from the rootDSE)"
        )
    default = 636 if parts.scheme == "ldaps" else 389
    return Endpoint(parts.hostname, port or default, "ldaps" if parts.scheme == "ldaps" else "starttls")


@dataclass(frozen=True, slots=True)
class LdapSettings:
    """How to reach and bind to the directory. The secret never prints itself."""

    url: str
    auth: str = "simple"
    user: str | None = None  # DOMAIN\\user, user@realm or a DN (simple); DOMAIN\\user (ntlm)
    secret: Secret | None = field(default=None, repr=False)
    ca_file: Path | None = None
    verify: bool = True
    timeout: float = 10.0
    base_dn: str | None = None  # default: the rootDSE's defaultNamingContext
    kerberos_host: str | None = None  # the host of the ldap/ SPN; default: the DC's dnsHostName
