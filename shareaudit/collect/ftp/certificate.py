"""What an FTPS server's certificate says about itself: who it names, who issued it, whether it is still valid.

Read from the DER bytes of the handshake (the connection itself takes any certificate: the scan asks what
is offered, it trusts nothing). Only public facts are kept: names, dates, the fingerprint.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from shareaudit.model import FtpCertificate

MAX_NAMES = 20


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    text = str(common[0].value) if common else name.rfc4514_string()
    return text[:200]


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, x509.UnsupportedGeneralNameType, ValueError):
        return ()
    names = [str(n) for n in extension.get_values_for_type(x509.DNSName)]
    names += [str(a) for a in extension.get_values_for_type(x509.IPAddress)]
    return tuple(name[:200] for name in names[:MAX_NAMES])


def certificate_facts(der: bytes, now: datetime) -> FtpCertificate | None:
    """The facts of a DER certificate at `now` (aware, UTC); None when the bytes are not a certificate."""
    try:
        cert = x509.load_der_x509_certificate(der)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        subject, issuer = _name(cert.subject), _name(cert.issuer)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion):  # anything but a certificate
        return None
    return FtpCertificate(
        subject=subject,
        issuer=issuer,
        self_signed=_self_signed(cert),
        expired=not_after < now,
        not_yet_valid=not_before > now,
        not_before=not_before.isoformat(timespec="seconds"),
        not_after=not_after.isoformat(timespec="seconds"),
        sha256=hashlib.sha256(der).hexdigest(),
        names=_alt_names(cert),
    )
