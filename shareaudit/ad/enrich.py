"""After collection: the directory into the result, LDAP names for ACE SIDs LSA left unnamed, derived exposures."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from shareaudit.acl import SecurityDescriptor
from shareaudit.ad.directory import DirectoryReader
from shareaudit.ad.exposure import host_exposures, member_of_domain, sids_in
from shareaudit.errors import ShareauditError
from shareaudit.model import Directory, ScanResult

if TYPE_CHECKING:
    from shareaudit.ad.settings import LdapSettings


def _named_sids(result: ScanResult, directory: Directory, ldap: LdapSettings) -> dict[str, str]:
    """Names from the directory for domain SIDs in the ACLs that LSA left unnamed."""
    unnamed = set()
    for host in result.hosts:
        for share in host.shares:
            for sd in (share.root_sd, share.share_sd):
                for ace in (sd.dacl or ()) if sd else ():
                    if ace.name is None and ace.sid.startswith(directory.domain_sid + "-"):
                        unnamed.add(ace.sid)
    if not unnamed:
        return {}
    from shareaudit.ad.connection import DirectoryConnection  # ldap3, loaded only when it is needed

    with DirectoryConnection(ldap) as connection:
        return DirectoryReader(connection).names_of(unnamed & sids_in(result.hosts))


def _renamed(sd: SecurityDescriptor | None, names: dict[str, str]) -> SecurityDescriptor | None:
    if sd is None or sd.dacl is None:
        return sd
    return replace(sd, dacl=tuple(replace(a, name=a.name or names.get(a.sid)) for a in sd.dacl))


def enrich(result: ScanResult, directory: Directory, ldap: LdapSettings) -> tuple[ScanResult, list[str]]:
    """The result with the directory, names and exposures; and what could not be done, as warnings."""
    warnings = []
    result = replace(result, directory=directory)
    try:
        names = _named_sids(result, directory, ldap)
    except ShareauditError as exc:  # the scan is done: a lost DC costs names, not the result
        warnings.append(f"SIDs not named through LDAP: {exc}")
        names = {}
    measured = {a.name.lower(): a.identity for a in directory.accounts if a.identity}
    # Disabled accounts cannot log on; the accounts of measured identities are compared with what was measured.
    accounts = [a for a in directory.accounts if a.enabled and (a.device or a.identity)]
    hosts = []
    for host in result.hosts:
        if names:
            shares = tuple(
                replace(
                    share,
                    root_sd=_renamed(share.root_sd, names),
                    share_sd=_renamed(share.share_sd, names),
                )
                for share in host.shares
            )
            host = replace(host, shares=shares)
        if member_of_domain(host, directory.netbios_domain, directory.dns_domain):
            host = replace(host, exposures=host_exposures(host, accounts, measured))
        hosts.append(host)
    return replace(result, hosts=tuple(hosts)), warnings
