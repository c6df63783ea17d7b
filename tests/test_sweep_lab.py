"""The discovery sweep and the journal against a real range that drops SYNs and a real Samba.

The `dropnet` fixture (tests/conftest.py, tests/lab/dropnet.py) makes two network namespaces of our
own: in the scanner's, 198.18.0.0/23 is routed to a namespace that discards every packet (what a
firewall that drops does), and a throwaway copy of labnas listens on 127.0.0.40 (that namespace's own
loopback). The scan runs inside with `ip netns exec`.

What is proved: every silent address is reported (`target-not-scanned`, "silent: ...", each port a
timeout), all their connects were in flight at once (the sweep's concurrency covers every probe: one
wave, one timeout), labnas is scanned as fully as without the sweep; a scan killed with SIGKILL leaves
a journal holding every host finished before the kill, from which `shareaudit report` rebuilds a valid
document that reports the targets never reached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labdata import PASSWORDS

from shareaudit import scanfile

NAS = "127.0.0.40"  # the labnas copy, inside the namespace
SILENT = 256
DICOM_PORTS = (104, 11112, 4242)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"], "COLUMNS": "160"}


def _targets(tmp_path: Path, net: Any, silent: int) -> Path:
    listed = tmp_path / "targets.txt"
    listed.write_text("\n".join([NAS, *net.addresses(silent + 1)[1:]]) + "\n")  # skip 198.18.0.0 itself
    return listed


def _scan(net: Any, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*net.prefix(), sys.executable, "-m", "shareaudit", "scan", "-u", "labaudit", "--no-history"]
    command += ["--protocols", "smb,dicom"]  # the doors these tests count: 445 and the three DICOM ports
    return subprocess.run(
        [*command, "--data-dir", str(tmp_path / "data"), *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _facts(host: dict[str, Any]) -> dict[str, Any]:
    """What a scan found on a host, without the times and the random probe names that differ per run."""
    return {
        "posture": {k: v for k, v in (host["posture"] or {}).items() if k != "sessions"},
        "sessions": {
            name: {k: v for k, v in probe.items() if k != "username"}  # the fallback probe's name is random
            for name, probe in (host["posture"] or {}).get("sessions", {}).items()
        },
        "shares": [
            (
                s["name"],
                s["type"],
                sorted(s["access"].items(), key=str),
                (s["content"] or {}).get("files_seen"),
                (s["content"] or {}).get("medical"),
            )
            for s in host["shares"]
        ],
        "services": [(s["protocol"], s["port"], s["reachable"], s["error_kind"]) for s in host["services"]],
    }


def test_silent_addresses_cost_one_timeout_together_and_labnas_is_scanned_fully(
    dropnet: Any, tmp_path: Path
) -> None:
    out = tmp_path / "scan.json"
    run = _scan(
        dropnet, tmp_path, f"@{_targets(tmp_path, dropnet, SILENT)}", "--timeout", "3", "--json", str(out)
    )
    assert run.returncode == 3, run.stderr  # the silent addresses are targets that were not scanned
    assert "Traceback" not in run.stderr
    result = json.loads(out.read_text())
    hosts = {h["target"]: h for h in result["hosts"]}
    assert len(hosts) == SILENT + 1
    silent = [h for target, h in hosts.items() if target != NAS]
    assert len(silent) == SILENT
    for host in silent:
        assert (host["reachable"], host["error_kind"], host["posture"]) == (False, "timeout", None)
        assert host["error"] == (
            "silent: no answer to a connection within 3 s (no host there, or a firewall drops the connection)"
        )
        assert [(s["protocol"], s["port"], s["error_kind"]) for s in host["services"]] == [
            ("dicom", port, "timeout") for port in DICOM_PORTS
        ]
    # One wave: the sweep had room for every connect at once (4 ports per target), so no silent address
    # waited for another's timeout.
    assert result["options"]["sweep"]["concurrency"] >= (SILENT + 1) * 4
    not_scanned = [f["host"] for f in result["findings"] if f["rule"] == "target-not-scanned"]
    assert sorted(not_scanned) == sorted(h["target"] for h in silent)
    assert all(
        "silent: no answer" in f["evidence"] for f in result["findings"] if f["rule"] == "target-not-scanned"
    )
    # labnas, found among them, is scanned deeply: the same facts as a scan of it alone without the sweep.
    nas = hosts[NAS]
    assert nas["error"] is None and nas["posture"]["smb1"] is True
    assert any(s["content"] and s["content"]["files_seen"] for s in nas["shares"])
    alone = tmp_path / "alone.json"
    without = _scan(dropnet, tmp_path, NAS, "--no-sweep", "--timeout", "3", "--json", str(alone))
    assert without.returncode in (0, 1), without.stderr
    reference = json.loads(alone.read_text())["hosts"][0]
    assert _facts(nas) == _facts(reference)
    # The journal served and is gone; the document is a valid scan result.
    assert not out.with_name("scan.json.journal").exists()
    assert len(scanfile.read(out).hosts) == SILENT + 1


def test_a_killed_scan_leaves_a_journal_that_rebuilds_the_document(dropnet: Any, tmp_path: Path) -> None:
    out = tmp_path / "scan.json"
    journal = out.with_name("scan.json.journal")
    silent = 64
    command = [
        *dropnet.prefix(),
        sys.executable,
        "-m",
        "shareaudit",
        "scan",
        "-u",
        "labaudit",
        "--no-history",
    ]
    proc = subprocess.Popen(
        [
            *command,
            "--data-dir",
            str(tmp_path / "data"),
            f"@{_targets(tmp_path, dropnet, silent)}",
            "--timeout",
            "60",  # the silent addresses hold the run; labnas is done long before
            "--json",
            str(out),
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    lines: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None and len(lines) < 2:
        lines = journal.read_text().splitlines() if journal.exists() else []
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert len(lines) >= 2, f"labnas never reached the journal (exit {proc.returncode})"
    assert not out.exists()  # killed: the document was never assembled
    # Every host finished before the kill is in the journal, whole: labnas alone (the others wait 60 s).
    entries = [json.loads(line) for line in journal.read_text().splitlines()[1:]]
    assert [e["host"]["target"] for e in entries] == [NAS]
    assert entries[0]["host"]["error"] is None and entries[0]["host"]["shares"]
    # `shareaudit report JOURNAL --json` rebuilds a valid document: labnas as gathered, the rest not scanned.
    rebuilt = tmp_path / "rebuilt.json"
    report = subprocess.run(
        [sys.executable, "-m", "shareaudit", "report", str(journal), "--json", str(rebuilt), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 3, report.stderr  # targets never reached: an incomplete run
    result = scanfile.read(rebuilt)
    assert [h.target for h in result.hosts] == [NAS]
    assert scanfile.unstructure(result.hosts[0]) == entries[0]["host"]
    unscanned = result.options["unscanned_targets"]
    assert isinstance(unscanned, list) and len(unscanned) == silent
    assert sum(1 for f in result.findings if f.rule == "target-not-scanned") == silent
    assert result.options["rebuilt_from_journal"] == str(journal)
    # The next run into the same file keeps the left-over journal aside and says so.
    again = _scan(dropnet, tmp_path, NAS, "--timeout", "3", "--json", str(out))
    assert again.returncode in (0, 1), again.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("scan.json.journal.")]
    assert len(kept) == 1 and f"kept as {kept[0]}" in again.stderr
    assert not journal.exists() and scanfile.read(out).hosts[0].target == NAS
