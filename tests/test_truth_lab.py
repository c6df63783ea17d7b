"""Every claim true: each right of the access matrix done for real, in throwaway copies of the lab.

The access matrix is what the server *says* (tree connect MaximalAccess AND the root's MxAc); on Samba
that is not always what it *does* (../shared/reference/samba-lab-notes.md, addendum "what Samba claims
vs what it does"). This test is the arbiter. For every personality and every identity shareaudit
measures (anonymous, guest by the route the server allows, the audit account, the service accounts
labscan and labdevice, and labuser as `staff`):

1. a throwaway copy of the personality is started (tests/lab/lab.py `start_copy`: its own lab
   directory under /tmp, its own address from labdata.COPY_ADDRESSES, prepared from scratch); the
   shared lab is never written to;
2. one victim file per identity is planted in every disk share root (by the administrator over SMB
   where the share lets it, so that it inherits the root's ACL like any new file, else on disk as
   root), then the copy's share tree is fingerprinted (paths, sizes, modes, owners, times, xattrs);
3. `shareaudit scan` runs against the copy (no crawl, no history) and the tree must be unchanged: the
   read-only guarantee, checked before anything is written;
4. each identity then does each right for real with Samba's own tools, in this order: read (list the
   root), write (put a new file), delete (its own victim, owned by someone else), change permissions
   (`smbcacls --add` an ACE to the root), take ownership (`smbcacls --chown` to its own SID: S-1-5-7
   for the null session, the server's guest SID for guest, the account's SID otherwise). A step
   counts only when the tool exits 0 with no NT_STATUS_ in its output AND its effect is seen: the
   listing shows the victim, the new file is on disk, the victim is gone from disk, the root's mode or
   ACL xattrs changed, the root's owner (read back by the administrator) is the identity's SID;
5. the next identity gets a fresh copy unless the tree is proven unchanged apart from the previous
   identity's own new file and victim (and the roots' modification times): an ACL or owner change
   alters what the next identity may do, a failed one leaves nothing to restore.

A right is *claimed* when `access[label][right]` is true and its basis is not "uncertain"; a *false
claim* is claimed and not done for real; a *miss* is done for real and `access[label][right]` is not
true. The per-personality table is printed (and written to test-artifacts/truth-<name>.txt); the test
asserts no false claim and no miss, and that the scan changed nothing.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import stat
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lab
import pytest
from clirun import shareaudit
from labdata import COPY_ADDRESSES, LABACL, PASSWORDS, PERSONALITIES, Personality

pytestmark = [pytest.mark.usefixtures("lab"), pytest.mark.timeout(900)]  # the lab's Unix accounts

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
RIGHTS = ("read", "write", "delete", "change_permissions", "take_ownership")
# Throwaway addresses: a few per personality, used in turn, so a copy never reuses a just-freed one.
_PER = len(COPY_ADDRESSES) // len(PERSONALITIES)
ADDRESSES = {p.name: COPY_ADDRESSES[_PER * i : _PER * (i + 1)] for i, p in enumerate(PERSONALITIES)}
ANONYMOUS_SID = "S-1-5-7"
ADMIN = ("labadmin", PASSWORDS["labadmin"])
TOOL_TIMEOUT = 60


@dataclass(frozen=True)
class Who:
    """An identity as the scan names it and as smbclient logs on with it."""

    label: str
    user: str  # "" for the null session
    password: str
    account: str | None  # the passdb account whose SID it owns with; None: anonymous or bad-user guest


def identities(p: Personality) -> tuple[Who, ...]:
    if p is LABACL:  # a real account called Guest with an empty password (tests/lab/conf/labacl.conf.in)
        guest = Who("guest", "Guest", "", "labguest")
    else:  # bad-user servers let an unknown name in as guest; labfs refuses it, which is the truth too
        guest = Who("guest", f"sa-truth-{secrets.token_hex(4)}", "Not-A-Lab-Pass-1", None)
    return (
        Who("anonymous", "", "", None),
        guest,
        Who("audit", "labaudit", PASSWORDS["labaudit"], "labaudit"),
        Who("printer", "labscan", PASSWORDS["labscan"], "labscan"),
        Who("device", "labdevice", PASSWORDS["labdevice"], "labdevice"),
        Who("staff", "labuser", PASSWORDS["labuser"], "labuser"),
    )


# --- Samba's tools -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        """Strict: exit code 0 and no NT status anywhere in the output."""
        return self.code == 0 and "NT_STATUS_" not in self.text

    @property
    def status(self) -> str:
        found = re.search(r"NT_STATUS_[A-Z_]+", self.text)
        return found.group(0) if found else f"exit {self.code}"


class Client:
    """smbclient and smbcacls against one copy, with a client configuration of our own."""

    def __init__(self, address: str, conf: Path) -> None:
        self.address, self.conf = address, conf

    def _run(self, cmd: list[str]) -> Tool:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            return Tool(-1, f"timed out after {exc.timeout} s")
        return Tool(proc.returncode, proc.stdout + proc.stderr)

    @staticmethod
    def _auth(user: str, password: str) -> list[str]:
        return ["-U", f"{user}%{password}"] if user else ["-U", "%", "-N"]  # "-U %": the null session

    def smbclient(self, share: str, who: tuple[str, str], command: str) -> Tool:
        unc = f"//{self.address}/{share}"
        return self._run(["smbclient", unc, "-s", str(self.conf), *self._auth(*who), "-c", command])

    def smbcacls(self, share: str, who: tuple[str, str], *args: str) -> Tool:
        unc = f"//{self.address}/{share}"
        return self._run(["smbcacls", unc, "/", "-s", str(self.conf), "--numeric", *self._auth(*who), *args])

    def owner(self, share: str) -> str:
        """The root's owner SID, read back by the administrator."""
        sd = self.smbcacls(share, ADMIN)
        found = re.search(r"^OWNER:(\S+)", sd.text, re.M)
        assert sd.ok and found, f"the administrator cannot read the root SD of {share}: {sd.text}"
        return found.group(1)


