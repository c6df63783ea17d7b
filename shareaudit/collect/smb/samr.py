"""Local accounts and the password policy over SAMR ([MS-SAMR]) with impacket.

What enum4linux-ng and impacket's samrdump.py read first over a null session, and the first step of a
password-spraying attack on a device account: the server's own SAM domain (never Builtin), its normal
user accounts (SamrEnumerateUsersInDomain: names and RIDs) and its password and lockout policy
(SamrQueryInformationDomain, DomainPasswordInformation and DomainLockoutInformation). Nothing else is
read: no account details (descriptions can hold passwords), no groups; nothing is written.

Who asks: the null session (when it reaches IPC$), then guest; the first that is told is who anyone on
the network is. The audit account is asked for the policy only, and only when nobody else was told it.
A refusal is an answer (nothing disclosed), never an error of the host. impacket's NDR answers become
plain values here. Log lines give calls, statuses and counts, never account names.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from impacket.dcerpc.v5 import samr
from impacket.dcerpc.v5.dtypes import MAXIMUM_ALLOWED
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.smbconnection import SMBConnection

from shareaudit.collect.smb import logon
from shareaudit.collect.smb.rpc import RPC_FAILURES, bind, readable, rpc_error
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import AccountDisclosure, PasswordPolicy
from shareaudit.plan.identities import Identity

log = logging.getLogger(__name__)

MAX_NAMES = 1000  # account names kept per host; the rest are counted
MAX_COUNTED = 100_000  # accounts counted before counting stops
_PREFERRED_BYTES = 0x10000  # per SamrEnumerateUsersInDomain answer: a few hundred names
_MAX_CALLS = 1000  # enumeration calls per host, whatever the server says about more entries
_STATUS_MORE_ENTRIES = 0x00000105
_BUILTIN = "builtin"
# [MS-SAMR] 2.2.4.5 / 2.2.4.15: times are negative 100 ns intervals; these mean "never" or "forever".
_INT64_MIN = -(2**63)
_TICKS = 10_000_000
_SAMBA_NEVER_S = 0xFFFFFFFF  # Samba's account policy -1, as unsigned 32-bit seconds (measured)


@dataclass(frozen=True, slots=True)
class Policy:
    """The password and lockout policy as the server states it (times in whole days and minutes)."""

    min_length: int
    history: int
    max_age_days: int | None
    complexity: bool
    lockout_threshold: int
    lockout_duration_min: int | None
    lockout_window_min: int | None


@dataclass(frozen=True, slots=True)
class Accounts:
    """Normal user accounts of the domain: names in RID order, bounded."""

    names: tuple[str, ...]
    total: int
    truncated: bool


@dataclass(frozen=True, slots=True)
class SamAnswer:
    """What one session was told; a part it was refused is None with the refusal in its error."""

    domain: str
    accounts: Accounts | None = None
    accounts_error: str | None = None
    policy: Policy | None = None
    policy_error: str | None = None


def _string(value: Any) -> str:
    return str(value).rstrip("\x00") if value else ""


def _int64(value: Any) -> int:
    """impacket's OLD_LARGE_INTEGER (LowPart, signed HighPart) or LARGE_INTEGER, as one signed number."""
    with contextlib.suppress(KeyError, TypeError):
        return int(value["HighPart"]) * 2**32 + int(value["LowPart"])
    return int(value)


def _seconds(interval: int) -> float | None:
    """A relative SAMR time in seconds; None for never/forever (0, the smallest int64, Samba's -1)."""
    if interval in (0, _INT64_MIN):
        return None
    seconds = abs(interval) / _TICKS
    return None if seconds >= _SAMBA_NEVER_S else seconds


def _whole(interval: int, unit: int) -> int | None:
    seconds = _seconds(interval)
    return None if seconds is None else round(seconds / unit)


def _call(conn: SMBConnection, what: str, request: Any, *args: Any, **kwargs: Any) -> Any:
    """One SAMR request; impacket failures become CollectError (DENIED for a refusal)."""
    try:
        return request(*args, **kwargs)
    except RPC_FAILURES as exc:
        raise rpc_error(exc, what, conn) from exc
    except Exception as exc:  # impacket raises struct.error/KeyError on answers it cannot decode
        log.info("%s: %s: unreadable answer (%s)", conn.getRemoteHost(), what, type(exc).__name__)
        raise CollectError(FailureKind.PROTOCOL, f"{what}: unreadable answer ({type(exc).__name__})") from exc


