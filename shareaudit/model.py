"""The facts a scan collects, as immutable dataclasses: the scan result document.

Collection produces these and nothing else; rules and renderers only read them. The JSON form
(shareaudit/scanfile.py, docs/json-format.md) mirrors these classes field for field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shareaudit.acl import SecurityDescriptor

SCHEMA = "shareaudit/1"


# --- domain words ----------------------------------------------------------------------------------------------


class Severity(StrEnum):
    """How bad a finding is; the order (worst first) is the contract of --fail-on and of every sort."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info (lower is worse)."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = tuple(Severity)


class Confidence(StrEnum):
    """How sure a classification is; the tiers follow field survey section 6 ("Confidence tiers")."""

    WEAK = "weak"
    MEDIUM = "medium"
    STRONG = "strong"

    @property
    def rank(self) -> int:
        """Order of the tiers: weak < medium < strong."""
        return _CONFIDENCE_ORDER.index(self)


_CONFIDENCE_ORDER = tuple(Confidence)


class IdentityKind(StrEnum):
    """How an identity logs on."""

    ANONYMOUS = "anonymous"  # null session: empty user, empty password
    GUEST = "guest"  # the server's guest: named Guest account, or an unknown user mapped to guest
    USER = "user"  # a named account with a password


class Role(StrEnum):
    """What an identity stands for in the findings, by its label: the built-ins, or a service/device account."""

    AUDIT = "audit"
    ANONYMOUS = "anonymous"
    GUEST = "guest"
    SERVICE = "service"

    @classmethod
    def of(cls, label: str) -> Role:
        """The role of an identity label: every label but audit, anonymous and guest is a service account."""
        return cls(label) if label in (cls.AUDIT, cls.ANONYMOUS, cls.GUEST) else cls.SERVICE


class Basis(StrEnum):
    """Why a right is reported as it is: the truth of a claim, which an admin acts on."""

    MEASURED = "measured"  # done for real by the opt-in write probe
    GRANTED = "granted"  # the server's answer, consistent with what is known about the server
    UNCERTAIN = "uncertain"  # the server claims it, but it cannot be decided without writing (see `why`)
    DERIVED = "derived"  # from ACLs and directory groups, nobody logged on (exposures)


# The rights of an identity on a share, in the order they are shown.
RIGHTS = ("read", "write", "delete", "change_permissions", "take_ownership")


# Anonymous and guest: the identities anyone on the network has.
UNPRIVILEGED = (Role.ANONYMOUS, Role.GUEST)


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
class AccountDisclosure:
    """Whether someone without an account can list the server's local accounts (SAMR), and what they are told.

    Asked as the null session, then guest, never as the audit account: `disclosed_to` is who anyone on the
    network is. Names only (normal user accounts, by RID): no descriptions, which can hold passwords.
    """

    disclosed_to: str | None = None  # anonymous | guest: the least privileged identity told; null: nobody
    names: tuple[str, ...] = ()  # account names, by RID; at most 1000 (samr.MAX_NAMES)
    total: int = 0  # accounts counted (counting stops at 100,000)
    truncated: bool = False  # more accounts than names kept
    domain: str | None = None  # the SAM domain listed: the server's own, not Builtin
    error: str | None = None  # why nothing was disclosed: each identity's refusal, or why nobody was asked


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """The server's password and lockout policy (SAMR DomainPasswordInformation and DomainLockoutInformation)."""

    read_as: str  # the least privileged identity that could read it: anonymous | guest | audit
    min_length: int
    history: int  # remembered passwords
    max_age_days: int | None  # null: passwords never expire
    complexity: bool  # DOMAIN_PASSWORD_COMPLEX
    lockout_threshold: int  # failed logons before an account locks; 0: never locks
    lockout_duration_min: int | None  # null: locked until an administrator unlocks it
    lockout_window_min: int | None  # failed logons are counted over this window; null: not set


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
    accounts: AccountDisclosure | None = None  # null: not asked (a file from before SAMR was read)
    password_policy: PasswordPolicy | None = None  # null: nobody asked could read it (or not asked)

    @property
    def guest_is_fallback(self) -> bool:
        """The 'Guest' logon was the fallback itself, not an account of its own.

        It got a guest session on a server that gives one to any unknown name: Samba's `map to guest =
        bad user` without a Guest account, or Windows with the Guest account enabled. One door, one cause.
        """
        probe = self.sessions.get("guest_account")
        return self.guest_account and self.guest_fallback and bool(probe and probe.guest)

    @property
    def guest_account_of_its_own(self) -> bool:
        """A real account named Guest logs on with an empty password (not the guest fallback)."""
        return self.guest_account and not self.guest_is_fallback