def smb_quote(name: str) -> str:
    return '"' + name + '"'


# --- the copy's shares and its tree --------------------------------------------------------------


def disk_shares(conf: Path) -> dict[str, Path]:
    """Disk shares of a copy as its smb.conf defines them: name -> root directory."""
    shares: dict[str, Path] = {}
    section, printable = "", False
    lines = [*conf.read_text().splitlines(), "[end]"]
    path: Path | None = None
    for line in lines:
        head = re.match(r"^\s*\[(.+)\]\s*$", line)
        if head:
            if path is not None and not printable and section not in ("global", "printers"):
                shares[section] = path
            section, printable, path = head.group(1), False, None
            continue
        setting = re.match(r"^\s*([a-z ]+?)\s*=\s*(.*?)\s*$", line)
        if setting and setting.group(1) == "path":
            path = Path(setting.group(2))
        elif setting and setting.group(1) == "printable":
            printable = setting.group(2).lower() in ("yes", "true", "1")
    return shares


def _entry(path: Path) -> tuple[Any, ...]:
    info = path.lstat()
    names = sorted(os.listxattr(path, follow_symlinks=False))
    xattrs = tuple((n, os.getxattr(path, n, follow_symlinks=False)) for n in names)
    size = 0 if stat.S_ISDIR(info.st_mode) else info.st_size
    return (info.st_mode, size, info.st_uid, info.st_gid, info.st_mtime_ns, xattrs)