def _open_domain(conn: SMBConnection, dce: Any) -> tuple[str, Any]:
    """The server's own SAM domain (the first that is not Builtin), opened for reading."""
    server = _call(conn, "SamrConnect", samr.hSamrConnect, dce, desiredAccess=MAXIMUM_ALLOWED)["ServerHandle"]
    answer = _call(
        conn, "SamrEnumerateDomainsInSamServer", samr.hSamrEnumerateDomainsInSamServer, dce, server
    )
    with readable("SamrEnumerateDomainsInSamServer"):
        names = [_string(d["Name"]) for d in _entries(answer)]
    own = [name for name in names if name and name.lower() != _BUILTIN]
    if not own:
        raise CollectError(FailureKind.PROTOCOL, "SamrEnumerateDomainsInSamServer: no domain but Builtin")
    sid = _call(conn, "SamrLookupDomainInSamServer", samr.hSamrLookupDomainInSamServer, dce, server, own[0])
    handle = _call(
        conn, "SamrOpenDomain", samr.hSamrOpenDomain, dce, server, MAXIMUM_ALLOWED, sid["DomainId"]
    )["DomainHandle"]
    return own[0], handle


def _enumerate_page(conn: SMBConnection, dce: Any, domain: Any, context: int) -> tuple[Any, bool]:
    """One SamrEnumerateUsersInDomain answer and whether the server has more entries."""
    try:
        answer = samr.hSamrEnumerateUsersInDomain(
            dce, domain, samr.USER_NORMAL_ACCOUNT, context, _PREFERRED_BYTES
        )
    except DCERPCException as exc:
        if exc.get_error_code() != _STATUS_MORE_ENTRIES:
            raise rpc_error(exc, "SamrEnumerateUsersInDomain", conn) from exc
        return exc.get_packet(), True
    except RPC_FAILURES as exc:
        raise rpc_error(exc, "SamrEnumerateUsersInDomain", conn) from exc
    except Exception as exc:  # see _call
        raise CollectError(
            FailureKind.PROTOCOL, f"SamrEnumerateUsersInDomain: unreadable answer ({type(exc).__name__})"
        ) from exc
    return answer, int(answer["ErrorCode"]) == _STATUS_MORE_ENTRIES


def _entries(answer: Any) -> list[Any]:
    """The entries of an enumeration answer; none when the server sent a NULL buffer."""
    try:
        return list(answer["Buffer"]["Buffer"] or [])
    except (KeyError, TypeError, AttributeError):
        return []


def _accounts(conn: SMBConnection, dce: Any, domain: Any) -> Accounts:
    """Names and RIDs of the normal user accounts: at most MAX_NAMES kept, at most MAX_COUNTED counted."""
    kept: list[tuple[int, str]] = []
    total = 0
    context = 0
    for _ in range(_MAX_CALLS):
        answer, more = _enumerate_page(conn, dce, domain, context)
        entries = _entries(answer)
        with readable("SamrEnumerateUsersInDomain"):
            for entry in entries:
                total += 1
                if len(kept) < MAX_NAMES:
                    kept.append((int(entry["RelativeId"]), _string(entry["Name"])))
            context = int(answer["EnumerationContext"])
        if not more or not entries or total >= MAX_COUNTED:
            break
    names = tuple(name for _, name in sorted(kept))
    return Accounts(names, total, total > len(names))


def _policy(conn: SMBConnection, dce: Any, domain: Any) -> Policy:
    classes = samr.DOMAIN_INFORMATION_CLASS
    query = samr.hSamrQueryInformationDomain
    what = "SamrQueryInformationDomain"
    password = _call(conn, f"{what} (password)", query, dce, domain, classes.DomainPasswordInformation)
    lockout = _call(conn, f"{what} (lockout)", query, dce, domain, classes.DomainLockoutInformation)
    with readable(what):
        return _read_policy(password["Buffer"]["Password"], lockout["Buffer"]["Lockout"])


def _read_policy(pw: Any, lo: Any) -> Policy:
    return Policy(
        min_length=int(pw["MinPasswordLength"]),
        history=int(pw["PasswordHistoryLength"]),
        max_age_days=_whole(_int64(pw["MaxPasswordAge"]), 86400),
        complexity=bool(int(pw["PasswordProperties"]) & samr.DOMAIN_PASSWORD_COMPLEX),
        lockout_threshold=int(lo["LockoutThreshold"]),
        lockout_duration_min=_whole(_int64(lo["LockoutDuration"]), 60),
        lockout_window_min=_whole(_int64(lo["LockoutObservationWindow"]), 60),
    )


