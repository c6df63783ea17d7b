"""An LDAP session to a domain controller with ldap3: TLS always, bind, rootDSE, paged searches.

Every session is protected by TLS before any credential is sent: `ldaps://` (TLS from the first byte)
or `ldap://` upgraded with StartTLS (RFC 4511 4.14). A simple bind in clear text would hand the password
to anyone on the path, and a DC with `ldap server require strong auth` (Samba's default) refuses it
anyway. ldap3 exceptions and bind results become the project's errors here: InputError for what the
user must fix (credentials, certificate trust, URL), CollectError for a DC that cannot be reached.

The certificate's names are checked here, not by ldap3: ldap3 2.9 reports a mismatch as the whole
certificate in one string ("certificate {...} doesn't match any name in [...]"), and on Python 3.12+
(no ssl.match_hostname) it falls back to a backport that ignores IP addresses in subjectAltName. Here a
mismatch is one line that says what the certificate is for.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ldap3 import BASE, KERBEROS, NONE, NTLM, SASL, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as ldap_errors

from shareaudit.ad.settings import AUTH_METHODS, Endpoint, LdapSettings, parse_ldap_url
from shareaudit.errors import CollectError, FailureKind, InputError, ShareauditError

PAGE_SIZE = 500  # RFC 2696 simple paged results: AD's MaxPageSize is 1000
_PAGED_RESULTS = "1.2.840.113556.1.4.319"
# [RFC 4511] 4.1.9 resultCode values this module explains.
_INVALID_CREDENTIALS = 49
_STRONGER_AUTH_REQUIRED = 8

try:  # Kerberos is optional (pip install 'shareaudit[kerberos]'): gssapi needs the krb5 libraries
    from gssapi.raw.misc import GSSError

    _GSS_ERRORS: tuple[type[Exception], ...] = (GSSError,)
except ImportError:  # pragma: no cover - depends on the installation
    _GSS_ERRORS = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """One search result: its DN and raw attribute values (bytes, as the server sent them)."""

    dn: str
    attributes: Mapping[str, Sequence[bytes]]

    def raw(self, name: str) -> Sequence[bytes]:
        """All values of an attribute (case-insensitive name), or nothing."""
        for key, values in self.attributes.items():
            if key.lower() == name.lower():
                return values
        return ()

    def texts(self, name: str) -> tuple[str, ...]:
        """All values of an attribute as text."""
        return tuple(value.decode("utf-8", errors="replace") for value in self.raw(name))

    def text(self, name: str) -> str | None:
        """The first value of an attribute as text, or None."""
        values = self.texts(name)
        return values[0] if values else None

    def integer(self, name: str) -> int | None:
        """The first value of an integer attribute, or None."""
        value = self.text(name)
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


def certificate_names(certificate: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The names a certificate (ssl's getpeercert() form) is for: ("DNS", name) and ("IP Address", ip).

    The subject's commonName counts only when subjectAltName has no DNS name (RFC 6125 6.4.4).
    """
    alternative = tuple(
        (str(kind), str(value).strip())
        for kind, value in certificate.get("subjectAltName", ())
        if kind in ("DNS", "IP Address")
    )
    if any(kind == "DNS" for kind, _ in alternative):
        return alternative
    common = tuple(
        ("DNS", str(value))
        for rdn in certificate.get("subject", ())
        for key, value in rdn
        if key == "commonName"
    )
    return common + alternative


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _dns_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return True
    # One wildcard, as the whole leftmost label, standing for exactly one label (RFC 6125 6.4.3).
    first, _, rest = pattern.partition(".")
    head, _, tail = host.partition(".")
    return first == "*" and bool(rest) and "." in rest and bool(head) and tail == rest


def names_host(names: Sequence[tuple[str, str]], host: str) -> bool:
    """The certificate is for this host: an address matches an IP Address entry, a name a DNS entry."""
    address = _address(host)
    if address is not None:
        return any(kind == "IP Address" and _address(value) == address for kind, value in names)
    return any(kind == "DNS" and _dns_matches(value, host) for kind, value in names)


def name_mismatch(endpoint: Endpoint, names: Sequence[tuple[str, str]]) -> InputError:
    """One line: what the certificate is for, what was connected to, and how to connect instead."""
    shown = [value for _, value in names]
    listed = (
        "no name at all"
        if not shown
        else shown[0]
        if len(shown) == 1
        else ", ".join(shown[:-1]) + " and " + shown[-1]
    )
    what = "the address" if _address(endpoint.host) is not None else endpoint.host
    advice = "connect by that name" if len(shown) == 1 else "connect by one of those names"
    return InputError(
        f"TLS with {endpoint}: the certificate is for {listed}, not {endpoint.host}: {advice} "
        f"or have the DC present a certificate that names {what}"
    )


