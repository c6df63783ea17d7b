"""The bounded crawler against the lab: exact counts, who walked, bounds, and no patient names out."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import lab as lab_control
import pytest
from clirun import Run, shareaudit
from labdata import COPY_ADDRESSES, LABACL, LABFS, LABNAS, PASSWORDS, PATIENT_MARKERS
from populate import dicom_bytes

from shareaudit.collect.crawl import CrawlBounds, ShareCrawl
from shareaudit.collect.smb import access
from shareaudit.collect.smb.client import open_session
from shareaudit.collect.smb.walk import Walker
from shareaudit.collect.walk import RateLimit
from shareaudit.plan.identities import ANONYMOUS, Identity, IdentityKind, Secret
from shareaudit.redact import Redactor

pytestmark = pytest.mark.usefixtures("lab")

HOSTS = (LABNAS.address, LABFS.address, LABACL.address)

# What tests/lab/populate.py plants, by share: type -> count, and who should walk it (the least
# privileged identity that can read it; the audit account only where no one else can).
PLANTED = {
    (LABNAS.address, "public"): ("anonymous", {"dicom": 2, "hl7v2": 1}),  # IM00002 has no extension
    (LABNAS.address, "scans"): ("anonymous", {}),
    (LABNAS.address, "imaging"): (
        "printer",
        {
            "dicom": 9,  # 4 in the patient tree, 4 CD file-set members, 1 Siemens .IMA
            "dicomdir": 1,
            "dicom_archive": 1,  # a ZIP export, seen through its central directory
            "nifti": 2,
            "metaimage": 2,
            "nrrd": 1,
            "edf": 1,
            "hl7v2": 3,
        },
    ),
    (LABNAS.address, "pacs$"): ("anonymous", {"dicom": 3, "hl7v2": 1}),
    (LABNAS.address, "archive"): ("anonymous", {}),
    (LABNAS.address, "print$"): ("anonymous", {}),
    (LABFS.address, "clinical"): ("audit", {"dicom": 3, "hl7v2": 1}),
    (LABACL.address, "depts"): ("guest", {}),
    (LABACL.address, "records"): ("audit", {"hl7v2": 1, "cda": 1}),
    (LABACL.address, "research"): ("guest", {"nifti": 2, "edf": 1}),
}


def _env(tmp: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
        "SHAREAUDIT_DATA_DIR": str(tmp / "data"),
    }


def _run(
    tmp: Path, *args: str, hosts: tuple[str, ...] = HOSTS
) -> tuple[Run, dict[tuple[str, str], Any], Path]:
    out = tmp / f"scan-{len(list(tmp.glob('scan-*.json')))}.json"
    inventory = out.with_suffix(".jsonl")
    run = shareaudit(
        "scan",
        *hosts,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "--json",
        str(out),
        "--inventory",
        str(inventory),
        *args,
        env=_env(tmp),
    )
    shares = {(h["address"], s["name"]): s for h in json.loads(out.read_text())["hosts"] for s in h["shares"]}
    return run, shares, out


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[tuple[str, str], Any], Path]:
    return _run(tmp_path_factory.mktemp("crawl"))


def test_counts_per_type_are_exactly_as_planted(crawl: tuple[Run, dict[tuple[str, str], Any], Path]) -> None:
    run, shares, _ = crawl
    assert run.code == 0, run.text
    walked = {key: s["content"] for key, s in shares.items() if s["content"] is not None}
    assert set(walked) == set(PLANTED)
    for key, (walker, counts) in PLANTED.items():
        content = walked[key]
        assert content["crawled_as"] == walker, key
        assert {t: m["count"] for t, m in content["medical"].items()} == counts, key
        assert content["error"] is None and content["truncated"] is False and content["estimated"] is False


def test_sniffing_decides_what_names_cannot(crawl: tuple[Run, dict[tuple[str, str], Any], Path]) -> None:
    imaging = crawl[1][(LABNAS.address, "imaging")]["content"]
    assert imaging["medical"]["dicom"]["confidence"] == "strong"  # DICM at 128 seen in the .IMA and file-set
    assert imaging["medical"]["dicom_archive"]["confidence"] == "strong"  # the ZIP lists a DICOMDIR
    assert imaging["sniffed"] >= 6
    assert imaging["study_stores"] == [{"path": "CD_EXPORT", "kind": "dicomdir", "files": 4}]
    public = crawl[1][(LABNAS.address, "public")]["content"]
    # IM00002 (no extension), IM00001.dcm (its subtype from content) and Welcome.txt (.txt is read anywhere)
    assert public["sniffed"] == 3 and public["entries_seen"] == 15


def test_no_sniff_finds_nothing_that_needs_content(tmp_path: Path) -> None:
    run, shares, _ = _run(tmp_path, "--no-sniff", hosts=(LABNAS.address,))
    assert run.code == 0, run.text
    public = shares[(LABNAS.address, "public")]["content"]
    assert {t: m["count"] for t, m in public["medical"].items()} == {"dicom": 1, "hl7v2": 1}  # not IM00002
    imaging = shares[(LABNAS.address, "imaging")]["content"]
    assert "dicom_archive" not in imaging["medical"]  # the ZIP's listing is content
    assert imaging["medical"]["dicom"]["count"] == 8  # the .IMA is undecided without its first bytes
    assert public["sniffed"] == imaging["sniffed"] == 0


def test_guest_walk_does_not_see_what_only_audit_sees(
    crawl: tuple[Run, dict[tuple[str, str], Any], Path], tmp_path: Path
) -> None:
    public = crawl[1][(LABNAS.address, "public")]["content"]
    assert public["crawled_as"] == "anonymous" and public["denied_dirs"] == 1  # "Staff only"
    run, shares, _ = _run(tmp_path, "--no-anonymous", "--no-guest", hosts=(LABNAS.address,))
    as_printer = shares[(LABNAS.address, "public")]["content"]
    assert as_printer["crawled_as"] == "printer" and as_printer["denied_dirs"] == 1  # not in labstaff either
    out = tmp_path / "audit.json"
    env = _env(tmp_path)
    run = shareaudit(
        "scan",
        LABNAS.address,
        "-u",
        "labaudit",
        "--no-anonymous",
        "--no-guest",
        "--include-share",
        "public",
        "--json",
        str(out),
        env=env,
    )
    assert run.code == 0, run.text
    audit = next(s for s in json.loads(out.read_text())["hosts"][0]["shares"] if s["name"] == "public")[
        "content"
    ]
    assert audit["crawled_as"] == "audit" and audit["denied_dirs"] == 0
    assert audit["medical"]["dicom"]["count"] == 3  # the staff-only handover file too


def test_share_filters_apply_before_any_connection(tmp_path: Path) -> None:
    run, shares, _ = _run(
        tmp_path, "--include-share", "p*", "--exclude-share", "PRINT$", hosts=(LABNAS.address,)
    )
    assert run.code == 0, run.text
    by_name = {name: s for (_, name), s in shares.items()}
    assert {n for n, s in by_name.items() if not s["excluded"]} == {"public", "pacs$"}
    assert by_name["imaging"]["access"] == {} and by_name["imaging"]["content"] is None
    assert by_name["print$"]["excluded"] is True


def test_no_patient_names_in_any_output(
    crawl: tuple[Run, dict[tuple[str, str], Any], Path], tmp_path: Path
) -> None:
    run, _, out = crawl
    outputs = run.out + run.err + out.read_text() + out.with_suffix(".jsonl").read_text()
    for marker in PATIENT_MARKERS:
        assert marker not in outputs
    assert "[dicom:" in out.read_text()  # redacted tokens stand in their place
    _, _, shown_out = _run(tmp_path, "--show-names", hosts=(LABNAS.address,))
    text = shown_out.read_text() + shown_out.with_suffix(".jsonl").read_text()
    assert "DOE_JOHN_1957-03-02" in text and "MRN448812_sleep.edf" in text
    assert json.loads(shown_out.read_text())["options"]["show_names"] is True


def test_inventory_streams_every_medical_file(crawl: tuple[Run, dict[tuple[str, str], Any], Path]) -> None:
    lines = [json.loads(line) for line in crawl[2].with_suffix(".jsonl").read_text().splitlines()]
    # The SMB shares' lines: the FTP and NFS labs' doors on the same host add their own when they are up.
    lines = [line for line in lines if not line["share"].startswith(("ftp:", "/"))]
    total = sum(sum(counts.values()) for _, counts in PLANTED.values())
    assert len(lines) == total
    assert {"host", "share", "path", "type", "confidence", "size", "mtime", "estimated"} == set(lines[0])
    assert not any(line["estimated"] for line in lines)  # no folder of the lab is large enough to be sampled
    assert (crawl[2].with_suffix(".jsonl").stat().st_mode & 0o777) == 0o600


# --- bounds ------------------------------------------------------------------------------------------------


def _walk(share: str, bounds: CrawlBounds, identity: Identity = ANONYMOUS) -> Any:
    smb = open_session(LABNAS.address, 445, identity, 5)
    try:
        tree = access.connect_tree(smb, share, 5)
        assert not isinstance(tree, str)
        walker = Walker(tree, RateLimit(bounds.rate), 5, bounds.in_flight)
        return ShareCrawl(walker, identity.label, bounds, Redactor(b"k" * 32)).run()
    finally:
        smb.close()


PRINTER = Identity("printer", IdentityKind.USER, "labscan", "", Secret(PASSWORDS["labscan"]))


def test_bound_max_depth() -> None:
    """Depth 1 lists imaging's root and its 9 folders: 25 of its 36 entries. The 2 folders at depth 2
    (the patient tree, the CD's PT000000) stay unlisted, so every count is scaled by
    (25 taken + 2 unlisted x 2.5 mean entries per listed folder) / 25 = 1.2."""
    content = _walk("imaging", CrawlBounds(max_depth=1), PRINTER)
    assert content.bounds_hit == ("depth",) and content.truncated and content.estimated
    assert content.entries_seen == 25
    planted = PLANTED[(LABNAS.address, "imaging")][1]
    estimated = {type_id: m.count for type_id, m in content.medical.items()}
    assert set(estimated) == set(planted)
    # Types planted within depth 1 are estimated from above: at least the planted count, at most 25% more.
    for type_id, count in planted.items():
        if type_id != "dicom":
            assert count <= estimated[type_id] <= math.ceil(count * 1.25), (type_id, count, estimated)
    # 8 of the 9 DICOM files lie below depth 1: scaling by mean folder size cannot see what a folder it
    # never listed holds, so the estimate is the one .IMA at depth 1 (x 1.2, rounded), not 9.
    assert estimated["dicom"] == 1 < planted["dicom"]


def test_bound_max_entries_extrapolates() -> None:
    content = _walk("imaging", CrawlBounds(max_entries=12), PRINTER)
    assert content.entries_seen == 12
    assert content.bounds_hit == ("entries",) and content.truncated and content.estimated


def test_bound_max_dir_entries() -> None:
    content = _walk("public", CrawlBounds(max_dir_entries=2))
    assert "dir_entries" in content.bounds_hit
    assert content.entries_seen < 15


def test_bound_time_budget() -> None:
    content = _walk("imaging", CrawlBounds(time_budget=0.0), PRINTER)
    assert content.bounds_hit == ("time",) and content.truncated
    assert content.dirs_seen > 0 and content.entries_seen < 36  # one batch, then the budget stopped it


def test_bound_max_sniff() -> None:
    content = _walk("public", CrawlBounds(max_sniff=0))
    assert content.bounds_hit == ("sniff",) and content.sniffed == 0
    assert content.medical["dicom"].count == 1  # the extensionless one needed a sniff


def test_rate_limit_is_a_floor_on_time() -> None:
    import time

    limit = RateLimit(200)
    started = time.monotonic()
    for _ in range(21):
        limit.take()
    assert time.monotonic() - started >= 20 / 200 * 0.95  # 21 requests at 200/s need at least 0.1 s


def test_parallel_share_walks_find_the_same(
    crawl: tuple[Run, dict[tuple[str, str], Any], Path], tmp_path: Path
) -> None:
    run, shares, _ = _run(tmp_path, "--max-shares", "1", hosts=(LABNAS.address,))
    assert run.code == 0, run.text
    for key, share in shares.items():
        parallel = crawl[1][key]["content"]
        sequential = share["content"]
        assert (parallel is None) == (sequential is None), key
        if parallel:
            assert parallel["medical"] == sequential["medical"], key
            assert parallel["entries_seen"] == sequential["entries_seen"], key


def test_a_share_that_requires_encryption_is_walked_inside_encryption(tmp_path: Path) -> None:
    """`server smb encrypt = required` on one share: the walk (listings and reads, both connections) must be
    sealed, or Samba refuses every request on the tree; the counts are the files planted."""
    address = next(a for a in COPY_ADDRESSES[-10:-8] if not lab_control.port_open(a, timeout=0.1))
    with lab_control.throwaway(LABFS, address) as copy:
        vault = copy.instance.shares / "vault"
        for folder in range(4):
            directory = vault / f"study{folder}"
            directory.mkdir(parents=True)
            for n in range(6):
                (directory / f"img{n:03d}").write_bytes(dicom_bytes("VAULT^PATIENT", f"V{folder}{n}", "CT"))
        subprocess.run(["chmod", "-R", "a+rX", str(vault)], check=True)
        with copy.instance.conf.open("a") as conf:
            conf.write(
                f"\n[vault]\n    path = {vault}\n    valid users = labaudit\n    read only = yes\n"
                "    server smb encrypt = required\n"
            )
        reload = subprocess.run(
            ["smbcontrol", "-s", str(copy.instance.conf), "smbd", "reload-config"],
            capture_output=True,
            text=True,
        )
        assert reload.returncode == 0, reload.stderr
        out = tmp_path / "scan.json"
        run = shareaudit(
            "-v", "scan", copy.address, "-u", "labaudit", "--include-share", "vault", "--max-rate", "0",
            "--no-history", "--json", str(out), env=_env(tmp_path),
        )  # fmt: skip
    assert run.code in (0, 1), run.text[-3000:]
    assert "share vault as audit: tree connect accepted" in run.err and ", encrypted" in run.err
    host = json.loads(out.read_text())["hosts"][0]
    content = next(s for s in host["shares"] if s["name"] == "vault")["content"]
    assert content["error"] is None, content["error"]
    assert (content["dirs_seen"], content["files_seen"]) == (4, 24)
    assert {t: m["count"] for t, m in content["medical"].items()} == {"dicom": 24}
    assert content["sniffed"] > 0  # extensionless: found by reading them, inside encryption
