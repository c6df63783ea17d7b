"""Test fixtures: the loopback Samba lab, started once per test session and reused when already up.

Every test that uses the `lab` fixture is marked `lab`, every test that uses the `dc` fixture `dc` and
`lab`, every test that uses the `dicomlab` fixture (tests/lab/dicomlab.py) `dicom` and `lab`, and every test
that uses the `nfslab` fixture (tests/lab/nfslab.py) `nfs` and `lab`, and every test that uses the `ftplab`
fixture (tests/lab/ftplab.py) `ftp` and `lab`:
`pytest -m "not lab"` runs what needs no server (tests/unit/test_markers.py checks it). Lab tests get
clean Samba RPC workers (tests/labrpc.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB_SCRIPT = ROOT / "tests" / "lab" / "lab.py"
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import labrpc  # noqa: E402  (needs tests/lab on the path)

# Fixtures that start a server, and the markers their users get (`dc` users also get `lab`).
SERVER_MARKERS = {
    "lab": ("lab",),
    "dc": ("dc", "lab"),
    "dicomlab": ("dicom", "lab"),
    "nfslab": ("nfs", "lab"),
    "ftplab": ("ftp", "lab"),
    "dropnet": ("dropnet", "lab"),
}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture, directly or through another fixture."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, markers in SERVER_MARKERS.items():
            if fixture in names:
                for marker in markers:
                    if item.get_closest_marker(marker) is None:
                        item.add_marker(marker)


def _bring_up(script: str, what: str) -> None:
    """Run tests/lab/SCRIPT up (idempotent: what runs is reused); `make test` stops it afterwards."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "lab" / script), "up"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.fail(f"{what} did not come up:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def lab() -> Iterator[None]:
    """The lab's Samba servers (tests/lab/lab.py)."""
    _bring_up("lab.py", "the lab")
    labrpc.reset()  # whatever ran before this session (an administrator's scan) may have left them leaking
    yield


@pytest.fixture(autouse=True)
def _rpc_workers_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """A lab test starts and ends with RPC workers that leak nothing (see tests/labrpc.py)."""
    if "lab" not in request.fixturenames:
        yield
        return
    labrpc.reset_if_dirty()  # a module-scoped fixture scanned as an administrator
    yield
    labrpc.reset_if_dirty()  # this test did


@pytest.fixture(scope="session")
def dc() -> None:
    """The lab's Samba AD DC."""
    _bring_up("dc.py", "the AD DC")


@pytest.fixture(scope="session")
def dicomlab() -> None:
    """Two Orthanc archives, permissive and hardened (tests/lab/dicomlab.py)."""
    _bring_up("dicomlab.py", "the DICOM lab")


@pytest.fixture(scope="session")
def nfslab() -> None:
    """NFS-Ganesha and rpcbind (tests/lab/nfslab.py)."""
    _bring_up("nfslab.py", "the NFS lab")


@pytest.fixture(scope="session")
def ftplab() -> None:
    """ProFTPD and vsftpd (tests/lab/ftplab.py)."""
    _bring_up("ftplab.py", "the FTP lab")


@pytest.fixture
def audit_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment with the audit account's password, for running the CLI."""
    from labdata import PASSWORDS

    monkeypatch.setenv("SHAREAUDIT_PASSWORD", PASSWORDS["labaudit"])
    return dict(os.environ)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers: a target that keeps a scan waiting."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


DROPNET_SCRIPT = ROOT / "tests" / "lab" / "dropnet.py"


@pytest.fixture(scope="session")
def dropnet() -> Iterator[Any]:
    """A network namespace of our own (tests/lab/dropnet.py) where 198.18.0.0/23 drops every SYN, with a
    throwaway copy of labnas on its loopback (127.0.0.40 there: nobody else's address space). Run the
    scan inside with `dropnet.prefix()`; both are removed afterwards."""
    import dropnet as dropnet_lab

    name = f"sa-test-{os.getpid()}"
    root = Path(f"/tmp/shareaudit-dropnet-{os.getpid()}")
    net = dropnet_lab.up(name, "198.18.0.0/23")
    copy = root / "labnas"
    try:
        proc = subprocess.run(
            [
                *net.prefix(),
                sys.executable,
                str(LAB_SCRIPT),
                "copy",
                "labnas",
                "--address",
                "127.0.0.40",
                "--dir",
                str(copy),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.fail(f"the labnas copy did not start in {name}:\n{proc.stdout}\n{proc.stderr}")
        yield net
    finally:
        subprocess.run(
            [*net.prefix(), sys.executable, str(LAB_SCRIPT), "discard", str(copy)], capture_output=True
        )
        dropnet_lab.down(name)
        shutil.rmtree(root, ignore_errors=True)
