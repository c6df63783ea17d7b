"""Accepted risks: a TOML file of suppressions, each with a reason, an owner and an expiry date.

A suppression matches a finding by its fingerprint, or by rule and host/share patterns (globs). A
suppressed finding stays in the result, marked, and is shown in its own section; it does not count for
--fail-on or alerts. On the day after its expiry date it is an ordinary finding again.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import replace
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shareaudit.errors import InputError
from shareaudit.model import Finding, Suppression


class Rule(BaseModel):
    """One [[suppress]] entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str | None = None
    rule: str | None = None
    host: str | None = None  # glob
    share: str | None = None  # glob
    identity: str | None = None
    reason: str
    owner: str
    expires: date

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
    model_config = ConfigDict(extra="forbid", frozen=True)
    suppress: list[Rule] = []


def _glob(value: str | None, pattern: str | None) -> bool:
    return pattern is None or (value is not None and fnmatch.fnmatchcase(value.lower(), pattern.lower()))


def load(path: Path) -> list[Rule]:
    """Read a suppressions file; InputError naming the entry on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read suppressions {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return _File.model_validate(data).suppress
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']}") from exc


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
