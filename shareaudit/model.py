"""The facts a scan collects, as immutable dataclasses: the scan result document.

Collection produces these and nothing else; rules and renderers only read them. The JSON form
(shareaudit/scanfile.py, docs/json-format.md) mirrors these classes field for field.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "shareaudit/1"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server says about itself: NTLM challenge fields and its srvsvc comment."""

    netbios_name: str | None = None
    netbios_domain: str | None = None
    dns_name: str | None = None
    dns_domain: str | None = None
    os: str | None = None  # the NTLM VERSION field; Samba always claims "Windows 6.1"
    server_string: str | None = None  # NetrServerGetInfo level 101 comment (Samba's "server string")


@dataclass(frozen=True, slots=True)
class SessionProbe:
    """One posture logon attempt (null, named Guest, or an unknown user)."""

    accepted: bool
    guest: bool = False  # the server marked the session as guest (SMB2_SESSION_FLAG_IS_GUEST)
    status: str | None = None  # NT status when refused
    ipc: bool | None = None  # null session only: could it open IPC$ (and so talk RPC)?
    username: str | None = None  # the user name tried (the random one for the fallback probe)


@dataclass(frozen=True, slots=True)
class Posture:
    """How the host is configured, as seen from the network."""

    smb1: bool
    dialects: tuple[str, ...]
    signing_required: bool
    encryption: bool
    null_session: bool  # an anonymous session can open IPC$
    guest_account: bool  # "Guest" with an empty password gets a session
    guest_fallback: bool  # an unknown user name is silently given a guest session
    smb1_signing_required: bool | None = None
    server: ServerInfo = field(default_factory=ServerInfo)
    sessions: dict[str, SessionProbe] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Enumeration:
    """One attempt to list shares over srvsvc as one identity."""

    identity: str
    ok: bool
    level: int | None = None  # 502 when paths were disclosed, else 1
    count: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Share:
    """A share as the server lists it."""

    name: str
    type: str  # disk | printer | ipc | device
    hidden: bool  # name ends in $ or STYPE_SPECIAL
    remark: str = ""
    special: bool = False  # STYPE_SPECIAL (IPC$, C$, ADMIN$)
    path: str | None = None  # local path from level 502
    path_disclosed_to: str | None = None  # the least privileged identity that was told the path


@dataclass(frozen=True, slots=True)
class HostResult:
    """Everything gathered about one target; `error` says why it is incomplete."""

    target: str
    address: str
    port: int
    reachable: bool
    error: str | None = None
    error_kind: str | None = None
    posture: Posture | None = None
    shares: tuple[Share, ...] = ()
    enumeration: tuple[Enumeration, ...] = ()
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class IdentityInfo:
    """An identity as recorded in the result: never its password."""

    label: str
    kind: str
    username: str
    domain: str = ""


@dataclass(frozen=True, slots=True)
class Tool:
    """Which shareaudit produced the result."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The scan result document."""

    tool: Tool
    started_at: str
    finished_at: str
    hosts: tuple[HostResult, ...]
    identities: tuple[IdentityInfo, ...] = ()
    options: dict[str, object] = field(default_factory=dict)
    input_problems: tuple[str, ...] = ()  # target-list lines that were skipped
    schema: str = SCHEMA
