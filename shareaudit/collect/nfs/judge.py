"""Pure decisions about NFS facts: what an export's client list means, which identity walks an export.

No I/O: the collector and the rules ask here, and tests/unit/test_nfs.py checks each both ways.
"""

from __future__ import annotations

import ipaddress
import stat
from collections.abc import Mapping, Sequence

from shareaudit.collect.walk import Entry
from shareaudit.model import NfsAccess

# What the MOUNT export list says when an export names no client (showmount prints "(everyone)"), and
# the spellings of "any host" that servers use.
_EVERYONE = {"*", "(everyone)", "everyone", "world", "0.0.0.0/0", "0.0.0.0/0.0.0.0", "::/0", "*.*"}
BROAD_PREFIX = 16  # an IPv4 network this wide (a /16 or wider) holds tens of thousands of hosts


def client_kind(spec: str) -> str:
    """everyone | network | host | netgroup | wildcard | name, for one entry of an export's client list."""
    text = spec.strip()
    if text.lower() in _EVERYONE:
        return "everyone"
    if text.startswith("@"):
        return "netgroup"
    if "*" in text or "?" in text or "[" in text:
        return "wildcard"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return "name"
    if network.prefixlen == 0:
        return "everyone"
    return "host" if network.num_addresses == 1 else "network"


def open_to_everyone(clients: Sequence[str]) -> bool:
    """The export list allows any host: no client named at all, or an entry that matches every host."""
    return not clients or any(client_kind(spec) == "everyone" for spec in clients)


def broadest(clients: Sequence[str]) -> str | None:
    """The widest entry, described: 'any host', 'the network 10.0.0.0/8', ... (None: hosts only)."""
    if open_to_everyone(clients):
        return "any host"
    kinds = [(client_kind(spec), spec.strip()) for spec in clients]
    for kind, spec in kinds:
        if kind == "wildcard":
            return f"any host named {spec}"
    networks = [ipaddress.ip_network(spec, strict=False) for kind, spec in kinds if kind == "network"]
    if networks:
        widest = min(networks, key=lambda n: n.prefixlen if n.version == 4 else n.prefixlen - 96)
        return f"the network {widest}"
    for kind, spec in kinds:
        if kind == "netgroup":
            return f"the netgroup {spec}"
    return None


def broad_network(clients: Sequence[str]) -> bool:
    """Any host, a wildcard, or a network of a /16 or wider (IPv6: a /64 or wider)."""
    if open_to_everyone(clients):
        return True
    for spec in clients:
        kind = client_kind(spec)
        if kind == "wildcard":
            return True
        if kind == "network":
            network = ipaddress.ip_network(spec.strip(), strict=False)
            limit = BROAD_PREFIX if network.version == 4 else 64
            if network.prefixlen <= limit:
                return True
    return False


def likely_readable(files: Sequence[tuple[Entry, tuple[int, int, int]]], uid: int, gid: int) -> list[Entry]:
    """Files (entry, (owner uid, mode, type)) ordered so that those this uid may read by their mode come first.

    The group is not known from a listing's attributes here, so a group read bit counts only after the
    owner's and others' (the read is then tried anyway: the server decides).
    """

    def rank(item: tuple[Entry, tuple[int, int, int]]) -> int:
        owner, mode = item[1][0], item[1][1]
        if mode & stat.S_IROTH or (owner == uid and mode & stat.S_IRUSR):
            return 0
        return 1 if mode & stat.S_IRGRP and gid else 2

    return [entry for entry, _ in sorted(files, key=rank)]


def walker(access: Mapping[str, NfsAccess], order: Sequence[str]) -> str | None:
    """Who walks an export: the least privileged identity (first in `order`) that could list it."""
    return next((label for label in order if label in access and access[label].list), None)


def gained(access: Mapping[str, NfsAccess], anonymous: str) -> list[str]:
    """Identities that could do more than nobody by claiming their uid (AUTH_SYS impersonation)."""
    base = access.get(anonymous) or NfsAccess(mount=False)
    more = []
    for label, granted in access.items():
        if label == anonymous:
            continue
        if (
            (granted.list and not base.list)
            or (granted.read and not base.read)
            or (granted.write and not base.write)
        ):
            more.append(label)
    return more
