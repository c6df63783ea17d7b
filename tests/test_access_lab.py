"""The identity x share access matrix against the lab: measured without writing, explained by ACLs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import labrpc
import pytest
from clirun import Run, shareaudit
from labdata import LABACL, LABFS, LABNAS, PASSWORDS

pytestmark = pytest.mark.usefixtures("lab")

LAB_DIR = Path(os.environ.get("SHAREAUDIT_LAB_DIR", "/tmp/shareaudit-lab"))
HOSTS = (LABNAS.address, LABFS.address, LABACL.address)
LABELS = ("audit", "anonymous", "guest", "printer", "user")

# connect / read / write as the lab is configured (tests/lab/conf, tests/lab/lab.py):
#   "-" no connection, "c" connects (printer or IPC, not probed), "" connects but may do nothing,
#   "R" read only, "RW" read and write.
TRUTH = {
    LABNAS.address: {
        #           audit  anonymous guest printer user
        "public": ("R", "R", "R", "R", "R"),  # guest ok, read only
        "scans": ("RW", "RW", "RW", "RW", "RW"),  # guest-writable scan drop folder
        "imaging": ("R", "-", "-", "R", "R"),  # valid users = @labstaff labscan labaudit
        "hr": ("-", "-", "-", "-", "-"),  # only the admin group may enter
        "pacs$": ("R", "R", "R", "R", "R"),  # hidden, guest ok
        "archive": ("R", "R", "R", "R", "R"),
        "print$": ("R", "R", "R", "RW", "R"),  # write list = @labadmins labscan
        "IPC$": ("c", "c", "c", "c", "c"),
        "HP_MFP_2F": ("c", "c", "c", "c", "c"),
        "Radiology_Laser": ("c", "c", "c", "c", "c"),
    },
    LABFS.address: {
        "finance": ("-", "-", "-", "-", "-"),  # @labadmins only
        "clinical": ("R", "-", "-", "-", "R"),
        "scaninbox": ("-", "-", "-", "-", "-"),  # labdevice and admins only
        "IPC$": ("c", "-", "-", "c", "c"),  # restrict anonymous = 2, no guest
    },
    LABACL.address: {
        "depts": ("RW", "-", "RW", "RW", "RW"),  # NT ACL: Everyone CHANGE on the root
        "records": ("R", "-", "", "", "R"),  # share allows write, the NT ACL only read, and only for staff
        "research": ("RW", "-", "RW", "RW", "RW"),  # NT ACL: Authenticated Users CHANGE
        "itadmin": ("-", "-", "-", "-", "-"),  # @labadmins only
        "IPC$": ("c", "c", "c", "c", "c"),
    },
}


def _cell(access: dict[str, Any], share_type: str) -> str:
    if not access["connect"]:
        return "-"
    if share_type != "disk":
        return "c"
    return ("R" if access["read"] else "") + ("W" if access["write"] else "")


def _env(**passwords: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"]}
    env.update({f"SHAREAUDIT_PASSWORD_{label.upper()}": pw for label, pw in passwords.items()})
    return env


def _scan(
    tmp: Path, *extra: str, env: dict[str, str] | None = None, hosts: tuple[str, ...] = HOSTS
) -> tuple[Run, dict[str, Any]]:
    out = tmp / "scan.json"
    env = env or _env(printer=PASSWORDS["labscan"], user=PASSWORDS["labuser"])
    run = shareaudit(
        "scan",
        *hosts,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "--identity",
        "user=labuser",
        "--json",
        str(out),
        "--data-dir",  # never the user's own history
        str(tmp / "data"),
        *extra,
        env=env,
    )
    return run, {h["address"]: h for h in json.loads(out.read_text())["hosts"]}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, dict[str, Any]]:
    return _scan(tmp_path_factory.mktemp("matrix"))


def test_scan_succeeds_with_five_identities(matrix: tuple[Run, dict[str, Any]]) -> None:
    run = matrix[0]
    assert run.code == 0, run.text
    for password in (PASSWORDS["labaudit"], PASSWORDS["labscan"], PASSWORDS["labuser"]):
        assert password not in run.text


@pytest.mark.parametrize("address", HOSTS)
def test_truth_table(matrix: tuple[Run, dict[str, Any]], address: str) -> None:
    host = matrix[1][address]
    measured = {
        share["name"]: tuple(_cell(share["access"][label], share["type"]) for label in LABELS)
        for share in host["shares"]
    }
    assert measured == TRUTH[address]


def test_read_only_share_keeps_delete_bits_at_share_level_only(matrix: tuple[Run, dict[str, Any]]) -> None:
    public = next(s for s in matrix[1][LABNAS.address]["shares"] if s["name"] == "public")["access"]["guest"]
    # Samba's tree connect still offers DELETE|WRITE_DAC|WRITE_OWNER on a read-only share; MxAc does not.
    assert (public["share_mask"], public["root_mask"]) == ("0x001f00a9", "0x001200a9")
    assert not (public["delete"] or public["change_permissions"] or public["take_ownership"])


def test_effective_read_only_where_share_allows_write(matrix: tuple[Run, dict[str, Any]]) -> None:
    records = next(s for s in matrix[1][LABACL.address]["shares"] if s["name"] == "records")["access"]["user"]
    assert int(records["share_mask"], 16) & 0x6  # the share level would let the user add files ...
    assert not int(records["root_mask"], 16) & 0x6  # ... the NT ACL on the root does not
    assert (records["read"], records["write"], records["list"]) == (True, False, True)


def test_guest_drop_folder_grants_full_control(matrix: tuple[Run, dict[str, Any]]) -> None:
    scans = next(s for s in matrix[1][LABNAS.address]["shares"] if s["name"] == "scans")["access"]
    assert scans["guest"]["route"] == "guest_account"
    assert all(scans["guest"][k] for k in ("read", "write", "delete", "change_permissions", "take_ownership"))
    depts = next(s for s in matrix[1][LABACL.address]["shares"] if s["name"] == "depts")["access"]["user"]
    assert depts["write"] and not depts["change_permissions"]  # CHANGE, not FULL


def test_guest_route_and_refusal_per_host(matrix: tuple[Run, dict[str, Any]]) -> None:
    logons = {a: {attempt["identity"]: attempt for attempt in h["logons"]} for a, h in matrix[1].items()}
    assert logons[LABNAS.address]["guest"] == {
        "identity": "guest",
        "accepted": True,
        "guest": True,
        "route": "guest_account",
        "status": None,
    }
    assert logons[LABACL.address]["guest"]["guest"] is False  # a real account named Guest
    assert logons[LABFS.address]["guest"]["accepted"] is False
    assert logons[LABNAS.address]["anonymous"]["accepted"] is True


def _sd(hosts: dict[str, Any], address: str, share: str, which: str) -> dict[str, Any]:
    sd: dict[str, Any] = next(s for s in hosts[address]["shares"] if s["name"] == share)[which]
    return sd


def test_root_acls_with_names_and_broad_flags(matrix: tuple[Run, dict[str, Any]]) -> None:
    hosts = matrix[1]
    depts = _sd(hosts, LABACL.address, "depts", "root_sd")
    aces = {ace["name"]: ace for ace in depts["dacl"]}
    assert set(aces) == {"Everyone", "LABACL\\labadmins"}
    assert aces["Everyone"]["broad"] is True and aces["Everyone"]["sid"] == "S-1-1-0"
    assert aces["Everyone"]["mask"] == "0x001301ff"  # smbcacls CHANGE (Windows Modify is 0x1301bf)
    assert "add_file" in aces["Everyone"]["rights"]
    assert aces["Everyone"]["flag_names"] == ["OI", "CI"]
    assert aces["LABACL\\labadmins"]["broad"] is False and aces["LABACL\\labadmins"]["mask"] == "0x001f01ff"
    assert depts["owner_name"] == "LABACL\\labadmins"
    research = _sd(hosts, LABACL.address, "research", "root_sd")
    assert next((a["name"], a["broad"]) for a in research["dacl"]) == (
        "NT AUTHORITY\\Authenticated Users",
        True,
    )
    records = _sd(hosts, LABACL.address, "records", "root_sd")
    assert {a["name"] for a in records["dacl"]} == {
        "LABACL\\labstaff",
        "LABACL\\labaudit",
        "LABACL\\labadmins",
    }
    imaging = _sd(hosts, LABNAS.address, "imaging", "root_sd")  # POSIX ACLs shown as NT ACEs by Samba
    assert {"LABNAS\\labscan", "LABNAS\\labaudit"} <= {a["name"] for a in imaging["dacl"]}
    shares = {s["name"]: s for s in hosts[LABACL.address]["shares"]}
    assert shares["depts"]["root_sd_read_as"] == "audit"
    assert shares["itadmin"]["root_sd"] is None
    assert shares["itadmin"]["root_sd_error"] == "no identity could connect to the share"


def _share_acls(tmp: Path, address: str, *extra: str, env: dict[str, str]) -> dict[str, Any]:
    out = tmp / f"acl-{len(list(tmp.iterdir()))}.json"
    run = shareaudit("scan", address, "--no-anonymous", "--no-guest", *extra, "--json", str(out), env=env)
    assert run.code == 0, run.text
    return {s["name"]: s for s in json.loads(out.read_text())["hosts"][0]["shares"]}


@pytest.mark.parametrize("personality", [LABNAS, LABACL], ids=lambda p: p.name)
def test_share_acl_needs_an_administrator(tmp_path: Path, personality: Any) -> None:
    # Clean already (tests/labrpc.py); reset anyway, as what is asserted next depends on it entirely.
    labrpc.reset(personality.name)
    plain = _share_acls(tmp_path, personality.address, "-u", "labaudit", env=_env())
    assert all(share["share_sd"] is None for share in plain.values())
    assert {share["share_sd_error"] for share in plain.values()} == {
        "not returned to audit (srvsvc level 502 gives it to administrators only)"
    }
    admin = _share_acls(
        tmp_path, personality.address, "--identity", "admin=labadmin", env=_env(admin=PASSWORDS["labadmin"])
    )
    if personality is LABNAS:
        aces = {a["name"]: a["mask"] for a in admin["imaging"]["share_sd"]["dacl"]}
        assert aces == {"Everyone": "0x001200a9", "LABNAS\\labadmins": "0x001f01ff"}  # sharesec in lab.py
        assert admin["hr"]["access"]["admin"]["write"] is True
    else:
        research = admin["research"]["share_sd"]["dacl"]
        aces = {a["name"]: (a["mask"], a["broad"]) for a in research}
        assert aces == {
            "NT AUTHORITY\\Authenticated Users": ("0x001f01ff", True),
            "LABACL\\labadmins": ("0x001f01ff", False),
        }
    assert [a["sid"] for a in next(iter(admin.values()))["share_sd"]["dacl"]] == [
        "S-1-1-0"
    ]  # Samba's default
    assert all(share["share_sd_error"] is None for share in admin.values())


def test_samba_leaks_share_acls_after_an_admin_call(tmp_path: Path) -> None:
    """A lab fact worth knowing: Samba 4.17 keeps answering level 502 with share ACLs after an admin asked.

    The test session restarts the workers after every administrator's scan (tests/labrpc.py): checked here."""
    _share_acls(
        tmp_path, LABNAS.address, "--identity", "admin=labadmin", env=_env(admin=PASSWORDS["labadmin"])
    )
    after = _share_acls(tmp_path, LABNAS.address, "-u", "labaudit", env=_env())
    assert after["imaging"]["share_sd"] is not None
    assert labrpc.reset_if_dirty()  # the administrator's run was noticed: the workers were restarted ...
    clean = _share_acls(tmp_path, LABNAS.address, "-u", "labaudit", env=_env())
    assert clean["imaging"]["share_sd"] is None  # ... and tell the audit account nothing again


