"""The NFS door without a server: RPC messages and replies, client lists, options, the rules both ways,
the renderers, old and new scan files, the protocol selection."""

from __future__ import annotations

import json
import stat
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic import content, host, result

from shareaudit import scanfile
from shareaudit.collect.hosts import DEFAULT_PROTOCOLS, PROTOCOLS, service_collectors
from shareaudit.collect.nfs import judge, rpc
from shareaudit.collect.nfs.client import RootOnlySink, root_only, server_path
from shareaudit.collect.nfs.options import NOBODY, nfs_options, parse_uid
from shareaudit.collect.walk import Entry
from shareaudit.errors import InputError
from shareaudit.model import NfsAccess, NfsExport, NfsFacts, RootSquash, RpcProgram, Service
from shareaudit.render.nfs import marks, nfs_views, squash_text
from shareaudit.rules import evaluate

# --- RPC ---------------------------------------------------------------------------------------------------


def _accepted(xid: int, accept: int, body: bytes) -> bytes:
    return struct.pack(">6I", xid, 1, 0, 0, 0, accept) + body


def _dump_body(entries: list[tuple[int, int, int, int]]) -> bytes:
    return b"".join(struct.pack(">5I", 1, *entry) for entry in entries) + struct.pack(">I", 0)


def test_a_call_is_one_record_with_auth_null() -> None:
    message = rpc.call_message(0x01020304, rpc.PORTMAP, 2, 4)
    (mark,) = struct.unpack(">I", message[:4])
    assert mark == 0x80000000 | (len(message) - 4) == 0x80000000 | 40
    assert struct.unpack(">10I", message[4:]) == (0x01020304, 0, 2, 100000, 2, 4, 0, 0, 0, 0)


def test_a_dump_reply_lists_the_registrations() -> None:
    body = _dump_body([(100003, 3, 6, 2049), (100005, 3, 17, 20048), (424242, 1, 99, 1)])
    reply = rpc.parse_reply(_accepted(7, 0, body), 7)
    assert reply.accepted and reply.status == "success"
    assert rpc.parse_dump(reply.body) == (
        RpcProgram(100003, "nfs", 3, "tcp", 2049),
        RpcProgram(100005, "mountd", 3, "udp", 20048),
        RpcProgram(424242, "424242", 1, "99", 1),
    )
    assert rpc.parse_dump(struct.pack(">I", 0)) == ()


def test_prog_mismatch_names_the_versions() -> None:
    reply = rpc.parse_reply(_accepted(9, 2, struct.pack(">2I", 3, 4)), 9)
    assert not reply.accepted and (reply.low, reply.high) == (3, 4)


def test_denied_and_foreign_replies() -> None:
    denied = rpc.parse_reply(struct.pack(">5I", 5, 1, 1, 1, 5), 5)
    assert not denied.accepted and denied.status == "denied: authentication too weak"
    with pytest.raises(rpc.RpcError, match="xid"):
        rpc.parse_reply(_accepted(1, 0, b""), 2)
    with pytest.raises(rpc.RpcError, match="not a reply"):
        rpc.parse_reply(struct.pack(">2I", 3, 0), 3)
    with pytest.raises(rpc.RpcError):
        rpc.parse_reply(struct.pack(">3I", 3, 1, 0)[:10], 3)
    with pytest.raises(rpc.RpcError, match="boolean"):
        rpc.parse_dump(struct.pack(">I", 2))
    with pytest.raises(rpc.RpcError, match="port"):
        rpc.parse_dump(_dump_body([(100003, 3, 6, 70000)]))


def test_records_are_joined_from_fragments_and_bounded() -> None:
    first, last = b"abcd", b"efgh"
    stream = struct.pack(">I", len(first)) + first + struct.pack(">I", 0x80000000 | len(last)) + last
    assert rpc.split_records(stream) == b"abcdefgh"
    assert rpc.split_records(stream[:-1]) is None  # incomplete: read more
    with pytest.raises(rpc.RpcError, match="longer"):
        rpc.split_records(struct.pack(">I", 0x80000000 | (rpc.MAX_REPLY + 1)))


def test_a_dump_keeps_at_most_max_programs() -> None:
    body = _dump_body([(100003, 3, 6, 2049)] * (rpc.MAX_PROGRAMS + 5))
    assert len(rpc.parse_dump(body)) == rpc.MAX_PROGRAMS


