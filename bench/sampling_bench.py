#!/usr/bin/env python3
"""The whole `scan` process against Samba's C client and MANSPIDER, on a tree where a quarter of the files
have no extension: sampling's bar.

Run by hand, as root, with the lab's tools installed (no lab needs to be up: it starts its own copy):
    .venv/bin/python bench/sampling_bench.py [--files 20000] [--rounds 3] [--manspider PATH]

It starts a throwaway copy of labnas (tests/lab/lab.py `throwaway`, on a free address of
labdata.COPY_ADDRESSES), writes tests/lab/sampletree.populate_sampled's tree into its `archive` share
(guest-readable), and then measures, alternating in each round so that the machine's load hits all alike:
- `smbclient -N -c 'recurse; ls'` of the share (entries listed per second of its wall time);
- the whole `shareaudit scan ADDRESS --include-share archive --max-rate 0` process, sniffing on, default
  identities (the null session walks the share): its entries per second of wall time, start-up, posture
  and access matrix included;
- the same with `--no-sample` (every extensionless file read), and once with the default `--max-rate`, to
  show what the gentle default costs and that the summary says so;
- MANSPIDER listing every file of the share (`-f . -n`, as the printer account), if installed (a separate venv:
  `python3 -m venv /tmp/manspider-venv && /tmp/manspider-venv/bin/pip install man-spider`).
It prints the figures, the bar (at least 0.5 of smbclient's entries/s; MANSPIDER at least 4x slower) and
the counts found against the truth the tree was written with. Traffic goes to the copy's loopback
address only; the copy is discarded at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import lab  # noqa: E402
from labdata import COPY_ADDRESSES, LABNAS, PASSWORDS  # noqa: E402
from sampletree import Truth, populate_sampled  # noqa: E402

SHARE = "archive"
DEFAULT_MAX_SNIFF = 5_000
MANSPIDER = Path("/tmp/manspider-venv/bin/manspider")


def _free_address() -> str:
    for address in reversed(COPY_ADDRESSES):
        if not lab.port_open(address, timeout=0.1):
            return address
    raise SystemExit("every throwaway address of labdata.COPY_ADDRESSES is in use")


def _timed(
    cmd: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.monotonic() - started
    if proc.returncode not in ok:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
    return elapsed, proc.stdout


def smbclient(address: str) -> dict[str, float]:
    wall, out = _timed(["smbclient", "-N", f"//{address}/{SHARE}", "-c", "recurse; ls"])
    entries = sum(
        1 for line in out.splitlines() if line.startswith("  ") and line.split()[0] not in (".", "..")
    )
    return {"entries": entries, "wall_s": wall, "rate": entries / wall}


def scan(address: str, work: Path, *extra: str) -> dict[str, Any]:
    out = work / "scan.json"
    env = dict(os.environ, SHAREAUDIT_DATA_DIR=str(work / "data"))
    cmd = [sys.executable, "-m", "shareaudit", "scan", address, "--include-share", SHARE]
    cmd += ["--json", str(out), "--no-history", "-q", *extra]
    wall, _ = _timed(cmd, env, ok=(0, 1))
    host = json.loads(out.read_text())["hosts"][0]
    content = next(s for s in host["shares"] if s["name"] == SHARE)["content"]
    return {"wall_s": wall, "rate": content["entries_seen"] / wall, "content": content}


def manspider(address: str, work: Path, executable: Path) -> dict[str, float]:
    # As the printer account: its guest mode is blind on this Samba (impacket's guest signing, samba-lab-notes Q6).
    cmd = [str(executable), address, "-u", "labscan", "-p", PASSWORDS["labscan"], "-d", LABNAS.netbios]
    cmd += ["--sharenames", SHARE, "-f", ".", "-n", "-l", str(work / "loot")]
    wall, out = _timed(cmd, dict(os.environ, HOME=str(work)))
    files = sum(1 for line in out.splitlines() if f": {SHARE}\\" in line)  # it lists files, not folders
    return {"files": files, "wall_s": wall}


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _truth_table(truth: Truth, content: dict[str, Any], label: str) -> None:
    print(f"\ncounts ({label}) against the truth the tree was written with:")
    print(f"  {'type':8} {'written':>8} {'found':>8} {'extrapolated':>13} {'sample':>7}")
    for type_id in sorted(set(truth.types) | set(content["medical"])):
        found = content["medical"].get(type_id, {})
        print(
            f"  {type_id:8} {truth.types.get(type_id, 0):>8} {found.get('count', 0):>8}"
            f" {found.get('extrapolated', 0):>13} {found.get('sample', 0):>7}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--manspider", type=Path, default=MANSPIDER if MANSPIDER.exists() else None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (it starts a throwaway smbd and writes its share)")
        return 1
    address = _free_address()
    with lab.throwaway(LABNAS, address) as copy, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        share = copy.instance.shares / SHARE
        shutil.rmtree(share)
        share.mkdir()
        truth = populate_sampled(share, args.files)
        subprocess.run(["chmod", "-R", "u=rwX,go=rX", str(share)], check=True)
        folders = sum(1 for path in share.rglob("*") if path.is_dir())
        print(
            f"tree on {address}: {truth.files} files in {folders} folders, "
            f"{sum(truth.extensionless.values())} without extension {dict(truth.extensionless)}"
        )
        smbclient(address)  # warm the server's caches for everyone
        scan(address, work, "--max-rate", "0")
        clients, sampled, unsampled = [], [], []
        for _ in range(args.rounds):
            clients.append(smbclient(address))
            sampled.append(scan(address, work, "--max-rate", "0"))
            unsampled.append(scan(address, work, "--max-rate", "0", "--no-sample"))
        gentle = scan(address, work)
        spider = manspider(address, work, args.manspider) if args.manspider else None

    entries = sampled[-1]["content"]["entries_seen"]
    client_rate, ours = _median(clients, "rate"), _median(sampled, "rate")
    print(f"\nmedian of {args.rounds} rounds (whole processes, wall time):")
    print(f"{'tool':50} {'entries':>8} {'seconds':>8} {'entries/s':>10}")
    print(
        f"{'smbclient -c recurse; ls':50} {clients[-1]['entries']:>8} "
        f"{_median(clients, 'wall_s'):>8.2f} {client_rate:>10.0f}"
    )
    rows = (
        ("shareaudit scan --max-rate 0 (sampling)", sampled),
        ("shareaudit scan --max-rate 0 --no-sample", unsampled),
    )
    for name, runs in rows:
        print(f"{name:50} {entries:>8} {_median(runs, 'wall_s'):>8.2f} {_median(runs, 'rate'):>10.0f}")
    print(
        f"{'shareaudit scan (default --max-rate)':50} {entries:>8} {gentle['wall_s']:>8.2f} {gentle['rate']:>10.0f}"
    )
    if spider:
        print(
            f"{'MANSPIDER -f . -n (files only)':50} {spider['files']:>8.0f} {spider['wall_s']:>8.2f}"
            f" {spider['files'] / spider['wall_s']:>10.0f}"
        )
    last = sampled[-1]["content"]
    print(
        f"\nsampling: {last['sniffed']} files read, {last['extrapolated']} extrapolated in "
        f"{last['sampled_groups']} groups, {last['too_small']} too small to read; without sampling "
        f"{unsampled[-1]['content']['sniffed']} read"
    )
    for label, content in (("sampling", last), ("--no-sample", unsampled[-1]["content"])):
        hit = ", ".join(content["bounds_hit"]) or "none"
        print(
            f"bounds reached ({label}): {hit} (--max-sniff {DEFAULT_MAX_SNIFF}: what could wait is read last)"
        )
    walk = gentle["content"]["walk"]
    print(
        f"default --max-rate {walk['rate']:.0f}/s: walk {gentle['content']['elapsed_s']:.1f} s, "
        f"{walk['listings']} listings + {walk['reads']} reads, {walk['rate_waited_s']:.1f} s waiting for the rate limit"
    )
    rounds = ", ".join(
        f"{scan_run['rate'] / client['rate']:.2f}" for client, scan_run in zip(clients, sampled, strict=True)
    )
    print(f"shareaudit / smbclient entries/s per round (same round): {rounds}")
    ratio = ours / client_rate
    print(
        f"\nbar 1: shareaudit / smbclient entries/s = {ratio:.2f} (needs >= 0.5): {'met' if ratio >= 0.5 else 'NOT met'}"
    )
    if spider:
        slower = spider["wall_s"] / _median(sampled, "wall_s")
        print(
            f"bar 2: MANSPIDER wall time / shareaudit's = {slower:.1f}x (needs >= 4): {'met' if slower >= 4 else 'NOT met'}"
        )
    else:
        print("bar 2: MANSPIDER not installed (see --manspider)")
    _truth_table(truth, last, "sampling")
    _truth_table(truth, unsampled[-1]["content"], "--no-sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
