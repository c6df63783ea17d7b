"""Scan results built in code: small golden facts for rule tests, a hostile result for the report's
safety test, and a large result for the report benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterable

from shareaudit.acl import Ace, SecurityDescriptor
from shareaudit.model import (
    Access,
    Content,
    DirectorySummary,
    Enumeration,
    HostResult,
    IdentityInfo,
    Logon,
    MedicalCount,
    NfsAccess,
    NfsExport,
    NfsFacts,
    Posture,
    RootSquash,
    ScanResult,
    ServerInfo,
    Service,
    SessionProbe,
    Share,
    StudyStore,
    Tool,
)

KINDS = {"audit": "user", "anonymous": "anonymous", "guest": "guest"}
SAMBA = ServerInfo(netbios_name="NAS01", os="Windows 6.1 Build 0", server_string="Samba file server")
WINDOWS = ServerInfo(netbios_name="FS01", dns_name="fs01.hospital.example", os="Windows 10.0 Build 20348")


def rights(
    read: bool = False,
    write: bool = False,
    delete: bool = False,
    perms: bool = False,
    owner: bool = False,
    connect: bool = True,
) -> Access:
    """What one identity may do on a share."""
    return Access(
        connect=connect,
        share_mask="0x001f01ff" if connect else None,
        root_mask="0x001f01ff" if connect else None,
        list=read,
        read=read,
        write=write,
        delete=delete,
        change_permissions=perms,
        take_ownership=owner,
        status=None if connect else "STATUS_ACCESS_DENIED",
    )


READ = rights(read=True)
WRITE = rights(read=True, write=True, delete=True)
FULL = rights(read=True, write=True, delete=True, perms=True, owner=True)
REFUSED = rights(connect=False)
CONNECT = rights()


def content(
    medical: dict[str, int] | None = None, files: int = 10, crawled_as: str = "anonymous", **extra: object
) -> Content:
    """A share walk: medical type -> count (strong confidence), and how many files were seen."""
    found = {
        type_id: MedicalCount(count, count * 1000, "strong") for type_id, count in (medical or {}).items()
    }
    fields: dict[str, object] = {
        "crawled_as": crawled_as,
        "entries_seen": files,
        "dirs_seen": 1 if files else 0,
        "denied_dirs": 0,
        "truncated": False,
        "estimated": False,
        "elapsed_s": 0.1,
        "medical": found,
        "files_seen": files,
    }
    return Content(**{**fields, **extra})  # type: ignore[arg-type]


def share(name: str, access: dict[str, Access] | None = None, type: str = "disk", **fields: object) -> Share:
    """A share with per-identity access."""
    return Share(name=name, type=type, hidden=name.endswith("$"), access=access or {}, **fields)  # type: ignore[arg-type]


def ace(sid: str, mask: int, name: str | None = None, kind: str = "allow", flags: int = 0x3) -> Ace:
    """One ACE (OI|CI by default)."""
    from shareaudit.acl import ace_flag_names, is_broad

    return Ace(kind, flags, ace_flag_names(flags), mask, sid, name, is_broad(sid))


def sd(*aces: Ace) -> SecurityDescriptor:
    """A descriptor with these ACEs in its DACL."""
    return SecurityDescriptor(owner="S-1-5-32-544", group="S-1-5-32-544", dacl=tuple(aces), control=0x8004)


def posture(
    smb1: bool = False,
    signing: bool = True,
    null: bool = False,
    guest: bool = False,
    fallback: bool = False,
    server: ServerInfo = SAMBA,
) -> Posture:
    """A host posture; the defaults are a hardened server."""
    dialects = ("NT LM 0.12", "2.1", "3.1.1") if smb1 else ("3.0", "3.1.1")
    sessions = {
        "anonymous": SessionProbe(accepted=null, ipc=null, username=""),
        "guest_account": SessionProbe(accepted=guest, guest=guest, username="Guest"),
        "guest_fallback": SessionProbe(accepted=fallback, guest=fallback, username="sa-probe-0123"),
    }
    return Posture(
        smb1=smb1,
        dialects=dialects,
        signing_required=signing,
        encryption=True,
        null_session=null,
        guest_account=guest,
        guest_fallback=fallback,
        smb1_signing_required=False if smb1 else None,
        server=server,
        sessions=sessions,
    )


def host(
    target: str = "nas01",
    shares: Iterable[Share] = (),
    posture_: Posture | None = None,
    address: str = "10.0.0.5",
    **fields: object,
) -> HostResult:
    """A scanned host (a hardened posture unless given)."""
    return HostResult(
        target=target,
        address=address,
        port=445,
        reachable=True,
        posture=posture_ if posture_ is not None else posture(),
        shares=tuple(shares),
        **fields,  # type: ignore[arg-type]
    )


def result(
    *hosts: HostResult, labels: Iterable[str] = ("audit", "anonymous", "guest"), **fields: object
) -> ScanResult:
    """A scan result over these hosts, measured as these identity labels."""
    identities = tuple(IdentityInfo(label, KINDS.get(label, "user"), f"svc-{label}") for label in labels)
    return ScanResult(
        tool=Tool("shareaudit", "0.1.0"),
        started_at="2026-11-29T05:00:00+00:00",
        finished_at="2026-11-29T05:01:00+00:00",
        hosts=hosts,
        identities=identities,
        **fields,  # type: ignore[arg-type]
    )


# --- a hostile result ----------------------------------------------------------------------------------------
HOSTILE = (
    '<img src=x onerror=alert(1)> "research" & co',
    "</script><script>alert(2)</script>",
    "&lt;img src=x onerror=alert(3)&gt; &amp; &#60;b&#62;",
    "{{ 7*7 }} {% if true %}jinja{% endif %} ${7*7}",
    "x'; Remove-Item C:\\ -Recurse; '",
    '"><svg onload=alert(4)>',
    "<!-- comment --> ]]> <![CDATA[ x ]]>",
    "line\u2028separator\u2029paragraph",
    "javascript:alert(5)",
    "Röntgen_放射線_\U0001fa7b_\u202egpj.exe",
    '=HYPERLINK("http://evil.example","click")',
)
LONG = "A" * 300 + "_" + "é" * 200


def _hostile_nfs(bad: tuple[str, ...]) -> Service:
    """An NFS door whose export paths, clients, statuses and labels are hostile strings."""
    exports = tuple(
        NfsExport(
            f"/export/{name}",
            (bad[(n + 1) % len(bad)], "*"),
            True,
            {
                "anonymous": NfsAccess(mount=True, list=True, read=True),
                bad[4]: NfsAccess(mount=False, status=bad[n % len(bad)]),
            },
            RootSquash(False, bad[(n + 2) % len(bad)], bad[(n + 3) % len(bad)]),
            content({"dicom": 2}, files=3, error=bad[(n + 4) % len(bad)]),
        )
        for n, name in enumerate(bad)
    )
    facts = NfsFacts(
        versions=("3",),
        auth_sys=True,
        identities={"anonymous": "65534:65534", bad[4]: "1:1"},
        exports=exports,
        exports_error=bad[0],
    )
    return Service("nfs", 2049, True, bad[1], "timeout", nfs=facts)


def hostile_result() -> ScanResult:
    """Every string a server could send, made hostile: names, remarks, paths, errors, samples."""
    bad = HOSTILE
    shares = []
    for n, name in enumerate((*bad, LONG)):
        shares.append(
            share(
                name,
                {"anonymous": FULL, "guest": READ, "audit": READ, "svc<i>x</i>": WRITE},
                remark=bad[(n + 1) % len(bad)],
                path=f"C:\\{bad[(n + 2) % len(bad)]}",
                path_disclosed_to="anonymous",
                root_sd=sd(ace("S-1-1-0", 0x001F01FF, bad[(n + 3) % len(bad)])),
                content=content(
                    {"dicom": 3, "<img src=x onerror=alert(9)>": 1},
                    files=12,
                    samples=tuple(f"dir\\{b}.dcm" for b in bad),
                    study_stores=(StudyStore(f"{bad[1]}\\DICOM", "dicomdir", 4),),
                    directories=(DirectorySummary(bad[5], {"dicom": 3}, 3000),),
                    bounds_hit=("time",),
                    truncated=True,
                    error=bad[0],
                ),
            )
        )
    shares.append(
        share("printer<b>", {"guest": CONNECT, "anonymous": CONNECT}, type="printer", remark=bad[0])
    )
    server = ServerInfo(
        netbios_name=bad[0], dns_name=bad[1], os="Windows 6.1 Build 0", server_string=bad[2], dns_domain=LONG
    )
    hostile_host = host(
        target=f"nas-{bad[3]}",
        shares=shares,
        posture_=posture(smb1=True, signing=False, null=True, guest=True, fallback=True, server=server),
        enumeration=(Enumeration("anonymous", True, 502, len(shares)),),
        logons=(Logon("svc<i>x</i>", False, status=bad[5]),),
        services=(_hostile_nfs(bad),),
    )
    failed = HostResult(
        target=bad[1],
        address="10.0.0.9",
        port=445,
        reachable=False,
        error=bad[5],
        error_kind="timeout",
    )
    return result(
        hostile_host,
        failed,
        labels=("audit", "anonymous", "guest", "svc<i>x</i>"),
        options={
            "active_write_probe": False,
            "sniff": True,
            "show_names": True,
            bad[0]: bad[1],
            "run_by": bad[2],
        },
        input_problems=(f"hosts.txt:3: {bad[5]!r}: not a host",),
    )


# --- a large result ----------------------------------------------------------------------------------------
def large_result(hosts: int = 110, shares_per_host: int = 10, seed: int = 7) -> ScanResult:
    """Many legacy NAS hosts with open, medical shares: about 10,000 findings once evaluated."""
    rng = random.Random(seed)
    words = ("Radiology", "Cardio", "Scans", "Export", "PACS", "Lab", "Ward", "Archive", "Derm", "Onco")
    built = []
    for h in range(hosts):
        shares = []
        for s in range(shares_per_host):
            name = f"{rng.choice(words)}_{h:03d}_{s:02d}"
            medical = {"dicom": rng.randrange(1, 5000), "hl7v2": rng.randrange(0, 300)} if s % 3 else {}
            shares.append(
                share(
                    name,
                    {"audit": FULL, "anonymous": FULL, "guest": FULL, "printer": WRITE, "backup": READ},
                    remark=f"{name} share for ward {rng.randrange(1, 40)}",
                    path=f"D:\\Shares\\{name}",
                    path_disclosed_to="anonymous",
                    root_sd=sd(ace("S-1-1-0", 0x001F01FF, "Everyone"), ace("S-1-5-11", 0x001301BF)),
                    content=content(medical, files=rng.randrange(0, 20000), crawled_as="anonymous"),
                )
            )
        built.append(
            host(
                target=f"nas{h:03d}.hospital.example",
                address=f"10.{h // 250}.{h % 250}.5",
                shares=shares,
                posture_=posture(smb1=True, signing=False, null=True, guest=True, fallback=True),
                enumeration=(Enumeration("anonymous", True, 502, shares_per_host),),
            )
        )
    return result(
        *built,
        labels=("audit", "anonymous", "guest", "printer", "backup"),
        options={"active_write_probe": False, "sniff": True, "show_names": False, "run_by": "bench@scanner"},
    )
