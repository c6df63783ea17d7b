"""Accepted risks (shareaudit/audit/suppress.py): which findings an entry covers, and until when.

Reading the file is tested with the other input files (tests/unit/test_inputs.py); here the entries
are built in code.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from shareaudit.audit.suppress import Rule, apply
from shareaudit.model import Finding, Suppression

TODAY = date(2026, 11, 29)


def finding(
    rule: str = "unprivileged-write",
    host: str = "nas01.hospital.example",
    share: str | None = "Scans",
    identity: str | None = "guest",
    id: str = "0123456789abcdef",
) -> Finding:
    return Finding(id=id, rule=rule, severity="high", title="t", host=host, share=share, identity=identity)


def entry(expires: date = TODAY, **match: str) -> Rule:
    return Rule(reason="firmware update in January", owner="pacs-admins", expires=expires, **match)  # type: ignore[arg-type]


def test_fingerprint_matches_that_finding_only() -> None:
    accepted = entry(fingerprint="0123456789abcdef")
    assert accepted.matches(finding())
    assert not accepted.matches(finding(id="fedcba9876543210"))
    # A fingerprint is exact: the rule and place of the finding do not matter.
    assert accepted.matches(finding(rule="smb1-enabled", host="elsewhere", share=None, identity=None))


@pytest.mark.parametrize(
    ("match", "covered"),
    [
        ({"rule": "unprivileged-write"}, True),  # every host, share and identity
        ({"rule": "unprivileged-read"}, False),
        ({"rule": "unprivileged-write", "host": "nas01.*"}, True),
        ({"rule": "unprivileged-write", "host": "NAS0?.HOSPITAL.example"}, True),  # globs ignore case
        ({"rule": "unprivileged-write", "host": "nas02.*"}, False),
        ({"rule": "unprivileged-write", "host": "nas01"}, False),  # a glob matches the whole name
        ({"rule": "unprivileged-write", "share": "scans"}, True),
        ({"rule": "unprivileged-write", "share": "scan[st]"}, True),
        ({"rule": "unprivileged-write", "share": "public"}, False),
        ({"rule": "unprivileged-write", "identity": "gu*"}, True),
        ({"rule": "unprivileged-write", "identity": "anonymous"}, False),
        ({"rule": "unprivileged-write", "host": "nas01.*", "share": "scans", "identity": "guest"}, True),
        ({"rule": "unprivileged-write", "host": "nas01.*", "share": "scans", "identity": "printer"}, False),
    ],
)
def test_rule_and_globs(match: dict[str, str], covered: bool) -> None:
    assert entry(**match).matches(finding()) is covered


def test_a_share_pattern_never_covers_a_host_level_finding() -> None:
    host_level = finding(rule="smb1-enabled", share=None, identity=None)
    assert entry(rule="smb1-enabled").matches(host_level)
    assert not entry(rule="smb1-enabled", share="*").matches(host_level)
    assert not entry(rule="smb1-enabled", identity="*").matches(host_level)


def test_an_entry_must_say_what_it_matches() -> None:
    with pytest.raises(ValidationError, match="give a fingerprint, or a rule"):
        entry(host="nas01", share="scans")


def test_expiry_date_is_the_last_day_covered() -> None:
    covered = finding()
    for expires, suppressed in (
        (TODAY + timedelta(days=30), True),
        (TODAY, True),
        (TODAY - timedelta(days=1), False),
    ):
        (marked,) = apply((covered,), [entry(expires, rule="unprivileged-write")], TODAY)
        assert (marked.suppressed is not None) is suppressed, expires


def test_apply_marks_with_the_first_unexpired_entry_and_keeps_order() -> None:
    findings = (
        finding(id="a" * 16),
        finding(id="b" * 16, rule="smb1-enabled", share=None, identity=None),
        finding(id="c" * 16, share="public"),
    )
    rules = [
        Rule(
            rule="unprivileged-write",
            share="scans",
            reason="old",
            owner="x",
            expires=TODAY - timedelta(days=1),
        ),
        Rule(
            rule="unprivileged-write", share="scans", reason="migration", owner="radiology-it", expires=TODAY
        ),
        Rule(fingerprint="a" * 16, reason="later entry", owner="y", expires=TODAY),
    ]
    marked = apply(findings, rules, TODAY)
    assert [f.id for f in marked] == [f.id for f in findings]
    assert marked[0].suppressed == Suppression("migration", "radiology-it", TODAY.isoformat())
    assert marked[1].suppressed is None and marked[2].suppressed is None
    assert marked[1] == findings[1]  # untouched findings are the same findings
    assert apply(findings, [], TODAY) == findings