# --- client lists, identities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("*", "everyone"),
        ("(everyone)", "everyone"),
        ("0.0.0.0/0", "everyone"),
        ("::/0", "everyone"),
        ("10.9.9.0/24", "network"),
        ("192.0.2.7/32", "host"),
        ("192.0.2.7", "host"),
        ("@labnet", "netgroup"),
        ("*.lab.example", "wildcard"),
        ("pacs.hospital.example", "name"),
    ],
)
def test_client_kinds(spec: str, kind: str) -> None:
    assert judge.client_kind(spec) == kind


def test_who_an_export_is_open_to() -> None:
    assert judge.open_to_everyone(()) and judge.open_to_everyone(("10.0.0.0/8", "*"))
    assert not judge.open_to_everyone(("10.0.0.0/8",))
    assert judge.broad_network(("10.0.0.0/8",)) and judge.broad_network(("*.example",))
    assert not judge.broad_network(("10.9.9.0/24", "192.0.2.7"))
    assert judge.broadest(("10.9.9.0/24", "172.16.0.0/12")) == "the network 172.16.0.0/12"
    assert judge.broadest(("192.0.2.7",)) is None
    assert judge.broadest(()) == "any host"


def test_impersonation_is_what_a_claimed_uid_adds() -> None:
    nobody = NfsAccess(mount=True, list=True)
    printer = NfsAccess(mount=True, list=True, read=True, write=True)
    assert judge.gained({"anonymous": nobody, "printer": printer}, "anonymous") == ["printer"]
    assert judge.gained({"anonymous": printer, "printer": printer}, "anonymous") == []
    assert judge.walker(
        {"anonymous": NfsAccess(mount=True), "printer": printer}, ["anonymous", "printer"]
    ) == ("printer")


def test_files_the_uid_may_read_are_tried_first() -> None:
    def entry(name: str) -> Entry:
        return Entry(name, False, 10, 0.0)

    files = [
        (entry("root-only"), (0, 0o600, stat.S_IFREG)),
        (entry("group"), (0, 0o640, stat.S_IFREG)),
        (entry("mine"), (3001, 0o600, stat.S_IFREG)),
        (entry("world"), (0, 0o644, stat.S_IFREG)),
    ]
    assert [e.name for e in judge.likely_readable(files, 3001, 3001)] == [
        "mine",
        "world",
        "group",
        "root-only",
    ]


def test_root_only_files() -> None:
    assert root_only(0, 0o600) and root_only(0, 0o400)
    assert not root_only(0, 0o640) and not root_only(0, 0o604) and not root_only(1, 0o600)
    sink = RootOnlySink(limit=1)
    sink("a\\b", Entry("dump.sql", False, 5, 0.0), (0, 0o600, stat.S_IFREG))
    sink("", Entry("other.sql", False, 5, 0.0), (0, 0o600, stat.S_IFREG))
    assert sink.found == ["a\\b/dump.sql"]
    assert server_path("a\\b/dump.sql") == "a/b/dump.sql"


def test_nfs_uid_options() -> None:
    uid = parse_uid("printer=3001")
    assert (uid.label, uid.uid, uid.gid, uid.text) == ("printer", 3001, 3001, "3001:3001")
    assert parse_uid(" scan = 3001:100 ").gid == 100
    options = nfs_options((2050, 2049), ("printer=3001",))
    assert options.ports == (2049, 111, 2050)
    assert [u.label for u in options.identities()] == ["anonymous", "printer"]
    assert options.identities()[0].uid == NOBODY
    for bad, said in (
        ("printer", "LABEL=UID"),
        ("=3001", "LABEL=UID"),
        ("pr inter=3001", "label"),
        ("anonymous=3001", "nobody"),
        ("printer=0", "uid 0"),
        ("printer=-1", "uid must"),
        ("printer=3001:x", "gid must"),
        ("printer=99999999999", "uid must"),
        ("printer=３００１", "uid must"),
    ):
        with pytest.raises(InputError, match=said):
            parse_uid(bad)
    with pytest.raises(InputError, match="twice"):
        nfs_options((), ("a=1", "a=2"))
    with pytest.raises(InputError, match="at most"):
        nfs_options((), tuple(f"u{n}={n + 1}" for n in range(17)))


def test_nfs_is_a_protocol_but_not_a_default_one() -> None:
    assert "nfs" in PROTOCOLS and "nfs" in DEFAULT_PROTOCOLS  # every door of the box by default
    assert [c.protocol for c in service_collectors(("smb", "nfs"))] == ["nfs"]


# --- rules -------------------------------------------------------------------------------------------------