@dataclass(frozen=True, slots=True)
class Enumeration:
    """One attempt to list shares over srvsvc as one identity."""

    identity: str
    ok: bool
    level: int | None = None  # 502 when paths were disclosed, else 1
    count: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WriteProbe:
    """The outcome of the opt-in active write probe (--active-write-probe) for one identity and share."""

    path: str  # the share-relative name that was (or would have been) created
    created: bool
    cleaned: bool  # the file is gone again; False with created=True means it was LEFT BEHIND
    status: str | None = None  # NT status of a refused create or of a failed cleanup
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Access:
    """What one identity can do on one share, as measured by asking the server."""

    connect: bool
    status: str | None = None  # NT status of a refused tree connect (or of the identity's refused logon)
    share_mask: str | None = None  # SMB2 TREE_CONNECT MaximalAccess, hex
    root_mask: str | None = None  # MxAc on the share root, hex
    root_status: str | None = None  # why the root could not be opened
    list: bool = False  # a directory listing of the root worked
    read: bool = False
    write: bool = False  # add file / write data / add subdirectory
    delete: bool = False
    change_permissions: bool = False  # WRITE_DAC
    take_ownership: bool = False  # WRITE_OWNER
    route: str | None = (
        None  # guest: guest_account | guest_fallback; a user the server mapped to guest: mapped_to_guest
    )
    probe: WriteProbe | None = None
    # right -> why it is reported as it is; every right of a connected disk share has one.
    basis: dict[str, Basis] = field(default_factory=dict)
    # right -> the reason a right the server claimed was dropped (it cannot honour it) or is uncertain.
    why: dict[str, str] = field(default_factory=dict)

    def sure(self, right: str) -> bool:
        """The right is held and the claim is not uncertain: what a finding above medium may rest on."""
        return bool(getattr(self, right)) and self.basis.get(right) is not Basis.UNCERTAIN


@dataclass(frozen=True, slots=True)
class MedicalCount:
    """How much of one medical file type a share holds."""

    count: int
    bytes: int
    confidence: Confidence  # strongest confidence seen for this type
    extrapolated: int = 0  # of `count`: files counted from a sample of like files, not read themselves
    sample: int = 0  # files read as samples whose type the extrapolated ones were given


@dataclass(frozen=True, slots=True)
class StudyStore:
    """A directory that holds an imaging study set: a DICOMDIR, or many DICOM files."""

    path: str  # share-relative, redacted
    kind: str  # dicomdir | dicom_directory
    files: int


@dataclass(frozen=True, slots=True)
class DirectorySummary:
    """Medical files found in one directory (the directories with the most are kept)."""

    path: str  # share-relative, redacted
    medical: dict[str, int]  # type id -> count
    bytes: int


class SignKind(StrEnum):
    """A sign that someone is already in (classify/intrusion.py)."""

    COIN_MINER = "coin_miner"  # a miner binary by name, or a config whose head holds pool/wallet keys
    DROPPED_EXECUTABLE = "dropped_executable"  # a script or binary at the root or in an upload/drop folder
    WEB_SHELL = "web_shell"  # a server-side script whose head runs what a request sends
    RANSOM_NOTE = "ransom_note"  # a file named like a ransom note
    ENCRYPTION_SWEEP = "encryption_sweep"  # most files of a directory renamed to one unusual extension
    COERCION_FILE = "coercion_file"  # .scf/.url/.lnk/desktop.ini/... whose icon or target is a UNC path


@dataclass(frozen=True, slots=True)
class Sign:
    """One sign of intrusion: where it is and why it matched. Never the file's content."""

    kind: SignKind
    path: str  # share-relative, redacted: the file, or for an encryption sweep its directory
    directory: str  # share-relative, redacted ("" is the share root)
    drop: bool  # the directory is the share root or an upload/drop folder (where nobody should run anything)
    why: str  # what matched, in shareaudit's words
    size: int = 0
    mtime: str | None = None  # ISO time of the file (a sweep: of its newest renamed file)
    target: str | None = None  # coercion_file: the host its UNC path points to
    extension: str | None = None  # encryption_sweep: the shared extension
    files: int = 0  # encryption_sweep: files with that extension in the directory


