#!/usr/bin/env python3
"""Crawl throughput on a 20,000-file tree: shareaudit vs Samba's C client vs MANSPIDER, in one run.

Run by hand, as root, with the lab up (`make lab-up`):
    .venv/bin/python bench/crawl_bench.py [--files 20000] [--manspider /path/to/venv/bin/manspider]

It plants the tree in the labnas `archive` share (tests/lab/populate.populate_archive), measures:
- shareaudit's crawl of that share alone (sniffing on, default bounds, no rate limit), as anonymous,
  which is who shareaudit walks it as (the least privileged reader), and as the printer account
  (a signed session), with each run's peak memory;
- `smbclient -c 'recurse; ls'` (anonymous) on the same share;
- MANSPIDER listing every file (`-f . -n`), as the printer account (its guest mode is blind on this
  Samba: impacket's guest signing bug, samba-lab-notes Q6), if a manspider executable is given or on PATH;
then prints entries per second and the ratios, and removes the tree again so the lab is as the tests
expect it. It also crawls the same tree capped at a quarter of its entries, to show that peak memory
does not grow with the number of files. Traffic goes to 127.0.0.11 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

from labdata import LABNAS, PASSWORDS  # noqa: E402
from populate import populate_archive  # noqa: E402

LAB_DIR = Path(os.environ.get("SHAREAUDIT_LAB_DIR", "/tmp/shareaudit-lab"))
ARCHIVE = LAB_DIR / "shares" / "labnas" / "archive"
SHARE = "archive"


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time and stdout of a child process."""
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - started
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return elapsed, proc.stdout


def _peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS of one child, measured with wait4 so earlier children do not count."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(
            f"{' '.join(cmd[:3])} failed: {proc.stderr.read().decode()[-400:] if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss


def shareaudit_run(label: str, extra: list[str], workdir: Path) -> dict[str, float]:
    out = workdir / f"{label}.json"
    env = dict(
        os.environ,
        SHAREAUDIT_DATA_DIR=str(workdir / "data"),
        SHAREAUDIT_PASSWORD_PRINTER=PASSWORDS["labscan"],
    )
    cmd = [
        sys.executable,
        "-m",
        "shareaudit",
        "scan",
        LABNAS.address,
        "--include-share",
        SHARE,
        "--no-guest",
        "--max-rate",
        "0",
        "--json",
        str(out),
        "-q",
        *extra,
    ]
    wall, peak = _peak_of(cmd, env)
    host = json.loads(out.read_text())["hosts"][0]
    content = next(s for s in host["shares"] if s["name"] == SHARE)["content"]
    return {
        "entries": content["entries_seen"],
        "crawl_s": content["elapsed_s"],
        "rate": content["entries_seen"] / content["elapsed_s"],
        "wall_s": wall,
        "peak_mib": peak / 1024,
        "sniffed": content["sniffed"],
        "medical": sum(m["count"] for m in content["medical"].values()),
        "crawled_as": content["crawled_as"],
    }


def smbclient_run() -> dict[str, float]:
    wall, out = _timed(["smbclient", "-N", f"//{LABNAS.address}/{SHARE}", "-c", "recurse; ls"])
    entries = sum(
        1 for line in out.splitlines() if line.startswith("  ") and line.split()[0] not in (".", "..")
    )
    return {"entries": entries, "wall_s": wall, "rate": entries / wall}


def manspider_run(executable: str, workdir: Path) -> dict[str, float]:
    loot = workdir / "manspider"
    cmd = [
        executable,
        LABNAS.address,
        "-u",
        "labscan",
        "-p",
        PASSWORDS["labscan"],
        "-d",
        LABNAS.netbios,
        "--sharenames",
        SHARE,
        "-f",
        ".",
        "-n",
        "-l",
        str(loot),
    ]
    env = dict(os.environ, HOME=str(workdir))
    wall, out = _timed(cmd, env)
    # One line per file found: "[+] HOST: share\\path (size)"; it lists files only, not directories.
    entries = sum(1 for line in out.splitlines() if f": {SHARE}\\" in line)
    return {"entries": entries, "wall_s": wall, "rate": entries / wall if wall else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--manspider", default=shutil.which("manspider"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        return print("run as root (the tree is written into the lab's share directory)") or 1
    shutil.rmtree(ARCHIVE, ignore_errors=True)
    ARCHIVE.mkdir(parents=True)
    (ARCHIVE / "README.txt").write_text("Old studies are moved here by the PACS.\n")
    planted = populate_archive(ARCHIVE, args.files)
    subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(ARCHIVE)], check=True)
    dirs = sum(1 for _ in ARCHIVE.rglob("*") if _.is_dir())
    print(f"tree: {args.files} files in {dirs} directories; planted {planted}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            shareaudit_run("warmup", [], work)  # warms the server's caches for everyone
            anon = shareaudit_run("anonymous", [], work)
            signed = shareaudit_run("printer", ["--no-anonymous", "--identity", "printer=labscan"], work)
            quarter = shareaudit_run("quarter", ["--max-entries", str((args.files + dirs) // 4)], work)
            client = smbclient_run()
            spider = manspider_run(args.manspider, work) if args.manspider else None
    finally:
        shutil.rmtree(ARCHIVE, ignore_errors=True)
        ARCHIVE.mkdir(parents=True)
        (ARCHIVE / "README.txt").write_text("Old studies are moved here by the PACS.\n")
        subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(ARCHIVE)], check=True)

    print(f"{'tool':34} {'entries':>8} {'seconds':>8} {'entries/s':>10} {'peak MiB':>9}")
    for name, row in (
        ("shareaudit, anonymous (unsigned)", anon),
        ("shareaudit, printer (signed)", signed),
        ("shareaudit, 1/4 of the tree", quarter),
    ):
        print(
            f"{name:34} {row['entries']:>8.0f} {row['crawl_s']:>8.2f} {row['rate']:>10.0f} {row['peak_mib']:>9.1f}"
        )
    print(
        f"{'smbclient recurse; ls':34} {client['entries']:>8.0f} {client['wall_s']:>8.2f} {client['rate']:>10.0f}"
    )
    if spider:
        print(
            f"{'MANSPIDER (printer account)':34} {spider['entries']:>8.0f} {spider['wall_s']:>8.2f} {spider['rate']:>10.0f}"
        )
    print(
        f"shareaudit sniffed {anon['sniffed']:.0f} files, found {anon['medical']:.0f} medical ({anon['crawled_as']})"
    )
    print(f"shareaudit whole command (posture, access, crawl): {anon['wall_s']:.2f} s")
    print(
        f"ratio to smbclient: {anon['rate'] / client['rate']:.0%} (anonymous), {signed['rate'] / client['rate']:.0%} (signed)"
    )
    if spider and spider["rate"]:
        print(
            f"ratio to MANSPIDER: {anon['rate'] / spider['rate']:.1f}x (anonymous), {signed['rate'] / spider['rate']:.1f}x (signed)"
        )
    print(
        f"peak memory, whole tree vs a quarter of it: {anon['peak_mib']:.1f} MiB vs {quarter['peak_mib']:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
