"""Local accounts and the password policy (SAMR): the rules over golden facts, both ways and with their
severity context both ways; old scan files still load; the adapter's time arithmetic, bounded paging, and
who is asked (the null session, then guest, the audit account for the policy only)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import impacket.dcerpc.v5.samr as impacket_samr
import pytest
from synthetic import host, posture
from synthetic import result as scan_result

from shareaudit import scanfile
from shareaudit.collect.smb import samr
from shareaudit.errors import CollectError, FailureKind
from shareaudit.model import AccountDisclosure, Finding, HostResult, PasswordPolicy
from shareaudit.plan.identities import Identity, IdentityKind
from shareaudit.rules import RULES, evaluate

LABELS = ("audit", "anonymous", "guest", "printer")  # synthetic: printer is the account svc-printer
RULE_IDS = ("local-accounts-disclosed", "no-lockout-policy", "weak-password-policy")
NAMES = ("Administrator", "Guest", "backup", "svc-printer", "alice")


def accounts(
    disclosed_to: str | None = "anonymous", names: tuple[str, ...] = NAMES, **extra: Any
) -> AccountDisclosure:
    fields: dict[str, Any] = {"total": len(names), "domain": "NAS01", **extra}
    if disclosed_to is None:
        return AccountDisclosure(error="anonymous: SamrConnect: STATUS_ACCESS_DENIED")
    return AccountDisclosure(disclosed_to, names, **fields)


def policy(read_as: str = "anonymous", **fields: Any) -> PasswordPolicy:
    """A typical NAS: minimum length 5, no lockout (Samba's defaults, as measured in the lab)."""
    values: dict[str, Any] = {
        "min_length": 5,
        "history": 0,
        "max_age_days": None,
        "complexity": False,
        "lockout_threshold": 0,
        "lockout_duration_min": 30,
        "lockout_window_min": 30,
        **fields,
    }
    return PasswordPolicy(read_as, **values)


def nas(disclosure: AccountDisclosure | None = None, read: PasswordPolicy | None = None) -> HostResult:
    return host("nas01", posture_=dataclasses.replace(posture(), accounts=disclosure, password_policy=read))


def findings(*hosts: HostResult, labels: tuple[str, ...] = LABELS) -> tuple[Finding, ...]:
    return evaluate(scan_result(*hosts, labels=labels))


def of(rule: str, found: tuple[Finding, ...]) -> list[Finding]:
    return [f for f in found if f.rule == rule]


def one(rule: str, found: tuple[Finding, ...]) -> Finding:
    hits = of(rule, found)
    assert len(hits) == 1, [(f.rule, f.severity) for f in found]
    return hits[0]


def test_the_rules_are_registered_with_their_texts() -> None:
    infos = {r.id: r for r in RULES}
    assert {rule: infos[rule].severity for rule in RULE_IDS} == {
        "local-accounts-disclosed": "medium",
        "no-lockout-policy": "medium",
        "weak-password-policy": "low",
    }
    assert {infos[rule].family for rule in RULE_IDS} == {"accounts"}


def test_a_server_that_tells_nobody_and_has_a_strong_policy_has_no_findings() -> None:
    strong = policy("audit", min_length=14, complexity=True, lockout_threshold=10)
    assert findings(nas(accounts(None), strong)) == ()
    assert findings(nas()) == ()  # a file from before SAMR was read: nothing to judge


# --- local-accounts-disclosed --------------------------------------------------------------------------------
def test_accounts_listed_by_the_null_session_are_medium_without_a_device_account_among_them() -> None:
    found = one("local-accounts-disclosed", findings(nas(accounts(names=("Administrator", "alice")))))
    assert found.severity == "medium"
    assert (found.share, found.identity) == (None, None)
    assert found.evidence == (
        "SamrEnumerateUsersInDomain as the null session listed 2 local accounts of NAS01: Administrator, alice."
    )


def test_accounts_listed_with_the_device_account_among_them_are_high() -> None:
    found = one("local-accounts-disclosed", findings(nas(accounts())))
    assert found.severity == "high"
    assert "svc-printer (printer): the password-spraying target" in found.evidence
    # The same names, but the scan measured no service account: nobody to spray for sure.
    quiet = one("local-accounts-disclosed", findings(nas(accounts()), labels=("audit", "anonymous", "guest")))
    assert quiet.severity == "medium"


def test_the_device_account_is_matched_whatever_the_case() -> None:
    found = one("local-accounts-disclosed", findings(nas(accounts(names=("SVC-PRINTER",)))))
    assert found.severity == "high"


def test_accounts_listed_by_guest_fire_too() -> None:
    found = one("local-accounts-disclosed", findings(nas(accounts("guest"))))
    assert found.evidence.startswith("SamrEnumerateUsersInDomain as guest listed 5 local accounts")


def test_accounts_told_to_nobody_or_only_to_the_audit_account_do_not_fire() -> None:
    assert not of("local-accounts-disclosed", findings(nas(accounts(None))))
    assert not of("local-accounts-disclosed", findings(nas(accounts("audit"))))


def test_the_evidence_names_ten_accounts_and_counts_the_rest() -> None:
    names = tuple(f"user{n:04d}" for n in range(1000))
    found = one("local-accounts-disclosed", findings(nas(accounts(names=names, total=1500, truncated=True))))
    assert "listed 1500 local accounts of NAS01: user0000, " in found.evidence
    assert "user0009 and 1490 more." in found.evidence
    assert "user0010" not in found.evidence


# --- no-lockout-policy ---------------------------------------------------------------------------------------
def test_no_lockout_readable_by_anyone_is_medium_and_says_who_read_it() -> None:
    found = one("no-lockout-policy", findings(nas(read=policy("guest"))))
    assert found.severity == "medium"
    assert found.evidence == (
        "The password policy has lockout threshold 0: no number of wrong passwords locks an account "
        "(minimum password length 5). Read over SAMR as guest: anyone on the network can read it."
    )


def test_no_lockout_known_only_to_the_audit_account_is_low() -> None:
    found = one("no-lockout-policy", findings(nas(accounts(None), policy("audit"))))
    assert found.severity == "low"
    assert (
        "Read over SAMR as the audit account: the null session and guest could not read it." in found.evidence
    )


def test_no_lockout_read_by_the_audit_account_is_medium_when_the_names_are_disclosed() -> None:
    found = one("no-lockout-policy", findings(nas(accounts("guest"), policy("audit"))))
    assert found.severity == "medium"
    assert found.evidence.endswith("The account names are disclosed too (local-accounts-disclosed).")


def test_a_lockout_threshold_stays_quiet() -> None:
    assert not of("no-lockout-policy", findings(nas(accounts(), policy(lockout_threshold=5))))


# --- weak-password-policy ------------------------------------------------------------------------------------
def test_a_short_minimum_length_is_low() -> None:
    found = one("weak-password-policy", findings(nas(read=policy("anonymous", lockout_threshold=5))))
    assert found.severity == "low"
    assert found.evidence == (
        "The password policy has minimum length 5, complexity off, history 0; passwords never expire. "
        "Read over SAMR as the null session: anyone on the network can read it."
    )


def test_no_minimum_length_at_all_is_medium() -> None:
    found = one("weak-password-policy", findings(nas(read=policy("audit", min_length=0, max_age_days=42))))
    assert found.severity == "medium"
    assert "has no minimum length" in found.evidence
    assert "passwords expire after 42 days" in found.evidence


@pytest.mark.parametrize("length", [8, 14])
def test_eight_characters_or_more_stay_quiet(length: int) -> None:
    assert not of("weak-password-policy", findings(nas(read=policy(min_length=length))))


def test_remediation_covers_every_platform_with_the_address_quoted() -> None:
    found = one("local-accounts-disclosed", findings(nas(accounts())))
    assert set(found.remediation) == {"windows", "samba", "synology", "qnap", "truenas"}
    assert any("rpcclient -U '' -N 10.0.0.5 -c enumdomusers" in step for step in found.remediation["samba"])


# --- the JSON --------------------------------------------------------------------------------------------------
def test_the_facts_round_trip_and_old_files_still_load(tmp_path: Path) -> None:
    result = scan_result(nas(accounts(), policy()), labels=LABELS)
    path = tmp_path / "scan.json"
    scanfile.write(result, path)
    assert scanfile.read(path) == result
    data = json.loads(path.read_text())
    posture_json = data["hosts"][0]["posture"]
    assert posture_json["accounts"]["names"] == list(NAMES)
    assert posture_json["password_policy"]["lockout_threshold"] == 0
    del posture_json["accounts"], posture_json["password_policy"]
    path.write_text(json.dumps(data))
    old = scanfile.read(path).hosts[0].posture
    assert old is not None
    assert (old.accounts, old.password_policy) == (None, None)


# --- the adapter's arithmetic ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("interval", "unit", "expected"),
    [
        (-18000000001, 60, 30),  # Samba's 30-minute lockout duration, as the lab answers it
        (-36288000000000, 86400, 42),  # Windows' 42-day maximum password age
        (0, 60, None),  # not set / until an administrator unlocks
        (-(2**63), 86400, None),  # never ([MS-SAMR] 2.2.4.5)
        (-10000000 * 2**32 + 9999999, 86400, None),  # Samba's "never" (-1 as 2^32-1 seconds), measured
    ],
)
def test_samr_times_become_whole_units(interval: int, unit: int, expected: int | None) -> None:
    assert samr._whole(interval, unit) == expected


