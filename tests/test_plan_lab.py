"""The fix plan's claims done for real: apply the Samba remediation of its actions to a throwaway copy of
labnas, scan again, and check that every finding an applied action claims to close is gone and that
nothing new appeared.

The copy (tests/lab/lab.py `throwaway`: its own directory and loopback address) is scanned as the audit
account, the over-privileged printer account and the confined device account. From the plan in the JSON,
every action whose kind has a Samba fix this test knows how to apply is applied, each after checking that
the action's own Samba steps say that very setting (so the test applies what the report tells an admin,
not something else):

- guest-fallback-off:      [global] map to guest = Never
- null-session-off:        [global] restrict anonymous = 2
- restrict-medical-share:  [share] guest ok = no, valid users = the clinical group (@labstaff) and the
                           audit account (an auditor keeps reading it)
- close-share:             [share] guest ok = no (printer queues: the [printers] section they come from)

then smbd reloads its configuration and the copy is scanned again. The only finding allowed to appear is
the one the plan announces in `afterwards`: medical data that now sits behind a proper account is listed
as inventory (medical-data-inventory, info) on the shares that were restricted. The shared lab is never
written to.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import lab
import pytest
from clirun import shareaudit
from labdata import COPY_ADDRESSES, LABACL, LABNAS, PASSWORDS, Personality

pytestmark = [pytest.mark.usefixtures("lab"), pytest.mark.timeout(300)]
LAB = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.16")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# Taken from the end of the copy range (tests/test_truth_lab.py cycles from the start), first free one.
CANDIDATES = tuple(reversed(COPY_ADDRESSES[-8:]))
CLINICAL = "@labstaff labaudit"
APPLIED = ("guest-fallback-off", "null-session-off", "restrict-medical-share", "close-share")


def free_address() -> str:
    for address in CANDIDATES:
        if not lab.port_open(address, timeout=0.1):
            return address
    pytest.fail(f"no free throwaway address among {', '.join(CANDIDATES)}")


def scan(targets: tuple[str, ...], tmp: Path, name: str, *extra: str) -> dict[str, Any]:
    env = {
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
        "SHAREAUDIT_PASSWORD_DEVICE": PASSWORDS["labdevice"],
        "PATH": "/usr/bin:/bin",
    }
    out = tmp / f"{name}.json"
    run = shareaudit(
        "scan", *targets, "-u", "labaudit", "--identity", "printer=labscan", "--identity", "device=labdevice",
        "--no-history", "--data-dir", str(tmp / "data"), "--json", str(out), "-q", *(extra or ("--protocols", "smb")),
        env=env,
    )  # fmt: skip
    assert run.code in (0, 1, 3), run.text
    assert "Traceback" not in run.text
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def set_option(conf: Path, section: str, key: str, value: str) -> None:
    """Set `key = value` in one section of smb.conf: the existing line replaced, or a new one added."""
    lines = conf.read_text().splitlines()
    header = f"[{section}]"
    start = next(n for n, line in enumerate(lines) if line.strip() == header)
    end = next((n for n in range(start + 1, len(lines)) if lines[n].strip().startswith("[")), len(lines))
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=", re.IGNORECASE)
    for n in range(start + 1, end):
        if pattern.match(lines[n]):
            lines[n] = f"    {key} = {value}"
            break
    else:
        lines.insert(start + 1, f"    {key} = {value}")
    conf.write_text("\n".join(lines) + "\n")


def samba_steps(action: dict[str, Any]) -> str:
    steps = action["steps"].get("samba")
    assert steps, f"{action['title']}: no Samba steps"
    return "\n".join(steps)


def apply(action: dict[str, Any], copy: lab.Copy, printers: set[str]) -> list[str]:
    """Apply one action's Samba fix to the copy (its smb.conf, or the root ACL over SMB as the administrator);
    the settings changed, as lines for the record. Each is checked against the action's own Samba steps."""
    steps, kind, share, conf = samba_steps(action), action["kind"], action["share"], copy.instance.conf
    if kind == "guest-fallback-off":
        assert "map to guest = Never" in steps, steps
        set_option(conf, "global", "map to guest", "Never")
        return ["[global] map to guest = Never"]
    if kind == "null-session-off":
        assert "restrict anonymous = 2" in steps, steps
        set_option(conf, "global", "restrict anonymous", "2")
        return ["[global] restrict anonymous = 2"]
    if kind == "guest-account-off":
        assert "If a username map line maps Guest to a real account, remove it" in steps, steps
        usermap = copy.instance.state / "labacl.usermap"
        usermap.write_text(
            "".join(line for line in usermap.read_text().splitlines(True) if "Guest" not in line)
        )
        return ["labacl.usermap: the line mapping Guest to labguest removed"]
    if kind == "remove-broad-acl":
        return remove_broad_aces(action, copy, steps)
    section = "printers" if share in printers else share
    assert f"[{share}]" in steps, steps
    assert "guest ok = no" in steps, steps
    set_option(conf, section, "guest ok", "no")
    if kind == "restrict-medical-share":
        assert "valid users = @" in steps, steps
        set_option(conf, section, "valid users", CLINICAL)
        return [f"[{section}] guest ok = no", f"[{section}] valid users = {CLINICAL}"]
    return [f"[{section}] guest ok = no"]


