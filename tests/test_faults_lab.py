"""Faults in the middle of a walk, against a real Samba: never report a broken walk as a clean one.

A throwaway copy of labnas (tests/lab/lab.py) gets a large tree in its guest-readable `public` share;
the scan walks it slowly (`--max-rate`), and part-way through its smbd is killed or frozen. What was
walked must be kept (in the JSON and the findings, agreeing with the streamed inventory), the share
marked as not fully walked, the exit code 3, and stderr free of tracebacks, within a bounded time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lab as lab_control
import pytest
from labdata import COPY_ADDRESSES, LABNAS

FOLDERS, FILES = 120, 25  # 3,000 files, one in five a DICOM name
ADDRESS = {"kill": COPY_ADDRESSES[-3], "freeze": COPY_ADDRESSES[-4]}


def _plant(public: Path) -> None:
    for folder in range(FOLDERS):
        directory = public / f"batch{folder:03d}"
        directory.mkdir()
        for n in range(FILES):
            (directory / (f"IM{n:04d}.dcm" if n % 5 == 0 else f"note{n:04d}.txt")).write_bytes(b"x")
    os.system(f"chmod -R a+rX {public}")


def _smbd_pids(conf: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", str(conf)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


@pytest.mark.usefixtures("lab")
@pytest.mark.parametrize("fault", ["kill", "freeze"])
def test_a_walk_cut_short_is_kept_and_marked(tmp_path: Path, fault: str) -> None:
    with lab_control.throwaway(LABNAS, ADDRESS[fault]) as copy:
        _plant(copy.instance.shares / "public")
        out, inventory = tmp_path / "scan.json", tmp_path / "inventory.jsonl"
        args = [sys.executable, "-m", "shareaudit", "scan", copy.address, "--no-history", "--data-dir"]
        args += [str(tmp_path / "data"), "--include-share", "public", "--max-rate", "150", "--timeout", "3"]
        args += ["--json", str(out), "--inventory", str(inventory), "-q"]
        scan = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not inventory.exists() or inventory.stat().st_size < 200):
            assert scan.poll() is None, scan.communicate()
            time.sleep(0.05)
        assert inventory.exists() and inventory.stat().st_size >= 200, "the walk never got going"
        pids = _smbd_pids(copy.instance.conf)
        assert pids
        cut = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        try:
            _, err = scan.communicate(timeout=120)
        finally:
            for pid in pids:
                if fault == "freeze":
                    os.kill(pid, signal.SIGCONT)
        gave_up = time.monotonic() - cut
        print(f"{fault}: the scan ended {gave_up:.1f} s after the fault")
        assert scan.returncode == 3, err
        assert "Traceback" not in err
        result = json.loads(out.read_text())
        public = next(s for h in result["hosts"] for s in h["shares"] if s["name"] == "public")
        content = public["content"]
        assert content["error"] and "the walk failed after" in content["error"]
        assert content["truncated"] and 0 < content["entries_seen"] < FOLDERS * FILES
        streamed = [json.loads(line) for line in inventory.read_text().splitlines()]
        found = sum(c["count"] for c in content["medical"].values())
        assert streamed and found >= len(streamed)  # nothing streamed is missing; the rest is estimated
        rules = {(f["rule"], f["share"]) for f in result["findings"]}
        assert ("walk-incomplete", "public") in rules
        assert ("unprivileged-read", "public") in rules


@pytest.mark.usefixtures("lab")
def test_ctrl_c_keeps_what_a_host_in_flight_had_learned(tmp_path: Path) -> None:
    """Ctrl-C while labnas's shares are being walked (slowly): its posture and access matrix are kept."""
    out = tmp_path / "scan.json"
    args = [sys.executable, "-m", "shareaudit", "scan", LABNAS.address, "--protocols", "smb", "--no-history"]
    args += ["--data-dir", str(tmp_path / "data"), "--max-rate", "1", "--json", str(out), "-q"]
    scan = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # posture, shares and the matrix take about a second; the walks at 1 request/s far longer
    scan.send_signal(signal.SIGINT)
    _, err = scan.communicate(timeout=30)
    assert scan.returncode == 130, err
    assert "Traceback" not in err
    host = json.loads(out.read_text())["hosts"][0]
    assert host["error_kind"] == "interrupted"
    assert host["posture"] is not None and host["posture"]["guest_fallback"]
    public = next(s for s in host["shares"] if s["name"] == "public")
    assert public["access"]["anonymous"]["read"]
    result = json.loads(out.read_text())
    assert ("target-not-scanned", LABNAS.address) in {(f["rule"], f["host"]) for f in result["findings"]}
    assert ("unprivileged-read", "public") in {(f["rule"], f["share"]) for f in result["findings"]}
