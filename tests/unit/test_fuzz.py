"""Every parser of untrusted bytes, fed random and mutated input: a declared error at most, never a crash.

Seeds are real layouts (a lab security descriptor, directory entries as Samba sends them, a ZIP, DICOM and
other medical heads); Hypothesis mutates them (flipped bytes, truncations, splices) within a bounded number
of examples. A parser may answer with its own error type; any other exception is a bug.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sd import imaging_root

from shareaudit.acl import SecurityDescriptorError
from shareaudit.classify.archive import parse_central_directory, parse_zip_tail
from shareaudit.classify.sniff import sniff
from shareaudit.collect.nfs import judge, rpc
from shareaudit.collect.smb.sd import parse_security_descriptor
from shareaudit.collect.smb.walk import parse_directory_information
from shareaudit.errors import CollectError

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed with bytes replaced, a prefix kept, or random bytes spliced in; or random bytes."""
    flips = st.lists(st.tuples(st.integers(0, max(0, len(seed) - 1)), st.integers(0, 255)), max_size=8).map(
        lambda changes: bytes(_flip(seed, changes))
    )
    prefixes = st.integers(0, len(seed)).map(lambda n: seed[:n])
    splices = st.tuples(st.integers(0, len(seed)), st.binary(max_size=64)).map(
        lambda cut: seed[: cut[0]] + cut[1] + seed[cut[0] :]
    )
    return st.one_of(flips, prefixes, splices, st.binary(max_size=2048))


def _flip(seed: bytes, changes: list[tuple[int, int]]) -> bytearray:
    data = bytearray(seed)
    for index, value in changes:
        if index < len(data):
            data[index] = value
    return data


def _entry(name: str, attributes: int, size: int, next_offset: int) -> bytes:
    """One FILE_DIRECTORY_INFORMATION record ([MS-FSCC] 2.4.10)."""
    encoded = name.encode("utf-16-le")
    fixed = struct.pack(
        "<IIqqqqqqII", next_offset, 0, 0, 0, 133_000_000_000_000_000, 0, size, size, attributes, len(encoded)
    )
    return fixed + encoded


def _listing() -> bytes:
    first = _entry("scan_0001.dcm", 0x20, 4096, 0)
    first = struct.pack("<I", (len(first) + 7) & ~7) + first[4:]
    first += b"\0" * (((len(first) + 7) & ~7) - len(first))
    return first + _entry("Staff only", 0x10, 0, 0)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(3):
            archive.writestr(f"DICOM/IM{n:05d}", b"\0" * 132 + b"DICM")
        archive.writestr("DICOMDIR", b"x")
    return buffer.getvalue()


SD = imaging_root()
LISTING = _listing()
ZIP = _zip()
HEADS = (
    b"\0" * 128 + b"DICM" + b"\x02\x00\x02\x00UI\x1a\x00" + b"1.2.840.10008.5.1.4.1.1.2\0",
    b"MSH|^~\\&|LAB|HOSP|||20260101||ORU^R01|1|P|2.5\r",
    b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
    b"0       " + b" " * 248,  # an EDF header's start
    b"\x1f\x8b\x08\x00" + b"\0" * 60,  # gzip
)


@FUZZ
@given(_mutations(SD))
def test_security_descriptors(data: bytes) -> None:
    with contextlib.suppress(SecurityDescriptorError):
        parse_security_descriptor(data)


@FUZZ
@given(_mutations(LISTING))
def test_directory_entries(data: bytes) -> None:
    for entry in parse_directory_information(data):
        assert entry.name and entry.size >= 0 and 0 <= entry.mtime < 253_402_300_799


@FUZZ
@given(_mutations(ZIP), st.integers(0, 1 << 40))
def test_zip_tails(data: bytes, extra: int) -> None:
    parse_zip_tail(data, len(data) + extra % 4096)


@FUZZ
@given(_mutations(ZIP), st.one_of(st.none(), st.integers(0, 70_000)))
def test_zip_central_directories(data: bytes, entries: int | None) -> None:
    parse_central_directory(data, entries)


@FUZZ
@given(
    st.sampled_from(HEADS).flatmap(_mutations),
    st.sampled_from(("x", "a.dcm", "b.json", "c.xml", "d.gz", "e")),
)
def test_content_sniffers(head: bytes, name: str) -> None:
    sniff(head, name)


def _find_identifier() -> bytes:
    """A C-FIND study answer's identifier as Orthanc sends it (implicit VR little endian)."""
    from pydicom.dataset import Dataset
    from pynetdicom.dsutils import encode

    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    identifier.StudyDate = "20260101"
    identifier.ModalitiesInStudy = ["CT", "SR"]
    identifier.NumberOfStudyRelatedSeries = "2"
    identifier.NumberOfStudyRelatedInstances = "40"
    identifier.RetrieveAETitle = "ORTHANC"
    encoded = encode(identifier, True, True)
    assert encoded
    return encoded


