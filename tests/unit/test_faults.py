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


@pytest.mark.parametrize("delay", [0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.2])
def test_ctrl_c_while_starting_exits_130_without_a_traceback(delay: float, silent_server: int) -> None:
    # A target that accepts and never answers keeps the scan running: whenever Ctrl-C comes (loading the
    # modules, the sweep, the first connection), it ends the run with 130. A Ctrl-C that lands where the
    # import system swallows exceptions must not be lost (shareaudit.interrupt).
    target = f"127.0.0.1:{silent_server}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareaudit", "scan", target, "--no-history", "--timeout", "5"],
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
    # Loaded, and waiting on the silent host: its connection is up (however long loading takes).
    waited = time.monotonic() + 60
    while (
        time.monotonic() < waited
        and not subprocess.run(
            ["ss", "-Htn", "state", "established", f"( dport = :{silent_server} )"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    ):
        time.sleep(0.1)
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


def test_a_deadline_cuts_off_a_connection_however_slowly_the_server_drips() -> None:
    """A client reading with a per-read timeout (as impacket does) is stopped by the Deadline of its work."""
    import socket
    import threading

    from shareaudit.collect.deadline import Deadline
    from shareaudit.errors import CollectError, FailureKind

    server = socket.create_server(("127.0.0.1", 0))
    sent: list[int] = []

    def drip() -> None:
        conn, _ = server.accept()
        try:
            for _ in range(100):  # 20 s at 0.2 s a byte, each byte well inside the client's read timeout
                conn.sendall(b"x")
                sent.append(1)
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    received = 0
    with pytest.raises(CollectError) as failure, Deadline(1.0, "reading the answer").watching():
        sock = socket.create_connection(server.getsockname(), timeout=0.5)
        while True:
            chunk = sock.recv(1)
            if not chunk:
                raise ConnectionError("closed")  # what a library says when its socket is shut under it
            received += 1
    thread.join(timeout=10)
    server.close()
    assert failure.value.kind is FailureKind.TIMEOUT and "reading the answer" in str(failure.value)
    assert 0 < received <= 8 and len(sent) <= 12  # not the 100 bytes a per-read timeout lets through


def test_a_deadline_leaves_work_done_in_time_alone() -> None:
    import socket

    from shareaudit.collect.deadline import Deadline

    server = socket.create_server(("127.0.0.1", 0))
    deadline = Deadline(5.0, "quick work")
    with deadline.watching():
        sock = socket.create_connection(server.getsockname(), timeout=1)
        conn, _ = server.accept()
        conn.sendall(b"ok")
        assert sock.recv(2) == b"ok"
    assert not deadline.expired
    sock.close()
    conn.close()
    server.close()


def test_a_history_locked_by_another_writer_costs_the_record_not_the_outputs(tmp_path: Path) -> None:
    """Another process holds the history's write lock during `scan`: one warning, every output written."""
    import socket
    import sqlite3

    history = tmp_path / "history.db"
    first = _run("scan", "127.0.0.1:9", "--history", str(history), "--data-dir", str(tmp_path / "data"), "-q")
    assert first.returncode == 3 and history.exists(), first.stderr  # a database with the schema
    refused = socket.create_server(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    locker = sqlite3.connect(history, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")  # held until the scan is over
    out = tmp_path / "out"
    try:
        run = _run(
            "scan", f"127.0.0.1:{port}", "--protocols", "smb", "--history", str(history),
            "--data-dir", str(tmp_path / "data"), "-o", str(out), "-q",
        )  # fmt: skip
    finally:
        locker.rollback()
        locker.close()
    assert run.returncode == 3, run.stderr  # the target's own code: not 4, not 2
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    assert "not recorded in the history" in run.stderr and "locked" in run.stderr
    assert {p.name for p in out.iterdir()} >= {"scan.json", "report.html", "findings.csv"}
    assert json.loads((out / "scan.json").read_text())["findings"][0]["rule"] == "target-not-scanned"


def test_a_ctrl_c_swallowed_by_a_callback_is_raised_at_the_next_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import weakref

    from shareaudit import interrupt

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored afterwards
    interrupt.install()

    class Held:
        pass

    def raises(error: BaseException) -> weakref.ref[Held]:
        held = Held()

        def callback(_: object) -> None:
            raise error

        ref = weakref.ref(held, callback)
        del held  # the callback runs now; what it raises cannot propagate (as in the import system's)
        return ref

    raises(KeyboardInterrupt())
    assert "Exception ignored" not in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()
    interrupt.check()  # raised once
    raises(ValueError("a bug in a callback"))
    assert "ValueError: a bug in a callback" in capsys.readouterr().err  # everything else as before
    interrupt.check()