class SecretKind(StrEnum):
    """What kind of secret a credential file holds."""

    PASSWORD = "password"
    PRIVATE_KEY = "private_key"
    PASSWORD_DATABASE = "password_database"  # a KeePass database: every password behind one master key
    TOKEN = "token"  # an access token, API secret or secret key


class CredentialKind(StrEnum):
    """What a file holding credentials is (classify/credentials.py)."""

    SCAN_TO_FOLDER = "scan_to_folder"  # printer/scanner scan-to-folder settings or address book export
    UNATTEND = "unattend"  # Windows answer file
    WEB_CONFIG = "web_config"  # ASP.NET web.config (connection strings)
    GROUP_POLICY = "group_policy"  # Group Policy Preferences XML (cpassword: decryptable by anyone)
    KEEPASS = "keepass"
    PRIVATE_KEY = "private_key"
    ENV = "env"  # .env file
    GIT_CREDENTIALS = "git_credentials"
    NETRC = "netrc"
    SMB_CONF = "smb_conf"
    CREDENTIALS = "credentials"  # a file named credentials (smbclient -A, AWS, ...)
    CONFIG = "config"  # another configuration file with a password in it


@dataclass(frozen=True, slots=True)
class SecretSeen:
    """One secret found in a file, proven without being repeated: its kind, account and keyed fingerprint."""

    kind: SecretKind
    field: str  # where the file keeps it (a key or element name: password, SmbLoginPasswd, PEM block, ...)
    account: str | None = None  # the account it belongs to, when the file says so (redacted if personal)
    # "[secret:<12 hex>]": HMAC-SHA256 with the installation's redaction key over the secret's SHA-256;
    # the same secret has the same fingerprint in every run of one installation. Null: seen by name only.
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialFile:
    """A file readable by the walking identity that holds credentials. The secret itself is never kept."""

    path: str  # share-relative, redacted
    kind: CredentialKind
    why: str  # what matched, in shareaudit's words
    size: int = 0
    mtime: str | None = None
    secrets: tuple[SecretSeen, ...] = ()  # at most 8 per file
    secrets_found: int = 0  # secrets seen in the file's head


@dataclass(frozen=True, slots=True)
class WalkStats:
    """How a share's walk went: what it asked of the server and what held it back (besides `bounds_hit`)."""

    listings: int = 0  # directory listings requested (a directory too large for one answer counts again)
    reads: int = 0  # file reads requested: heads, ZIP tails and central directories
    rate: float = 0.0  # the request rate limit in force, per second (0: none)
    rate_waited_s: float = 0.0  # seconds the walk spent waiting for the rate limit


@dataclass(frozen=True, slots=True)
class Content:
    """What a bounded walk of a share found, as the identity that walked it. Nothing read is kept."""

    crawled_as: str  # identity label
    entries_seen: int
    dirs_seen: int
    denied_dirs: int
    truncated: bool  # a bound stopped the walk
    estimated: bool  # counts below are extrapolated from what was seen
    elapsed_s: float
    medical: dict[str, MedicalCount] = field(default_factory=dict)  # type id -> count, bytes, confidence
    study_stores: tuple[StudyStore, ...] = ()
    samples: tuple[str, ...] = ()  # redacted share-relative paths of medical files
    bounds_hit: tuple[str, ...] = ()  # which bounds stopped the walk: depth, entries, dir_entries, time
    files_seen: int = 0
    bytes_seen: int = 0
    sniffed: int = 0  # files whose first bytes were read to decide their type
    newest: str | None = None  # ISO time of the newest medical file
    oldest: str | None = None
    directories: tuple[DirectorySummary, ...] = ()
    error: str | None = None  # why the walk stopped early, if it failed
    intrusion: tuple[Sign, ...] = ()  # signs that someone is already in; at most 20 kept per kind
    intrusion_counts: dict[str, int] = field(default_factory=dict)  # sign kind -> signs found (kept or not)
    credentials: tuple[CredentialFile, ...] = ()  # files holding credentials; at most 50 kept
    credentials_found: int = 0  # credential files found (kept or not)
    sampled_groups: int = 0  # groups of like files (one folder, name shape, size class) decided by a sample
    extrapolated: int = 0  # files counted as a medical type from their group's sample, not read
    too_small: int = 0  # files not read because they are shorter than any signature
    walk: WalkStats | None = None  # requests and waits; null in results written before it existed


