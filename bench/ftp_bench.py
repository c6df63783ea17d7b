#!/usr/bin/env python3
"""FTP walk throughput on a 20,000-file tree, over MLSD (ProFTPD) and over LIST (vsftpd), in one run.

Run by hand, as root:
    .venv/bin/python bench/ftp_bench.py [--files 20000]

It starts a throwaway copy of the FTP lab's ProFTPD (labnas) and of its vsftpd (tests/lab/ftplab.py) on
loopback addresses of their own, plants the benchmark tree (tests/lab/populate.populate_archive) where
anonymous lands, and times `shareaudit scan --protocols ftp` (no rate limit, sniffing on, default bounds)
walking it as anonymous: entries per second, files sniffed (each a RETR abandoned after 4 KiB), and the
scan's own time for the port. The copies are removed afterwards. Traffic goes to 127.0.0.6x only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import ftplab  # noqa: E402
from ftpdata import COPY_ADDRESSES, LABNAS_FTP, LABNAS_LIST  # noqa: E402
from populate import populate_archive  # noqa: E402


def walk(server: ftplab.FtpServer, address: str, files: int, scratch: Path) -> dict[str, float]:
    with ftplab.throwaway(server, address) as copy:
        landing = copy.tree / ("pub" if server.anonymous_root == "pub" else "")
        archive = landing / "archive"
        counts = populate_archive(archive, files)
        subprocess.run(["chmod", "-R", "a+rX", str(archive)], check=True)
        out = scratch / f"{server.name}.json"
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable, "-m", "shareaudit", "scan", address, "--protocols", "ftp",
                "--ftp-port", str(server.port), "--max-rate", "0", "--no-history", "--json", str(out), "-q",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "SHAREAUDIT_DATA_DIR": str(scratch / "data")},
        )  # fmt: skip
        wall = time.monotonic() - started
        if proc.returncode not in (0, 1):
            raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr[-400:]}")
        data = json.loads(out.read_text())
        service = next(s for s in data["hosts"][0]["services"] if s["port"] == server.port)
        tree = next(t for t in service["ftp"]["trees"] if t["identity"] == "anonymous")
        content = tree["content"]
        medical = sum(c["count"] for c in content["medical"].values())
        return {
            "entries": content["entries_seen"],
            "files": content["files_seen"],
            "sniffed": content["sniffed"],
            "medical": medical,
            "planted_medical": sum(n for kind, n in counts.items() if kind != "other"),
            "walk_s": content["elapsed_s"],
            "port_s": service["elapsed_s"],
            "process_s": wall,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ftp-bench-") as scratch:
        for server, address in ((LABNAS_FTP, COPY_ADDRESSES[-1]), (LABNAS_LIST, COPY_ADDRESSES[-2])):
            found = walk(server, address, args.files, Path(scratch))
            listing = "MLSD" if server.daemon == "proftpd" else "LIST"
            print(
                f"{server.daemon} ({listing}): {found['entries']:.0f} entries ({found['files']:.0f} files, "
                f"{found['sniffed']:.0f} sniffed, {found['medical']:.0f} medical of {found['planted_medical']:.0f} "
                f"planted) in {found['walk_s']:.1f} s: {found['entries'] / found['walk_s']:,.0f} entries/s; "
                f"the port {found['port_s']:.1f} s, the process {found['process_s']:.1f} s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