OPEN = NfsAccess(mount=True, list=True, read=True)
IDS = {"anonymous": "65534:65534", "printer": "3001:3001"}


def _door(*exports: NfsExport, **fields: object) -> Service:
    facts = NfsFacts(versions=("3",), version_range=(3, 4), auth_sys=True, identities=IDS, exports=exports)
    return Service("nfs", 2049, True, nfs=replace(facts, **fields), **{})  # type: ignore[arg-type]


def _rules(*services: Service, **result_fields: object) -> dict[tuple[str, str | None], str]:
    scan = result(host(services=tuple(services)), **result_fields)
    return {(f.rule, f.share): f.severity for f in evaluate(scan) if f.rule.startswith("nfs-")}


def test_an_export_to_everyone_fires_and_a_narrow_one_does_not() -> None:
    everyone = NfsExport("/export/images", ("*",), True, {"anonymous": OPEN})
    narrow = NfsExport("/export/pacs", ("192.0.2.7",), False, {"anonymous": OPEN})
    found = _rules(_door(everyone, narrow))
    assert found[("nfs-export-everyone", "/export/images")] == "high"
    assert ("nfs-export-everyone", "/export/pacs") not in found
    refused = NfsExport("/export/k5", (), True, {"anonymous": NfsAccess(mount=False, status="access denied")})
    assert _rules(_door(refused))[("nfs-export-everyone", "/export/k5")] == "medium"


def test_no_root_squash_only_when_uid_0_read_it() -> None:
    squashed = NfsExport("/a", ("10.0.0.0/8",), access={"anonymous": OPEN}, root_squash=RootSquash(True, "x"))
    undecided = NfsExport("/b", ("10.0.0.0/8",), access={"anonymous": OPEN}, root_squash=RootSquash(None))
    broad = NfsExport("/c", ("10.0.0.0/8",), access={"anonymous": OPEN}, root_squash=RootSquash(False, "db"))
    narrow = NfsExport("/d", ("192.0.2.7",), access={"anonymous": OPEN}, root_squash=RootSquash(False, "db"))
    found = _rules(_door(squashed, undecided, broad, narrow))
    assert ("nfs-no-root-squash", "/a") not in found and ("nfs-no-root-squash", "/b") not in found
    assert found[("nfs-no-root-squash", "/c")] == "critical"
    assert found[("nfs-no-root-squash", "/d")] == "high"


def test_auth_sys_from_anywhere_and_impersonation() -> None:
    printer = NfsAccess(mount=True, list=True, read=True, write=True)
    gained = NfsExport(
        "/scans", ("192.0.2.7",), access={"anonymous": NfsAccess(mount=True), "printer": printer}
    )
    broad = NfsExport("/data", ("10.0.0.0/8",), access={"anonymous": OPEN, "printer": OPEN})
    narrow = NfsExport("/pacs", ("192.0.2.7",), access={"anonymous": OPEN, "printer": OPEN})
    found = _rules(_door(gained, broad, narrow))
    assert found[("nfs-auth-sys-any-host", "/scans")] == "high"
    assert found[("nfs-auth-sys-any-host", "/data")] == "medium"
    assert ("nfs-auth-sys-any-host", "/pacs") not in found


def test_medical_data_on_an_open_export() -> None:
    images = NfsExport("/images", ("*",), True, {"anonymous": OPEN}, content=content({"dicom": 9}))
    claimed = NfsExport(
        "/scans",
        ("192.0.2.7",),
        access={"printer": OPEN},
        content=content({"dicom": 1}, crawled_as="printer"),
    )
    office = NfsExport("/office", ("*",), True, {"anonymous": OPEN}, content=content({}))
    found = _rules(_door(images, claimed, office))
    assert found[("nfs-medical-open", "/images")] == "critical"
    assert found[("nfs-medical-open", "/scans")] == "high"
    assert ("nfs-medical-open", "/office") not in found


def test_not_scanned_is_coverage() -> None:
    cut = replace(_door(), error="the NFS server stopped answering", error_kind="timeout")
    assert _rules(cut)[("nfs-not-scanned", None)] == "medium"
    assert (
        _rules(_door(exports_error="the MOUNT export list: refused"))[("nfs-not-scanned", None)] == "medium"
    )
    walked = NfsExport("/x", ("*",), True, {"anonymous": OPEN}, content=content({}, error="stopped"))
    assert ("nfs-not-scanned", None) in _rules(_door(walked))
    assert ("nfs-not-scanned", None) not in _rules(_door())
    closed = Service("nfs", 2049, False, "refused", "refused")
    assert _rules(closed) == {}