@dataclass(frozen=True, slots=True)
class Share:
    """A share as the server lists it, and who can do what on it."""

    name: str
    type: str  # disk | printer | ipc | device
    hidden: bool  # name ends in $ or STYPE_SPECIAL
    remark: str = ""
    special: bool = False  # STYPE_SPECIAL (IPC$, C$, ADMIN$)
    path: str | None = None  # local path from level 502
    path_disclosed_to: str | None = None  # the least privileged identity that was told the path
    access: dict[str, Access] = field(default_factory=dict)  # by identity label
    share_sd: SecurityDescriptor | None = None  # share-level ACL (srvsvc level 502)
    share_sd_error: str | None = None  # why share_sd is null
    root_sd: SecurityDescriptor | None = None  # file-system ACL of the share root
    root_sd_error: str | None = None
    root_sd_read_as: str | None = None  # identity label that could read root_sd
    content: Content | None = None  # null when the share was not walked
    excluded: bool = False  # left out by --include-share/--exclude-share: never connected to


@dataclass(frozen=True, slots=True)
class Logon:
    """How one identity's data session on a host went."""

    identity: str
    accepted: bool
    guest: bool = False  # the server gave a guest (or null) session
    route: str | None = None
    status: str | None = None


# --- other doors than SMB: services ---------------------------------------------------------------------------
# SMB's facts are the HostResult's own fields (posture, shares, ...); every other protocol a scan looks at adds
# a `Service` per port it tried, with its protocol's facts object beside the others (`dicom`, `ftp`, `nfs`).


@dataclass(frozen=True, slots=True)
class AssociationAttempt:
    """One A-ASSOCIATE-RQ: which called AE title was tried, from which (random) calling AE, and the answer."""

    called_ae: str
    calling_ae: str  # random per port and run: an AE title the server cannot know
    random_called: bool  # the called AE title was random too (does the server check its own name?)
    tls: bool
    outcome: str  # accepted | rejected | aborted
    reason: str | None = None  # the A-ASSOCIATE-RJ reason ("called AE title not recognised") or the abort


@dataclass(frozen=True, slots=True)
class StudyReach:
    """What a study-level C-FIND answered: counted, never copied (no patient name or ID is asked or kept)."""

    outcome: str  # answered | refused | not_offered | failed
    studies: int = 0  # distinct studies answered, at most the bound
    truncated: bool = False  # counting stopped at the bound (--dicom-max-studies): a lower bound
    series: int | None = None  # NumberOfStudyRelatedSeries summed; null when the server did not say
    instances: int | None = None  # NumberOfStudyRelatedInstances summed; null when the server did not say
    modalities: dict[str, int] = field(default_factory=dict)  # modality -> studies holding it
    earliest: str | None = None  # ISO date of the oldest StudyDate answered
    latest: str | None = None
    status: str | None = None  # the final DIMSE status, hex
    note: str | None = None  # why it was refused or failed


