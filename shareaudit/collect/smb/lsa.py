"""SID to name over LSA ([MS-LSAT] LsarLookupSids) with impacket.

Samba answers these even for the null session when `restrict anonymous = 0` (samba-lab-notes Q3 g).
LsarQueryInformationPolicy2 is not implemented by Samba, so nothing here uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from impacket.dcerpc.v5 import lsad, lsat
from impacket.dcerpc.v5.dtypes import MAXIMUM_ALLOWED
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.smbconnection import SMBConnection

from shareaudit.collect.smb.rpc import RPC_FAILURES, bind, readable, rpc_error

log = logging.getLogger(__name__)
# [MS-LSAT] 2.2.13 SID_NAME_USE: the kinds that carry a real name.
_UNKNOWN_USES = (lsat.SID_NAME_USE.SidTypeUnknown, lsat.SID_NAME_USE.SidTypeInvalid)
# [MS-LSAT] 3.1.4.9: at most 20480 SIDs per call; batches stay well under that.
_BATCH = 1000


def lookup_sids(conn: SMBConnection, sids: Iterable[str]) -> dict[str, str]:
    """Names (DOMAIN\\name) for the SIDs the server can resolve; unresolved SIDs are left out."""
    wanted = sorted(set(sids))
    names: dict[str, str] = {}
    if not wanted:
        return names
    host = conn.getRemoteHost()
    with bind(conn, r"\lsarpc", lsat.MSRPC_UUID_LSAT) as dce:
        try:
            policy = lsad.hLsarOpenPolicy2(dce, MAXIMUM_ALLOWED | lsat.POLICY_LOOKUP_NAMES)["PolicyHandle"]
        except RPC_FAILURES as exc:
            raise rpc_error(exc, "LsarOpenPolicy2", conn) from exc
        for start in range(0, len(wanted), _BATCH):
            batch = wanted[start : start + _BATCH]
            try:
                answer = lsat.hLsarLookupSids(dce, policy, batch, lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta)
            except DCERPCException as exc:
                # STATUS_SOME_NOT_MAPPED still carries the names that were mapped; NONE_MAPPED carries none.
                if "STATUS_SOME_NOT_MAPPED" not in str(exc):
                    if "STATUS_NONE_MAPPED" in str(exc):
                        log.debug("%s: LsarLookupSids: STATUS_NONE_MAPPED (%d SIDs)", host, len(batch))
                        continue
                    raise rpc_error(exc, "LsarLookupSids", conn) from exc
                log.debug("%s: LsarLookupSids: STATUS_SOME_NOT_MAPPED (%d SIDs)", host, len(batch))
                answer = exc.get_packet()
            except RPC_FAILURES as exc:
                raise rpc_error(exc, "LsarLookupSids", conn) from exc
            with readable("LsarLookupSids"):
                names.update(_names(batch, answer))
    log.info("%s: LsarLookupSids: %d SIDs asked, %d named", host, len(wanted), len(names))
    return names


def _names(batch: list[str], answer: object) -> dict[str, str]:
    domains = [str(d["Name"]) for d in answer["ReferencedDomains"]["Domains"]]  # type: ignore[index]
    result: dict[str, str] = {}
    for sid, item in zip(batch, answer["TranslatedNames"]["Names"], strict=False):  # type: ignore[index]
        if item["Use"] in _UNKNOWN_USES:
            continue
        name = str(item["Name"])
        index = int(item["DomainIndex"])
        domain = domains[index] if 0 <= index < len(domains) else ""
        result[sid] = f"{domain}\\{name}" if domain else name
    return result