def test_wrong_password_for_one_identity_leaves_the_rest(
    matrix: tuple[Run, dict[str, Any]], tmp_path: Path
) -> None:
    run, hosts = _scan(tmp_path, env=_env(printer="Wrong-Pass-7", user=PASSWORDS["labuser"]))
    assert run.code == 3
    nas = hosts[LABNAS.address]
    assert nas["error"] == "logon as labscan refused: STATUS_LOGON_FAILURE"
    for share in nas["shares"]:
        assert share["access"]["printer"] == {
            **share["access"]["printer"],
            "connect": False,
            "status": "logon refused: STATUS_LOGON_FAILURE",
        }
        before = next(s for s in matrix[1][LABNAS.address]["shares"] if s["name"] == share["name"])
        for label in ("audit", "anonymous", "guest", "user"):
            assert share["access"][label] == before["access"][label]
    assert "printer: logon refused (STATUS_LOGON_FAILURE)" in run.out
    assert "Wrong-Pass-7" not in run.text


def test_identities_file(tmp_path: Path) -> None:
    password = tmp_path / "printer.pw"
    password.write_text(f"{PASSWORDS['labscan']}\n")
    password.chmod(0o600)
    secrets = tmp_path / "identities.toml"
    secrets.write_text(f'[identities.printer]\naccount = "labscan"\npassword_file = "{password}"\n')
    secrets.chmod(0o644)
    env = {"PATH": "/usr/bin:/bin"}
    refused = shareaudit("scan", LABNAS.address, "--identities-file", str(secrets), env=env)
    assert refused.code == 2
    assert f"is readable by group or others (mode 0644); run: chmod 600 {secrets}" in refused.err
    secrets.chmod(0o600)
    out = tmp_path / "scan.json"
    run = shareaudit("scan", LABNAS.address, "--identities-file", str(secrets), "--json", str(out), env=env)
    assert run.code == 0, run.text
    shares = {s["name"]: s for s in json.loads(out.read_text())["hosts"][0]["shares"]}
    assert shares["print$"]["access"]["printer"]["write"] is True
    assert PASSWORDS["labscan"] not in run.text + out.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text('[identities.printer]\naccount = "labscan"\npasword = "typo"\n')
    bad.chmod(0o600)
    run = shareaudit("scan", LABNAS.address, "--identities-file", str(bad), env=env)
    assert run.code == 2 and f"{bad}:3: identities.printer.pasword: unknown key" in run.err
    inline = tmp_path / "inline.toml"
    inline.write_text('[identities.printer]\naccount = "labscan"\npassword = "Inline-Secret-1"\n')
    inline.chmod(0o600)
    run = shareaudit("scan", LABNAS.address, "--identities-file", str(inline), env=env)
    assert run.code == 2, run.text
    assert f"{inline}:3: identities.printer.password: unknown key" in run.err
    assert "use password_env or password_file" in run.err and "Inline-Secret-1" not in run.text