def test_old_large_integers_are_read_as_one_signed_number() -> None:
    assert samr._int64({"LowPart": 9999999, "HighPart": -10000000}) == -10000000 * 2**32 + 9999999
    assert samr._int64(-18000000001) == -18000000001


class _FakeServer:
    """SamrEnumerateUsersInDomain over `count` accounts, `page` at a time, RIDs in reverse order."""

    def __init__(self, count: int, page: int) -> None:
        self.count, self.page, self.calls = count, page, 0

    def enumerate(self, dce: object, domain: object, control: int, context: int, size: int) -> dict[str, Any]:
        self.calls += 1
        rids = range(self.count - context, max(self.count - context - self.page, 0), -1)
        buffer = [{"RelativeId": 1000 + rid, "Name": f"user{rid:06d}"} for rid in rids]
        end = context + len(buffer)
        return {
            "Buffer": {"Buffer": buffer},
            "EnumerationContext": end,
            "ErrorCode": 0x105 if end < self.count else 0,
        }


class _Conn:
    def getRemoteHost(self) -> str:  # impacket's name
        return "10.0.0.5"


def test_enumeration_keeps_a_thousand_names_in_rid_order_and_counts_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = _FakeServer(2500, 600)
    monkeypatch.setattr(impacket_samr, "hSamrEnumerateUsersInDomain", server.enumerate)
    found = samr._accounts(_Conn(), object(), object())
    assert (found.total, len(found.names), found.truncated, server.calls) == (2500, 1000, True, 5)
    assert list(found.names) == sorted(found.names)  # RID order: user002500 ... were read first


