"""Seed the lab DC's directory offline, before samba starts: `python3 dc_seed.py SMB_CONF`.

Run by tests/lab/dc.py with Debian's python3, because it uses Samba's own Python bindings (package
python3-samba, a dependency of samba) on the provisioned sam.ldb: no network, no LDAP, no TLS, and the
DC starts with the whole directory in place. What is seeded is tests/lab/dcdata.py.
"""

from __future__ import annotations

import calendar
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dcdata
import ldb
from samba import dsdb
from samba.auth import system_session
from samba.dcerpc import dnsp
from samba.ndr import ndr_pack
from samba.param import LoadParm
from samba.samdb import SamDB

# samdb.h DSDB_CONTROL_PASSWORD_BYPASS_LAST_SET_OID (not exported to Python in 4.17): lets a seeder
# write a pwdLastSet other than 0 or -1, which password_hash refuses otherwise ("must be 0 or -1 only").
BYPASS_LAST_SET = "local_oid:1.3.6.1.4.1.7165.4.3.20:0"
# [MS-DTYP] 2.3.3 FILETIME: 100 ns intervals since 1601-01-01; 11644473600 s before the Unix epoch.
_FILETIME_OFFSET = 11_644_473_600


def _filetime(unix: float) -> str:
    return str(int((unix + _FILETIME_OFFSET) * 10_000_000))


def _add(samdb: SamDB, message: dict[str, object]) -> None:
    samdb.add(message)


def _replace(samdb: SamDB, dn: str, values: dict[str, object], controls: list[str] | None = None) -> None:
    change = ldb.Message(ldb.Dn(samdb, dn))
    for name, value in values.items():
        change[name] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, name)
    samdb.modify(change, controls=controls or [])


