"""What every lab script that runs a daemon by hand needs (dicomlab, nfslab, ftplab): commands whose failure
is one line, the lab's loopback addresses, the daemons' processes.

The Samba lab (lab.py) predates this module and keeps its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# In the Samba lab's /29, where nothing may listen (tests/lab/labdata.py): a daemon bound to 0.0.0.0
# answers here too.
WILDCARD_PROBE = "127.0.0.9"


class LabError(RuntimeError):
    """A lab could not be brought up (or down); the message says why."""


def run(cmd: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """A command's output; LabError with its first words and its own complaint when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise LabError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc.stdout


def check_prerequisites(lab: str, root_for: str, needed: Sequence[str], install: str) -> None:
    """Root, and every tool the lab runs; LabError naming what is missing and how to install it."""
    if os.geteuid() != 0:
        raise LabError(f"the {lab} lab needs root ({root_for})")
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} ({install})")


def ensure_address(address: str) -> None:
    """The address on the loopback interface (added when it is not there)."""
    if f"inet {address}/" not in run(["ip", "-4", "addr", "show", "dev", "lo"]):
        run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])


def port_open(address: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=timeout):
        return True
    return False


def check_no_wildcard_listener(ports: Iterable[int], what: str) -> None:
    """Nothing may listen on every address on the lab's ports: it would answer for every lab host."""
    ensure_address(WILDCARD_PROBE)
    for port in sorted(set(ports)):
        if port_open(WILDCARD_PROBE, port):
            raise LabError(
                f"something listens on {WILDCARD_PROBE}:{port}, so on every address ({what}): "
                "stop it before the lab can start"
            )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop(pid: int) -> None:
    """Stop a daemon started here in its own process group (its children go with it): TERM, then KILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def recorded(ready: Path) -> dict[str, int]:
    """The pids a lab recorded in its ready file when it came up, by daemon."""
    return dict(json.loads(ready.read_text()).get("pids", {})) if ready.exists() else {}


def down(ready: Path, lab_dir: Path, what: str, first: Sequence[str] = (), quiet: bool = False) -> None:
    """Stop a lab's recorded daemons (those named in `first` before the others) and remove its directory."""
    pids = recorded(ready)
    for name in [*first, *(name for name in pids if name not in first)]:
        if name in pids:
            stop(pids[name])
    if lab_dir.exists():
        shutil.rmtree(lab_dir)
    if not quiet:
        print(f"{what} down")
