"""What an identity can do on a share, asked of the server without writing anything.

- the share-level maximal access from the SMB2 TREE_CONNECT response ([MS-SMB2] 2.2.10), which
  smbprotocol's TreeConnect.connect() discards, so the tree connect is sent here;
- the file-system maximal access on the share root from an SMB2 CREATE with the query-maximal-access
  context ([MS-SMB2] 2.2.13.2.5 / 2.2.14.2.5), opened with FILE_OPEN (nothing is created) and a
  desired access of reading attributes (and listing, when allowed);
- whether the root can really be listed (one QUERY_DIRECTORY of at most one entry);
- the root's security descriptor (SMB2 QUERY_INFO, [MS-SMB2] 2.2.37, SMB2_0_INFO_SECURITY).

Samba's tree-connect MaximalAccess on a read-only share still carries DELETE, WRITE_DAC and
WRITE_OWNER (0x1f00a9), while MxAc on the root reflects the real limits (samba-lab-notes Q3 d):
effective rights are the AND of both (acl.effective_rights).

The tree connect is registered in smbprotocol's tables the way `TreeConnect.connect()` does it (its
`_connected` flag and `Session.tree_connect_table`): tests/unit/test_smb_internals.py checks that
`connect()` still sets nothing more. Log lines carry share names, statuses and masks; never a name
below the share root (the listing here reads one entry and does not log it).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass

from smbprotocol.create_contexts import (
    CreateContextName,
    SMB2CreateContextRequest,
    SMB2CreateQueryMaximalAccessRequest,
    SMB2CreateQueryMaximalAccessResponse,
)
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.file_info import InfoType
from smbprotocol.header import NtStatus
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileInformationClass,
    ImpersonationLevel,
    Open,
    QueryDirectoryFlags,
    ShareAccess,
    SMB2QueryInfoRequest,
    SMB2QueryInfoResponse,
)
from smbprotocol.tree import ShareFlags, SMB2TreeConnectRequest, SMB2TreeConnectResponse, TreeConnect

from shareaudit.collect.smb.client import SMB_FAILURES, SmbSession, timed_out
from shareaudit.collect.smb.status import status_name
from shareaudit.errors import CollectError, FailureKind

log = logging.getLogger(__name__)

# [MS-SMB2] 2.2.13.1 access mask bits used to open the root.
FILE_LIST_DIRECTORY = 0x00000001
FILE_READ_ATTRIBUTES = 0x00000080
READ_CONTROL = 0x00020000
SYNCHRONIZE = 0x00100000
# [MS-DTYP] 2.4.7 SECURITY_INFORMATION
OWNER_GROUP_DACL = 0x00000001 | 0x00000002 | 0x00000004


def _failure(exc: Exception, what: str) -> CollectError:
    """A dead or confused server, as opposed to a refusal (which callers record as an answer)."""
    if timed_out(exc):
        return CollectError(FailureKind.TIMEOUT, f"{what}: the server stopped answering")
    return CollectError(FailureKind.PROTOCOL, f"{what}: {exc}")


@dataclass
class Tree:
    """A connected share and the share-level maximal access the server granted on it."""

    tree: TreeConnect
    maximal_access: int
    where: str  # "host: share as label", for log lines

    def disconnect(self) -> None:
        """Leave the share; a failure here changes nothing already measured."""
        with contextlib.suppress(SMBException, OSError, KeyError):
            self.tree.disconnect()


def connect_tree(smb: SmbSession, share: str, timeout: float) -> Tree | str:
    """Tree-connect to the share: a Tree, or the NT status name of the refusal."""
    session = smb.session
    where = f"{smb.host}: share {share} as {smb.identity.label}"
    tree = TreeConnect(session, rf"\\{smb.host}\{share}")
    request = SMB2TreeConnectRequest()
    request["buffer"] = tree.share_name.encode("utf-16-le")
    started = time.monotonic()
    try:
        sent = session.connection.send(request, sid=session.session_id)
        response = session.connection.receive(sent, timeout=timeout)
    except SMBResponseException as exc:
        log.info("%s: tree connect refused, %s", where, status_name(exc.status))
        log.debug("%s: tree connect status 0x%08x", where, int(exc.status))
        return status_name(exc.status)
    except SMB_FAILURES as exc:
        log.info("%s: tree connect failed: %s", where, type(exc).__name__)
        raise _failure(exc, f"tree connect to {share}") from exc
    answer = SMB2TreeConnectResponse()
    answer.unpack(response["data"].get_value())
    # Register the tree the way TreeConnect.connect() does, so smbprotocol's Open can use it.
    tree.tree_connect_id = response["tree_id"].get_value()
    tree._connected = True
    session.tree_connect_table[tree.tree_connect_id] = tree
    tree.is_dfs_share = False
    # [MS-SMB2] 2.2.10: the share requires every request on the tree to be encrypted.
    encrypted = answer["share_flags"].has_flag(ShareFlags.SMB2_SHAREFLAG_ENCRYPT_DATA)
    tree.encrypt_data = encrypted and session.connection.supports_encryption
    maximal_access = int(answer["maximal_access"].get_value())
    log.info(
        "%s: tree connect accepted, maximal access 0x%08x%s",
        where,
        maximal_access,
        ", encrypted" if encrypted else "",
    )
    log.debug("%s: tree id %d (%.0f ms)", where, tree.tree_connect_id, (time.monotonic() - started) * 1000)
    return Tree(tree, maximal_access, where)


@dataclass(frozen=True, slots=True)
class RootAccess:
    """What the share root says about the identity."""

    maximal_access: int | None  # MxAc, None when the root could not be opened
    status: str | None  # why the root could not be opened
    listable: bool


def _open_root(
    tree: Tree, desired: int, contexts: list[SMB2CreateContextRequest] | None
) -> tuple[Open, list[object]]:
    handle = Open(tree.tree, "")
    answer = handle.create(
        ImpersonationLevel.Impersonation,
        desired,
        0,
        ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
        CreateDisposition.FILE_OPEN,  # never create: the root exists, and nothing else is touched
        CreateOptions.FILE_DIRECTORY_FILE,
        contexts,
    )
    return handle, list(answer or [])


def _close(handle: Open) -> None:
    with contextlib.suppress(SMBException, OSError, KeyError):
        handle.close(get_attributes=False)


def _mxac_context() -> SMB2CreateContextRequest:
    context = SMB2CreateContextRequest()
    context["buffer_name"] = CreateContextName.SMB2_CREATE_QUERY_MAXIMAL_ACCESS_REQUEST
    context["buffer_data"] = SMB2CreateQueryMaximalAccessRequest()
    return context


def measure_root(tree: Tree, share: str) -> RootAccess:
    """MxAc on the root, and whether listing it works, without changing anything."""
    listing = FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE
    try:
        try:
            handle, contexts = _open_root(tree, listing, [_mxac_context()])
            can_try_list = True
        except SMBResponseException as exc:
            if exc.status != NtStatus.STATUS_ACCESS_DENIED:
                log.info("%s: root open refused, %s", tree.where, status_name(exc.status))
                return RootAccess(None, status_name(exc.status), False)
            # Listing refused: open for attributes only, just to learn the maximal access.
            log.debug("%s: root open for listing refused, opening for attributes", tree.where)
            handle, contexts = _open_root(tree, FILE_READ_ATTRIBUTES | SYNCHRONIZE, [_mxac_context()])
            can_try_list = False
    except SMBResponseException as exc:
        log.info("%s: root open refused, %s", tree.where, status_name(exc.status))
        return RootAccess(None, status_name(exc.status), False)
    except SMB_FAILURES as exc:
        log.info("%s: root open failed: %s", tree.where, type(exc).__name__)
        raise _failure(exc, f"opening the root of {share}") from exc
    try:
        mxac = next((c for c in contexts if isinstance(c, SMB2CreateQueryMaximalAccessResponse)), None)
        mask = None
        if mxac is not None and mxac["query_status"].get_value() == NtStatus.STATUS_SUCCESS:
            mask = int(mxac["maximal_access"].get_value())
        listable = False
        if can_try_list:
            try:
                handle.query_directory(
                    "*",
                    FileInformationClass.FILE_NAMES_INFORMATION,
                    flags=QueryDirectoryFlags.SMB2_RETURN_SINGLE_ENTRY,
                    max_output=1024,
                )
                listable = True
            except SMBResponseException as exc:
                listable = exc.status == NtStatus.STATUS_NO_MORE_FILES  # an empty root still lists
                log.debug("%s: root listing: %s", tree.where, status_name(exc.status))
        mxac_status = status_name(mxac["query_status"].get_value()) if mxac is not None else "absent"
        log.info(
            "%s: root MxAc %s, listable: %s",
            tree.where,
            f"0x{mask:08x}" if mask is not None else mxac_status,
            listable,
        )
        return RootAccess(mask, None, listable)
    except SMB_FAILURES as exc:
        raise _failure(exc, f"reading the root of {share}") from exc
    finally:
        _close(handle)


def _query_security(tree: Tree, handle: Open, information: int) -> bytes:
    """QUERY_INFO security ([MS-SMB2] 2.2.37) on an open handle: the raw self-relative descriptor."""
    request = SMB2QueryInfoRequest()
    request["info_type"] = InfoType.SMB2_0_INFO_SECURITY
    request["output_buffer_length"] = 65535
    request["additional_information"] = information
    request["file_id"] = handle.file_id
    connection = tree.tree.session.connection
    sent = connection.send(request, sid=tree.tree.session.session_id, tid=tree.tree.tree_connect_id)
    response = connection.receive(sent)
    answer = SMB2QueryInfoResponse()
    answer.unpack(response["data"].get_value())
    return bytes(answer["buffer"].get_value())


def root_security_descriptor(tree: Tree, share: str) -> bytes | str:
    """The root's raw security descriptor (owner, group, DACL), or the NT status name of the refusal."""
    try:
        handle, _ = _open_root(tree, READ_CONTROL | FILE_READ_ATTRIBUTES | SYNCHRONIZE, None)
    except SMBResponseException as exc:
        log.info("%s: root security descriptor: open refused, %s", tree.where, status_name(exc.status))
        return status_name(exc.status)
    except SMB_FAILURES as exc:
        raise _failure(exc, f"opening the root of {share}") from exc
    try:
        raw = _query_security(tree, handle, OWNER_GROUP_DACL)
        log.info("%s: root security descriptor: %d bytes", tree.where, len(raw))
        return raw
    except SMBResponseException as exc:
        log.info("%s: root security descriptor: refused, %s", tree.where, status_name(exc.status))
        return status_name(exc.status)
    except SMB_FAILURES as exc:
        raise _failure(exc, f"reading the security of {share}") from exc
    finally:
        _close(handle)