FIND_IDENTIFIER = _find_identifier()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations(FIND_IDENTIFIER))
def test_dicom_find_answers(data: bytes) -> None:
    """pynetdicom decodes what the server sent; reducing it to a StudyRow never raises, whatever it holds."""
    from pynetdicom.dsutils import decode

    from shareaudit.collect.dicom.association import study_row

    try:
        identifier = decode(io.BytesIO(data), True, True)
    except Exception:  # noqa: BLE001  (pynetdicom reports an undecodable identifier as a failed answer)
        return
    study_row(identifier)


RPC = Path(__file__).parent / "data" / "rpc"  # labnas's real answers, recorded over impacket
RPC_ANSWERS = {
    name: (RPC / f"{name}.bin").read_bytes() for name in ("lsa_lookup", "samr_pw", "samr_lo", "samr_users")
}


class _Replay:
    """impacket's own DCERPC_v5.request (error check, answer parsing) over recorded, mutated answers."""

    def __init__(self, answers: dict[int, bytes]) -> None:
        from impacket.dcerpc.v5.rpcrt import DCERPC_v5

        self.dce = object.__new__(DCERPC_v5)
        self.dce.transfer_syntax = None
        self.answers = answers
        self.asked: list[object] = []
        self.dce.call = lambda opnum, request, uuid=None: self.asked.append(request)  # type: ignore[method-assign]
        self.dce.recv = self._recv  # type: ignore[method-assign]

    def _recv(self) -> bytes:
        request = self.asked[-1]
        key = int(request["DomainInformationClass"]) if "DomainInformationClass" in request.fields else 0
        return self.answers[key]


class _Conn:
    def getRemoteHost(self) -> str:
        return "127.0.0.1"


@FUZZ
@given(_mutations(RPC_ANSWERS["samr_pw"]), _mutations(RPC_ANSWERS["samr_lo"]))
def test_samr_policy_answers(password: bytes, lockout: bytes) -> None:
    """The password and lockout policy from any answer: read, or one CollectError, never anything else."""
    from impacket.dcerpc.v5 import samr as impacket_samr

    from shareaudit.collect.smb import samr

    classes = impacket_samr.DOMAIN_INFORMATION_CLASS
    replay = _Replay({classes.DomainPasswordInformation: password, classes.DomainLockoutInformation: lockout})
    with contextlib.suppress(CollectError):
        samr._policy(_Conn(), replay.dce, b"\0" * 20)  # type: ignore[arg-type]


@FUZZ
@given(_mutations(RPC_ANSWERS["samr_users"]))
def test_samr_account_answers(answer: bytes) -> None:
    from shareaudit.collect.smb import samr

    replay = _Replay({0: answer})
    with contextlib.suppress(CollectError):
        samr._accounts(_Conn(), replay.dce, b"\0" * 20)  # type: ignore[arg-type]


@FUZZ
@given(_mutations(RPC_ANSWERS["lsa_lookup"]))
def test_lsa_lookup_answers(answer: bytes) -> None:
    from impacket.dcerpc.v5 import lsat

    from shareaudit.collect.smb import lsa
    from shareaudit.collect.smb.rpc import UNREADABLE

    try:
        parsed = lsat.LsarLookupSidsResponse(answer)
    except UNREADABLE:
        return  # raised inside the RPC call, where RPC_FAILURES catches it: one CollectError
    with contextlib.suppress(CollectError), lsa.readable("LsarLookupSids"):
        lsa._names(["S-1-5-32-544", "S-1-1-0", "S-1-5-21-1-2-3-500"], parsed)


# rpcbind's DUMP reply as Ganesha's rpcbind sends it (xid 7): NFS v3/v4 and MOUNT v3 on TCP and UDP.
_PROGRAMS = [(100000, 2, 6, 111), (100003, 3, 6, 2049), (100003, 4, 17, 2049), (100005, 3, 6, 20048)]
DUMP_REPLY = (
    struct.pack(">6I", 7, 1, 0, 0, 0, 0)
    + b"".join(struct.pack(">5I", 1, *entry) for entry in _PROGRAMS)
    + struct.pack(">I", 0)
)
MISMATCH_REPLY = struct.pack(">8I", 7, 1, 0, 0, 0, 2, 3, 4)


@FUZZ
@given(st.sampled_from((DUMP_REPLY, MISMATCH_REPLY)).flatmap(_mutations))
def test_rpc_replies(data: bytes) -> None:
    with contextlib.suppress(rpc.RpcError):
        reply = rpc.parse_reply(data, 7)
        if reply.accepted:
            for program in rpc.parse_dump(reply.body):
                assert 0 <= program.port <= 65535 and program.name and program.transport
    # The same bytes as a TCP stream: one record, or "read more", or RpcError.
    with contextlib.suppress(rpc.RpcError):
        record = rpc.split_records(data)
        assert record is None or len(record) <= rpc.MAX_REPLY


@FUZZ
@given(st.lists(st.text(max_size=40), max_size=6))
def test_export_client_lists(clients: list[str]) -> None:
    # Whatever a server puts in an export's groups: a kind, a yes/no, a description; never an exception.
    for spec in clients:
        assert judge.client_kind(spec) in {"everyone", "network", "host", "netgroup", "wildcard", "name"}
    open_ = judge.open_to_everyone(clients)
    assert judge.broad_network(clients) or not open_
    assert (judge.broadest(clients) == "any host") == open_
