"""Rules: small predicates over the collected facts that make findings with remediation.

Each family module registers its predicates with a stable id; the family's TOML file beside it holds
the titles, why-it-matters texts and remediation steps. Rules read facts only: no network, no I/O.
"""

from shareaudit.rules import (
    access,
    accounts,
    coverage,
    device,
    dicom,
    directory,
    ftp,
    intrusion,
    medical,
    nfs,
    permissions,
    posture,
    vantage,
)
from shareaudit.rules.engine import RuleInfo, at_or_above, evaluate, fingerprint, rules, sort_key
from shareaudit.rules.platform import PLATFORMS, detect_platform
from shareaudit.rules.registry import SEVERITIES, severity_rank

FAMILIES = (
    posture,
    access,
    permissions,
    medical,
    accounts,
    coverage,
    directory,
    device,
    dicom,
    ftp,
    intrusion,
    nfs,
    vantage,
)
RULES: tuple[RuleInfo, ...] = rules()

__all__ = [
    "FAMILIES",
    "PLATFORMS",
    "RULES",
    "SEVERITIES",
    "RuleInfo",
    "at_or_above",
    "detect_platform",
    "evaluate",
    "fingerprint",
    "severity_rank",
    "sort_key",
]
