"""Test fixtures: the loopback Samba lab, started once per test session and reused when already up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_SCRIPT = ROOT / "tests" / "lab" / "lab.py"
sys.path.insert(0, str(ROOT / "tests" / "lab"))


@pytest.fixture(scope="session")
def lab() -> Iterator[None]:
    """Bring the lab up (idempotent: a running lab is reused); `make test` stops it afterwards."""
    proc = subprocess.run([sys.executable, str(LAB_SCRIPT), "up"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the lab did not come up:\n{proc.stdout}\n{proc.stderr}")
    yield


DC_SCRIPT = ROOT / "tests" / "lab" / "dc.py"


@pytest.fixture(scope="session")
def dc() -> Iterator[None]:
    """Bring the lab's Samba AD DC up (idempotent: a running DC is reused); `make test` stops it afterwards."""
    proc = subprocess.run([sys.executable, str(DC_SCRIPT), "up"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"the AD DC did not come up:\n{proc.stdout}\n{proc.stderr}")
    yield


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with the audit account's password, for running the CLI."""
    from labdata import PASSWORDS

    monkeypatch.setenv("SHAREAUDIT_PASSWORD", PASSWORDS["labaudit"])
    return dict(os.environ)