@dataclass(frozen=True, slots=True)
class RetrieveProbe:
    """Whether a C-GET or C-MOVE would be carried out for an unknown AE, decided without retrieving anything.

    C-GET is asked with no storage presentation context, so the server has no way to send an image back;
    C-MOVE names a random destination AE title that no server can know. See docs/design.md.
    """

    service: str  # get | move
    outcome: str  # accepted | refused | destination_unknown | undetermined | not_offered | not_tried
    study: str = "none"  # seen: a study the C-FIND answered (UID not kept) | none: a UID matching nothing
    status: str | None = None  # the DIMSE status, hex
    sub_operations: int = 0  # completed + failed + warning + remaining: what the server set out to send
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DicomFacts:
    """One DICOM port's posture: who may associate, what it answers, whether it would send images away."""

    transport: str  # plain | tls
    tls_version: str | None = None
    tls_handshake_refused: bool = False  # the TLS server refused our handshake (wants a client certificate?)
    any_calling_ae: bool | None = None  # an association from a random calling AE title was accepted
    any_called_ae: bool | None = None  # ... addressed to a random called AE title
    called_ae: str | None = None  # the called AE title the association was accepted with
    server_ae: str | None = None  # the AE title the server names itself in C-FIND answers (RetrieveAETitle)
    implementation_class_uid: str | None = None  # from the A-ASSOCIATE-AC
    implementation_version: str | None = None
    echo: bool | None = None  # C-ECHO answered success on the accepted association
    contexts: dict[str, bool] = field(default_factory=dict)  # verification|find|move|get|store -> accepted
    query: StudyReach | None = None  # null: no association was accepted, nothing was asked
    get: RetrieveProbe | None = None
    move: RetrieveProbe | None = None
    attempts: tuple[AssociationAttempt, ...] = ()


@dataclass(frozen=True, slots=True)
class RpcProgram:
    """One registration rpcbind (portmap) lists."""

    program: int
    name: str  # nfs, mountd, nlockmgr, status, ... or the number
    version: int
    transport: str  # tcp | udp
    port: int


@dataclass(frozen=True, slots=True)
class NfsAccess:
    """What one AUTH_SYS identity (uid/gid) could do on one export; each right has its basis."""

    mount: bool  # the export could be mounted (NFSv3 MOUNT) as this uid/gid
    status: str | None = None  # why not: the MOUNT or NFS error
    list: bool = False  # the export root was listed (done)
    read: bool = False  # a file's first bytes were read (done), else ACCESS claims READ on the root
    write: bool = False  # ACCESS claims MODIFY or EXTEND on the export root (a claim: nothing is written)
    basis: dict[str, Basis] = field(default_factory=dict)  # right -> done | claimed


@dataclass(frozen=True, slots=True)
class RootSquash:
    """The root squash test: a file only root may read, read as uid 0 (read-only, at most one byte)."""

    squashed: bool | None  # False: uid 0 read it (no_root_squash); True: refused; None: nothing to test
    path: str | None = None  # export-relative (redacted) path of the file tried
    note: str | None = None


@dataclass(frozen=True, slots=True)
class NfsExport:
    """One export: who the server lists as allowed, and what each identity could do."""

    path: str
    clients: tuple[str, ...] = ()  # the MOUNT export list's groups: *, networks, hosts, @netgroups
    everyone: bool = False  # listed for any host (no group, *, 0.0.0.0/0, ...)
    access: dict[str, NfsAccess] = field(default_factory=dict)  # by identity label
    root_squash: RootSquash | None = None  # null: not tested (not mountable)
    content: Content | None = None  # null: not walked


@dataclass(frozen=True, slots=True)
class NfsFacts:
    """An NFS door (port 2049) or its rpcbind (port 111): versions, exports and what AUTH_SYS opens."""

    role: str = "nfs"  # nfs | rpcbind
    versions: tuple[str, ...] = ()  # NFS versions a connection was made with: 3, 4.0, 4.1
    version_range: tuple[int, int] | None = None  # lowest, highest NFS version the server names
    programs: tuple[RpcProgram, ...] = ()  # rpcbind's list (role rpcbind)
    auth_sys: bool | None = None  # an AUTH_SYS mount was accepted
    identities: dict[str, str] = field(default_factory=dict)  # label -> "uid:gid" claimed
    exports: tuple[NfsExport, ...] = ()
    exports_error: str | None = None  # why the MOUNT export list could not be read


@dataclass(frozen=True, slots=True)
class FtpCertificate:
    """The certificate an FTPS server presented, read without trusting it: enough to judge it, never its key."""

    subject: str  # the subject's common name (or the whole subject when it has none)
    issuer: str
    self_signed: bool  # issued by itself (subject = issuer, signed with its own key)
    expired: bool  # not_after is before the scan
    not_yet_valid: bool
    not_before: str  # ISO 8601 UTC
    not_after: str
    sha256: str  # fingerprint of the DER certificate, hex
    names: tuple[str, ...] = ()  # subjectAltName DNS names and addresses