def seed(conf: str) -> None:
    lp = LoadParm()
    lp.load(conf)
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = samdb.domain_dn()
    for ou in dcdata.OUS:
        _add(samdb, {"dn": f"{ou},{base}", "objectClass": "organizationalUnit"})

    for group in dcdata.GROUPS:
        samdb.newgroup(group.name, groupou=dcdata.GROUPS_OU, description=group.description)
    for group in dcdata.GROUPS:
        for parent in group.member_of:
            samdb.add_remove_group_members(parent, [group.name], add_members_operation=True)

    seeded_at = time.time()
    for user in dcdata.USERS:
        samdb.newuser(
            user.name,
            user.password,
            userou=user.ou,
            description=user.description or None,
            givenname=user.given_name,
            surname=user.surname,
            mailaddress=user.mail,
        )  # newuser keeps the account name as the CN (useusernameascn is False), so the DN below holds
        dn = f"CN={user.name},{user.ou},{base}"
        control = dsdb.UF_NORMAL_ACCOUNT
        if not user.enabled:
            control |= dsdb.UF_ACCOUNTDISABLE
        if user.password_never_expires:
            control |= dsdb.UF_DONT_EXPIRE_PASSWD
        values: dict[str, object] = {"userAccountControl": str(control)}
        if user.spns:
            values["servicePrincipalName"] = list(user.spns)
        if user.display_name:
            values["displayName"] = user.display_name
        if user.workstations:
            values["userWorkstations"] = user.workstations
        if user.encryption_types is not None:
            values["msDS-SupportedEncryptionTypes"] = str(user.encryption_types)
        if user.logged_on:  # as the DC would record a logon (replicated timestamp and this DC's count)
            values["lastLogonTimestamp"] = _filetime(seeded_at - 86_400)
            values["logonCount"] = "5"
        _replace(samdb, dn, values)
        if user.password_set:
            moment = calendar.timegm(time.strptime(user.password_set, "%Y-%m-%d"))
            _replace(samdb, dn, {"pwdLastSet": _filetime(moment)}, [BYPASS_LAST_SET])
        for group in user.groups:
            samdb.add_remove_group_members(group, [user.name], add_members_operation=True)

    # Managed service accounts: subclasses of computer, below CN=Managed Service Accounts.
    for managed in dcdata.MANAGED:
        message: dict[str, object] = {
            "dn": f"CN={managed.name},CN=Managed Service Accounts,{base}",
            "objectClass": (
                "msDS-GroupManagedServiceAccount" if managed.kind == "gmsa" else "msDS-ManagedServiceAccount"
            ),
            "sAMAccountName": managed.account,
            "userAccountControl": str(dsdb.UF_WORKSTATION_TRUST_ACCOUNT),
        }
        if managed.kind == "gmsa":
            message["msDS-ManagedPasswordInterval"] = "30"
            message["dNSHostName"] = f"{managed.name}.{dcdata.DNS_DOMAIN}"
        if managed.description:
            message["description"] = managed.description
        if managed.spns:
            message["servicePrincipalName"] = list(managed.spns)
        if managed.encryption_types is not None:
            message["msDS-SupportedEncryptionTypes"] = str(managed.encryption_types)
        _add(samdb, message)
        for group in managed.groups:
            samdb.add_remove_group_members(group, [managed.account], add_members_operation=True)

    for computer in dcdata.COMPUTERS:
        control = dsdb.UF_WORKSTATION_TRUST_ACCOUNT
        if not computer.enabled:
            control |= dsdb.UF_ACCOUNTDISABLE
        dn = f"CN={computer.name},{computer.ou},{base}"
        _add(
            samdb,
            {
                "dn": dn,
                "objectClass": "computer",
                "sAMAccountName": f"{computer.name}$",
                "userAccountControl": str(control),
                "dNSHostName": computer.dns_name,
                "operatingSystem": computer.os,
                "operatingSystemVersion": computer.os_version,
            },
        )
        if computer.address:
            record = dnsp.DnssrvRpcRecord()
            record.wType = dnsp.DNS_TYPE_A
            record.rank = dnsp.DNS_RANK_ZONE
            record.dwTtlSeconds = 900
            record.dwSerial = 1
            record.dwTimeStamp = 0  # static, never scavenged
            record.data = computer.address
            # [MS-DNSP] 2.3.2.2: an AD-integrated zone stores each name as a dnsNode holding its records.
            zone = f"DC={dcdata.DNS_DOMAIN},CN=MicrosoftDNS,DC=DomainDnsZones,{base}"
            _add(
                samdb,
                {
                    "dn": f"DC={computer.name.lower()},{zone}",
                    "objectClass": "dnsNode",
                    "dnsRecord": [ndr_pack(record)],
                },
            )

    # The DC's ldap/ SPNs (for Kerberos binds): samba_spnupdate adds them from private/spn_update_list,
    # but it runs in the dnsupdate task, which the lab switches off (it would query the host's resolver).
    host = dcdata.HOSTNAME
    spns = [
        f"ldap/{host}",
        f"ldap/{host}/{dcdata.DNS_DOMAIN}",
        f"ldap/{host}/{dcdata.WORKGROUP}",
        f"ldap/{dcdata.NETBIOS}",
    ]
    change = ldb.Message(ldb.Dn(samdb, f"CN={dcdata.NETBIOS},OU=Domain Controllers,{base}"))
    change["servicePrincipalName"] = ldb.MessageElement(spns, ldb.FLAG_MOD_ADD, "servicePrincipalName")
    samdb.modify(change)

    servers = {c.name: c for c in dcdata.COMPUTERS}
    for printer in dcdata.PRINTERS:
        server = servers[printer.server]
        # Where Windows' spooler publishes a queue: a printQueue below the print server's computer
        # object, named SERVER-QUEUE ([MS-ADSC] printQueue; mandatory attributes below).
        _add(
            samdb,
            {
                "dn": f"CN={printer.server}-{printer.name},CN={server.name},{server.ou},{base}",
                "objectClass": "printQueue",
                "printerName": printer.name,
                "serverName": server.dns_name,
                "shortServerName": server.name,
                "uNCName": printer.unc,
                "versionNumber": "4",
                "portName": printer.port,
                "driverName": printer.driver,
                "location": printer.location,
            },
        )


if __name__ == "__main__":
    seed(sys.argv[1])
