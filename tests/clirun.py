"""Run the real command line in a subprocess, as an admin or cron would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import labrpc


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def shareaudit(*args: str, env: dict[str, str] | None = None, timeout: float = 300, stdin: str = "") -> Run:
    """Run `python -m shareaudit ARGS` with no terminal attached."""
    environment = dict(os.environ if env is None else env)
    environment.setdefault("COLUMNS", "160")
    labrpc.note_run(args, environment)  # an administrator's scan leaves Samba's RPC workers leaking
    proc = subprocess.run(
        [sys.executable, "-m", "shareaudit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def lab_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A bare environment for a scan of the lab: the audit account's password and a data dir of its own."""
    from labdata import PASSWORDS

    return {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_DATA_DIR": str(tmp / "data"),
        **extra,
    }


def full_scan(out: Path, *args: str, env: dict[str, str]) -> tuple[Run, dict[str, Any]]:
    """`shareaudit --debug scan ARGS` with every output in `out` (JSON, HTML, CSV, inventory, history);
    the run and its scan.json ({} when none was written)."""
    run = shareaudit(
        "--debug", "scan", *args, "-o", str(out), "--inventory", str(out / "inventory.jsonl"),
        "--history", str(out / "history.sqlite"), env=env,
    )  # fmt: skip
    written = out / "scan.json"
    return run, json.loads(written.read_text()) if written.exists() else {}
