#!/usr/bin/env python3
"""A private network where a range of addresses silently drops every packet: `dropnet.py up|down|status`.

Two network namespaces of our own: the scanner's (`NAME`: its own loopback, where the tests and benches
start their Samba copies and run the scan) and the dropper's (`NAME-drop`). A veth pair joins them;
in the scanner's namespace the silent range (198.18.0.0/15 is the range RFC 2544 sets aside for
benchmarks) is routed through the dropper, which has IP forwarding off and no address in the range,
so it discards every SYN without an answer: exactly what a firewall that drops does. Nothing of the
machine's own network (its loopback, routes or addresses) is touched; `down` deletes both namespaces,
and with them the veth pair and the route.

This machine has neither iptables nor nft, and its tc has no drop action (no act_gact): the namespaces
need only `ip`. Needs root.

    python3 tests/lab/dropnet.py up sa-bench 198.18.0.0/20   # then: ip netns exec sa-bench COMMAND
    python3 tests/lab/dropnet.py down sa-bench
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

SILENT_SUPERNET = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544: benchmarking, never routed


class DropnetError(RuntimeError):
    """The namespaces could not be set up; the message says why."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise DropnetError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class Dropnet:
    """The scanner's namespace and the range that drops everything."""

    name: str
    silent: ipaddress.IPv4Network

    @property
    def dropper(self) -> str:
        return f"{self.name}-drop"

    def prefix(self) -> list[str]:
        """Put this in front of a command to run it in the scanner's namespace."""
        return ["ip", "netns", "exec", self.name]

    def addresses(self, count: int) -> list[str]:
        """The first `count` addresses of the silent range."""
        return [str(a) for _, a in zip(range(count), self.silent, strict=False)]


def _links(name: str) -> tuple[str, str, str]:
    # Interface names are at most 15 bytes; a checksum of the namespace name keeps them apart.
    tag = f"{zlib.crc32(name.encode()) & 0xFFFFFF:06x}"
    subnet = 1 + zlib.crc32(name.encode()) % 250
    return f"sa{tag}s", f"sa{tag}d", f"169.254.{subnet}"


def up(name: str, silent: str) -> Dropnet:
    """Create the namespaces and the silent route; an existing pair of that name is replaced."""
    if os.geteuid() != 0:
        raise DropnetError("dropnet needs root (ip netns)")
    network = ipaddress.ip_network(silent)
    if not isinstance(network, ipaddress.IPv4Network) or not network.subnet_of(SILENT_SUPERNET):
        raise DropnetError(f"{silent} is not inside {SILENT_SUPERNET} (the benchmarking range)")
    net = Dropnet(name, network)
    down(name)
    scanner_link, drop_link, link_net = _links(name)
    try:
        _ip("netns", "add", net.name)
        _ip("netns", "add", net.dropper)
        _ip(
            "link",
            "add",
            scanner_link,
            "netns",
            net.name,
            "type",
            "veth",
            "peer",
            "name",
            drop_link,
            "netns",
            net.dropper,
        )
        _ip("-n", net.name, "link", "set", "lo", "up")
        _ip("-n", net.name, "addr", "add", f"{link_net}.1/30", "dev", scanner_link)
        _ip("-n", net.dropper, "addr", "add", f"{link_net}.2/30", "dev", drop_link)
        _ip("-n", net.name, "link", "set", scanner_link, "up")
        _ip("-n", net.dropper, "link", "set", drop_link, "up")
        # The dropper answers ARP for the gateway only; forwarding is off in a new namespace, so what it
        # receives for the silent range is discarded without an ICMP error (net.ipv4.ip_forward = 0).
        _ip("-n", net.name, "route", "add", str(network), "via", f"{link_net}.2")
    except DropnetError:
        down(name)
        raise
    forwarding = subprocess.run(
        ["ip", "netns", "exec", net.dropper, "sysctl", "-n", "net.ipv4.ip_forward"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if forwarding != "0":
        down(name)
        raise DropnetError(f"forwarding is on in {net.dropper}: it would not drop")
    return net


def down(name: str) -> None:
    """Delete both namespaces (and so the veth pair and the route); nothing when they do not exist."""
    for ns in (name, f"{name}-drop"):
        _ip("netns", "del", ns, check=False)


def exists(name: str) -> bool:
    return name in _ip("netns", "list", check=False).stdout.split()


@contextlib.contextmanager
def dropnet(name: str, silent: str) -> Iterator[Dropnet]:
    """The namespaces for the duration of a `with` block."""
    net = up(name, silent)
    try:
        yield net
    finally:
        down(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up")
    start.add_argument("name")
    start.add_argument("silent", help="a range inside 198.18.0.0/15, e.g. 198.18.0.0/20")
    stop = sub.add_parser("down")
    stop.add_argument("name")
    check = sub.add_parser("status")
    check.add_argument("name")
    args = parser.parse_args()
    try:
        if args.command == "up":
            up(args.name, args.silent)
        elif args.command == "down":
            down(args.name)
        else:
            print(f"{args.name}: {'up' if exists(args.name) else 'down'}")
    except DropnetError as exc:
        print(f"dropnet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
