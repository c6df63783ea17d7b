"""The device rules (shareaudit/rules/device.py) and the checklist read from their findings, both ways."""

from __future__ import annotations

from dataclasses import replace

from synthetic import FULL, READ, WRITE, content, host, posture, result, share

from shareaudit.audit.device import checks
from shareaudit.model import ScanResult
from shareaudit.rules import evaluate

SCANNER = "scanner"
CONFINED = replace(WRITE, delete=False, read=False, list=False)


def _checked(*hosts: object, drop: str | None = "scaninbox") -> ScanResult:
    scan = result(
        *hosts,  # type: ignore[arg-type]
        labels=("audit", "anonymous", "guest", SCANNER),
        options={"device": SCANNER, "drop_share": drop},
    )
    return replace(scan, findings=evaluate(scan))


def _rules(scan: ScanResult) -> set[str]:
    return {f.rule for f in scan.findings if f.rule.startswith("device-")}


def test_a_confined_device_passes_every_check() -> None:
    scan = _checked(host(shares=[share("scaninbox", {SCANNER: CONFINED, "audit": FULL})]))
    assert _rules(scan) == set()
    listed = checks(scan)
    assert [c.passed for c in listed] == [True, True, True, True]


def test_rules_stay_quiet_without_a_device() -> None:
    scan = result(host(shares=[share("data", {"scanner": READ})], posture_=posture(smb1=True)))
    scan = replace(scan, findings=evaluate(scan))
    assert _rules(scan) == set()
    assert checks(scan) == []


def test_reaching_medical_data_beyond_the_drop_is_critical() -> None:
    images = share("images", {SCANNER: READ}, content=content({"dicom": 9}))
    other = share("public", {SCANNER: READ})
    scan = _checked(host(shares=[share("scaninbox", {SCANNER: CONFINED}), images, other]))
    beyond = {f.share: f for f in scan.findings if f.rule == "device-beyond-drop"}
    assert beyond["images"].severity == "critical" and "9 files: dicom" in beyond["images"].evidence
    assert beyond["public"].severity == "high"
    failed = next(c for c in checks(scan) if c.name.startswith("reaches"))
    assert not failed.passed and len(failed.reasons) == 2


def test_server_posture_lists_each_door() -> None:
    scan = _checked(
        host(
            shares=[share("scaninbox", {SCANNER: CONFINED})],
            posture_=posture(smb1=True, signing=False, guest=True, fallback=True),
        )
    )
    found = [f for f in scan.findings if f.rule == "device-server-posture"]
    # Guest with an empty password was the fallback itself here: three doors, not four.
    assert len(found) == 3 and len({f.id for f in found}) == 3
    assert not any("Guest" in f.evidence for f in found)
    real_guest = _checked(
        host(shares=[share("scaninbox", {SCANNER: CONFINED})], posture_=posture(guest=True, fallback=False))
    )
    assert [f.evidence for f in real_guest.findings if f.rule == "device-server-posture"] == [
        "the server accepts an account named Guest with an empty password"
    ]


def test_drop_folder_readable_by_guest_and_rights_beyond_adding() -> None:
    drop = share("scaninbox", {SCANNER: FULL, "guest": READ})
    scan = _checked(host(shares=[drop]))
    assert {"device-drop-readable", "device-drop-rights"} <= _rules(scan)
    rights = next(c for c in checks(scan) if c.name.startswith("device may only add"))
    assert not rights.passed
    assert any("delete" in r for r in rights.reasons) and any("ownership" in r for r in rights.reasons)


def test_missing_drop_folder_replaces_the_drop_checks() -> None:
    scan = _checked(host(shares=[share("public", {})]), drop="scaninbox")
    assert "device-drop-missing" in _rules(scan)
    names = [c.name for c in checks(scan)]
    assert "drop folder scaninbox exists" in names
    assert not any(n.startswith("drop folder readable") for n in names)


def test_a_host_that_was_not_scanned_fails_its_line() -> None:
    down = replace(host(), reachable=False, posture=None, error="connection refused", error_kind="refused")
    listed = checks(_checked(down))
    assert [(c.name, c.passed) for c in listed] == [("host scanned", False)]