class _CheckedTls(Tls):  # type: ignore[misc]  # ldap3 has no type information
    """ldap3's Tls, with the certificate's names checked here (see the module's docstring)."""

    def __init__(self, host: str, **options: Any) -> None:
        # "*" switches ldap3's own name check off; the check in wrap_socket replaces it.
        super().__init__(valid_names=["*"], **options)
        self.host = host
        self.mismatch: tuple[tuple[str, str], ...] | None = None

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        super().wrap_socket(connection, do_handshake)
        if do_handshake and self.validate != ssl.CERT_NONE:
            names = certificate_names(connection.socket.getpeercert() or {})
            if not names_host(names, self.host):
                self.mismatch = names
                raise ldap_errors.LDAPCertificateError(f"the certificate does not name {self.host}")


def _tls(settings: LdapSettings, host: str) -> _CheckedTls:
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise InputError(f"--ldap-ca-file {settings.ca_file}: no such file")
    return _CheckedTls(
        host,
        validate=ssl.CERT_REQUIRED if settings.verify else ssl.CERT_NONE,
        ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
    )


def _tls_failure(endpoint: Endpoint, detail: str) -> InputError:
    return InputError(
        f"TLS with {endpoint} failed: {detail}; trust the DC's CA with --ldap-ca-file FILE "
        "(or, in a lab only, skip the check with --ldap-insecure)"
    )


def _translate(exc: Exception, endpoint: Endpoint) -> ShareauditError:
    """One line for an ldap3 (or gssapi) failure, as the error class the CLI maps to an exit code."""
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, _GSS_ERRORS):
        # gssapi's message names the principal and the reason (no ticket, unknown server), never a secret.
        return InputError(f"Kerberos bind to {endpoint} failed: {' '.join(text.split())} (run kinit?)")
    if isinstance(exc, ldap_errors.LDAPPackageUnavailableError):
        return InputError(f"Kerberos needs the gssapi package: pip install 'shareaudit[kerberos]' ({text})")
    if "certificate verify failed" in lowered or ("hostname" in lowered and "match" in lowered):
        reason = (
            "certificate verify failed"
            if "verify failed" in lowered
            else "the certificate is for another name"
        )
        return _tls_failure(endpoint, reason)
    if isinstance(exc, ldap_errors.LDAPStartTLSError) or ("ssl" in lowered and "wrapping" in lowered):
        return _tls_failure(endpoint, text)
    if "refused" in lowered:
        return CollectError(
            FailureKind.REFUSED, f"directory {endpoint}: connection refused (no LDAP server there?)"
        )
    if "timed out" in lowered or isinstance(exc, ldap_errors.LDAPResponseTimeoutError):
        return CollectError(FailureKind.TIMEOUT, f"directory {endpoint}: no answer in time")
    if "name or service not known" in lowered or "getaddrinfo" in lowered or "nodename" in lowered:
        return CollectError(FailureKind.UNRESOLVED, f"directory {endpoint}: name does not resolve")
    if "unreachable" in lowered:
        return CollectError(FailureKind.UNREACHABLE, f"directory {endpoint}: network unreachable")
    if isinstance(exc, ldap_errors.LDAPSessionTerminatedByServerError):
        return CollectError(FailureKind.PROTOCOL, f"directory {endpoint}: the server closed the session")
    return CollectError(FailureKind.PROTOCOL, f"directory {endpoint}: {type(exc).__name__}: {text}")


def _bind_refused(connection: Connection, settings: LdapSettings, endpoint: Endpoint) -> InputError:
    result: dict[str, Any] = connection.result or {}
    code = result.get("result")
    who = settings.user or "(Kerberos ticket)"
    if code == _INVALID_CREDENTIALS:
        return InputError(f"LDAP bind to {endpoint} as {who} refused: wrong user name or password")
    if code == _STRONGER_AUTH_REQUIRED:
        return InputError(
            f"LDAP bind to {endpoint} as {who} refused: {result.get('message') or 'stronger auth required'}"
        )
    return InputError(
        f"LDAP bind to {endpoint} as {who} refused: {result.get('description')} {result.get('message') or ''}".strip()
    )


@dataclass(frozen=True, slots=True)
class RootDse:
    """What the DC says about itself before and after bind ([MS-ADTS] 3.1.1.3.2 rootDSE attributes)."""

    default_naming_context: str
    configuration_naming_context: str
    dns_host_name: str


