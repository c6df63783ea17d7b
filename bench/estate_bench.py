"""Many live hosts: at least 20 Samba servers plus thousands of silent addresses, scanned in one run.

Run by hand, as root (network namespaces of our own; nothing of the machine's network is touched):

    python bench/estate_bench.py [--copies 20] [--silent 4096] [--timeout 5] [--max-hosts 16] [--walk-connections 2]

bench/netlab.py starts `--copies` throwaway Samba servers (the lab's four personalities in turn, each
prepared from scratch with its shares, files and ACLs) on the loopback of a namespace of our own, where
198.18.0.0/N drops every SYN; a real `shareaudit -v scan` (default options: SMB and DICOM ports swept,
shares walked) of all of them runs there. Printed: live hosts per minute, all targets per minute, peak
memory of the scan process, and where the time goes (the phases from the log, the deep scans' own
times per host). The figures are in docs/scale.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from netlab import PERSONALITY_NAMES, Estate, describe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20, help="Samba servers (default 20)")
    parser.add_argument("--silent", type=int, default=4096, help="silent addresses (default 4096)")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-hosts", type=int, default=16)
    parser.add_argument("--walk-connections", type=int, default=2, help="SMB connections per share walk")
    args = parser.parse_args()
    prefix = min(30, 32 - (args.silent + 1).bit_length())
    network = ipaddress.ip_network(f"198.18.0.0/{prefix}")
    silent = [str(a) for _, a in zip(range(args.silent), network.hosts(), strict=False)]
    personalities = [PERSONALITY_NAMES[n % len(PERSONALITY_NAMES)] for n in range(args.copies)]
    with Estate(str(network), personalities) as estate:
        live = estate.addresses
        run = estate.scan(
            [*live, *silent],
            "--timeout",
            str(args.timeout),
            "--max-hosts",
            str(args.max_hosts),
            "--walk-connections",
            str(args.walk_connections),
        )
    print(
        f"estate: {len(live)} Samba servers + {len(silent)} silent addresses, "
        f"--timeout {args.timeout:g}, --max-hosts {args.max_hosts}"
    )
    for line in describe(run, live):
        print("  " + line)
    phases = run.phases
    began = phases.get("sweep started", 0.0)
    collected = phases.get("collection done", run.wall)
    if collected > began:
        minutes = (collected - began) / 60
        print(
            f"  live hosts per minute: {len(live) / minutes:.0f}; all targets per minute: "
            f"{(len(live) + len(silent)) / minutes:.0f} (from the sweep's start to the last host)"
        )
    print(
        f"  where the time goes: start-up {began:.1f} s, sweep {phases.get('sweep done', 0) - began:.1f} s "
        f"(deep scans run meanwhile), collection to the last host {collected - began:.1f} s, "
        f"rules and outputs {phases.get('outputs written', run.wall) - collected:.1f} s, "
        f"exit {run.wall - phases.get('outputs written', run.wall):.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