def test_enumeration_stops_counting_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _FakeServer(10**6, 5000)
    monkeypatch.setattr(impacket_samr, "hSamrEnumerateUsersInDomain", server.enumerate)
    found = samr._accounts(_Conn(), object(), object())
    assert (found.total, len(found.names), server.calls) == (samr.MAX_COUNTED, samr.MAX_NAMES, 20)


def test_a_small_listing_is_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(impacket_samr, "hSamrEnumerateUsersInDomain", _FakeServer(5, 600).enumerate)
    found = samr._accounts(_Conn(), object(), object())
    assert found == samr.Accounts(tuple(f"user{n:06d}" for n in range(1, 6)), 5, False)


# --- who is asked ----------------------------------------------------------------------------------------------
_POLICY = samr.Policy(5, 0, None, False, 0, 30, 30)
_LISTED = samr.Accounts(("labaudit", "labscan"), 2, False)


def _identity(label: str) -> Identity:
    kind = {"anonymous": IdentityKind.ANONYMOUS, "guest": IdentityKind.GUEST}.get(label, IdentityKind.USER)
    return Identity(label, kind, username="" if label == "anonymous" else label)


def _server(monkeypatch: pytest.MonkeyPatch, answers: dict[str, samr.SamAnswer | CollectError]) -> list[str]:
    """A server that answers each identity as given; returns who was asked, in order."""
    asked: list[str] = []

    @contextlib.contextmanager
    def session(host: str, port: int, identity: Identity, timeout: float) -> Iterator[str]:
        asked.append(identity.label)
        answer = answers[identity.label]
        if isinstance(answer, CollectError):
            raise answer
        yield identity.label

    def read_sam(conn: str, accounts: bool = True, policy: bool = True) -> samr.SamAnswer:
        answer = answers[conn]
        assert isinstance(answer, samr.SamAnswer)
        return dataclasses.replace(
            answer,
            accounts=answer.accounts if accounts else None,
            policy=answer.policy if policy else None,
        )

    monkeypatch.setattr(samr.logon, "session", session)
    monkeypatch.setattr(samr, "read_sam", read_sam)
    return asked