def fingerprint(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under the copy's shares: mode, size, owner, group, modification time, xattrs."""
    prints = {".": _entry(root)}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            prints[str(path.relative_to(root))] = _entry(path)
    return prints


def differences(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> list[str]:
    fields = ("mode", "size", "uid", "gid", "mtime", "xattrs")
    out = [f"gone: {p}" for p in sorted(set(before) - set(after))]
    out += [f"new: {p}" for p in sorted(set(after) - set(before))]
    for p in sorted(set(before) & set(after)):
        changed = [f for f, a, b in zip(fields, before[p], after[p], strict=True) if a != b]
        if changed:
            out.append(f"changed {','.join(changed)}: {p}")
    return out


def root_permissions(path: Path) -> tuple[Any, ...]:
    """What decides access to a root: mode, owner, group, xattrs (NT ACL, POSIX ACLs)."""
    mode, _, uid, gid, _, xattrs = _entry(path)
    return (mode, uid, gid, xattrs)


# --- one personality ---------------------------------------------------------------------------------


def victim(label: str) -> str:
    return f"truth-victim-{label}.txt"


def new_file(label: str) -> str:
    return f"truth-new-{label}.txt"


@dataclass
class Outcome:
    real: bool
    detail: str  # the tool's status, or what the check saw


@dataclass
class Result:
    personality: Personality
    scan_code: int | None = None
    scan_text: str = ""
    scan_changes: list[str] = field(default_factory=list)
    configured: set[str] = field(default_factory=set)  # disk shares in the copy's smb.conf
    access: dict[str, dict[str, Any]] = field(default_factory=dict)  # disk share -> access by label
    probed: dict[str, dict[str, Any]] = field(default_factory=dict)  # the same with --active-write-probe
    probe_changes: list[str] = field(default_factory=list)
    real: dict[tuple[str, str, str], Outcome] = field(default_factory=dict)  # (label, share, right)
    copies: list[str] = field(default_factory=list)  # why each copy was started
    timings: dict[str, float] = field(default_factory=dict)
    problem: str | None = None  # why the rights were not done for real

    def claim(self, label: str, share: str, right: str) -> tuple[bool, bool, str]:
        """(claimed, value, basis) of one right: claimed = true and not uncertain."""
        access = self.access.get(share, {}).get(label, {})
        value = access.get(right) is True
        basis = (access.get("basis") or {}).get(right, "granted")
        return value and basis != "uncertain", value, basis

    def false_claims(self) -> list[str]:
        return [
            f"{label} {share} {right}: {outcome.detail}"
            for (label, share, right), outcome in sorted(self.real.items())
            if self.claim(label, share, right)[0] and not outcome.real
        ]

    def misses(self) -> list[str]:
        return [
            f"{label} {share} {right}: {outcome.detail}"
            for (label, share, right), outcome in sorted(self.real.items())
            if outcome.real and not self.claim(label, share, right)[1]
        ]

    def uncertain(self) -> list[str]:
        return [
            f"{label} {share} {right}: real={'yes' if outcome.real else 'no'} ({outcome.detail})"
            for (label, share, right), outcome in sorted(self.real.items())
            if self.claim(label, share, right)[2] == "uncertain"
        ]

    def table(self) -> str:
        p = self.personality
        lines = [
            f"== {p.name} ({p.address} in the lab; copies on {', '.join(ADDRESSES[p.name])})",
            "   timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items()),
            f"   copies: {'; '.join(self.copies)}",
        ]
        if self.problem:
            lines.append(f"   NOT MEASURED: {self.problem}")
        lines.append(
            "   cell = claimed/real (Y yes, - no, ? uncertain), basis when not 'granted', ! a mismatch"
        )
        lines.append(f"   {'identity':10} {'share':14} " + " ".join(f"{r:>18}" for r in RIGHTS))
        labels = [w.label for w in identities(p)]
        for label in labels:
            for share in sorted(self.access):
                cells = []
                for right in RIGHTS:
                    outcome = self.real.get((label, share, right))
                    claimed, value, basis = self.claim(label, share, right)
                    mark = "?" if basis == "uncertain" else ("Y" if claimed else "-")
                    real = "." if outcome is None else ("Y" if outcome.real else "-")
                    cell = f"{mark}/{real}" + ("" if basis == "granted" else f" {basis}")
                    wrong = outcome is not None and (
                        (claimed and not outcome.real) or (outcome.real and not value)
                    )
                    cells.append(f"{cell + (' !' if wrong else ''):>18}")
                lines.append(f"   {label:10} {share:14} " + " ".join(cells))
        for title, items in (
            ("false claims (claimed, not real)", self.false_claims()),
            ("misses (real, not claimed)", self.misses()),
            ("uncertain", self.uncertain()),
        ):
            lines.append(f"   {title}: {len(items)}")
            lines.extend(f"     {item}" for item in items)
        if self.scan_changes:
            lines.append(f"   THE SCAN CHANGED THE COPY: {self.scan_changes}")
        return "\n".join(lines)


class Copies:
    """Throwaway copies of one personality, started in turn on its own addresses."""

    def __init__(self, p: Personality, result: Result) -> None:
        self.p, self.result, self.started = p, result, 0
        self.copy: lab.Copy | None = None

    def fresh(self, why: str) -> lab.Copy:
        self.discard()
        address = ADDRESSES[self.p.name][self.started % len(ADDRESSES[self.p.name])]
        self.started += 1
        self.copy = lab.start_copy(self.p, address)
        self.result.copies.append(f"{why} ({self.copy.seconds:.1f} s)")
        key = "first copy start" if self.started == 1 else "later copy starts"
        self.result.timings[key] = self.result.timings.get(key, 0.0) + self.copy.seconds
        return self.copy

    def discard(self) -> None:
        if self.copy is not None:
            lab.discard(self.copy)
            self.copy = None


def plant_victims(client: Client, shares: dict[str, Path], labels: list[str], scratch: Path) -> None:
    """One victim per identity in every disk share root, owned by someone else than the identities."""
    source = scratch / "victim.txt"
    source.write_text("planted by tests/test_truth_lab.py; the identity named in the file name deletes it\n")
    for share, root in shares.items():
        puts = "; ".join(f"put {source} {smb_quote(victim(label))}" for label in labels)
        client.smbclient(share, ADMIN, puts)  # the administrator, where the share lets it (read-only: not)
        for label in labels:
            path = root / victim(label)
            if not path.exists():
                path.write_text(source.read_text())  # on disk as root; group from a setgid root
    missing = [
        str(r / victim(label))
        for r in shares.values()
        for label in labels
        if not (r / victim(label)).is_file()
    ]
    assert not missing, f"victims not planted: {missing}"


def own_sids(copy: lab.Copy, who: Who) -> list[str]:
    """The SIDs an identity acts as, its token's user SID first.

    The null session's is ANONYMOUS LOGON, but Samba runs it as the guest account (a file it creates
    is owned by the guest SID, measured): either counts as its own. A bad-user guest is the guest
    account, RID 501 of the server's machine SID; a named account is its passdb SID.
    """
    guest = f"{lab.domain_sid(copy.instance)}-501"
    if not who.user:
        return [ANONYMOUS_SID, guest]
    if who.account is None:
        return [guest]
    return [lab.sid_of_user(copy.instance, who.account)]


def do_rights(
    client: Client, copy: lab.Copy, who: Who, share: str, root: Path, scratch: Path
) -> dict[str, Outcome]:
    """Each right for real, as one identity on one share, in order; the two ACL operations last."""
    creds = (who.user, who.password)
    done: dict[str, Outcome] = {}
    listing = client.smbclient(share, creds, "ls")
    if not listing.ok and re.search(r"(session setup|tree connect) failed", listing.text):
        return {right: Outcome(False, f"cannot connect: {listing.status}") for right in RIGHTS}
    seen = victim(who.label) in listing.text
    done["read"] = Outcome(listing.ok and seen, listing.status if not listing.ok else "listed")

    source = scratch / f"new-{who.label}.txt"
    source.write_text(f"written by {who.label} in tests/test_truth_lab.py\n")
    put = client.smbclient(share, creds, f"put {source} {smb_quote(new_file(who.label))}")
    written = (root / new_file(who.label)).exists()
    done["write"] = Outcome(put.ok and written, put.status if not put.ok else f"on disk: {written}")

    delete = client.smbclient(share, creds, f"del {smb_quote(victim(who.label))}")
    gone = not (root / victim(who.label)).exists()
    done["delete"] = Outcome(
        delete.ok and gone, delete.status if not delete.ok else f"gone from disk: {gone}"
    )

    before = root_permissions(root)
    admin_uid = pwd.getpwnam("labadmin").pw_uid
    ace = f"ACL:S-1-22-1-{admin_uid}:ALLOWED/0x0/0x001200a9"  # Unix User\labadmin: READ
    add = client.smbcacls(share, creds, "--add", ace)
    changed = root_permissions(root) != before
    done["change_permissions"] = Outcome(
        add.ok and changed, add.status if not add.ok else f"root mode/ACL changed: {changed}"
    )

    tried = []
    for mine in own_sids(copy, who):
        chown = client.smbcacls(share, creds, "--chown", mine)
        owner = client.owner(share) if chown.ok else None
        done["take_ownership"] = Outcome(chown.ok and owner == mine, f"owner now {owner}, own SID {mine}")
        if done["take_ownership"].real:
            break
        tried.append(f"{mine}: {chown.status if not chown.ok else f'owner now {owner}'}")
    else:
        done["take_ownership"] = Outcome(False, "; ".join(tried))
    return done


def measure(p: Personality, scratch: Path) -> Result:
    result = Result(p)
    began = time.monotonic()
    scratch.mkdir(parents=True, exist_ok=True)
    client_conf = scratch / "client.conf"
    client_conf.write_text("[global]\n    client min protocol = SMB2_02\n")
    whos = identities(p)
    labels = [w.label for w in whos]
    copies = Copies(p, result)
    try:
        copy = copies.fresh("scan and the first identity")
        client = Client(copy.address, client_conf)
        shares = disk_shares(copy.instance.conf)
        result.configured = set(shares)
        plant_victims(client, shares, labels, scratch)
        before = fingerprint(copy.instance.shares)

        started = time.monotonic()
        out = scratch / "scan.json"
        env = {
            **{k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ},
            "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
            "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
            "SHAREAUDIT_PASSWORD_DEVICE": PASSWORDS["labdevice"],
            "SHAREAUDIT_PASSWORD_STAFF": PASSWORDS["labuser"],
        }
        scan = shareaudit(
            "scan", copy.address, "-u", "labaudit",
            "--identity", "printer=labscan", "--identity", "device=labdevice", "--identity", "staff=labuser",
            "--no-crawl", "--no-history", "--data-dir", str(scratch / "data"), "--json", str(out),
            env=env,
        )  # fmt: skip
        result.timings["scan"] = time.monotonic() - started
        result.scan_code, result.scan_text = scan.code, scan.text
        result.scan_changes = differences(before, fingerprint(copy.instance.shares))
        if result.scan_changes:
            result.problem = "the scan changed the copy: nothing was written after it"
            return result
        if not out.exists():
            result.problem = f"the scan wrote no JSON (exit {scan.code}): {scan.text[-2000:]}"
            return result
        host = json.loads(out.read_text())["hosts"][0]
        result.access = {s["name"]: s["access"] for s in host["shares"] if s["type"] == "disk"}

        # The opt-in probes (a self-deleting file, the root's DACL set to its current value) on the same
        # copy: they must leave it as it was, and what they measure must be what is done for real below.
        probed = scratch / "probed.json"
        scan = shareaudit(
            "scan", copy.address, "-u", "labaudit",
            "--identity", "printer=labscan", "--identity", "device=labdevice", "--identity", "staff=labuser",
            "--no-crawl", "--no-history", "--active-write-probe", "--data-dir", str(scratch / "data"),
            "--json", str(probed), env=env,
        )  # fmt: skip
        result.probe_changes = [
            d
            for d in differences(before, fingerprint(copy.instance.shares))
            if not d.startswith("changed mtime:")  # a created and deleted probe file touches the root
        ]
        if result.probe_changes or not probed.exists():
            result.problem = (
                f"the probe changed the copy or failed (exit {scan.code}): {result.probe_changes}"
            )
            return result
        host = json.loads(probed.read_text())["hosts"][0]
        result.probed = {s["name"]: s["access"] for s in host["shares"] if s["type"] == "disk"}
        before = fingerprint(copy.instance.shares)

        started = time.monotonic()
        baseline = before
        for index, who in enumerate(whos):
            if index and copies.copy is None:
                copy = copies.fresh(f"{who.label}: the previous identity changed a root")
                client = Client(copy.address, client_conf)
                plant_victims(client, shares_of(copy), labels, scratch)
                baseline = fingerprint(copy.instance.shares)
            tree = shares_of(copy)
            with ThreadPoolExecutor(max_workers=4) as pool:
                jobs = {s: pool.submit(do_rights, client, copy, who, s, r, scratch) for s, r in tree.items()}
                for share, job in jobs.items():
                    for right, outcome in job.result().items():
                        result.real[(who.label, share, right)] = outcome
            # The next identity may reuse this copy only if nothing but this identity's own new file and
            # victim changed (root modification times aside): otherwise a fresh copy.
            own = {
                str((r / n).relative_to(copy.instance.shares))
                for r in tree.values()
                for n in (new_file(who.label), victim(who.label))
            }
            roots = {str(r.relative_to(copy.instance.shares)) for r in tree.values()}
            now = fingerprint(copy.instance.shares)
            left = [
                d
                for d in differences(baseline, now)
                if d.split(": ", 1)[1] not in own
                and not (d.startswith("changed mtime:") and d.split(": ", 1)[1] in roots)
            ]
            if left:
                copies.discard()
            else:
                baseline = now
        result.timings["rights"] = time.monotonic() - started
    except lab.LabError as exc:
        result.problem = f"a copy could not be started: {exc}"
    except (AssertionError, OSError) as exc:  # the other personalities still report
        result.problem = f"{type(exc).__name__}: {exc}"
    finally:
        copies.discard()
        result.timings["total"] = time.monotonic() - began
    return result


def shares_of(copy: lab.Copy) -> dict[str, Path]:
    return disk_shares(copy.instance.conf)


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Result]]:
    """Every personality measured, two at a time (the machine has two cores)."""
    scratch = tmp_path_factory.mktemp("truth")
    scratch.chmod(0o755)
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {p.name: pool.submit(measure, p, scratch / p.name) for p in PERSONALITIES}
        results = {name: job.result() for name, job in jobs.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    for name, result in results.items():
        (ARTIFACTS / f"truth-{name}.txt").write_text(result.table() + "\n")
    print(f"\nground truth of {len(results)} personalities in {time.monotonic() - began:.1f} s")
    yield results


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
def test_scan_changes_nothing(truth: dict[str, Result], personality: Personality) -> None:
    result = truth[personality.name]
    assert result.scan_code is not None, result.problem
    assert result.scan_changes == []
    assert result.scan_code == 0, result.scan_text[-3000:]


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
def test_every_claim_is_true(truth: dict[str, Result], personality: Personality) -> None:
    result = truth[personality.name]
    print(result.table())
    assert result.problem is None
    assert set(result.access) == result.configured  # every disk share the server has was measured
    labels = [w.label for w in identities(personality)]
    pairs = {(label, share) for label in labels for share in result.configured}
    assert {(label, share) for label, share, _ in result.real} == pairs  # every identity on every share
    assert result.false_claims() == []
    assert result.misses() == []


@pytest.mark.parametrize("personality", PERSONALITIES, ids=lambda p: p.name)
def test_the_probes_measure_what_is_real(truth: dict[str, Result], personality: Personality) -> None:
    """--active-write-probe: each right it marks `measured` is what the identity really does."""
    result = truth[personality.name]
    assert result.problem is None and result.probe_changes == []
    measured, wrong = 0, []
    for (label, share, right), outcome in sorted(result.real.items()):
        access = result.probed.get(share, {}).get(label, {})
        if (access.get("basis") or {}).get(right) != "measured":
            continue
        measured += 1
        if (access.get(right) is True) != outcome.real:
            wrong.append(f"{label} {share} {right}: measured {access.get(right)}, real {outcome.real}")
    assert wrong == []
    # Every identity that can open a share's root has its write measured.
    opened = [a for accesses in result.probed.values() for a in accesses.values() if a.get("root_mask")]
    assert measured >= len(opened) > 0


def test_an_unchanged_dacl_is_no_no_op_on_a_posix_mapped_folder(tmp_path: Path) -> None:
    """Why the probe does not confirm change-permissions by writing the root's DACL back unchanged.

    Even its owner, setting the exact DACL it read, changes a POSIX-mapped folder: Samba writes a POSIX
    ACL (an xattr) and may change the mode. A probe doing it could not clean up after itself.
    """
    labposix = next(p for p in PERSONALITIES if p.name == "labposix")
    conf = tmp_path / "client.conf"
    conf.write_text("[global]\n    client min protocol = SMB2_02\n")
    with lab.throwaway(labposix, ADDRESSES[labposix.name][-1]) as copy:
        client = Client(copy.address, conf)
        owner = ("labuser", PASSWORDS["labuser"])
        root = shares_of(copy)["home_labuser"]
        before = root_permissions(root)
        current = client.smbcacls("home_labuser", owner)
        assert current.ok, current.text
        dacl = ",".join(
            line.removeprefix("ACL:") for line in current.text.splitlines() if line.startswith("ACL:")
        )
        assert client.smbcacls("home_labuser", owner, "--set", "ACL:" + dacl.replace(",", ",ACL:")).ok
        assert root_permissions(root) != before
