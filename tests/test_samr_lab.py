"""Local accounts and the password policy over SAMR, against the lab, through the real command line.

Measured in this lab (Samba, tdbsam, the account policy at Samba's defaults on every personality):
- labnas (restrict anonymous = 0): the null session lists the five accounts and reads the policy;
- labfs (restrict anonymous = 2, no guest): nothing to anonymous or guest; the audit account reads the policy;
- labacl (restrict anonymous = 1): the null session opens IPC$ but SamrConnect is refused; the named
  Guest account (mapped to the real account labguest) lists the six accounts and reads the policy.
The policy is Samba's default everywhere: minimum length 5, no history, no expiry, no complexity,
lockout threshold 0 (duration and window 30 minutes, unused).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clirun import Run, shareaudit
from labdata import LABACL, LABFS, LABNAS, PASSWORDS, USERS

pytestmark = pytest.mark.usefixtures("lab")

HOSTS = (LABNAS.address, LABFS.address, LABACL.address)
NAS, FS, ACL = HOSTS
RULES = ("local-accounts-disclosed", "no-lockout-policy", "weak-password-policy")
LOCAL = sorted(u.name for u in USERS if u.name != "labguest")  # labguest exists on labacl only
SAMBA_DEFAULTS = {
    "min_length": 5,
    "history": 0,
    "max_age_days": None,
    "complexity": False,
    "lockout_threshold": 0,
    "lockout_duration_min": 30,
    "lockout_window_min": 30,
}


def _env(tmp: Path, audit: bool = True) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
        "SHAREAUDIT_DATA_DIR": str(tmp / "data"),
    }
    if audit:
        env["SHAREAUDIT_PASSWORD"] = PASSWORDS["labaudit"]
    return env


def _scan(tmp: Path, audit: bool = True) -> tuple[Run, Path]:
    out = tmp / "out"
    user = ("-u", "labaudit") if audit else ()
    run = shareaudit(
        "-v", "scan", *HOSTS, *user, "--identity", "printer=labscan", "-o", str(out), env=_env(tmp, audit)
    )
    return run, out


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The three lab servers with the audit account and a printer account."""
    return _scan(tmp_path_factory.mktemp("samr"))


@pytest.fixture(scope="module")
def unaudited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The same without the audit account: only what anyone (and the printer) is told."""
    return _scan(tmp_path_factory.mktemp("samr-noaudit"), audit=False)


def _scan_json(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "scan.json").read_text())
    return data


def _postures(out: Path) -> dict[str, dict[str, Any]]:
    return {h["address"]: h["posture"] for h in _scan_json(out)["hosts"]}


def _ours(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["host"], f["rule"]): f for f in _scan_json(out)["findings"] if f["rule"] in RULES}


def test_the_scan_succeeds(audited: tuple[Run, Path]) -> None:
    run, _ = audited
    assert run.code == 0, run.text
    assert "reading local accounts and the password policy (SAMR)" in run.err


def test_labnas_tells_the_null_session_its_accounts_and_policy(audited: tuple[Run, Path]) -> None:
    posture = _postures(audited[1])[NAS]
    accounts = posture["accounts"]
    assert (accounts["disclosed_to"], accounts["domain"], accounts["error"]) == ("anonymous", "LABNAS", None)
    assert sorted(accounts["names"]) == LOCAL
    assert (accounts["total"], accounts["truncated"]) == (len(LOCAL), False)
    assert posture["password_policy"] == {"read_as": "anonymous", **SAMBA_DEFAULTS}


def test_labfs_tells_nobody_and_only_the_audit_account_reads_the_policy(audited: tuple[Run, Path]) -> None:
    posture = _postures(audited[1])[FS]
    assert posture["accounts"] == {
        "disclosed_to": None,
        "names": [],
        "total": 0,
        "truncated": False,
        "domain": None,
        "error": "not asked: the null session cannot open IPC$ and guest cannot log on",
    }
    assert posture["password_policy"] == {"read_as": "audit", **SAMBA_DEFAULTS}


def test_labacl_refuses_the_null_session_and_tells_its_guest_account(audited: tuple[Run, Path]) -> None:
    posture = _postures(audited[1])[ACL]
    assert posture["null_session"] is True  # IPC$ opens, but SAMR says no (restrict anonymous = 1)
    accounts = posture["accounts"]
    assert (accounts["disclosed_to"], accounts["domain"], accounts["error"]) == ("guest", "LABACL", None)
    assert sorted(accounts["names"]) == sorted([*LOCAL, "labguest"])
    assert posture["password_policy"] == {"read_as": "guest", **SAMBA_DEFAULTS}


def test_the_findings_fire_on_labnas_and_labacl_with_their_severity(audited: tuple[Run, Path]) -> None:
    found = {key: f["severity"] for key, f in _ours(audited[1]).items()}
    assert found == {
        (NAS, "local-accounts-disclosed"): "high",  # labscan, the printer account, is among them
        (NAS, "no-lockout-policy"): "medium",
        (NAS, "weak-password-policy"): "low",
        (ACL, "local-accounts-disclosed"): "high",
        (ACL, "no-lockout-policy"): "medium",
        (ACL, "weak-password-policy"): "low",
        # labfs discloses nothing; its (default) policy is known to the audit account only.
        (FS, "no-lockout-policy"): "low",
        (FS, "weak-password-policy"): "low",
    }
    ours = _ours(audited[1])
    evidence = ours[(NAS, "local-accounts-disclosed")]["evidence"]
    assert evidence.startswith(
        "SamrEnumerateUsersInDomain as the null session listed 5 local accounts of LABNAS: "
    )
    assert "labscan (printer): the password-spraying target" in evidence
    assert "as the audit account" in ours[(FS, "no-lockout-policy")]["evidence"]
    assert "anyone on the network can read it" in ours[(NAS, "no-lockout-policy")]["evidence"]


def test_without_the_audit_account_labfs_discloses_nothing_at_all(unaudited: tuple[Run, Path]) -> None:
    run, out = unaudited
    assert run.code == 0, run.text
    postures = _postures(out)
    assert postures[FS]["accounts"]["disclosed_to"] is None
    assert postures[FS]["password_policy"] is None
    assert postures[NAS]["password_policy"] == {"read_as": "anonymous", **SAMBA_DEFAULTS}
    assert not [key for key in _ours(out) if key[0] == FS]
    assert (NAS, "local-accounts-disclosed") in _ours(out)


def test_no_password_appears_in_any_output(audited: tuple[Run, Path], unaudited: tuple[Run, Path]) -> None:
    secrets = [password for password in PASSWORDS.values() if password]
    for run, out in (audited, unaudited):
        outputs = run.text + "".join(p.read_text(encoding="utf-8-sig") for p in sorted(out.iterdir()))
        assert sorted(p.name for p in out.iterdir()) == ["findings.csv", "report.html", "scan.json"]
        for password in secrets:
            assert password not in outputs
