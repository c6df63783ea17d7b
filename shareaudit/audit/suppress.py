"""Accepted risks: a TOML file of suppressions, each with a reason, an owner and an expiry date.

A suppression matches a finding by its fingerprint, or by rule and host/share patterns (globs). A
suppressed finding stays in the result, marked, and is shown in its own section; it does not count for
--fail-on or alerts. On the day after its expiry date it is an ordinary finding again.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from shareaudit.model import Finding, Suppression
from shareaudit.plan.files import STRICT, load_toml


class Rule(BaseModel):
    """One [[suppress]] entry."""

    model_config = STRICT

    fingerprint: str | None = None
    rule: str | None = None
    host: str | None = None  # glob
    share: str | None = None  # glob
    identity: str | None = None
    reason: str
    owner: str
    expires: Annotated[date, Field(strict=False)]  # a TOML date; "2027-01-31" in quotes is accepted too

    @model_validator(mode="after")
    def _matches_something(self) -> Rule:
        if not self.fingerprint and not self.rule:
            raise ValueError("give a fingerprint, or a rule (with optional host/share/identity patterns)")
        return self

    def matches(self, finding: Finding) -> bool:
        """Whether this entry covers the finding."""
        if self.fingerprint:
            return finding.id == self.fingerprint
        return (
            finding.rule == self.rule
            and _glob(finding.host, self.host)
            and _glob(finding.share, self.share)
            and _glob(finding.identity, self.identity)
        )


class _File(BaseModel):
    model_config = STRICT

    suppress: list[Rule] = []


def _glob(value: str | None, pattern: str | None) -> bool:
    return pattern is None or (value is not None and fnmatch.fnmatchcase(value.lower(), pattern.lower()))


def load(path: Path) -> list[Rule]:
    """Read a suppressions file; InputError naming the file, line and key on any problem."""
    return load_toml(path, _File, "suppressions").suppress


def apply(findings: tuple[Finding, ...], rules: list[Rule], today: date) -> tuple[Finding, ...]:
    """Mark the findings an unexpired suppression covers."""
    marked = []
    for finding in findings:
        rule = next((r for r in rules if r.expires >= today and r.matches(finding)), None)
        if rule is not None:
            finding = replace(
                finding, suppressed=Suppression(rule.reason, rule.owner, rule.expires.isoformat())
            )
        marked.append(finding)
    return tuple(marked)
