"""Target parsing: host names, IPv4/IPv6 addresses, CIDR ranges, host:port, and @file lists."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shareaudit.errors import InputError

DEFAULT_PORT = 445
# A /16 is the largest range one entry may expand to: larger ones are almost always a typo, and
# a scan of them should be a deliberate list of smaller ranges.
MAX_RANGE = 65_536
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$")


@dataclass(frozen=True, slots=True)
class Target:
    """One host to scan: the text it came from, the host to connect to, and the port."""

    spec: str
    host: str
    port: int = DEFAULT_PORT


@dataclass(frozen=True, slots=True)
class TargetProblem:
    """An entry that could not be used, and where it came from."""

    source: str  # "command line" or "FILE:LINE"
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.text!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class TargetList:
    """The targets to scan, and the entries that were skipped."""

    targets: tuple[Target, ...]
    problems: tuple[TargetProblem, ...]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def _host(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if re.fullmatch(r"[\d.]+", text):
        raise ValueError("not a valid IPv4 address")
    if not _HOSTNAME.match(text):
        raise ValueError("not a host name, an IP address, or a CIDR range")
    return text.rstrip(".").lower()


def parse_entry(text: str) -> list[Target]:
    """Expand one entry into targets; ValueError says what is wrong with it."""
    spec = text.strip()
    host, port = spec, DEFAULT_PORT
    if spec.startswith("["):  # [IPv6]:port or [IPv6]
        inside, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("bracketed address must look like [addr] or [addr]:port")
        host, port = inside, _port(rest[1:]) if rest else DEFAULT_PORT
        if ":" not in host:
            raise ValueError("only IPv6 addresses go in brackets")
    elif spec.count(":") == 1:  # host:port (an unbracketed IPv6 address has more colons)
        host, _, port_text = spec.partition(":")
        port = _port(port_text)
    if "/" in host:
        try:
            network = ipaddress.ip_network(host, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a valid CIDR range ({exc})") from exc
        if network.num_addresses > MAX_RANGE:
            raise ValueError(f"range has {network.num_addresses} addresses; the limit is {MAX_RANGE} (a /16)")
        hosts = list(network.hosts()) or [network.network_address]
        return [Target(spec, str(address), port) for address in hosts]
    return [Target(spec, _host(host), port)]


def _entries_from_file(path: Path) -> Iterable[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read target file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"target file {path} is not UTF-8 text") from exc
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            yield f"{path}:{number}", entry


def parse_targets(specs: Iterable[str], strict: bool = False) -> TargetList:
    """Parse command-line target arguments (each an entry or @file); duplicates are dropped."""
    targets: dict[tuple[str, int], Target] = {}
    problems: list[TargetProblem] = []
    for spec in specs:
        entries = _entries_from_file(Path(spec[1:])) if spec.startswith("@") else [("command line", spec)]
        for source, entry in entries:
            try:
                for target in parse_entry(entry):
                    targets.setdefault((target.host, target.port), target)
            except ValueError as exc:
                problems.append(TargetProblem(source, entry, str(exc)))
    if strict and problems:
        raise InputError(
            f"bad target {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    return TargetList(tuple(targets.values()), tuple(problems))
