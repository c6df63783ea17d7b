"""Rule text as data: titles, why it matters, and remediation steps per platform (rules/*.toml).

Steps may contain placeholders filled per finding: `{{share}}` as is (for menu paths and prose),
`{{share_ps}}` as a PowerShell single-quoted literal and `{{share_sh}}` as a POSIX shell word. Server
strings are untrusted: a share named `x'; Remove-Item ...` must stay one quoted argument in a command
an admin pastes, so commands only ever use the quoted forms.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from shareaudit.errors import ShareauditError
from shareaudit.rules.platform import PLATFORMS
from shareaudit.rules.registry import SEVERITIES

# Names a step may use (each also with _ps and _sh).
PLACEHOLDERS = frozenset({"host", "address", "share", "unc", "identity", "account", "principal", "sid"})
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_KEYS = frozenset({"title", "severity", "why", "caveats", "remediation"})
# PowerShell treats the typographic single quotes as quote characters too (about_Quoting_Rules);
# each is escaped by doubling it, like the ASCII one.
_PS_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


class CatalogError(ShareauditError, ValueError):
    """A rule data file is malformed (unknown key, severity, platform or placeholder)."""


@dataclass(frozen=True, slots=True)
class RuleText:
    """The words of one rule: what it is called, why it matters, and how to fix it per platform."""

    id: str
    family: str
    title: str
    severity: str  # the default; predicates raise or lower it from context
    why: str
    remediation: Mapping[str, tuple[str, ...]]  # platform -> step templates
    caveats: tuple[str, ...] = ()  # side effects an admin must know, shown under every platform

    def steps(self, values: Mapping[str, str]) -> dict[str, list[str]]:
        """The remediation for one finding: every platform's steps with the placeholders filled."""
        return {
            platform: [fill(step, values) for step in (*steps, *self.caveats)]
            for platform, steps in self.remediation.items()
        }


def powershell_literal(value: str) -> str:
    """A PowerShell single-quoted string holding value verbatim (no expansion, no way out)."""
    for quote in _PS_QUOTES:
        value = value.replace(quote, quote * 2)
    return f"'{value}'"


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace {{name}}, {{name_ps}} and {{name_sh}} in one pass (a value is never expanded again)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        base, _, form = name.rpartition("_") if name.endswith(("_ps", "_sh")) else (name, "", "")
        if base not in values:
            return f"<{base}>"
        value = values[base]
        if form == "ps":
            return powershell_literal(value)
        if form == "sh":
            return shlex.quote(value)
        return value

    return _PLACEHOLDER.sub(replace, template)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogError(f"{where}: expected a list of strings")
    for item in value:
        for name in _PLACEHOLDER.findall(item):
            base = name[:-3] if name.endswith(("_ps", "_sh")) else name
            if base not in PLACEHOLDERS:
                raise CatalogError(f"{where}: unknown placeholder {{{{{name}}}}}")
    # A step may end in a space so that it can end in a quote inside a TOML ''' string.
    return tuple(item.strip() for item in value)


def _rule_text(rule_id: str, family: str, entry: Any, where: str) -> RuleText:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("title", "severity", "why"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CatalogError(f"{where}: {key} must be a non-empty string")
    if entry["severity"] not in SEVERITIES:
        raise CatalogError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    remediation = entry.get("remediation", {})
    if not isinstance(remediation, dict) or set(remediation) != set(PLATFORMS):
        raise CatalogError(f"{where}: remediation needs exactly the platforms {', '.join(PLATFORMS)}")
    return RuleText(
        id=rule_id,
        family=family,
        title=entry["title"].strip(),
        severity=entry["severity"],
        why=" ".join(entry["why"].split()),
        # Platforms in the report's order, whatever the order in the file.
        remediation={p: _strings(remediation[p], f"{where}.remediation.{p}") for p in PLATFORMS},
        caveats=_strings(entry.get("caveats", []), f"{where}.caveats"),
    )


def load_family(family: str, source: str) -> dict[str, RuleText]:
    """Parse one family's TOML text into its rule texts (CatalogError when malformed)."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{family}.toml: {exc}") from exc
    return {
        rule_id: _rule_text(rule_id, family, entry, f"{family}.toml [{rule_id}]")
        for rule_id, entry in data.items()
    }


@cache
def family_texts(family: str) -> dict[str, RuleText]:
    """The shipped texts of one rule family (shareaudit/rules/<family>.toml), loaded once."""
    source = (resources.files("shareaudit.rules") / f"{family}.toml").read_text(encoding="utf-8")
    return load_family(family, source)
