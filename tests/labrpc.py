"""Keep Samba's RPC workers clean between lab tests, so that no test depends on which ran before it.

Samba 4.17's `rpcd_classic` worker, once it has answered srvsvc level 502 for an administrator, goes on
returning share ACLs to every later caller (docs/design.md, "Share ACLs"). A test that scans as a lab
administrator therefore changes what every later scan is told. `clirun.shareaudit` notes each run
that carries an administrator's password (`note_run`); the conftest fixture `_rpc_workers_clean` then
restarts the workers (`tests/lab/lab.py reset-rpc`) after that test, and before the next lab test when
a module-scoped fixture did it. The `lab` fixture resets once when the session starts.

Why not reset around every lab test: a reset takes about 0.2 s, and the next scan then waits about
1 s per host for fresh workers (measured: a three-host scan's per-host time went from 0.5-0.9 s to
1.6-2.0 s), which over the ~100 lab tests would cost about two minutes; resetting only after an
administrator's run costs a few seconds per session. A run outside `clirun` (smbcacls, the library)
is not noted: none of those in the tests calls srvsvc as an administrator.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from labdata import PASSWORDS, PERSONALITIES

LAB_SCRIPT = Path(__file__).resolve().parent / "lab" / "lab.py"
# Passwords of accounts that administer a lab file server (labadmins): what makes the worker leak.
ADMIN_SECRETS = frozenset({PASSWORDS["labadmin"]})
ALL = tuple(p.name for p in PERSONALITIES)

_admin_runs = 0  # runs that carried an administrator's password, this session
_clean_after = 0  # the value of _admin_runs when the workers were last reset


def note_run(args: Iterable[str], env: dict[str, str]) -> None:
    """Record a command line run; one that carries an administrator's password makes the workers dirty."""
    global _admin_runs
    values = [*args, *env.values()]
    if any(secret in value for secret in ADMIN_SECRETS for value in values):
        _admin_runs += 1


def reset(*names: str) -> None:
    """Restart the RPC workers of these personalities (all when none are named)."""
    global _clean_after
    subprocess.run(
        [sys.executable, str(LAB_SCRIPT), "reset-rpc", *(names or ALL)], check=True, capture_output=True
    )
    if not names or set(names) >= set(ALL):
        _clean_after = _admin_runs


def reset_if_dirty() -> bool:
    """Reset every personality's workers when an administrator's run happened since the last reset."""
    if _admin_runs == _clean_after:
        return False
    reset()
    return True