def _survey(*unprivileged: str, audit: bool = True) -> tuple[AccountDisclosure, PasswordPolicy | None]:
    who = [_identity(label) for label in unprivileged]
    return samr.survey("10.0.0.5", 445, who, _identity("audit") if audit else None, 1.0)


def test_the_null_session_told_everything_nobody_else_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _server(monkeypatch, {"anonymous": samr.SamAnswer("NAS01", _LISTED, policy=_POLICY)})
    disclosed, policy = _survey("anonymous", "guest")
    assert asked == ["anonymous"]
    assert disclosed == AccountDisclosure("anonymous", _LISTED.names, 2, False, "NAS01")
    assert policy is not None and policy.read_as == "anonymous"


def test_a_refused_null_session_leaves_it_to_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    denied = CollectError(FailureKind.DENIED, "SamrConnect: STATUS_ACCESS_DENIED", "STATUS_ACCESS_DENIED")
    asked = _server(
        monkeypatch, {"anonymous": denied, "guest": samr.SamAnswer("ACL", _LISTED, policy=_POLICY)}
    )
    disclosed, policy = _survey("anonymous", "guest")
    assert asked == ["anonymous", "guest"]
    assert (disclosed.disclosed_to, disclosed.error) == ("guest", None)
    assert policy is not None and policy.read_as == "guest"


def test_the_policy_falls_to_the_audit_account_and_the_listing_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = samr.SamAnswer("NAS01", accounts_error="SamrEnumerateUsersInDomain: STATUS_ACCESS_DENIED")
    asked = _server(
        monkeypatch, {"anonymous": refused, "audit": samr.SamAnswer("NAS01", _LISTED, policy=_POLICY)}
    )
    disclosed, policy = _survey("anonymous")
    assert asked == ["anonymous", "audit"]
    assert disclosed == AccountDisclosure(error="anonymous: SamrEnumerateUsersInDomain: STATUS_ACCESS_DENIED")
    assert policy is not None and policy.read_as == "audit"


def test_nobody_let_in_is_said_and_a_refused_audit_account_reads_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused = CollectError(FailureKind.LOGIN, "logon as audit refused: STATUS_LOGON_FAILURE")
    asked = _server(monkeypatch, {"audit": refused})
    disclosed, policy = _survey()
    assert asked == ["audit"]
    assert disclosed.error == "not asked: the null session cannot open IPC$ and guest cannot log on"
    assert policy is None


def test_a_server_that_stops_answering_is_not_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    stalled = CollectError(FailureKind.TIMEOUT, "the server stopped answering (no reply within 1 s)")
    asked = _server(monkeypatch, {"anonymous": stalled})
    disclosed, policy = _survey("anonymous", "guest")
    assert asked == ["anonymous"]
    assert disclosed.error == "anonymous: the server stopped answering (no reply within 1 s)"
    assert policy is None
