"""Exit codes: `exit_code` (shareaudit/cli/report.py) over results built in code, and usage errors of the
real command line (exit 2 before anything is scanned)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic import host, result

from shareaudit.cli.app import main
from shareaudit.cli.report import EXIT_FINDINGS, EXIT_OK, EXIT_TARGETS_FAILED, exit_code
from shareaudit.model import Finding, HostResult, Suppression

CLEAN = host()
FAILED = HostResult(
    target="nas02", address="10.0.0.6", port=445, reachable=False, error="x", error_kind="refused"
)
ACCEPTED = Suppression("firmware update", "pacs-admins", "2027-01-31")


def finding(severity: str, suppressed: Suppression | None = None) -> Finding:
    return Finding(id=severity, rule="r", severity=severity, title="t", host="nas01", suppressed=suppressed)


@pytest.mark.parametrize(
    ("severities", "fail_on", "code"),
    [
        ((), None, EXIT_OK),
        ((), "info", EXIT_OK),
        (("critical",), None, EXIT_OK),  # without --fail-on, findings never fail a run
        (("high",), "critical", EXIT_OK),
        (("high",), "high", EXIT_FINDINGS),
        (("high",), "medium", EXIT_FINDINGS),
        (("info",), "info", EXIT_FINDINGS),
        (("low", "info"), "medium", EXIT_OK),
        (("low", "critical"), "HIGH", EXIT_FINDINGS),  # case-insensitive, as the option is
    ],
)
def test_fail_on_threshold(severities: tuple[str, ...], fail_on: str | None, code: int) -> None:
    scan = result(CLEAN, findings=tuple(finding(s) for s in severities))
    assert exit_code(scan, fail_on) == code


def test_accepted_risks_never_fail_a_run() -> None:
    scan = result(CLEAN, findings=(finding("critical", ACCEPTED), finding("low")))
    assert exit_code(scan, "high") == EXIT_OK
    assert exit_code(scan, "low") == EXIT_FINDINGS


def test_a_failed_or_skipped_target_is_3_and_findings_win() -> None:
    failed = result(CLEAN, FAILED)
    assert exit_code(failed, None) == EXIT_TARGETS_FAILED
    assert exit_code(failed, "critical") == EXIT_TARGETS_FAILED
    skipped = result(CLEAN, input_problems=("hosts.txt:3: '999.1.1.1': not a valid IPv4 address",))
    assert exit_code(skipped, None) == EXIT_TARGETS_FAILED
    judged = replace(failed, findings=(finding("high"),))
    assert exit_code(judged, "high") == EXIT_FINDINGS  # 1 wins over 3
    assert exit_code(judged, "critical") == EXIT_TARGETS_FAILED


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "--no-such-option", "127.0.0.1"),
        ("scan", "127.0.0.1", "--fail-on", "severe"),
        ("scan", "127.0.0.1", "--timeout", "soon"),
        ("no-such-command",),
        ("report",),  # a missing argument
        ("history", "--limit", "0"),
    ],
)
def test_a_bad_option_exits_2_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHAREAUDIT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["shareaudit", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code == 2, err
    assert "Error:" in err and "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []  # nothing was scanned or written


def test_python_m_shareaudit_exits_2_for_a_bad_option(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shareaudit", "scan", "--no-such-option", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "SHAREAUDIT_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "No such option '--no-such-option'" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