def test_missing_identity_password(tmp_path: Path) -> None:
    run = shareaudit("scan", LABNAS.address, "--identity", "printer=labscan", env={"PATH": "/usr/bin"})
    assert run.code == 2
    assert "no password for identity 'printer': set SHAREAUDIT_PASSWORD_PRINTER" in run.err


def test_terminal_matrix(matrix: tuple[Run, dict[str, Any]]) -> None:
    out = matrix[0].out
    assert f"Access on {LABNAS.address}" in out
    row = next(line for line in out.splitlines() if line.startswith("│ scans"))
    assert [c.strip() for c in row.strip("│ ").split("│")] == [
        "scans",
        "disk",
        "RWD",  # Samba claims P and O for everyone on this 0777 folder; only its owner, nobody, has them
        "RWDPO",  # the null session and guest run as nobody
        "RWDPO",
        "RWD",
        "RWD",
    ]
    assert "R read  W write" in out


# --- read-only guarantee ---------------------------------------------------------------------------------

WRITE_OPS = re.compile(
    r"\|(mkdirat|unlinkat|renameat|pwrite|fntimes|fchmod|fchown|fset_nt_acl|linkat|symlinkat)\|"
)


def _fingerprint(with_dir_mtimes: bool = True) -> dict[str, tuple[int, ...]]:
    prints: dict[str, tuple[int, ...]] = {}
    for root, dirs, files in os.walk(LAB_DIR / "shares"):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            is_dir = name in dirs
            mtime = info.st_mtime_ns if (with_dir_mtimes or not is_dir) else 0
            prints[str(path.relative_to(LAB_DIR))] = (info.st_size if not is_dir else 0, mtime, info.st_mode)
    return prints


