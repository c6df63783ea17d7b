"""The smbprotocol and impacket internals collect/smb/ relies on are still there and still behave, without a server.

walk.py packs its own requests but hands them to smbprotocol's connection (message ids, signing,
encryption, the request table, the receiver thread); access.py and client.py register trees and
null sessions the way smbprotocol's own connect() methods do; logon.py reads two impacket internals.
pyproject.toml pins both libraries to the minor versions these were verified with. When a test
here fails, the message names the member and what to re-verify before widening the pin: run the lab
tests (tests/test_crawl_lab.py walks labfs, where signing is mandatory) and an encrypted walk.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import re
import threading
import tomllib
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.cmac import CMAC
from impacket import ntlm, smb3
from impacket.smbconnection import SMBConnection
from smbprotocol.connection import (
    Ciphers,
    Connection,
    Dialects,
    Request,
    SigningAlgorithms,
    SMB2HeaderRequest,
    SMB2TransformHeader,
)
from smbprotocol.open import Open
from smbprotocol.session import Session
from smbprotocol.transport import DirectTCPPacket, Tcp
from smbprotocol.tree import TreeConnect

from shareaudit.collect.smb import logon, walk
from shareaudit.collect.smb.status import error_name, status_name

ROOT = Path(__file__).resolve().parents[2]

RE_VERIFY_WALK = (
    "collect/smb/walk.py (Walker._send) depends on it: re-verify the crawl against the lab, signed "
    "(labfs) and encrypted, before widening the smbprotocol pin in pyproject.toml"
)
RE_VERIFY_TREE = (
    "collect/smb/access.py (connect_tree) registers trees the way TreeConnect.connect() does: re-verify "
    "it sets the same attributes, then widen the smbprotocol pin"
)
RE_VERIFY_NULL = (
    "collect/smb/client.py (NullSession.connect) ends a session setup the way Session.connect() does: "
    "re-verify it sets the same attributes, then widen the smbprotocol pin"
)
RE_VERIFY_IMPACKET = (
    "collect/smb/logon.py depends on it: re-verify guest logons on SMB 3.1.1 (fortra/impacket#2277) and "
    "stalled-server timeouts against the lab before widening the impacket pin"
)


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _assigned(function: Any) -> set[str]:
    """Attributes a method assigns to self."""
    return set(re.findall(r"self\.(\w+)\s*=(?!=)", inspect.getsource(function)))


def _connection(dialect: int = Dialects.SMB_3_1_1) -> Connection:
    conn = Connection(uuid.uuid4(), "server.invalid", 445)  # never connected
    conn.dialect = dialect
    return conn


# --- versions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["smbprotocol", "impacket"])
def test_installed_version_is_the_verified_one(package: str) -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in dependencies if re.match(rf"{package}\b", d))
    pin = re.fullmatch(rf"{package}>=(\d+)\.(\d+),<(\d+)\.(\d+)", spec.replace(" ", ""))
    assert pin, f"{package} must be pinned to one verified minor version (>=X.Y,<X.Y+1), not {spec!r}"
    low, high = (int(pin[1]), int(pin[2])), (int(pin[3]), int(pin[4]))
    installed = tuple(int(part) for part in version(package).split(".")[:2])
    assert low <= installed < high, (
        f"{package} {version(package)} is installed but collect/smb/ was verified with {spec}: "
        "run this file and the lab tests, then move the pin"
    )


# --- smbprotocol: what walk.py uses ----------------------------------------------------------------------


def test_connection_generate_signature() -> None:
    member = (
        "smbprotocol Connection._generate_signature(b_header, signing_key, message_id, response, command)"
    )
    assert hasattr(Connection, "_generate_signature"), f"{member} is gone; {RE_VERIFY_WALK}"
    assert _parameters(Connection._generate_signature) == [
        "self",
        "b_header",
        "signing_key",
        "message_id",
        "response",
        "command",
    ], f"{member} changed signature; {RE_VERIFY_WALK}"
    header = bytes(range(64)) + b"body"
    key = bytes(range(16))
    zeroed = header[:48] + b"\x00" * 16 + header[64:]
    # SMB 3.x: AES-CMAC over the message with the signature field zeroed ([MS-SMB2] 3.1.4.1).
    cmac = CMAC(algorithms.AES(key))
    cmac.update(zeroed)
    conn = _connection(Dialects.SMB_3_0_0)
    signature = conn._generate_signature(header, key, 7, False, walk._CMD_CREATE)
    assert signature == cmac.finalize(), f"{member} no longer signs as [MS-SMB2] says; {RE_VERIFY_WALK}"
    # SMB 2.x: HMAC-SHA256, first 16 bytes.
    conn = _connection(Dialects.SMB_2_1_0)
    expected = hmac.new(key, zeroed, hashlib.sha256).digest()[:16]
    assert conn._generate_signature(header, key, 7, False, walk._CMD_CREATE) == expected, (
        f"{member} no longer signs SMB 2.x as [MS-SMB2] says; {RE_VERIFY_WALK}"
    )
    # SMB 3.1.1 with the negotiated algorithm.
    conn = _connection(Dialects.SMB_3_1_1)
    conn.signing_algorithm_id = SigningAlgorithms.AES_CMAC
    cmac = CMAC(algorithms.AES(key))
    cmac.update(zeroed)
    assert conn._generate_signature(header, key, 7, False, walk._CMD_CREATE) == cmac.finalize(), (
        f"{member} ignores Connection.signing_algorithm_id on 3.1.1; {RE_VERIFY_WALK}"
    )


def test_connection_encrypt_output_goes_through_the_transport() -> None:
    member = "smbprotocol Connection._encrypt(b_data, session)"
    assert hasattr(Connection, "_encrypt"), f"{member} is gone; {RE_VERIFY_WALK}"
    assert _parameters(Connection._encrypt) == ["self", "b_data", "session"], (
        f"{member} changed signature; {RE_VERIFY_WALK}"
    )
    conn = _connection(Dialects.SMB_3_1_1)
    conn.cipher_id = Ciphers.AES_128_GCM

    class FakeSession:
        session_id = 42
        encryption_key = decryption_key = bytes(range(16))

    chain = bytes(range(64)) + b"a related compound"
    sealed = conn._encrypt(chain, FakeSession()).pack()  # a structure: Walker._pack packs it
    # Walker._transmit frames the result as DirectTCPPacket (Tcp.send) does.
    framed = walk._DIRECT_TCP.pack(len(sealed)) + sealed
    assert framed[4:8] == b"\xfdSMB", f"{member} no longer yields a transform header; {RE_VERIFY_WALK}"
    conn.session_table[42] = FakeSession()
    message = SMB2TransformHeader()
    message.unpack(framed[4:])
    assert conn._decrypt(message) == chain, f"{member} and _decrypt no longer round-trip; {RE_VERIFY_WALK}"


def test_transport_socket_walk_py_writes_to() -> None:
    # Walker._transmit writes many framed messages at once, as Tcp.send writes one: under its socket lock.
    member = "smbprotocol Tcp._sock / Tcp._sock_lock"
    transport = Tcp("server.invalid", 445)
    assert hasattr(transport, "_sock") and isinstance(transport._sock_lock, type(threading.Lock())), (
        f"{member} changed; {RE_VERIFY_WALK}"
    )
    assert "self._sock_lock" in inspect.getsource(Tcp.send), (
        f"Tcp.send no longer holds {member}; {RE_VERIFY_WALK}"
    )
    for message in (b"", b"\xfeSMB" + bytes(60), bytes(70_000)):
        packet = DirectTCPPacket()
        packet["smb2_message"] = message
        assert packet.pack() == walk._DIRECT_TCP.pack(len(message)) + message, (
            f"smbprotocol DirectTCPPacket frames differently from Walker._transmit; {RE_VERIFY_WALK}"
        )
    assert walk._DIRECT_TCP_MAX == Tcp.MAX_SIZE, f"smbprotocol Tcp.MAX_SIZE changed; {RE_VERIFY_WALK}"


def test_connection_state_walk_py_shares() -> None:
    conn = _connection()
    members = {
        "outstanding_requests": dict,  # message id -> Request, read by the receiver thread
        "sequence_window": dict,  # {"low", "high"}: the credit window message ids come from
        "session_table": dict,
        "preauth_integrity_session_hash_value": dict,  # client.NullSession drops its entries
    }
    for name, kind in members.items():
        assert isinstance(getattr(conn, name, None), kind), (
            f"smbprotocol Connection.{name} is gone or no longer a {kind.__name__}; {RE_VERIFY_WALK}"
        )
    assert set(conn.sequence_window) == {"low", "high"}, (
        f"smbprotocol Connection.sequence_window keys changed; {RE_VERIFY_WALK}"
    )
    assert isinstance(conn.sequence_lock, type(threading.Lock())), (
        f"smbprotocol Connection.sequence_lock is no longer a lock; {RE_VERIFY_WALK}"
    )
    assert isinstance(conn._receive_timeout, int), (
        "smbprotocol Connection._receive_timeout is gone: client._connection shortens the 600 s wait for a "
        "silent server with it; re-verify stalled-server handling (tests/test_scan_lab.py)"
    )
    assert _parameters(Connection._check_worker_running) == ["self"], (
        f"smbprotocol Connection._check_worker_running() is gone or changed; {RE_VERIFY_WALK}"
    )
    receive = _parameters(Connection.receive)
    assert receive[:2] == ["self", "request"] and {"timeout", "resolve_symlinks"} <= set(receive), (
        f"smbprotocol Connection.receive(request, timeout=, resolve_symlinks=) changed; {RE_VERIFY_WALK}"
    )


def test_request_as_the_receiver_reads_it() -> None:
    assert _parameters(Request.__init__) == ["self", "message", "message_type", "connection", "session_id"], (
        f"smbprotocol Request(message, message_type, connection, session_id) changed; {RE_VERIFY_WALK}"
    )
    conn = _connection()
    request = Request(walk._HeaderView(9, walk._CMD_CREATE, 3), None, conn, 5)
    for name in ("response", "response_event", "response_event_lock", "session_id", "related_ids"):
        assert hasattr(request, name), f"smbprotocol Request.{name} is gone; {RE_VERIFY_WALK}"
    # Every header field smbprotocol reads from a pending request must be in walk._HeaderView.
    offered = set(walk._HeaderView(0, 0, 0).fields)
    for method in (Connection._process_message_thread, Connection.receive):
        source = inspect.getsource(method)
        read = set(re.findall(r'\.message\["(\w+)"\]', source))
        assert read <= offered, (
            f"smbprotocol Connection.{method.__name__} now reads request.message{sorted(read - offered)}, "
            f"which walk._HeaderView does not offer; {RE_VERIFY_WALK}"
        )
        written = set(re.findall(r'\.message\["(\w+)"\]\s*=(?!=)', source))
        assert written <= {"reserved"} and (not written or "SMB2Echo()" in source), (
            f"smbprotocol Connection.{method.__name__} now writes request.message{sorted(written)}; "
            f"walk._HeaderView is read-only; {RE_VERIFY_WALK}"
        )


def test_walk_header_packs_as_smbprotocol_does() -> None:
    header = SMB2HeaderRequest()
    header["credit_charge"] = 1
    header["command"] = walk._CMD_QUERY_DIRECTORY
    header["credit_request"] = 3
    header["flags"] = walk._FLAG_RELATED | walk._FLAG_SIGNED
    header["next_command"] = 120
    header["message_id"] = 77
    header["tree_id"] = 5
    header["session_id"] = 0x1122334455667788
    ours = walk._HEADER.pack(
        b"\xfeSMB",
        64,
        1,
        0,
        walk._CMD_QUERY_DIRECTORY,
        3,
        0x0C,
        120,
        77,
        0,
        5,
        0x1122334455667788,
        b"\0" * 16,
    )
    assert header.pack() == ours, "walk._HEADER no longer packs the SMB2 header as smbprotocol does"


# --- smbprotocol: what access.py and client.py register --------------------------------------------------


def test_tree_connect_registration() -> None:
    assigned = _assigned(TreeConnect.connect)
    verified = {
        "tree_connect_id",
        "_connected",
        "is_dfs_share",
        "is_ca_share",
        "encrypt_data",
        "is_scaleout_share",
    }
    assert assigned <= verified, (
        f"TreeConnect.connect() now also sets {sorted(assigned - verified)}; {RE_VERIFY_TREE}"
    )
    assert "tree_connect_table[self.tree_connect_id] = self" in inspect.getsource(TreeConnect.connect), (
        f"TreeConnect.connect() no longer registers in Session.tree_connect_table; {RE_VERIFY_TREE}"
    )
    session = Session(_connection(), "", "", require_encryption=False)
    tree = TreeConnect(session, r"\\server.invalid\share")
    for name in ("_connected", "tree_connect_id", "is_dfs_share", "encrypt_data", "share_name", "session"):
        assert hasattr(tree, name), f"smbprotocol TreeConnect.{name} is gone; {RE_VERIFY_TREE}"
    assert isinstance(session.tree_connect_table, dict), (
        f"Session.tree_connect_table is gone; {RE_VERIFY_TREE}"
    )


def test_session_setup_end_state() -> None:
    assigned = _assigned(Session.connect)
    verified = {
        "_connected",
        "session_id",
        "full_session_key",
        "session_key",
        "signing_key",
        "application_key",
        "encryption_key",
        "decryption_key",
        "signing_required",
        "encrypt_data",
    }
    assert assigned <= verified, (
        f"Session.connect() now also sets {sorted(assigned - verified)}; {RE_VERIFY_NULL}"
    )
    parameters = _parameters(Session.__init__)
    assert parameters[:4] == ["self", "connection", "username", "password"], (
        f"smbprotocol Session(connection, username, password, ...) changed; {RE_VERIFY_NULL}"
    )
    assert {"require_encryption", "auth_protocol"} <= set(parameters), (
        f"smbprotocol Session(require_encryption=, auth_protocol=) changed; {RE_VERIFY_NULL}"
    )
    conn = _connection()
    assert hasattr(conn, "client_security_mode"), (
        f"smbprotocol Connection.client_security_mode is gone; {RE_VERIFY_NULL}"
    )
    session = Session(conn, "", "", require_encryption=False)
    for name in verified | {"tree_connect_table"}:
        assert hasattr(session, name), f"smbprotocol Session.{name} is gone; {RE_VERIFY_NULL}"


def test_open_positional_arguments() -> None:
    # access.py passes these positionally.
    assert _parameters(Open.create)[:8] == [
        "self",
        "impersonation_level",
        "desired_access",
        "file_attributes",
        "share_access",
        "create_disposition",
        "create_options",
        "create_contexts",
    ], "smbprotocol Open.create(...) argument order changed: re-verify collect/smb/access.py"


# --- impacket ----------------------------------------------------------------------------------------------


def test_impacket_connection_timeout() -> None:
    conn = SMBConnection("server.invalid", "192.0.2.1", timeout=7, manualNegotiate=True)  # never connected
    assert logon.timeout_of(conn) == 7.0, (
        f"impacket SMBConnection._timeout is gone or renamed; {RE_VERIFY_IMPACKET}"
    )


def test_impacket_guest_signing_switch() -> None:
    assert hasattr(SMBConnection, "getSMBServer") and hasattr(SMBConnection, "isGuestSession"), (
        f"impacket SMBConnection.getSMBServer()/isGuestSession() are gone; {RE_VERIFY_IMPACKET}"
    )
    assert "'SigningActivated'" in inspect.getsource(smb3.SMB3.__init__), (
        f"impacket SMB3._Session['SigningActivated'] is gone; {RE_VERIFY_IMPACKET}"
    )
    assert "self._Session['SigningActivated']" in inspect.getsource(smb3.SMB3.sendSMB), (
        f"impacket SMB3.sendSMB no longer decides signing by _Session['SigningActivated']; {RE_VERIFY_IMPACKET}"
    )
    assert "SMB2_SESSION_FLAG_IS_GUEST" in inspect.getsource(smb3.SMB3.isGuestSession), (
        f"impacket SMB3.isGuestSession() no longer reads SMB2_SESSION_FLAG_IS_GUEST; {RE_VERIFY_IMPACKET}"
    )


def test_impacket_ntlm_encoders_for_the_null_session() -> None:
    assert _parameters(ntlm.getNTLMSSPType1)[:3] == ["workstation", "domain", "signingRequired"], (
        "impacket ntlm.getNTLMSSPType1 changed: re-verify client.NullSession against labnas"
    )
    assert _parameters(ntlm.getNTLMSSPType3)[:5] == ["type1", "type2", "user", "password", "domain"], (
        "impacket ntlm.getNTLMSSPType3 changed: re-verify client.NullSession against labnas"
    )


# --- status names --------------------------------------------------------------------------------------------


def test_status_names() -> None:
    assert status_name(0xC0000022) == "STATUS_ACCESS_DENIED"
    assert status_name(0) == "STATUS_SUCCESS"
    assert status_name(0xC00000CC) == "STATUS_BAD_NETWORK_NAME"
    assert status_name(0xC0000466) == "STATUS_SERVER_UNAVAILABLE"  # only smbprotocol knows it
    assert status_name(0xC0FFEE00) == "0xc0ffee00"
    assert error_name(5) == "ERROR_ACCESS_DENIED"  # srvsvc answers Win32 errors
    assert error_name(0xFFFE) == "WERR 0x0000fffe"
    assert error_name(0xC0000073) == "STATUS_NONE_MAPPED"  # LSA answers NT statuses
