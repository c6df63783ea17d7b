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
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faultproxy
import lab as lab_control
import pytest
from labdata import COPY_ADDRESSES, LABACL, LABNAS

FOLDERS, FILES = 120, 25  # 3,000 files, one in five an HL7 message by its name (streamed as soon as seen)
ADDRESS = {"kill": COPY_ADDRESSES[-3], "freeze": COPY_ADDRESSES[-4]}


def _plant(public: Path) -> None:
    for folder in range(FOLDERS):
        directory = public / f"batch{folder:03d}"
        directory.mkdir()
        for n in range(FILES):
            (directory / (f"ADT{n:04d}.hl7" if n % 5 == 0 else f"note{n:04d}.txt")).write_bytes(b"x")
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
    # The walks still running are kept as far as they got, marked cut short, never as clean shares.
    walked = {s["name"]: s["content"] for s in host["shares"] if s.get("content")}
    cut = {
        name: c for name, c in walked.items() if (c["error"] or "").startswith("interrupted (Ctrl-C) after")
    }
    assert cut, walked
    assert all(c["truncated"] for c in cut.values()) and sum(c["entries_seen"] for c in cut.values()) > 0
    incomplete = {f["share"] for f in result["findings"] if f["rule"] == "walk-incomplete"}
    assert set(cut) <= incomplete


# Answers of a real Samba (labnas) through tests/faultproxy.py: dripped one byte every 0.2 s from a chosen
# exchange on, or damaged. With --timeout 1 a dripped answer must be cut off after a few bytes: the whole
# answer (hundreds of bytes) would take minutes, and a per-read timeout would never fire.
DRIPS: dict[str, Callable[[int, list[int]], bool]] = {
    "negotiate": lambda number, _: number >= 1,
    "session-setup": lambda _, commands: faultproxy.SESSION_SETUP in commands,
    "root-listing": lambda _, commands: commands == [faultproxy.QUERY_DIRECTORY],
    "walk-listing": lambda _, commands: commands == faultproxy.WALK_LISTING,
}
CUTS: dict[str, Callable[[int, list[int]], bool]] = {
    "session-setup": lambda _, commands: faultproxy.SESSION_SETUP in commands,
    "root-listing": lambda _, commands: commands == [faultproxy.QUERY_DIRECTORY],
    "walk-listing": lambda number, commands: commands == faultproxy.WALK_LISTING,
    "walk-read": lambda _, commands: commands == faultproxy.WALK_READ,
}
DAMAGES = {
    "session-setup-truncated": (faultproxy.SESSION_SETUP, faultproxy.truncated),
    "session-setup-garbled": (faultproxy.SESSION_SETUP, faultproxy.garbled),
    "root-listing-truncated": (faultproxy.QUERY_DIRECTORY, faultproxy.truncated),
    "query-directory-garbled": (faultproxy.QUERY_DIRECTORY, faultproxy.garbled),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scan_through(
    proxy: faultproxy.FaultProxy, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Scan the proxy and labacl (which must not suffer for it) in one run.

    Not labnas itself: while the proxy held its slowly drained connections, a direct scan of labnas once
    had its srvsvc bind cut by the server ("Error while reading from remote"), a matter between Samba and
    its clients; this test is about the scanner keeping one host's trouble to that host.
    """
    out = tmp_path / "scan.json"
    args = [
        sys.executable,
        "-m",
        "shareaudit",
        "scan",
        f"{proxy.listen[0]}:{proxy.listen[1]}",
        LABACL.address,
    ]
    args += ["--protocols", "smb", "--timeout", "1", "--no-history", "--data-dir", str(tmp_path / "data")]
    args += ["--json", str(out), "-q", "--max-rate", "0"]
    with proxy.running():
        # A hang guard only: the bound this test is about is the count of bytes dripped below.
        run = subprocess.run(args, capture_output=True, text=True, timeout=240)
    return run, json.loads(out.read_text())


@pytest.mark.usefixtures("lab")
@pytest.mark.parametrize("stage", list(DRIPS))
def test_a_server_dripping_its_answers_is_cut_off_per_request(tmp_path: Path, stage: str) -> None:
    proxy = faultproxy.FaultProxy(("127.0.0.1", _free_port()), (LABNAS.address, 445), drip_when=DRIPS[stage])
    run, written = _scan_through(proxy, tmp_path)
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    dripped, other = written["hosts"]
    assert other["error"] is None and other["shares"]  # the other host was scanned in full
    broken = [dripped["error_kind"]] + [
        (share.get("content") or {}).get("error") for share in dripped["shares"] if share.get("content")
    ]
    assert "timeout" in broken or any(b and "answer" in b for b in broken if b != "timeout"), broken
    # 0.2 s a byte: one answer cut off after --timeout is ~5 bytes; an impacket connection's whole budget
    # (6 timeouts) ~30. A per-read timeout would have let every answer through, byte by byte.
    assert 0 < proxy.dripped <= 40, proxy.dripped


@pytest.mark.usefixtures("lab")
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_server_answering_malformed_replies_costs_only_that_host(tmp_path: Path, damage: str) -> None:
    proxy = faultproxy.FaultProxy(("127.0.0.1", _free_port()), (LABNAS.address, 445), damage=DAMAGES[damage])
    run, written = _scan_through(proxy, tmp_path)
    assert proxy.damaged >= 1
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    damaged, other = written["hosts"]
    assert other["error"] is None and other["shares"]
    assert damaged["error_kind"] == "protocol", damaged["error"]
    assert "not-scanned" in " ".join(f["rule"] for f in written["findings"] if f["host"] == damaged["target"])


@pytest.mark.usefixtures("lab")
@pytest.mark.parametrize("stage", list(CUTS))
def test_a_server_dying_at_any_stage_is_kept_as_far_as_it_got(tmp_path: Path, stage: str) -> None:
    """The server goes away (connection closed, later ones refused) at the logon, the access matrix, a
    listing of the walk or a sniff: what came before is kept and the host or share is marked."""
    proxy = faultproxy.FaultProxy(("127.0.0.1", _free_port()), (LABNAS.address, 445), cut_when=CUTS[stage])
    run, written = _scan_through(proxy, tmp_path)
    assert proxy.cut >= 1, "the stage was never reached"
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    died, other = written["hosts"]
    assert other["error"] is None and other["shares"]
    rules = {f["rule"] for f in written["findings"] if f["host"] == died["target"]}
    if stage in ("session-setup", "root-listing"):
        assert died["error"] and died["error_kind"] in ("protocol", "timeout", "refused"), died["error"]
        assert "target-not-scanned" in rules
        assert died["posture"] is not None  # the negotiate came before
        if stage == "root-listing":
            assert died["shares"] and died["posture"]["guest_fallback"]  # shares and logons too
    else:
        broken = [s for s in died["shares"] if (s.get("content") or {}).get("error")]
        assert broken or died["error"], died
        assert "walk-incomplete" in rules or "target-not-scanned" in rules