@dataclass(frozen=True, slots=True)
class FtpLogin:
    """How one identity's login on one FTP port went: accepted, and whether its password was inside TLS."""

    identity: str  # label
    username: str  # the name sent (anonymous: "anonymous", then "ftp")
    accepted: bool
    tls: bool  # the login went over a TLS-protected control connection
    reply: str | None = None  # the server's refusal (code and first line), or why it was not tried
    tried: bool = True  # False: not sent (the audit account's password never goes over plain FTP)


@dataclass(frozen=True, slots=True)
class FtpFolder:
    """A folder an identity may add files to over FTP, and how that is known."""

    path: str  # tree-relative, redacted ("" is where the login lands)
    basis: Basis  # granted: the server's perm fact says c; uncertain: LIST mode bits only; measured: probed
    writable: bool = True  # measured False: the probe was refused although the listing suggested it
    perm: str | None = None  # the RFC 3659 perm fact as the server gave it (MLSD); None with LIST
    mode: str | None = None  # the LIST mode bits (drwxrwxrwx) when there were no perm facts
    probe: WriteProbe | None = None  # --active-write-probe: a unique empty file stored and deleted


@dataclass(frozen=True, slots=True)
class FtpTree:
    """What one identity reaches over FTP: the tree it lands in, what it may do there, what a walk found."""

    identity: str
    root: str  # the directory the login lands in (PWD), redacted
    listing: str  # mlsd | list: how the tree was listed (perm facts come with MLSD only)
    list: bool  # the landing directory could be listed
    status: str | None = None  # why it could not be listed
    landing: tuple[
        str, ...
    ] = ()  # the landing folder's entries, redacted, folders ending in '/' (at most 50)
    read: bool = False  # a file may be retrieved: a perm fact r, or (LIST) a file listed
    read_basis: Basis | None = None  # granted (perm facts) | uncertain (LIST: listed, not fetched)
    folders: tuple[FtpFolder, ...] = ()  # folders the identity may (or may, uncertain) add files to
    folders_checked: int = 0  # folders whose rights were looked at (the walk's, or the landing one's)
    content: Content | None = None  # the walk, as this identity
    same_as: str | None = None  # a less privileged identity lands in the same tree: its walk covers this one


