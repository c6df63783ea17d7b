"""Host posture rules: SMB1, signing, the three guest doors, anonymous enumeration, disclosed paths."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Severity
from shareaudit.rules.facts import ANONYMOUS, GUEST, UNPRIVILEGED, HostFacts, plural
from shareaudit.rules.registry import Hit, host_rule


@host_rule("smb1-enabled")
def smb1_enabled(facts: HostFacts) -> Iterator[Hit]:
    """The server accepts the SMB1 dialect (NT LM 0.12)."""
    posture = facts.posture
    if posture is None or not posture.smb1:
        return
    signing = "required" if posture.smb1_signing_required else "not required"
    yield Hit(
        Severity.HIGH,
        f"The server answered an NT LM 0.12 (SMB1) NEGOTIATE; SMB1 signing is {signing}. "
        f"Dialects accepted: {', '.join(posture.dialects)}.",
    )


@host_rule("signing-not-required")
def signing_not_required(facts: HostFacts) -> Iterator[Hit]:
    """The server does not require SMB signing on its highest dialect."""
    posture = facts.posture
    if posture is None or posture.signing_required:
        return
    highest = posture.dialects[-1] if posture.dialects else "?"
    yield Hit(Severity.MEDIUM, f"The NEGOTIATE answer for SMB {highest} does not set SIGNING_REQUIRED.")


@host_rule("null-session")
def null_session(facts: HostFacts) -> Iterator[Hit]:
    """An anonymous session (empty user and password) can open IPC$."""
    posture = facts.posture
    if posture is None or not posture.null_session:
        return
    readable = [s.name for s in facts.disk_shares() if facts.can_read(s, ANONYMOUS)]
    listed = any(e.identity == ANONYMOUS and e.ok for e in facts.host.enumeration)
    evidence = "An anonymous session was accepted and could open IPC$ (RPC to srvsvc, lsarpc, samr)."
    if readable:
        evidence += f" It can also read {plural(len(readable), 'share')}: {', '.join(readable)}."
    # A null session that reaches nothing beyond IPC$ is still an open door, but a narrower one.
    yield Hit(Severity.HIGH if readable or listed else Severity.MEDIUM, evidence)


@host_rule("anonymous-share-list")
def anonymous_share_list(facts: HostFacts) -> Iterator[Hit]:
    """The null session can list the server's shares over srvsvc."""
    for attempt in facts.host.enumeration:
        if attempt.identity == ANONYMOUS and attempt.ok:
            hidden = sum(1 for s in facts.host.shares if s.hidden)
            yield Hit(
                Severity.MEDIUM,
                f"NetrShareEnum (level {attempt.level}) as the null session returned {attempt.count} "
                f"shares, {hidden} of them hidden ($).",
            )


@host_rule("guest-account")
def guest_account(facts: HostFacts) -> Iterator[Hit]:
    """An account named Guest of its own logs on with an empty password (the fallback is guest-fallback's)."""
    posture = facts.posture
    if posture is None or not posture.guest_account_of_its_own:
        return
    probe = posture.sessions.get("guest_account")
    flagged = "the server flagged it as guest" if probe and probe.guest else "the server gave a full session"
    readable = [s.name for s in facts.disk_shares() if facts.can_read(s, GUEST)]
    evidence = f"A logon as 'Guest' with an empty password was accepted; {flagged}."
    if readable:
        evidence += f" Guest can read {plural(len(readable), 'share')}: {', '.join(readable)}."
    yield Hit(Severity.HIGH if readable else Severity.MEDIUM, evidence)


@host_rule("guest-fallback")
def guest_fallback(facts: HostFacts) -> Iterator[Hit]:
    """An unknown, random user name is silently given a guest session."""
    posture = facts.posture
    if posture is None or not posture.guest_fallback:
        return
    probe = posture.sessions.get("guest_fallback")
    user = f"'{probe.username}'" if probe and probe.username else "a random unknown user"
    evidence = (
        f"A logon as {user} (an account that does not exist) was accepted as a guest session: any "
        "mistyped or made-up account name gets in."
    )
    if posture.guest_is_fallback:
        evidence += (
            " A logon as 'Guest' with an empty password gets the same guest session: that is this door, "
            "not an account of its own."
        )
    yield Hit(Severity.HIGH, evidence)


@host_rule("share-paths-disclosed")
def share_paths_disclosed(facts: HostFacts) -> Iterator[Hit]:
    """Level-502 share enumeration tells the null session or guest the servers' local paths."""
    told = [s for s in facts.host.shares if s.path and s.path_disclosed_to in UNPRIVILEGED]
    if not told:
        return
    who = sorted({s.path_disclosed_to or "" for s in told})
    examples = "; ".join(f"{s.name} = {s.path}" for s in told[:5])
    more = f" (and {len(told) - 5} more)" if len(told) > 5 else ""
    yield Hit(
        Severity.LOW,
        f"srvsvc level 502 disclosed the local path of {plural(len(told), 'share')} to {', '.join(who)}: "
        f"{examples}{more}.",
    )
