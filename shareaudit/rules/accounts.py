"""Account rules: a scanner account's reach, who can read the scans it drops, who can list the local
accounts, and the password policy that stands between those names and a password-spraying attack."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Role, Severity
from shareaudit.rules.facts import (
    ANONYMOUS,
    AUDIT,
    GUEST,
    SERVICE,
    UNPRIVILEGED,
    HostFacts,
    identity_class,
    is_scan_drop,
    medical_files,
    medical_summary,
    plural,
    rights_text,
)
from shareaudit.rules.registry import Hit, host_rule

_LISTED = 10  # shares named in one finding's evidence


@host_rule("service-account-overreach")
def service_account_overreach(facts: HostFacts) -> Iterator[Hit]:
    """A service/device account reaches shares beyond its scan drop folder."""
    for label in facts.service_accounts:
        shares = facts.disk_shares()
        drops = [s for s in shares if is_scan_drop(s) and facts.can_write(s, label)]
        beyond = [
            s for s in shares if s not in drops and (facts.can_read(s, label) or facts.can_write(s, label))
        ]
        if not beyond:
            continue
        parts = []
        for share in beyond[:_LISTED]:
            part = f"{share.name} ({rights_text(facts.access(share, label))}"
            if medical_files(share.content) and share.content:
                part += f"; medical data: {medical_summary(share.content)}"
            parts.append(part + ")")
        more = f" and {len(beyond) - _LISTED} more" if len(beyond) > _LISTED else ""
        home = (
            f"Its drop folder: {', '.join(s.name for s in drops)}."
            if drops
            else "No share it can write looks like a scan drop folder."
        )
        risky = any(medical_files(s.content) or facts.can_write(s, label) for s in beyond)
        yield Hit(
            Severity.HIGH if risky else Severity.MEDIUM,
            f"{label} ({facts.account(label)}) reaches {plural(len(beyond), 'share')} beyond its drop folder: "
            f"{'; '.join(parts)}{more}. {home}",
            identity=label,
        )


@host_rule("scan-drop-readable")
def scan_drop_readable(facts: HostFacts) -> Iterator[Hit]:
    """A scan drop folder is readable by identities other than the device that fills it."""
    for share in facts.disk_shares():
        if not is_scan_drop(share):
            continue
        owners = {label for label in facts.service_accounts if facts.can_write(share, label)}
        for label in facts.readers(share, ANONYMOUS, GUEST, SERVICE):
            if label in owners:
                continue
            files = medical_files(share.content)
            kind = " (a service account that does not fill it)" if identity_class(label) == SERVICE else ""
            evidence = (
                f"{share.name} looks like a scan drop folder ('{share.remark or share.name}'); "
                f"{label}{kind} may {rights_text(facts.access(share, label))}."
            )
            if share.content is not None:
                evidence += f" It holds {plural(share.content.files_seen, 'file')}"
                evidence += f", medical: {medical_summary(share.content)}." if files else "."
            yield Hit(Severity.CRITICAL if files else Severity.HIGH, evidence, share=share, identity=label)


# --- local accounts and the password policy (SAMR) -------------------------------------------------------------
_NAMED = 10  # account names quoted in one finding's evidence
_MIN_LENGTH = 8  # below this, a password policy is weak (NIST SP 800-63B: at least 8)
_READERS = {ANONYMOUS: "the null session", GUEST: "guest", AUDIT: "the audit account"}


def _user_part(account: str) -> str:
    """'labscan' of 'DOMAIN\\labscan' or 'labscan@domain', case-folded, as SAMR names it."""
    return account.rpartition("\\")[2].partition("@")[0].casefold()


def _accounts_disclosed(facts: HostFacts) -> bool:
    posture = facts.posture
    return bool(posture and posture.accounts and posture.accounts.disclosed_to in UNPRIVILEGED)


def _read_as(label: str) -> str:
    """Who read the policy, as a sentence: anyone on the network, or only the audit account."""
    who = _READERS.get(Role.of(label), label)
    if Role.of(label) in UNPRIVILEGED:
        return f"Read over SAMR as {who}: anyone on the network can read it."
    return f"Read over SAMR as {who}: the null session and guest could not read it."


@host_rule("local-accounts-disclosed")
def local_accounts_disclosed(facts: HostFacts) -> Iterator[Hit]:
    """The null session or guest can list the server's local accounts over SAMR."""
    posture = facts.posture
    disclosure = posture.accounts if posture else None
    if disclosure is None or disclosure.disclosed_to not in UNPRIVILEGED:
        return
    listed = {name.casefold() for name in disclosure.names}
    devices = [label for label in facts.service_accounts if _user_part(facts.account(label)) in listed]
    shown = ", ".join(disclosure.names[:_NAMED])
    more = disclosure.total - min(len(disclosure.names), _NAMED)
    who = _READERS[Role.of(disclosure.disclosed_to)]
    evidence = (
        f"SamrEnumerateUsersInDomain as {who} listed {plural(disclosure.total, 'local account')}"
        f"{f' of {disclosure.domain}' if disclosure.domain else ''}"
        f"{f': {shown}' if shown else ''}{f' and {more} more' if more > 0 else ''}."
    )
    if devices:
        named = ", ".join(f"{_user_part(facts.account(label))} ({label})" for label in devices)
        kind = "accounts" if len(devices) > 1 else "account"
        evidence += f" Among them the service/device {kind} {named}: the password-spraying target."
    yield Hit(Severity.HIGH if devices else Severity.MEDIUM, evidence)


@host_rule("no-lockout-policy")
def no_lockout_policy(facts: HostFacts) -> Iterator[Hit]:
    """The server never locks an account out, however many passwords are tried."""
    posture = facts.posture
    policy = posture.password_policy if posture else None
    if policy is None or policy.lockout_threshold != 0:
        return
    told = policy.read_as in UNPRIVILEGED or _accounts_disclosed(facts)
    evidence = (
        "The password policy has lockout threshold 0: no number of wrong passwords locks an account "
        f"(minimum password length {policy.min_length}). {_read_as(policy.read_as)}"
    )
    if _accounts_disclosed(facts):
        evidence += " The account names are disclosed too (local-accounts-disclosed)."
    yield Hit(Severity.MEDIUM if told else Severity.LOW, evidence)


@host_rule("weak-password-policy")
def weak_password_policy(facts: HostFacts) -> Iterator[Hit]:
    """The server accepts passwords shorter than 8 characters."""
    posture = facts.posture
    policy = posture.password_policy if posture else None
    if policy is None or policy.min_length >= _MIN_LENGTH:
        return
    length = "no minimum length" if policy.min_length == 0 else f"minimum length {policy.min_length}"
    expiry = "never expire" if policy.max_age_days is None else f"expire after {policy.max_age_days} days"
    evidence = (
        f"The password policy has {length}, complexity {'on' if policy.complexity else 'off'}, history "
        f"{policy.history}; passwords {expiry}. {_read_as(policy.read_as)}"
    )
    yield Hit(Severity.MEDIUM if policy.min_length == 0 else Severity.LOW, evidence)