def read_sam(conn: SMBConnection, accounts: bool = True, policy: bool = True) -> SamAnswer:
    """The server's own domain, its accounts and/or its policy, over one logged-on connection.

    CollectError when the pipe, SamrConnect or the domain is refused (DENIED) or the server fails; a
    refused listing or policy query is an answer: None, with the refusal in its error.
    """
    host = conn.getRemoteHost()
    with bind(conn, r"\samr", samr.MSRPC_UUID_SAMR) as dce:
        name, domain = _open_domain(conn, dce)
        listed = listing_error = read = policy_error = None
        if accounts:
            try:
                listed = _accounts(conn, dce, domain)
            except CollectError as exc:
                if exc.kind is not FailureKind.DENIED:
                    raise
                listing_error = str(exc)
        if policy:
            try:
                read = _policy(conn, dce, domain)
            except CollectError as exc:
                if exc.kind is not FailureKind.DENIED:
                    raise
                policy_error = str(exc)
        with contextlib.suppress(Exception):  # a handle left open dies with the pipe
            samr.hSamrCloseHandle(dce, domain)
    if listed is not None:
        log.info(
            "%s: SamrEnumerateUsersInDomain: %d accounts (%d kept)", host, listed.total, len(listed.names)
        )
    if read is not None:
        log.info("%s: SamrQueryInformationDomain: password and lockout policy read", host)
    return SamAnswer(name, listed, listing_error, read, policy_error)


def _password_policy(label: str, policy: Policy) -> PasswordPolicy:
    return PasswordPolicy(
        read_as=label,
        min_length=policy.min_length,
        history=policy.history,
        max_age_days=policy.max_age_days,
        complexity=policy.complexity,
        lockout_threshold=policy.lockout_threshold,
        lockout_duration_min=policy.lockout_duration_min,
        lockout_window_min=policy.lockout_window_min,
    )


def survey(
    host: str, port: int, unprivileged: Sequence[Identity], audit: Identity | None, timeout: float
) -> tuple[AccountDisclosure, PasswordPolicy | None]:
    """Who without an account is told the local accounts, and the policy as the least privileged reader.

    `unprivileged`: the null session and guest as this server lets them in, least privileged first.
    `audit`: asked for the policy only when nobody else could read it. Never raises CollectError.
    """
    disclosed: AccountDisclosure | None = None
    policy: PasswordPolicy | None = None
    refusals: list[str] = []
    for identity in unprivileged:
        try:
            with logon.session(host, port, identity, timeout) as conn:
                answer = read_sam(conn, accounts=disclosed is None, policy=policy is None)
        except CollectError as exc:
            log.info("%s: SAMR as %s: %s", host, identity.label, exc.kind)
            refusals.append(f"{identity.label}: {exc}")
            if exc.kind is FailureKind.TIMEOUT:
                audit = None  # the server stopped answering: nobody else is asked
                break
            continue
        found = answer.accounts
        if disclosed is None:
            if found is not None:
                disclosed = AccountDisclosure(
                    identity.label, found.names, found.total, found.truncated, answer.domain
                )
            else:
                refusals.append(f"{identity.label}: {answer.accounts_error}")
        if policy is None and answer.policy is not None:
            policy = _password_policy(identity.label, answer.policy)
        if disclosed is not None and policy is not None:
            break
    if policy is None and audit is not None:
        policy = _policy_as(host, port, audit, timeout)
    if disclosed is None:
        why = "; ".join(refusals) or "not asked: the null session cannot open IPC$ and guest cannot log on"
        disclosed = AccountDisclosure(error=why)
    return disclosed, policy


def _policy_as(host: str, port: int, identity: Identity, timeout: float) -> PasswordPolicy | None:
    """The policy as a named account, or None when it is refused or cannot log on."""
    try:
        with logon.session(host, port, identity, timeout) as conn:
            answer = read_sam(conn, accounts=False, policy=True)
    except CollectError as exc:
        log.info("%s: password policy as %s: %s", host, identity.label, exc.kind)
        return None
    return _password_policy(identity.label, answer.policy) if answer.policy is not None else None
