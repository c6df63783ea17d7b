"""Time to give up per fault, and time to exit after Ctrl-C: the figures of the failure model.

Run by hand (no lab needed; every server is a small fake on 127.0.0.1):

    python bench/fault_bench.py [--timeout 2] [--runs 3]

For each fault a real `shareaudit scan` runs against a fake server and the time until it exits is
printed (median of the runs) with its exit code: a refused port, a port that accepts and never answers,
one that drips a byte every half second, one that answers NEGOTIATE with a truncated SMB2 header, and
Ctrl-C sent one second into a scan of a silent host. With `--lab` (the loopback lab up: `tests/lab/lab.py
up`), the later phases too: labnas's real answers through `tests/faultproxy.py`, dripped from the session
setup, the root listing or the walk's listings on, or its SESSION_SETUP / QUERY_DIRECTORY answers garbled.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import faultproxy  # tests/faultproxy.py

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


def _proxy(**misbehaviour: object) -> faultproxy.FaultProxy:
    """A misbehaving proxy in front of labnas (127.0.0.11:445), listening on a free 127.0.0.1 port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return faultproxy.FaultProxy(("127.0.0.1", port), ("127.0.0.11", 445), **misbehaviour)  # type: ignore[arg-type]


LATER_PHASES: list[tuple[str, dict[str, object]]] = [
    ("drips from session setup on", {"drip_when": lambda n, c: faultproxy.SESSION_SETUP in c}),
    ("drips the root listing", {"drip_when": lambda n, c: c == [faultproxy.QUERY_DIRECTORY]}),
    ("drips the walk's listings", {"drip_when": lambda n, c: c == faultproxy.WALK_LISTING}),
    ("garbled SESSION_SETUP", {"damage": (faultproxy.SESSION_SETUP, faultproxy.garbled)}),
    ("truncated QUERY_DIRECTORY", {"damage": (faultproxy.QUERY_DIRECTORY, faultproxy.truncated)}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", action="store_true", help="also the later phases, through a proxy to labnas")
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
    if not args.lab:
        return
    for name, misbehaviour in LATER_PHASES:
        times, codes = [], set()
        for _ in range(args.runs):
            proxy = _proxy(**misbehaviour)
            with proxy.running():
                seconds, code = _scan(proxy.listen[1], args.timeout)
            times.append(seconds)
            codes.add(code)
        print(
            f"{'labnas ' + name:34} {statistics.median(times):8.2f}  {','.join(map(str, sorted(codes)))}  (to give up)"
        )


if __name__ == "__main__":
    main()