# [MS-SMB2] 2.2.13 CreateOptions: delete the file when its last handle closes.
FILE_DELETE_ON_CLOSE = 0x00001000
FILE_NON_DIRECTORY_FILE = 0x00000040
FILE_WRITE_DATA = 0x00000002
DELETE = 0x00010000


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What the active write probe did: created, and gone again?"""

    name: str
    created: bool
    cleaned: bool
    status: str | None
    note: str | None


def write_probe(tree: Tree, share: str) -> ProbeOutcome:
    """Create an empty, uniquely named file with delete-on-close, close it, and check it is gone.

    Delete-on-close needs DELETE access at creation time, so an identity that could add a file but not
    remove it is refused before anything exists: the probe can never leave a file it cannot delete.
    """
    name = f"shareaudit-probe-{uuid.uuid4().hex[:12]}.tmp"
    handle = Open(tree.tree, name)
    try:
        handle.create(
            ImpersonationLevel.Impersonation,
            FILE_WRITE_DATA | DELETE | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
            0,
            0,  # no sharing: nobody else opens it in the meantime
            CreateDisposition.FILE_CREATE,  # fails rather than touching an existing file
            FILE_NON_DIRECTORY_FILE | FILE_DELETE_ON_CLOSE,
        )
    except SMBResponseException as exc:
        note = None
        if exc.status == NtStatus.STATUS_ACCESS_DENIED:
            note = "creating a file that deletes itself was refused (no write, or write without delete)"
        log.info("%s: write probe refused, %s", tree.where, status_name(exc.status))
        return ProbeOutcome(name, False, True, status_name(exc.status), note)
    except SMB_FAILURES as exc:
        raise _failure(exc, f"write probe on {share}") from exc
    _close(handle)
    try:
        check = Open(tree.tree, name)
        check.create(
            ImpersonationLevel.Impersonation,
            FILE_READ_ATTRIBUTES | SYNCHRONIZE,
            0,
            ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
            CreateDisposition.FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
        )
    except SMBResponseException as exc:
        if exc.status == NtStatus.STATUS_OBJECT_NAME_NOT_FOUND:
            log.info("%s: write probe: created, and gone after closing", tree.where)
            return ProbeOutcome(name, True, True, None, None)
        log.info("%s: write probe: created; checking it is gone: %s", tree.where, status_name(exc.status))
        return ProbeOutcome(
            name, True, False, status_name(exc.status), "could not confirm the probe file is gone"
        )
    except SMB_FAILURES as exc:
        log.info("%s: write probe: created; checking it is gone failed: %s", tree.where, type(exc).__name__)
        return ProbeOutcome(name, True, False, None, f"could not confirm the probe file is gone: {exc}")
    _close(check)
    log.info("%s: write probe: the probe file still exists after closing it", tree.where)
    return ProbeOutcome(name, True, False, None, "the probe file still exists after closing it")
