"""Read Active Directory: computers, published printers, candidate device accounts, groups, SIDs.

Group expansion: the server's tokenGroups ([MS-ADTS] 3.1.1.4.5.19, every security group in the
account's token, transitively, with the primary group and BUILTIN groups) is the authority on which
SIDs an account holds; walking memberOf from the account (and its primary group) explains *how*, as a
chain of group names. Members of device groups are found with LDAP_MATCHING_RULE_IN_CHAIN
(1.2.840.113556.1.4.1941, [MS-ADTS] 3.1.1.3.4.4.3) rather than by expanding every user.

Accounts are users (objectCategory person) and managed service accounts (msDS-ManagedServiceAccount,
msDS-GroupManagedServiceAccount: subclasses of computer, with their own objectCategory); each is
judged by `shareaudit.ad.devices` from what is decoded here.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from shareaudit.acl import domain_of, well_known_name
from shareaudit.ad.devices import (
    FIRST_ORDINARY_RID,
    UF_ACCOUNTDISABLE,
    UF_DONT_EXPIRE_PASSWD,
    AccountFacts,
    ServiceRules,
    has_device_word,
    judge,
    rc4_allowed,
)
from shareaudit.model import Directory, DirectoryAccount, DirectoryComputer, GroupMembership, PublishedPrinter
from shareaudit.plan.targets import DEFAULT_PORT, Target

if TYPE_CHECKING:
    from shareaudit.ad.connection import DirectoryConnection, Entry

IN_CHAIN = "1.2.840.113556.1.4.1941"
# [MS-ADTS] 2.2.12 groupType: the group is a security group (distribution groups grant no access).
GROUP_TYPE_SECURITY_ENABLED = 0x80000000
# Groups whose members administer the domain or its servers ([MS-DTYP] 2.4.2.4 RIDs and BUILTIN SIDs).
PRIVILEGED_RIDS = frozenset({512, 516, 518, 519, 520, 526, 527})  # Domain/Schema/Enterprise Admins, ...
PRIVILEGED_BUILTIN = frozenset(
    {
        "S-1-5-32-544",  # Administrators
        "S-1-5-32-548",  # Account Operators
        "S-1-5-32-549",  # Server Operators
        "S-1-5-32-550",  # Print Operators
        "S-1-5-32-551",  # Backup Operators
    }
)
_SID_BATCH = 50
_USER_FILTER = (
    "(|(&(objectCategory=person)(objectClass=user))"
    "(objectClass=msDS-ManagedServiceAccount)(objectClass=msDS-GroupManagedServiceAccount))"
)
_USER_ATTRIBUTES = (
    "sAMAccountName",
    "objectSid",
    "objectClass",
    "description",
    "userAccountControl",
    "servicePrincipalName",
    "memberOf",
    "primaryGroupID",
    "givenName",
    "sn",
    "mail",
    "lastLogonTimestamp",
    "lastLogon",
    "logonCount",
    "pwdLastSet",
    "userWorkstations",
    "msDS-SupportedEncryptionTypes",
)
_MANAGED_CLASSES = {"msds-groupmanagedserviceaccount": "gmsa", "msds-managedserviceaccount": "msa"}
# [MS-DTYP] 2.3.3 FILETIME: 100 ns intervals since 1601-01-01 UTC. 0 and the largest value mean "never".
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_FILETIME_NEVER = 0x7FFFFFFFFFFFFFFF
# [MS-DNSP] 2.2.2.1.1 record types read here.
_DNS_TYPE_A = 1
_DNS_TYPE_AAAA = 28


def sid_from_bytes(data: bytes) -> str:
    """A binary SID ([MS-DTYP] 2.4.2.2) in string form (2.4.2.1)."""
    if len(data) < 8 or len(data) < 8 + 4 * data[1]:
        raise ValueError(f"not a SID: {data.hex()}")
    revision, count = data[0], data[1]
    authority = int.from_bytes(data[2:8], "big")
    subs = struct.unpack(f"<{count}I", data[8 : 8 + 4 * count])
    return f"S-{revision}-{authority}" + "".join(f"-{sub}" for sub in subs)


def address_from_dns_record(data: bytes) -> str | None:
    """The address in an A or AAAA dnsRecord value ([MS-DNSP] 2.3.2.2), else None."""
    # DataLength(2) Type(2) Version(1) Rank(1) Flags(2) Serial(4) TtlSeconds(4) Reserved(4) TimeStamp(4) Data
    if len(data) < 24:
        return None
    length, kind = struct.unpack_from("<HH", data)
    payload = data[24 : 24 + length]
    if kind == _DNS_TYPE_A and len(payload) == 4:
        return str(ipaddress.IPv4Address(payload))
    if kind == _DNS_TYPE_AAAA and len(payload) == 16:
        return str(ipaddress.IPv6Address(payload))
    return None


def datetime_from_filetime(value: int | None) -> datetime | None:
    """A FILETIME attribute (lastLogonTimestamp, pwdLastSet) as a UTC time; None for absent, 0 or never."""
    if value is None or value <= 0 or value >= _FILETIME_NEVER:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


def managed_kind(object_classes: Iterable[str]) -> str | None:
    """The kind of managed service account ("gmsa", "msa") that objectClass values name, else None."""
    kinds = {_MANAGED_CLASSES.get(c.lower()) for c in object_classes}
    return "gmsa" if "gmsa" in kinds else "msa" if "msa" in kinds else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def is_privileged(sid: str) -> bool:
    """An administrative group of the domain or BUILTIN."""
    domain = domain_of(sid)
    return sid in PRIVILEGED_BUILTIN or (domain is not None and domain[1] in PRIVILEGED_RIDS)


class _Group(NamedTuple):
    sid: str
    name: str
    member_of: tuple[str, ...]  # DNs
    security: bool


@dataclass(frozen=True, slots=True)
class ComputerFilter:
    """Which computers become scan targets: enabled ones, in these OUs, with these names and OSes."""

    ous: tuple[str, ...] = ()  # DNs, relative to the base DN or full
    names: tuple[str, ...] = ()  # globs on the computer name or DNS name
    oses: tuple[str, ...] = ()  # globs on operatingSystem

    def matches(self, computer: DirectoryComputer, base_dn: str) -> bool:
        """Enabled, and within every filter that is given."""
        if not computer.enabled:
            return False
        dn = _norm(computer.dn)
        if self.ous and not any(
            dn.endswith("," + _norm(ou)) or dn.endswith("," + _norm(ou) + "," + _norm(base_dn))
            for ou in self.ous
        ):
            return False
        names = [n.lower() for n in (computer.name, computer.dns_name) if n]
        if self.names and not any(fnmatch.fnmatch(n, g.lower()) for n in names for g in self.names):
            return False
        return not self.oses or any(
            fnmatch.fnmatch((computer.os or "").lower(), g.lower()) for g in self.oses
        )


def _norm(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


def targets_from(directory: Directory, wanted: ComputerFilter) -> list[Target]:
    """Scan targets for the matching computers: named by DNS name, reached at the directory's address."""
    targets = []
    for computer in directory.computers:
        if not wanted.matches(computer, directory.base_dn):
            continue
        name = computer.dns_name or computer.name
        # Without an address in the directory's zone, the host's own resolver finds it at scan time.
        targets.append(Target(name.lower(), computer.address or name.lower(), DEFAULT_PORT))
    return targets