def _log_offsets() -> dict[str, int]:
    return {p: (LAB_DIR / p / "log" / "smbd.stdout").stat().st_size for p in ("labnas", "labfs", "labacl")}


def _write_operations_since(offsets: dict[str, int]) -> list[str]:
    lines = []
    for name, offset in offsets.items():
        with open(LAB_DIR / name / "log" / "smbd.stdout", "rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                if "AUDIT|" not in line:
                    continue
                if WRITE_OPS.search(line) or ("|create_file|" in line and "|open|" not in line):
                    lines.append(line)
    return lines


def test_default_scan_writes_nothing(tmp_path: Path) -> None:
    before, offsets = _fingerprint(), _log_offsets()
    run, _ = _scan(tmp_path)
    assert run.code == 0, run.text
    assert _fingerprint() == before
    assert _write_operations_since(offsets) == []


def test_active_write_probe_cleans_up_and_says_so(tmp_path: Path) -> None:
    before, offsets = _fingerprint(with_dir_mtimes=False), _log_offsets()
    run, hosts = _scan(tmp_path, "--active-write-probe", hosts=(LABNAS.address, LABACL.address))
    assert run.code == 0, run.text
    assert _fingerprint(with_dir_mtimes=False) == before  # nothing left behind
    writes = _write_operations_since(offsets)
    assert any("|scans|create_file|" in line for line in writes)  # it really wrote ...
    assert any("|scans|unlinkat|" in line for line in writes)  # ... and removed what it wrote
    scans = next(s for s in hosts[LABNAS.address]["shares"] if s["name"] == "scans")["access"]["guest"][
        "probe"
    ]
    assert (scans["created"], scans["cleaned"]) == (True, True)
    assert re.fullmatch(r"shareaudit-probe-[0-9a-f]{12}\.tmp", scans["path"])
    public = next(s for s in hosts[LABNAS.address]["shares"] if s["name"] == "public")["access"]["guest"][
        "probe"
    ]
    assert (public["created"], public["status"]) == (False, "STATUS_ACCESS_DENIED")
    assert "Active write probe was ON" in run.out
    assert "WARNING" not in run.err
