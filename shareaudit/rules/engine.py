"""Evaluation: run every registered rule over a scan result and turn its hits into findings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shareaudit.model import Finding, HostResult, ScanResult
from shareaudit.rules.catalog import RuleText, family_texts
from shareaudit.rules.facts import HostFacts, host_label
from shareaudit.rules.platform import detect_platform
from shareaudit.rules.registry import REGISTRY, SEVERITIES, Hit, RuleCode, severity_rank

FINGERPRINT_HEX_DIGITS = 16


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule as `shareaudit rules` lists it."""

    id: str
    family: str
    severity: str
    title: str
    why: str


def fingerprint(rule: str, host: str, share: str | None, identity: str | None, path: str | None) -> str:
    """The finding id: sha256 of what the exposure is, never of when it was seen or an ACE's position."""
    key = "\x1f".join((rule, host, share or "", identity or "", path or ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:FINGERPRINT_HEX_DIGITS]


def rule_text(code: RuleCode) -> RuleText:
    """The data-file text of a registered rule."""
    texts = family_texts(code.family)
    if code.id not in texts:
        raise KeyError(f"rule {code.id!r} has no entry in {code.family}.toml")
    return texts[code.id]


def rules() -> tuple[RuleInfo, ...]:
    """Every registered rule with its default severity and title, most severe first."""
    infos = []
    for code in REGISTRY.values():
        text = rule_text(code)
        infos.append(RuleInfo(code.id, code.family, text.severity, text.title, text.why))
    return tuple(sorted(infos, key=lambda r: (severity_rank(r.severity), r.family, r.id)))


def _accounts(result: ScanResult) -> dict[str, str]:
    return {i.label: f"{i.domain}\\{i.username}" if i.domain else i.username for i in result.identities}


def _finding(
    code: RuleCode, hit: Hit, host: HostResult | None, platform: str | None, accounts: dict[str, str]
) -> Finding:
    text = rule_text(code)
    platform = hit.platform or platform
    if platform not in text.remediation:  # a family written for other platforms (dicom: PACS products)
        platform = None
    if hit.severity not in SEVERITIES:
        raise ValueError(f"rule {code.id} returned severity {hit.severity!r}")
    label = host_label(host) if host else hit.host_label or "-"
    share = hit.share.name if hit.share else None
    values = {"host": label}
    if host:
        values["address"] = host.address
    if share is not None and host:
        values["share"] = share
        values["unc"] = f"//{host.address}/{share}"
    if hit.identity:
        values["identity"] = hit.identity
        values["account"] = accounts.get(hit.identity) or hit.identity
    values.update(hit.values)
    return Finding(
        id=fingerprint(code.id, label, share, hit.identity_key or hit.identity, hit.path),
        rule=code.id,
        severity=hit.severity,
        title=text.title,
        host=label,
        share=share,
        identity=hit.identity,
        path=hit.path,
        evidence=hit.evidence,
        why=text.why,
        remediation=text.steps(values),
        platform=platform,
    )


def sort_key(finding: Finding) -> tuple[int, str, str, str, str, str, str]:
    """Most severe first, then by host, share, rule, identity, path: a stable, readable order."""
    return (
        severity_rank(finding.severity),
        finding.host,
        finding.share or "",
        finding.rule,
        finding.identity or "",
        finding.path or "",
        finding.id,
    )


def evaluate(result: ScanResult) -> tuple[Finding, ...]:
    """Every finding the registered rules make of the result, most severe first."""
    accounts = _accounts(result)
    labels = tuple(i.label for i in result.identities)
    platforms = {id(host): detect_platform(host.posture) for host in result.hosts}
    found: dict[str, Finding] = {}

    def add(finding: Finding) -> None:
        # Two hits with the same fingerprint are the same exposure: keep the more severe.
        kept = found.get(finding.id)
        if kept is None or severity_rank(finding.severity) < severity_rank(kept.severity):
            found[finding.id] = finding

    for code in REGISTRY.values():
        if code.scan_check is not None:
            for hit in code.scan_check(result):
                platform = platforms.get(id(hit.host)) if hit.host else None
                add(_finding(code, hit, hit.host, platform, accounts))
    for host in result.hosts:
        facts = HostFacts(host, labels, accounts, platforms[id(host)])
        for code in REGISTRY.values():
            if code.host_check is not None:
                for hit in code.host_check(facts):
                    add(_finding(code, hit, host, facts.platform, accounts))
    return tuple(sorted(found.values(), key=sort_key))


def at_or_above(findings: tuple[Finding, ...], severity: str) -> tuple[Finding, ...]:
    """The findings whose severity is `severity` or worse (what --fail-on counts)."""
    limit = severity_rank(severity)
    return tuple(f for f in findings if severity_rank(f.severity) <= limit)
