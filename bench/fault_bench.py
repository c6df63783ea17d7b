"""Time to give up per fault, and time to exit after Ctrl-C: the figures of the failure model.

Run by hand (no lab needed; every server is a small fake on 127.0.0.1):

    python bench/fault_bench.py [--timeout 2] [--runs 3]

For each fault a real `shareaudit scan` runs against a fake server and the time until it exits is
printed (median of the runs) with its exit code: a refused port, a port that accepts and never answers,
one that drips a byte every half second, one that answers NEGOTIATE with a truncated SMB2 header, and
Ctrl-C sent one second into a scan of a silent host.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

Serve = Callable[[socket.socket], None]


def _silent(conn: socket.socket) -> None:
    while conn.recv(65536):
        pass


def _drip(conn: socket.socket) -> None:
    conn.recv(65536)
    for byte in b"\x00\x00\x01\x00" + b"\xfeSMB" + b"x" * 252:
        conn.sendall(bytes([byte]))
        time.sleep(0.5)


def _truncated(conn: socket.socket) -> None:
    reply = b"\xfeSMB\x40\x00" + b"\x00" * 6
    while conn.recv(65536):
        conn.sendall(len(reply).to_bytes(4, "big") + reply)


class Fake:
    """A TCP server on 127.0.0.1 that handles each connection with `serve` in its own thread."""

    def __init__(self, serve: Serve) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.serve = serve
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.getsockname()[1])

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


def _scan(port: int, timeout: float, interrupt_after: float | None = None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as data:
        args = [sys.executable, "-m", "shareaudit", "scan", f"127.0.0.1:{port}", "--protocols", "smb"]
        args += ["--timeout", str(timeout), "--no-history", "--data-dir", data, "-q"]
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if interrupt_after is not None:
            time.sleep(interrupt_after)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=300)
            return time.monotonic() - sent, code
        code = proc.wait(timeout=300)
        return time.monotonic() - started, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    refused = socket.create_server(("127.0.0.1", 0))
    refused_port = refused.getsockname()[1]
    refused.close()  # nothing listens there any more
    cases: list[tuple[str, Fake | None, float | None]] = [
        ("refused port", None, None),
        ("accepts, never answers", Fake(_silent), None),
        ("drips a byte every 0.5 s", Fake(_drip), None),
        ("truncated SMB2 header", Fake(_truncated), None),
        ("Ctrl-C 1 s into a silent host", Fake(_silent), 1.0),
    ]
    print(f"--timeout {args.timeout:g} s, median of {args.runs} runs")
    print(f"{'fault':34} {'seconds':>8}  exit")
    for name, fake, interrupt in cases:
        port = fake.port if fake else refused_port
        times, codes = [], set()
        for _ in range(args.runs):
            seconds, code = _scan(port, args.timeout, interrupt)
            times.append(seconds)
            codes.add(code)
        label = "to exit after Ctrl-C" if interrupt else "to give up"
        print(f"{name:34} {statistics.median(times):8.2f}  {','.join(map(str, sorted(codes)))}  ({label})")
        if fake:
            fake.close()


if __name__ == "__main__":
    main()