def test_the_device_check_covers_its_nfs_uid() -> None:
    printer = NfsAccess(mount=True, list=True, read=True, write=True)
    drop = NfsExport("/export/scans", ("192.0.2.7",), access={"printer": printer})
    images = NfsExport("/export/images", ("*",), True, {"printer": OPEN}, content=content({"dicom": 3}))
    options = {"device": "printer", "drop_share": "scans"}
    found = _rules(_door(drop, images), options=options)
    assert found[("nfs-device-reach", "/export/images")] == "critical"
    assert ("nfs-device-reach", "/export/scans") not in found
    assert ("nfs-device-reach", "/export/images") not in _rules(_door(drop, images))  # no device: quiet


def test_findings_carry_the_export_in_their_steps() -> None:
    everyone = NfsExport("/export/it's", ("*",), True, {"anonymous": OPEN})
    scan = result(host(services=(_door(everyone),)))
    finding = next(f for f in evaluate(scan) if f.rule == "nfs-export-everyone")
    steps = " ".join(finding.remediation["linux"])
    # Prose and /etc/exports lines name the export as is; a command pasted into a shell only ever quoted.
    assert "of /export/it's with the hosts" in steps
    assert "10.0.0.5:'/export/it'\"'\"'s' /mnt" in " ".join(finding.remediation["synology"])
    assert "showmount -e 10.0.0.5" in " ".join(finding.remediation["ganesha"])


# --- renderers, files --------------------------------------------------------------------------------------


def test_the_door_in_words() -> None:
    export = NfsExport(
        "/export/backup", ("127.0.0.0/8",), False, {"anonymous": OPEN, "printer": NfsAccess(mount=False)},
        root_squash=RootSquash(False, "db_dump.sql"), content=content({"hl7v2": 2}),
    )  # fmt: skip
    rpcbind = Service(
        "nfs", 111, True, nfs=NfsFacts(role="rpcbind", programs=(RpcProgram(100003, "nfs", 3, "tcp", 2049),))
    )
    views = nfs_views(host(services=(_door(export), rpcbind)))
    assert [v.role for v in views] == ["rpcbind", "nfs"]
    assert views[0].rows[0].text == "nfs 2049"
    row = views[1].exports[0]
    assert [c[0] for c in row.cells] == ["LR", "-"]
    assert row.squash == ("NO root squash: uid 0 read db_dump.sql", "bad")
    assert "medical: hl7v2 2" in row.content
    assert marks(None) == "" and squash_text(replace(export, root_squash=None))[0] == "not tested"


def test_scan_files_with_and_without_nfs(tmp_path: Path) -> None:
    export = NfsExport("/e", ("*",), True, {"anonymous": OPEN}, RootSquash(True, "x"), content({"dicom": 1}))
    scan = result(host(services=(_door(export),)))
    path = tmp_path / "scan.json"
    scanfile.write(scan, path)
    assert scanfile.read(path) == scan
    data = json.loads(path.read_text())
    assert data["schema"] == "shareaudit/1"
    # A file written before NFS existed: services without an `nfs` key load with nfs null.
    del data["hosts"][0]["services"][0]["nfs"]
    path.write_text(json.dumps(data))
    assert scanfile.read(path).hosts[0].services[0].nfs is None


def test_the_fix_plan_groups_an_nfs_door_into_two_actions() -> None:
    from shareaudit.rules.actions import with_actions

    images = NfsExport(
        "/images", ("*",), True, {"anonymous": OPEN}, RootSquash(False, "db"), content=content({"dicom": 9})
    )
    data = NfsExport("/data", ("10.0.0.0/8",), access={"anonymous": OPEN, "printer": OPEN})
    scan = result(host(services=(_door(images, data),)))
    planned = with_actions(replace(scan, findings=evaluate(scan)))
    nfs = {f.id for f in planned.findings if f.rule.startswith("nfs-")}
    by_kind = {a.kind: a for a in planned.actions}
    assert set(by_kind) >= {"restrict-nfs-exports", "nfs-root-squash"}
    assert set(by_kind["restrict-nfs-exports"].findings) | set(by_kind["nfs-root-squash"].findings) == nfs
    assert "--protocols nfs --nfs-port 2049" in by_kind["restrict-nfs-exports"].verify
    restrict = by_kind["restrict-nfs-exports"]
    assert restrict.medical == 9 and restrict.widest == "anonymous" and restrict.rank == 1  # what it protects
