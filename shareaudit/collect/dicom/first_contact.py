"""The first contact with a DICOM port: one TCP connection, one A-ASSOCIATE-RQ, the first answer's kind.

Built and read by hand (PS3.8 9.3) so that a dead port costs one connect timeout and a silent or foreign
one costs one more, before pynetdicom (association.py) is asked to do anything: pynetdicom reports a
refused port, a silent one and a TLS-only one all as "aborted". The request asks only for Verification;
whatever the server answers, the connection is aborted (A-ABORT) and closed at once.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from dataclasses import dataclass
from enum import StrEnum

from shareaudit.collect.net import connect_error
from shareaudit.collect.net import tls_context as tls_context  # re-exported: tests and callers use it here

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # the DICOM application context name
VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
# The scanner's implementation identity (PS3.7 D.3.3.2): a UUID-derived UID (2.25, PS3.5 B.2), so that a
# server's log names the auditor rather than a library.
IMPLEMENTATION_CLASS_UID = "2.25.240514356542135463744236095385113489213"
IMPLEMENTATION_VERSION = "SHAREAUDIT"
MAX_PDU = 16_384
A_ABORT = bytes((0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0))  # service-user abort, no reason

# PDU types (PS3.8 9.3.1) and the TLS record type of an alert (RFC 8446 5.1).
ASSOCIATE_AC, ASSOCIATE_RJ, ABORT = 0x02, 0x03, 0x07
TLS_ALERT, TLS_HANDSHAKE = 0x15, 0x16


class Answer(StrEnum):
    """What the first A-ASSOCIATE-RQ got back."""

    ACCEPTED = "accepted"  # A-ASSOCIATE-AC: DICOM
    REJECTED = "rejected"  # A-ASSOCIATE-RJ: DICOM
    ABORTED = "aborted"  # A-ABORT: DICOM
    CLOSED = "closed"  # closed or reset without a byte (a TLS server often does this to plain text)
    TLS_ALERT = "tls_alert"  # a TLS alert record: a TLS server read our plain request
    SILENT = "silent"  # nothing within the timeout
    FOREIGN = "foreign"  # bytes that are not a DICOM PDU (an HTTP or FTP server, ...)
    TLS_REFUSED = "tls_refused"  # a TLS server refused the handshake (most likely: no client certificate)

    @property
    def dicom(self) -> bool:
        """The answer is a DICOM upper-layer PDU."""
        return self in (Answer.ACCEPTED, Answer.REJECTED, Answer.ABORTED)


@dataclass(frozen=True, slots=True)
class Contact:
    """The first answer on one port, over plain TCP or TLS."""

    answer: Answer
    tls: bool
    tls_version: str | None = None


def _ae(title: str) -> bytes:
    return title.encode("ascii").ljust(16, b" ")[:16]


def _item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(called: str, calling: str) -> bytes:
    """A minimal A-ASSOCIATE-RQ for Verification with Implicit VR Little Endian (PS3.8 9.3.2)."""
    context = _item(
        0x20,
        bytes((1, 0, 0, 0))
        + _item(0x30, VERIFICATION.encode("ascii"))
        + _item(0x40, IMPLICIT_VR_LITTLE_ENDIAN.encode("ascii")),
    )
    user = _item(
        0x50,
        _item(0x51, struct.pack(">I", MAX_PDU))
        + _item(0x52, IMPLEMENTATION_CLASS_UID.encode("ascii"))
        + _item(0x55, IMPLEMENTATION_VERSION.encode("ascii")),
    )
    body = (
        struct.pack(">HH", 1, 0)
        + _ae(called)
        + _ae(calling)
        + bytes(32)
        + _item(0x10, APPLICATION_CONTEXT.encode("ascii"))
        + context
        + user
    )
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def classify(first: bytes) -> Answer:
    """The kind of answer from its first byte (b"": closed without a byte)."""
    if not first:
        return Answer.CLOSED
    kind = first[0]
    if kind == ASSOCIATE_AC:
        return Answer.ACCEPTED
    if kind == ASSOCIATE_RJ:
        return Answer.REJECTED
    if kind == ABORT:
        return Answer.ABORTED
    if kind == TLS_ALERT:
        return Answer.TLS_ALERT
    return Answer.FOREIGN


def _exchange(sock: socket.socket, request: bytes) -> Answer:
    try:
        sock.sendall(request)
        first = sock.recv(1)
    except TimeoutError:
        return Answer.SILENT
    except ssl.SSLError as exc:  # TLS 1.3 reports a missing client certificate on the first read
        return Answer.TLS_REFUSED if "CERTIFICATE_REQUIRED" in str(exc).upper() else Answer.CLOSED
    except OSError:
        return Answer.CLOSED
    answer = classify(first)
    if answer is Answer.ACCEPTED:
        # Polite and final: nothing is asked over this association.
        with contextlib.suppress(OSError):  # the peer may have dropped it already
            sock.sendall(A_ABORT)
    return answer


def contact(address: str, port: int, called: str, calling: str, timeout: float, tls: bool) -> Contact:
    """Open the port, send one A-ASSOCIATE-RQ, classify the first byte back; CollectError if TCP fails.

    With `tls`, the request goes inside a TLS session (certificate not checked); a handshake the server
    refuses with an alert about certificates or the handshake is `TLS_REFUSED`, any other failure `CLOSED`.
    """
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise connect_error(exc, timeout) from None
    with raw:
        raw.settimeout(timeout)
        if not tls:
            return Contact(_exchange(raw, associate_rq(called, calling)), tls=False)
        try:
            sock = tls_context().wrap_socket(raw)
        except TimeoutError:
            return Contact(Answer.SILENT, tls=True)
        except ssl.SSLError as exc:
            required = "CERTIFICATE_REQUIRED" in str(exc).upper() or "HANDSHAKE_FAILURE" in str(exc).upper()
            return Contact(Answer.TLS_REFUSED if required else Answer.CLOSED, tls=True)
        except OSError:
            return Contact(Answer.CLOSED, tls=True)
        with sock:
            version = sock.version()
            return Contact(_exchange(sock, associate_rq(called, calling)), tls=True, tls_version=version)
