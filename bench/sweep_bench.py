"""The sweep's bar: 4,096 addresses that drop SYNs plus the lab hosts, under 30 s with a 5 s timeout.

Run by hand, as root (network namespaces of our own; nothing of the machine's network is touched):

    python bench/sweep_bench.py [--silent 4096] [--timeout 5] [--no-sweep-too]

bench/netlab.py makes a namespace where 198.18.0.0/N drops every SYN (a firewalled range) and starts a
throwaway copy of each lab personality (labnas, labfs, labacl, labposix) on its loopback; then a real
`shareaudit -v scan` of the copies and the silent addresses runs there with the default options (SMB
and DICOM ports swept, shares walked). Printed: wall time, peak memory, the phases from the log (sweep
done, collection done, outputs written), whether every lab host was fully scanned, and the bar.
`--silent 65534 --reports` sweeps a whole /16 and writes all three outputs (figures in docs/scale.md). `--no-sweep-too` also times the same
scan with --no-sweep, on a sample of the silent addresses, for comparison.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from netlab import PERSONALITY_NAMES, Estate, describe

BAR_SECONDS = 30.0


def _silent_range(count: int) -> str:
    prefix = 32 - max(0, (count + 1)).bit_length()
    return str(ipaddress.ip_network(f"198.18.0.0/{min(prefix, 30)}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silent", type=int, default=4096, help="silent addresses (default 4096)")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--reports", action="store_true", help="also write the HTML report and the CSV")
    parser.add_argument(
        "--no-sweep-too", action="store_true", help="also time --no-sweep on 64 silent addresses"
    )
    args = parser.parse_args()
    network = ipaddress.ip_network(_silent_range(args.silent))
    silent = [str(a) for _, a in zip(range(args.silent), network.hosts(), strict=False)]
    with Estate(str(network), list(PERSONALITY_NAMES)) as estate:
        live = estate.addresses
        reports = ["--html", str(estate.work / "report.html"), "--csv", str(estate.work / "findings.csv")]
        run = estate.scan(
            [*live, *silent], "--timeout", str(args.timeout), *(reports if args.reports else [])
        )
        print(
            f"sweep: {len(silent)} silent addresses in {network} + {len(live)} lab hosts, --timeout {args.timeout:g}"
        )
        for line in describe(run, live):
            print("  " + line)
        met = (
            run.wall < BAR_SECONDS
            and all(h["error"] is None for h in run.hosts() if h["address"] in live)
            and len(run.hosts()) == len(live) + len(silent)
        )
        if args.silent == 4096 and args.timeout == 5.0:
            print(f"  bar (< {BAR_SECONDS:g} s, every lab host scanned): {'MET' if met else 'NOT MET'}")
        if args.no_sweep_too:
            sample = silent[:64]
            slow = estate.scan([*live, *sample], "--timeout", str(args.timeout), "--no-sweep")
            print(f"no sweep: {len(sample)} silent addresses + {len(live)} lab hosts")
            for line in describe(slow, live):
                print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
