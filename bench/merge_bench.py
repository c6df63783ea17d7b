"""`shareaudit merge` at scale: scan files of several vantage points over the same synthetic estate.

Run by hand:

    python bench/merge_bench.py [--hosts 1000] [--shares 10] [--vantages 3]

The first vantage point (trusted) reaches every host with the audit account; each other one (untrusted)
reaches every other host, as anonymous and guest only, the rest refusing. Prints the size of each scan
file (findings included, as a scan writes them), then for the
real `shareaudit merge -o DIR` in its own process: its wall and CPU time (the machine may be shared: CPU is
the steadier figure), its peak resident memory, the merged files' sizes and the findings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import large_result  # noqa: E402

from shareaudit import scanfile  # noqa: E402
from shareaudit.model import HostResult, ScanResult, VantagePoint  # noqa: E402
from shareaudit.rules import evaluate  # noqa: E402


def _run(estate: ScanResult, name: str, trusted: bool, index: int) -> ScanResult:
    """The estate as one vantage point sees it."""
    if index == 0:
        hosts = estate.hosts
    else:
        hosts = tuple(
            replace(
                host,
                shares=tuple(
                    replace(s, access={k: v for k, v in s.access.items() if k in ("anonymous", "guest")})
                    for s in host.shares
                ),
            )
            if n % 2 == index % 2
            else HostResult(host.target, host.address, host.port, False, "connection refused", "refused")
            for n, host in enumerate(estate.hosts)
        )
    run = replace(estate, hosts=hosts, vantage=name, vantages=(VantagePoint(name, trusted),))
    return replace(run, findings=evaluate(run))  # as a scan writes it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=10)
    parser.add_argument("--vantages", type=int, default=3)
    args = parser.parse_args()
    estate = large_result(args.hosts, args.shares)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        paths = []
        for index in range(args.vantages):
            name = "office" if index == 0 else f"segment-{index}"
            path = out / f"{name}.json"
            scanfile.write(_run(estate, name, index == 0, index), path)
            paths.append(path)
            print(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
        # The real command, in its own process: its time and peak memory are the merge's alone.
        command = [
            sys.executable,
            "-m",
            "shareaudit",
            "merge",
            *map(str, paths),
            "-o",
            str(out / "merged"),
            "-q",
        ]
        started = time.perf_counter()
        child = subprocess.Popen(command, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        assert child.stderr is not None
        errors = child.stderr.read().decode()
        child.stderr.close()
        merged = scanfile.read(out / "merged" / "scan.json")
        untrusted = sum(1 for f in merged.findings if f.rule == "untrusted-vantage")
        print(
            f"shareaudit merge of {args.vantages} vantage points x {args.hosts} hosts x {args.shares} shares: "
            f"exit {os.waitstatus_to_exitcode(status)}, {elapsed:.1f} s wall, "
            f"{usage.ru_utime + usage.ru_stime:.1f} s CPU, peak memory {usage.ru_maxrss / 1024:.0f} MiB"
            + (f" ({errors.strip()})" if errors.strip() else "")
        )
        print(
            f"merged scan.json {(out / 'merged' / 'scan.json').stat().st_size / 1e6:.1f} MB, "
            f"report.html {(out / 'merged' / 'report.html').stat().st_size / 1e6:.1f} MB; "
            f"{len(merged.findings)} findings ({untrusted} untrusted-vantage)"
        )


if __name__ == "__main__":
    main()
