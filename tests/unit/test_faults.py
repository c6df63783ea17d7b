"""Bad input and bad moments: one line and a documented exit code, never a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shareaudit.cli import app


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shareaudit", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"schema":"shareaudit/1","x":' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ('{"schema":"shareaudit/1","x":' + "9" * 5000 + "}", "integer string conversion"),
        ('{"schema":"shareaudit/1","hosts":[{"target":1}]}', "does not match schema"),
    ],
    ids=["deep", "huge-integer", "wrong-types"],
)
def test_a_hostile_scan_file_is_one_line_and_exit_2(tmp_path: Path, content: str, said: str) -> None:
    scan = tmp_path / "scan.json"
    scan.write_text(content)
    run = _run("report", str(scan))
    assert run.returncode == 2, run.stderr
    assert said in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.6])
def test_ctrl_c_while_starting_exits_130_without_a_traceback(delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareaudit", "scan", "127.0.0.1:9", "--no-history", "--timeout", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err


def test_an_internal_error_with_debug_shows_the_traceback_and_exits_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("shareaudit.cli.scan.build_plan", broken)
    for argv, traced in (
        (["shareaudit", "--debug", "scan", "x"], True),
        (["shareaudit", "scan", "x"], False),
    ):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as exit_:
            app.main()
        assert exit_.value.code == 4  # the documented code for a bug, never 1 ("findings")
        err = capsys.readouterr().err
        assert ("Traceback" in err) is traced and "internal error: RuntimeError: a bug" in err


def test_a_server_dripping_bytes_cannot_hold_the_first_exchange_past_its_deadline() -> None:
    """One byte every 0.3 s would take 6 s for 20 bytes; with a 1 s deadline the client stops long before."""
    import socket
    import threading

    from shareaudit.collect.smb.negotiate import raw_exchange
    from shareaudit.errors import CollectError, FailureKind

    server = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []

    def drip() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        try:
            for byte in b"\x00\x00\x00\x10" + b"\xfeSMB" + b"x" * 12:
                conn.sendall(bytes([byte]))
                sent.append(byte)
                time.sleep(0.3)
        except OSError:
            pass  # the client gave up and closed: what this test wants
        finally:
            conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    with pytest.raises(CollectError) as failure:
        raw_exchange("127.0.0.1", server.getsockname()[1], b"hello", timeout=1.0)
    thread.join(timeout=10)
    server.close()
    assert failure.value.kind is FailureKind.TIMEOUT
    assert len(sent) <= 6  # a per-read timeout would have read all 20 bytes


def test_ctrl_c_does_not_wait_for_a_slow_host_in_flight(tmp_path: Path, silent_server: int) -> None:
    """A host that never answers (30 s timeout) is in flight: Ctrl-C writes what is known and exits 130 now."""
    out = tmp_path / "scan.json"
    args = ["scan", f"127.0.0.1:{silent_server}", "--protocols", "smb", "--timeout", "30", "--no-history"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareaudit", *args, "--data-dir", str(tmp_path / "data"), "--json", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Loaded (the run's journal exists once the run has started; a busy machine takes seconds to import)
    # and waiting on the silent host.
    journal = out.with_name(out.name + ".journal")
    deadline = time.monotonic() + 60
    while not journal.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(3)  # the SMB collector's libraries load, then it waits on the silent host (30 s)
    proc.send_signal(signal.SIGINT)
    # The bound this test is about: far less than the 30 s the host would hold a waiting exit.
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "partial results written" in err
    written = json.loads(out.read_text())
    assert [f["rule"] for f in written["findings"]] == ["target-not-scanned"]
    assert [h["error_kind"] for h in written["hosts"]] == ["interrupted"]  # kept, marked, not dropped


@pytest.mark.parametrize(
    "reply",
    [b"\xfeSMB\x40\x00" + b"\x00" * 6, b"\xffSMB\x72", b"\xfeSMB" + b"\xff" * 60],
    ids=["truncated-smb2-header", "truncated-smb1", "garbage-smb2"],
)
def test_a_server_answering_malformed_negotiates_is_one_host_error(tmp_path: Path, reply: bytes) -> None:
    """A fake server answers every message with a malformed SMB header: exit 3, no traceback, host recorded."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(65536):
                    conn.sendall(len(reply).to_bytes(4, "big") + reply)
            except OSError:
                pass

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by the test
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    out = tmp_path / "scan.json"
    try:
        run = _run(
            "scan", f"127.0.0.1:{server.getsockname()[1]}", "--protocols", "smb", "--timeout", "3",
            "--no-history", "--data-dir", str(tmp_path / "data"), "--json", str(out), "-q",
        )  # fmt: skip
    finally:
        stop.set()
        server.close()
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    host = json.loads(out.read_text())["hosts"][0]
    assert host["error"] and host["error_kind"] in ("protocol", "not_smb", "timeout")
