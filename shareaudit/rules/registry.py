"""The rule registry: stable rule ids, their predicates, and what a predicate returns (a Hit).

A rule is a small function over the facts. Its title, why-it-matters text and remediation steps are
data (shareaudit/rules/*.toml, loaded by `shareaudit.rules.catalog`), so adding a rule touches one
predicate and one table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from shareaudit.model import HostResult, ScanResult, Severity, Share
from shareaudit.rules.facts import HostFacts

# Most severe first; the order is the contract of --fail-on and of every sort.
SEVERITIES = tuple(Severity)


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for info (lower is worse)."""
    return Severity(severity).rank


@dataclass(frozen=True, slots=True)
class Hit:
    """One place where a rule fired, before it becomes a Finding."""

    severity: Severity
    evidence: str
    share: Share | None = None
    identity: str | None = None
    path: str | None = None
    # What the fingerprint uses instead of `identity` when the display form may vary between runs
    # (an ACE trustee is fingerprinted by SID, shown by name).
    identity_key: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)  # extra placeholders for remediation steps
    host: HostResult | None = None  # scan-level rules say which host; host rules leave it to the engine
    host_label: str | None = None  # scan-level rules about something that is not a scanned host
    # The platform the remediation is shown for first, when the rule knows better than the host's file-server
    # platform (the dicom family: the PACS product). A platform the rule's text has no steps for is dropped.
    platform: str | None = None


HostCheck = Callable[[HostFacts], Iterable[Hit]]
ScanCheck = Callable[[ScanResult], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class RuleCode:
    """A registered predicate: over one host's facts, or over the whole scan result."""

    id: str
    family: str
    host_check: HostCheck | None = None
    scan_check: ScanCheck | None = None


REGISTRY: dict[str, RuleCode] = {}


def _register(code: RuleCode) -> None:
    if code.id in REGISTRY:
        raise ValueError(f"rule id {code.id!r} registered twice")
    REGISTRY[code.id] = code


def host_rule(rule_id: str) -> Callable[[HostCheck], HostCheck]:
    """Register a predicate evaluated once per scanned host."""

    def register(check: HostCheck) -> HostCheck:
        _register(RuleCode(rule_id, _family(check), host_check=check))
        return check

    return register


def scan_rule(rule_id: str) -> Callable[[ScanCheck], ScanCheck]:
    """Register a predicate evaluated once over the whole scan result."""

    def register(check: ScanCheck) -> ScanCheck:
        _register(RuleCode(rule_id, _family(check), scan_check=check))
        return check

    return register


def _family(check: Callable[..., object]) -> str:
    # The family is the module the rule lives in (shareaudit.rules.posture -> posture): its data file
    # has the same name.
    return check.__module__.rsplit(".", 1)[-1]