@dataclass(frozen=True, slots=True)
class FtpFacts:
    """One FTP port's posture and reach: the software, TLS, who may log in, and what each login reaches."""

    transport: str  # plain (AUTH TLS may upgrade it) | implicit_tls
    banner: str | None = None  # the 220 greeting (first line, at most 200 characters)
    software: str | None = None  # proftpd | vsftpd | iis | pure-ftpd | filezilla | ... (rules/platform.py)
    version: str | None = None
    system: str | None = None  # the SYST answer
    features: tuple[str, ...] = ()  # the FEAT answer, one feature per entry
    mlsd: bool = False  # MLST is advertised: listings carry RFC 3659 perm facts
    auth_tls: bool | None = None  # AUTH TLS accepted (None on an implicit-TLS port or when not asked)
    tls_version: str | None = None
    tls_error: str | None = None  # why the TLS handshake failed
    plaintext_login: bool | None = None  # a password is taken without TLS (an identity did, or USER got 331)
    plaintext_reply: str | None = None  # the answer to USER with a random name before any TLS
    certificate: FtpCertificate | None = None
    logins: tuple[FtpLogin, ...] = ()
    trees: tuple[FtpTree, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    """One protocol on one port of a host, other than SMB: reached or not, and its protocol's facts."""

    protocol: (
        str  # dicom | ftp | nfs (smb: only when SMB was absent on a host where another protocol answered)
    )
    port: int
    reachable: bool  # a server of this protocol answered
    error: str | None = None  # one line: why nothing (or not everything) was learned
    error_kind: str | None = None  # errors.FailureKind
    elapsed_s: float = 0.0
    dicom: DicomFacts | None = None
    ftp: FtpFacts | None = None
    nfs: NfsFacts | None = None


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
    logons: tuple[Logon, ...] = ()
    elapsed_s: float = 0.0
    exposures: tuple[Exposure, ...] = ()  # derived from ACLs and directory groups, never measured
    services: tuple[Service, ...] = ()  # other protocols than SMB, one entry per port tried
    views: tuple[VantageView, ...] = ()  # a merged result only: the host as each vantage point saw it


# --- vantage points: where a scan ran from (`--vantage`), and merged results (`shareaudit merge`) -----------


@dataclass(frozen=True, slots=True)
class VantagePoint:
    """A network segment a scan ran from, and whether the config trusts it (`[vantage.NAME] trusted`)."""

    name: str
    trusted: bool = True
    # A merged result: the run this vantage point's views come from (as that run's file says).
    source: str | None = None  # the scan file's name
    started_at: str | None = None
    finished_at: str | None = None
    run_by: str | None = None


@dataclass(frozen=True, slots=True)
class VantageView:
    """One host as one vantage point saw it: what answered from there, and who could do what.

    Only in a merged result: one per vantage point that scanned the host, kept as measured there (two
    vantage points that saw the host differently are both kept; the host's own fields are their union).
    """

    vantage: str
    target: str  # the target entry as that run named it
    reachable: bool
    error: str | None = None
    error_kind: str | None = None
    posture: Posture | None = None  # null: SMB did not answer from there
    access: dict[str, dict[str, Access]] = field(default_factory=dict)  # share -> identity label -> Access
    services: tuple[Service, ...] = ()  # every other door tried from there, as it answered


@dataclass(frozen=True, slots=True)
class Exposure:
    """What a directory account could do on a share, derived from the share's ACLs and the account's groups.

    Not measured: nobody logged on as the account (its password is not needed). `access` (measured) and
    `exposures` (derived) are kept apart on purpose; `measured_as` names the identity that measured the same
    account in this scan, when one did, so the two can be compared.
    """

    account: str  # sAMAccountName
    share: str
    read: bool
    write: bool
    delete: bool
    change_permissions: bool
    take_ownership: bool
    mask: str  # the derived effective mask (share ACL AND root ACL), hex
    because: tuple[str, ...] = ()  # which ACEs granted or denied it, and through which groups
    share_acl_known: bool = False  # False: the share-level ACL was not disclosed and was taken as full
    measured_as: str | None = None
    derived_from: str = "acl"


@dataclass(frozen=True, slots=True)
class GroupMembership:
    """A group an account is in, directly or through other groups, and the chain that puts it there."""

    sid: str
    name: str
    path: tuple[str, ...] = ()  # group names from the account's direct group down to this one
    privileged: bool = False  # an administrative group (Domain Admins, Administrators, ... )


@dataclass(frozen=True, slots=True)
class AccountSignal:
    """One reason an account looks like a device/service account: what matched, and what it counts."""

    reason: str  # one of DirectoryAccount.reasons (shareaudit.ad.devices.REASONS)
    points: int  # 3 strong, 2 medium, 1 weak
    detail: str  # what matched, e.g. 'name: "svc-" prefix, word "backup"'


@dataclass(frozen=True, slots=True)
class DirectoryAccount:
    """A user account read from the directory: a candidate device account, or an identity of the scan."""

    name: str  # sAMAccountName
    sid: str
    dn: str
    enabled: bool
    description: str = ""
    device: bool = False  # looks like a device/service account (a candidate: score 3 or more)
    reasons: tuple[str, ...] = ()  # the codes of `signals`, in shareaudit.ad.devices.REASONS order
    spns: tuple[str, ...] = ()
    password_never_expires: bool = False
    groups: tuple[GroupMembership, ...] = ()  # transitive, with the primary group
    identity: str | None = None  # the label of the scan identity that is this account
    signals: tuple[AccountSignal, ...] = ()  # the reasons with what matched and their points
    score: int = 0  # the points that count (a person-looking account: strong signals only)
    person: bool = False  # has a given name, a surname and a mail address
    managed: str | None = None  # "gmsa" (msDS-GroupManagedServiceAccount), "msa" (msDS-ManagedServiceAccount)
    rc4: bool = False  # Kerberos may use RC4 with it: msDS-SupportedEncryptionTypes absent, 0, or with 0x4
    encryption_types: int | None = None  # msDS-SupportedEncryptionTypes as read
    last_logon: str | None = None  # ISO 8601 UTC, the later of lastLogonTimestamp and lastLogon; None: never
    logon_count: int | None = None  # logonCount (kept per DC)
    password_last_set: str | None = None  # ISO 8601 UTC; None: never set, or must change at next logon
    workstations: tuple[str, ...] = ()  # userWorkstations: the only computers it may log on from


@dataclass(frozen=True, slots=True)
class DirectoryComputer:
    """A computer object: a file server, NAS or workstation the directory knows."""

    name: str
    dn: str
    enabled: bool
    dns_name: str | None = None
    os: str | None = None
    os_version: str | None = None
    address: str | None = None  # from the directory's own DNS zone, when it has an A/AAAA record


@dataclass(frozen=True, slots=True)
class PublishedPrinter:
    """A print queue published in the directory (printQueue object)."""

    name: str
    server: str  # serverName, the print server's DNS name
    unc: str
    dn: str
    port: str | None = None
    driver: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    """What the scan read from Active Directory over LDAP."""

    url: str
    base_dn: str
    dns_domain: str
    server: str  # the DC's dnsHostName
    domain_sid: str
    netbios_domain: str | None = None
    computers: tuple[DirectoryComputer, ...] = ()
    printers: tuple[PublishedPrinter, ...] = ()
    accounts: tuple[DirectoryAccount, ...] = ()


@dataclass(frozen=True, slots=True)
class IdentityInfo:
    """An identity as recorded in the result: never its password."""

    label: str
    kind: IdentityKind
    username: str
    domain: str = ""


@dataclass(frozen=True, slots=True)
class Tool:
    """Which shareaudit produced the result."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Suppression:
    """An accepted risk that hides a finding until it expires."""

    reason: str
    owner: str
    expires: str  # ISO date; the finding comes back the day after


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong (or worth knowing), why it matters, how we know, and how to fix it.

    `id` is a stable fingerprint of rule + host + share + identity + path: the same exposure in two runs
    has the same id, whatever else changed.
    """

    id: str
    rule: str
    severity: Severity
    title: str
    host: str
    share: str | None = None
    identity: str | None = None
    path: str | None = None  # redacted, share-relative, when the finding is about a path
    evidence: str = ""
    why: str = ""
    remediation: dict[str, list[str]] = field(default_factory=dict)  # platform -> steps
    platform: str | None = None  # the platform detected for the host (shown first)
    # An accepted risk: kept visible, not counted for --fail-on or alerts.
    suppressed: Suppression | None = None
    # Not in the previous run of the same audit; None when no history was consulted.
    new: bool | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do that closes findings with one root cause (rules/actions.py: the fix plan).

    Derived from the findings and the facts, like a finding: `findings` are the fingerprints it closes (each
    active finding belongs to exactly one action), `steps` the closed findings' remediation per platform.
    """

    id: str  # stable fingerprint of the kind and where it applies (16 hex digits)
    kind: str  # the root cause, an id of rules/actions.toml (or "finding": a finding of its own)
    rank: int  # 1 is what to do first
    title: str
    cause: str  # why these findings are one thing to fix
    host: str
    severity: Severity  # the worst finding it closes
    findings: tuple[str, ...]  # fingerprints of the findings it closes
    share: str | None = None
    identity: str | None = None  # the device/service account it confines
    port: int | None = None  # a DICOM (or other service) port
    protects: str | None = None  # the medical data it takes away from identities without a proper account
    medical: int = 0  # medical files (and DICOM studies) it protects
    widest: str | None = None  # the widest door to that data it closes: anonymous, guest or service
    steps: dict[str, list[str]] = field(default_factory=dict)  # platform -> steps (the rules' remediation)
    platform: str | None = None  # the host's platform, shown first
    side_effects: tuple[str, ...] = ()  # what stops working, derived from the facts
    verify: str = ""  # the shareaudit command that shows it worked
    after: tuple[str, ...] = ()  # actions (ids) this one's claims rely on: do them first
    afterwards: str | None = None  # what the report shows once it is done, when not nothing


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
    findings: tuple[Finding, ...] = ()
    schema: str = SCHEMA
    directory: Directory | None = None  # --ldap-url: what Active Directory said
    vantage: str | None = None  # --vantage: where this run ran from; null in a merged result
    vantages: tuple[VantagePoint, ...] = ()  # every vantage point whose view is in the result, with its trust
    actions: tuple[Action, ...] = ()  # the fix plan: findings grouped by root cause, what to do first