def remove_broad_aces(action: dict[str, Any], copy: lab.Copy, steps: str) -> list[str]:
    """smbcacls --delete of the broad trustee's entries on the share root, as the steps say ('exactly as listed')."""
    share, conf = action["share"], str(copy.instance.conf)
    admin = ["-U", f"labadmin%{PASSWORDS['labadmin']}", "-s", conf]
    unc = f"//{copy.address}/{share}"
    listed = subprocess.run(["smbcacls", unc, "/", *admin, "--numeric"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    done = []
    for sid in re.findall(r"--delete 'ACL:(S-1-[\d-]+):ALLOWED", steps):
        for entry in re.findall(rf"^ACL:{re.escape(sid)}:[^\n]+$", listed.stdout, re.MULTILINE):
            removed = subprocess.run(
                ["smbcacls", unc, "/", *admin, "--numeric", "--delete", entry], capture_output=True, text=True
            )
            assert removed.returncode == 0, removed.stdout + removed.stderr
            done.append(f"{share}: smbcacls --delete '{entry}'")
    assert done, (steps, listed.stdout)
    return done


def announced(finding: dict[str, Any], applied: list[dict[str, Any]], before: list[dict[str, Any]]) -> bool:
    """A new finding the applied actions said would come (their `afterwards`), and no worse than before.

    - medical-data-inventory (info) on a share that was restricted: the data behind a proper account;
    - credentials-readable on a share whose walker was shut out, for a file found before (same path), no
      more severe: the same file seen by the next walker (its fingerprint holds the walker).
    """
    rank = ("critical", "high", "medium", "low", "info").index
    for action in applied:
        note = action["afterwards"] or ""
        restricted = action["kind"] == "restrict-medical-share" and "medical-data-inventory" in note
        if restricted and finding["rule"] == "medical-data-inventory" and finding["share"] == action["share"]:
            return finding["severity"] == "info"
        if (
            finding["rule"] == "credentials-readable"
            and f"holding credentials on {finding['share']} stay" in note
        ):
            earlier = [
                f for f in before
                if f["rule"] == finding["rule"] and f["share"] == finding["share"] and f["path"] == finding["path"]
            ]  # fmt: skip
            if earlier and all(rank(finding["severity"]) >= rank(f["severity"]) for f in earlier):
                return True
    return False


def check_plan(personality: Personality, applied: tuple[str, ...], tmp_path: Path) -> list[dict[str, Any]]:
    """Scan a throwaway copy, apply the plan's actions of these kinds, scan again, compare; the actions applied."""
    with lab.throwaway(personality, free_address()) as copy:
        before = scan((copy.address,), tmp_path, "before")
        actions = before["actions"]
        assert actions and [a["rank"] for a in actions] == list(range(1, len(actions) + 1))
        # Each active finding that is not informational belongs to exactly one action.
        owned = [fid for a in actions for fid in a["findings"]]
        active = [f["id"] for f in before["findings"] if f["severity"] != "info" and not f["suppressed"]]
        assert sorted(owned) == sorted(active)
        printers = {s["name"] for h in before["hosts"] for s in h["shares"] if s["type"] == "printer"}
        chosen = [a for a in actions if a["kind"] in applied]
        assert len({a["kind"] for a in chosen}) >= 2, [a["kind"] for a in actions]
        ids = {a["id"] for a in chosen}
        for action in chosen:  # an action that relies on an earlier one is applied with it
            assert set(action["after"]) <= ids, action["title"]
        record = [f"{a['rank']:3} {a['title']}: {', '.join(apply(a, copy, printers))}" for a in chosen]
        reload = subprocess.run(
            ["smbcontrol", "-s", str(copy.instance.conf), "smbd", "reload-config"],
            capture_output=True,
            text=True,
        )
        assert reload.returncode == 0, reload.stderr
        # smbd applies a reload to new connections; every scan connection is new.
        after = scan((copy.address,), tmp_path, "after")
    now = {f["id"]: f for f in after["findings"]}
    was = {f["id"] for f in before["findings"]}
    lines = []
    for action in chosen:
        left = [fid for fid in action["findings"] if fid in now]
        lines.append(f"{action['title']}: {len(action['findings'])} claimed, {len(left)} still there")
        assert not left, (
            action["title"],
            [(now[f]["rule"], now[f]["share"], now[f]["identity"]) for f in left],
        )
    new = [f for fid, f in now.items() if fid not in was]
    unexpected = [f for f in new if not announced(f, chosen, before["findings"])]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"plan-lab-{personality.name}.txt").write_text(
        "applied:\n" + "\n".join(record) + "\n\nresult:\n" + "\n".join(lines)
        + f"\n\nfindings before {len(was)}, after {len(now)}, new {len(new)} "
        + f"({', '.join(sorted(f['rule'] + ':' + (f['share'] or '') for f in new))})\n"
    )  # fmt: skip
    assert unexpected == [], [(f["rule"], f["share"], f["identity"]) for f in unexpected]
    return chosen


def test_applied_actions_close_what_they_claim_and_nothing_new_appears(tmp_path: Path) -> None:
    """labnas: guest fallback, the null session, shares open to guest, shares holding medical data."""
    chosen = check_plan(LABNAS, APPLIED, tmp_path)
    assert {a["kind"] for a in chosen} == set(APPLIED)
    assert sum(len(a["findings"]) for a in chosen) >= 8


def test_the_plan_of_an_nt_acl_server_holds_too(tmp_path: Path) -> None:
    """labacl: a real Guest account, broad ACEs in NT ACLs, a share holding medical data."""
    kinds = ("guest-account-off", "remove-broad-acl", "restrict-medical-share")
    chosen = check_plan(LABACL, kinds, tmp_path)
    assert {a["kind"] for a in chosen} == set(kinds)


@pytest.mark.usefixtures("dicomlab")
def test_the_lab_report_opens_on_the_answers_the_plan_and_the_door_maps(tmp_path: Path) -> None:
    """The whole lab (four Samba personalities, the DICOM lab on labnas and labfs), read-only, as HTML."""
    from chromium import Chromium

    report = tmp_path / "report.html"
    data = scan(LAB, tmp_path, "lab", "--html", str(report))
    with Chromium(tmp_path / "profile", width=1366, height=768) as browser:
        browser.open(report)
        browser.settle(0.3)
        shape = browser.evaluate(
            "(() => ({ panels: [...document.querySelectorAll('#overview .panel')].map(p => p.getBoundingClientRect().bottom),"
            " sections: [...document.querySelectorAll('main > section')].map(s => s.id),"
            " first: [...document.querySelectorAll('ol.first a')].map(a => a.getAttribute('href')),"
            " reach: document.querySelector('ul.reach').textContent,"
            " maps: document.querySelectorAll('svg.doormap-svg').length,"
            " wide: document.documentElement.scrollWidth }))()"
        )
        browser.screenshot(ARTIFACTS / "lab-report-first-screen.png", full_page=False)
        browser.evaluate(
            "document.querySelectorAll('.mapbox').forEach(e => e.style.contentVisibility = 'visible');"
            " document.querySelector('#doors').scrollIntoView()"
        )
        browser.settle(0.3)
        browser.screenshot(ARTIFACTS / "lab-report-doormap.png", full_page=False)
        browser.evaluate("document.querySelector('#plan').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "lab-report-plan.png", full_page=False)
        problems = browser.report.problems
    assert problems == []
    assert shape["sections"][:4] == ["overview", "plan", "estate", "doors"]
    assert len(shape["panels"]) == 3 and max(shape["panels"]) <= 768 and shape["wide"] <= 1366
    assert shape["first"] == [f"#action-{a['id']}" for a in data["actions"][:3]]
    # labnas: its DICOM port answers any AE title; public and pacs$ hold medical data anyone reads.
    assert "port 11112" in shape["reach"] and "pacs$" in shape["reach"] and "anonymous" in shape["reach"]
    answered = [h for h in data["hosts"] if h["posture"] or any(s["reachable"] for s in h["services"])]
    assert shape["maps"] == len(answered) and answered  # a host the load made time out has no map
    assert data["actions"][0]["medical"] > 0 and data["actions"][0]["widest"] == "anonymous"