class DirectoryConnection:
    """A bound, TLS-protected LDAP session to one DC, with paged searches under the domain's base DN."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.endpoint = parse_ldap_url(settings.url)
        if settings.auth not in AUTH_METHODS:
            raise InputError(f"--ldap-auth must be one of {', '.join(AUTH_METHODS)}")
        if settings.auth in ("simple", "ntlm") and (not settings.user or settings.secret is None):
            raise InputError(f"--ldap-auth {settings.auth} needs a user (--ldap-user) and a password")
        self._tls = _tls(settings, self.endpoint.host)
        server = Server(
            self.endpoint.host,
            port=self.endpoint.port,
            use_ssl=self.endpoint.tls == "ldaps",
            tls=self._tls,
            get_info=NONE,  # no schema download: attributes are decoded here, by name
            connect_timeout=settings.timeout,
        )
        self._connection = Connection(
            server,
            receive_timeout=max(1, math.ceil(settings.timeout)),  # ldap3 packs it as a C long
            raise_exceptions=False,
            read_only=True,
            auto_referrals=False,
        )
        try:
            self._open()
        except (ldap_errors.LDAPException, OSError) as exc:
            self.close()
            if self._tls.mismatch is not None:  # ldap3 wraps the check's exception in its own, as text
                raise name_mismatch(self.endpoint, self._tls.mismatch) from None
            raise _translate(exc, self.endpoint) from exc
        except _GSS_ERRORS as exc:
            self.close()
            raise _translate(exc, self.endpoint) from exc

    def _open(self) -> None:
        connection = self._connection
        connection.open()
        if self.endpoint.tls == "starttls" and not connection.start_tls():
            raise ldap_errors.LDAPStartTLSError(str(connection.result))
        # The rootDSE is readable before binding; Kerberos needs the DC's host name for the ldap/ SPN.
        self.root = self._root_dse()
        settings = self.settings
        if settings.auth == "kerberos":
            connection.authentication = SASL
            connection.sasl_mechanism = KERBEROS
            connection.sasl_credentials = (settings.kerberos_host or self.root.dns_host_name,)
        else:
            connection.authentication = SIMPLE if settings.auth == "simple" else NTLM
            connection.user = settings.user
            connection.password = settings.secret.reveal() if settings.secret else None
        bound = connection.bind()
        connection.password = None  # nothing keeps the password once the bind is done
        if not bound:
            raise _bind_refused(connection, settings, self.endpoint)
        self.base_dn = settings.base_dn or self.root.default_naming_context

    def _root_dse(self) -> RootDse:
        attributes = ["defaultNamingContext", "configurationNamingContext", "dnsHostName"]
        entries = list(self._search("", "(objectClass=*)", attributes, BASE))
        if not entries or not entries[0].text("defaultNamingContext"):
            raise CollectError(
                FailureKind.PROTOCOL, f"directory {self.endpoint}: no rootDSE (is this an AD DC?)"
            )
        root = entries[0]
        return RootDse(
            root.text("defaultNamingContext") or "",
            root.text("configurationNamingContext") or "",
            root.text("dnsHostName") or self.endpoint.host,
        )

    def search(
        self, base: str, ldap_filter: str, attributes: Sequence[str], scope: str = SUBTREE
    ) -> Iterator[Entry]:
        """Entries below base matching the filter, fetched page by page (RFC 2696)."""
        try:
            yield from self._search(base, ldap_filter, attributes, scope)
        except (ldap_errors.LDAPException, OSError) as exc:
            raise _translate(exc, self.endpoint) from exc

    def read(self, dn: str, attributes: Sequence[str]) -> Entry | None:
        """One object by DN (a base search), or None when it does not exist."""
        return next(self.search(dn, "(objectClass=*)", attributes, BASE), None)

    def _search(self, base: str, ldap_filter: str, attributes: Sequence[str], scope: str) -> Iterator[Entry]:
        connection = self._connection
        cookie: bytes | None = None
        while True:
            connection.search(
                base,
                ldap_filter,
                scope,
                attributes=list(attributes),
                paged_size=None if scope == BASE else PAGE_SIZE,
                paged_cookie=cookie,
            )
            result: dict[str, Any] = connection.result or {}
            if result.get("result") == 32:  # noSuchObject: an empty answer, not a failure
                return
            if result.get("result") not in (0, None):
                raise CollectError(
                    FailureKind.PROTOCOL,
                    f"directory {self.endpoint}: search of {base or 'the rootDSE'} failed: "
                    f"{result.get('description')} {result.get('message') or ''}".strip(),
                )
            for item in connection.response or ():
                if item.get("type") == "searchResEntry":
                    yield Entry(str(item["dn"]), dict(item.get("raw_attributes", {})))
            control = (result.get("controls") or {}).get(_PAGED_RESULTS)
            cookie = control["value"]["cookie"] if control else None
            if not cookie:
                return

    def close(self) -> None:
        """Unbind and close the socket; safe to call twice."""
        if self._connection.bound or not self._connection.closed:
            with contextlib.suppress(ldap_errors.LDAPException, OSError):  # a dead session: nothing to close
                self._connection.unbind()

    def __enter__(self) -> DirectoryConnection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