def _escaped(value: str) -> str:
    """An assertion value for a search filter ([RFC 4515] 3), escaped by ldap3 (loaded with the session)."""
    from ldap3.utils.conv import escape_filter_chars

    return str(escape_filter_chars(value))


class DirectoryReader:
    """Reads one domain through a bound DirectoryConnection."""

    def __init__(self, connection: DirectoryConnection) -> None:
        self.connection = connection
        self.base = connection.base_dn
        self._groups: dict[str, _Group] | None = None

    def domain(self) -> tuple[str, str | None, str]:
        """(DNS domain, NetBIOS domain, domain SID)."""
        root = self.connection.read(self.base, ["objectSid"])
        sid = sid_from_bytes(root.raw("objectSid")[0]) if root and root.raw("objectSid") else ""
        partitions = f"CN=Partitions,{self.connection.root.configuration_naming_context}"
        found = next(
            self.connection.search(
                partitions,
                f"(&(objectClass=crossRef)(nCName={_escaped(self.base)}))",
                ["nETBIOSName", "dnsRoot"],
            ),
            None,
        )
        dns = (found.text("dnsRoot") if found else None) or ".".join(
            part.split("=", 1)[1] for part in self.base.split(",") if part.strip().lower().startswith("dc=")
        )
        return dns.lower(), found.text("nETBIOSName") if found else None, sid

    def groups(self) -> dict[str, _Group]:
        """Every group of the domain partition (BUILTIN included), by DN, read once."""
        if self._groups is None:
            self._groups = {}
            for entry in self.connection.search(
                self.base, "(objectClass=group)", ["sAMAccountName", "objectSid", "memberOf", "groupType"]
            ):
                if not entry.raw("objectSid"):
                    continue
                sid = sid_from_bytes(entry.raw("objectSid")[0])
                name = entry.text("sAMAccountName") or entry.dn
                if sid.startswith("S-1-5-32-"):
                    name = well_known_name(sid) or f"BUILTIN\\{name}"
                group_type = (entry.integer("groupType") or 0) & 0xFFFFFFFF
                self._groups[_norm(entry.dn)] = _Group(
                    sid, name, tuple(entry.texts("memberOf")), bool(group_type & GROUP_TYPE_SECURITY_ENABLED)
                )
        return self._groups

    def computers(self, addresses: Mapping[str, str]) -> tuple[DirectoryComputer, ...]:
        """Every computer object, enabled or not, with its address from the directory's DNS zone."""
        found = []
        attributes = [
            "sAMAccountName",
            "dNSHostName",
            "operatingSystem",
            "operatingSystemVersion",
            "userAccountControl",
        ]
        for entry in self.connection.search(self.base, "(objectCategory=computer)", attributes):
            dns = entry.text("dNSHostName")
            found.append(
                DirectoryComputer(
                    name=(entry.text("sAMAccountName") or entry.dn).rstrip("$"),
                    dn=entry.dn,
                    enabled=not (entry.integer("userAccountControl") or 0) & UF_ACCOUNTDISABLE,
                    dns_name=dns.lower() if dns else None,
                    os=entry.text("operatingSystem"),
                    os_version=entry.text("operatingSystemVersion"),
                    address=addresses.get(dns.lower()) if dns else None,
                )
            )
        return tuple(sorted(found, key=lambda c: c.name.lower()))

    def dns_addresses(self, dns_domain: str) -> dict[str, str]:
        """name.zone -> address for every A/AAAA record of the domain's AD-integrated zone."""
        addresses: dict[str, str] = {}
        zones = (
            f"DC={dns_domain},CN=MicrosoftDNS,DC=DomainDnsZones,{self.base}",
            f"DC={dns_domain},CN=MicrosoftDNS,CN=System,{self.base}",  # zones from before Windows 2003
        )
        for zone in zones:
            for entry in self.connection.search(
                zone, "(objectClass=dnsNode)", ["name", "dnsRecord", "dNSTombstoned"]
            ):
                name = entry.text("name")
                if not name or (entry.text("dNSTombstoned") or "").upper() == "TRUE":
                    continue
                for value in entry.raw("dnsRecord"):
                    address = address_from_dns_record(bytes(value))
                    if address:
                        addresses.setdefault(f"{name}.{dns_domain}".lower(), address)
        return addresses

    def printers(self) -> tuple[PublishedPrinter, ...]:
        """Every published print queue."""
        attributes = ["printerName", "serverName", "uNCName", "portName", "driverName", "location"]
        found = [
            PublishedPrinter(
                name=entry.text("printerName") or entry.dn,
                server=(entry.text("serverName") or "").lower(),
                unc=entry.text("uNCName") or "",
                dn=entry.dn,
                port=entry.text("portName"),
                driver=entry.text("driverName"),
                location=entry.text("location"),
            )
            for entry in self.connection.search(self.base, "(objectCategory=printQueue)", attributes)
        ]
        return tuple(sorted(found, key=lambda p: (p.server, p.name.lower())))

    def device_group_members(self) -> dict[str, str]:
        """DN -> device group name, for the accounts inside any device group (Scanners, ...), however nested."""
        members: dict[str, str] = {}
        for dn, group in sorted(self.groups().items(), key=lambda item: item[1].name.lower()):
            if not has_device_word(group.name):
                continue
            chain = f"(&{_USER_FILTER}(memberOf:{IN_CHAIN}:={_escaped(dn)}))"
            for entry in self.connection.search(self.base, chain, ["cn"]):
                members.setdefault(_norm(entry.dn), group.name)
        return members

    def memberships(self, entry: Entry, domain_sid: str) -> tuple[GroupMembership, ...]:
        """The account's security groups, transitively, each with the chain of group names leading to it."""
        groups = self.groups()
        by_sid = {group.sid: (dn, group) for dn, group in groups.items()}
        start: list[str] = [_norm(dn) for dn in entry.texts("memberOf")]
        primary = entry.integer("primaryGroupID")
        if primary is not None and f"{domain_sid}-{primary}" in by_sid:
            start.append(by_sid[f"{domain_sid}-{primary}"][0])
        paths: dict[str, tuple[str, ...]] = {}
        queue: list[tuple[str, tuple[str, ...]]] = [(dn, ()) for dn in start]
        while queue:  # breadth first: the shortest chain explains a membership
            dn, before = queue.pop(0)
            group = groups.get(dn)
            if group is None or group.sid in paths:
                continue
            paths[group.sid] = (*before, group.name)
            queue.extend((_norm(parent), paths[group.sid]) for parent in group.member_of)
        token = self._token_groups(entry.dn)
        held = token if token else {sid for sid, (_, g) in ((s, by_sid[s]) for s in paths) if g.security}
        memberships = [
            GroupMembership(
                sid=sid,
                name=by_sid[sid][1].name if sid in by_sid else (well_known_name(sid) or sid),
                path=paths.get(sid, ()),
                privileged=is_privileged(sid),
            )
            for sid in held
        ]
        return tuple(sorted(memberships, key=lambda m: (len(m.path) or 99, m.name.lower())))

    def _token_groups(self, dn: str) -> set[str]:
        # tokenGroups is constructed: the server computes it only for a base-scope read of one object.
        entry = self.connection.read(dn, ["tokenGroups"])
        return {sid_from_bytes(bytes(value)) for value in entry.raw("tokenGroups")} if entry else set()

    def accounts(
        self,
        domain_sid: str,
        named: Iterable[str],
        identities: Mapping[str, str],
        rules: ServiceRules | None = None,
        now: datetime | None = None,
    ) -> tuple[DirectoryAccount, ...]:
        """Candidate device/service accounts, and the accounts of the scan's identities (label -> user)."""
        rules = rules or ServiceRules()
        now = now or datetime.now(UTC)
        named_lower = {n.lower() for n in named}
        by_user = {user.lower(): label for label, user in identities.items()}
        in_device_groups = self.device_group_members()
        found = []
        for entry in self.connection.search(self.base, _USER_FILTER, _USER_ATTRIBUTES):
            name = entry.text("sAMAccountName") or ""
            if not entry.raw("objectSid") or not name:
                continue
            sid = sid_from_bytes(entry.raw("objectSid")[0])
            domain = domain_of(sid)
            control = entry.integer("userAccountControl") or 0
            spns = entry.texts("servicePrincipalName")
            managed = managed_kind(entry.texts("objectClass"))
            last_logon = max(
                (
                    moment
                    for moment in (
                        datetime_from_filetime(entry.integer("lastLogonTimestamp")),
                        datetime_from_filetime(entry.integer("lastLogon")),
                    )
                    if moment
                ),
                default=None,
            )
            password_set = datetime_from_filetime(entry.integer("pwdLastSet"))
            workstations = tuple(
                w.strip() for w in (entry.text("userWorkstations") or "").split(",") if w.strip()
            )
            facts = AccountFacts(
                name=name,
                description=entry.text("description") or "",
                builtin=domain is None or domain[1] < FIRST_ORDINARY_RID,
                named=name.lower() in named_lower or name.lower().rstrip("$") in named_lower,
                managed=managed,
                device_group=in_device_groups.get(_norm(entry.dn)),
                spns=spns,
                password_never_expires=bool(control & UF_DONT_EXPIRE_PASSWD),
                workstations=workstations,
                password_last_set=password_set,
                last_logon=last_logon,
                logon_count=entry.integer("logonCount"),
                given_name=entry.text("givenName"),
                surname=entry.text("sn"),
                mail=entry.text("mail"),
            )
            verdict = judge(facts, rules, now)
            label = by_user.get(name.lower())
            if not verdict.candidate and label is None:
                continue
            encryption_types = entry.integer("msDS-SupportedEncryptionTypes")
            found.append(
                DirectoryAccount(
                    name=name,
                    sid=sid,
                    dn=entry.dn,
                    enabled=not control & UF_ACCOUNTDISABLE,
                    description=entry.text("description") or "",
                    device=verdict.candidate,
                    reasons=verdict.reasons if verdict.candidate else (),
                    spns=spns,
                    password_never_expires=bool(control & UF_DONT_EXPIRE_PASSWD),
                    groups=self.memberships(entry, domain_sid),
                    identity=label,
                    signals=verdict.signals if verdict.candidate else (),
                    score=verdict.score if verdict.candidate else 0,
                    person=verdict.person,
                    managed=managed,
                    rc4=rc4_allowed(encryption_types),
                    encryption_types=encryption_types,
                    last_logon=_iso(last_logon),
                    logon_count=facts.logon_count,
                    password_last_set=_iso(password_set),
                    workstations=workstations,
                )
            )
        return tuple(sorted(found, key=lambda a: a.name.lower()))

    def names_of(self, sids: Iterable[str]) -> dict[str, str]:
        """DOMAIN\\name for the SIDs the directory knows (groups from the cache, the rest by search)."""
        netbios = self.domain()[1]
        prefix = f"{netbios}\\" if netbios else ""
        by_sid = {g.sid: g.name for g in self.groups().values()}
        names = {
            sid: (name if name.startswith("BUILTIN\\") else prefix + name)
            for sid, name in by_sid.items()
            if sid in set(sids)
        }
        rest = sorted(sid for sid in set(sids) - set(names) if domain_of(sid) is not None)
        for start in range(0, len(rest), _SID_BATCH):
            batch = rest[start : start + _SID_BATCH]
            query = "(|" + "".join(f"(objectSid={sid})" for sid in batch) + ")"
            for entry in self.connection.search(self.base, query, ["objectSid", "sAMAccountName"]):
                if entry.raw("objectSid") and entry.text("sAMAccountName"):
                    names[sid_from_bytes(entry.raw("objectSid")[0])] = prefix + (
                        entry.text("sAMAccountName") or ""
                    )
        return names


def read_directory(
    connection: DirectoryConnection,
    url: str,
    named: Sequence[str] = (),
    identities: Mapping[str, str] | None = None,
    rules: ServiceRules | None = None,
) -> Directory:
    """Everything the audit needs from the directory, as model facts."""
    reader = DirectoryReader(connection)
    dns_domain, netbios, domain_sid = reader.domain()
    return Directory(
        url=url,
        base_dn=reader.base,
        dns_domain=dns_domain,
        server=connection.root.dns_host_name,
        domain_sid=domain_sid,
        netbios_domain=netbios,
        computers=reader.computers(reader.dns_addresses(dns_domain)),
        printers=reader.printers(),
        accounts=reader.accounts(domain_sid, named, identities or {}, rules),
    )
