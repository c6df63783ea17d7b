"""Rule text as data: titles, why it matters, and remediation steps per platform (rules/*.toml).

Steps may contain placeholders filled per finding: `{{share}}` as is (for menu paths and prose),
`{{share_ps}}` as a PowerShell single-quoted literal and `{{share_sh}}` as a POSIX shell word. Server
strings are untrusted: a share named `x'; Remove-Item ...` must stay one quoted argument in a command
an admin pastes, so commands only ever use the quoted forms.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, RootModel, field_validator

from shareaudit.errors import InputError
from shareaudit.plan.files import STRICT, load_toml
from shareaudit.rules.platform import PLATFORMS, platforms_for
from shareaudit.rules.registry import SEVERITIES

# Names a step may use (each also with _ps and _sh).
PLACEHOLDERS = frozenset(
    {
        "host",
        "address",
        "share",
        "unc",
        "identity",
        "account",
        "principal",
        "sid",
        "port",
        "aet",
        "export",
        "vantage",
    }
)
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# PowerShell treats the typographic single quotes as quote characters too (about_Quoting_Rules);
# each is escaped by doubling it, like the ASCII one.
_PS_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


class CatalogError(InputError, ValueError):
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


def _known_placeholders(step: str) -> str:
    for name in _PLACEHOLDER.findall(step):
        base = name[:-3] if name.endswith(("_ps", "_sh")) else name
        if base not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{{{name}}}}}")
    return step


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _known_severity(severity: str) -> str:
    if severity not in _SEVERITY_NAMES:
        raise ValueError(f"must be one of {', '.join(_SEVERITY_NAMES)}")
    return severity


# A step may end in a space so that it can end in a quote inside a TOML ''' string: stripped when built.
_Step = Annotated[str, AfterValidator(_known_placeholders)]
_Text = Annotated[str, AfterValidator(_not_blank)]
# SEVERITIES may be a tuple of names or an enum: only iterate over it.
_SEVERITY_NAMES = tuple(str(getattr(severity, "value", severity)) for severity in SEVERITIES)


class _RuleEntry(BaseModel):
    """One [rule-id] table of a family file."""

    model_config = STRICT
    # The platforms the remediation must name: the file servers', or a family's own (platform.FAMILY_PLATFORMS).
    platforms: ClassVar[tuple[str, ...]] = tuple(PLATFORMS)

    title: _Text
    severity: Annotated[str, AfterValidator(_known_severity)]
    why: _Text
    caveats: list[_Step] = []
    remediation: dict[str, list[_Step]]

    @field_validator("remediation")
    @classmethod
    def _every_platform(cls, remediation: dict[str, list[str]]) -> dict[str, list[str]]:
        platforms = cls.platforms
        if set(remediation) != set(platforms):
            missing = [platform for platform in platforms if platform not in remediation]
            unknown = [platform for platform in remediation if platform not in platforms]
            detail = "; ".join(
                f"{what} {', '.join(names)}"
                for what, names in (("missing", missing), ("unknown", unknown))
                if names
            )
            raise ValueError(f"needs exactly the platforms {', '.join(platforms)} ({detail})")
        return remediation


class _Family(RootModel[dict[str, _RuleEntry]]):
    """A family file: rule id -> its text."""


@cache
def _family_model(platforms: tuple[str, ...]) -> type[RootModel[dict[str, _RuleEntry]]]:
    """The family-file model whose entries must name exactly these platforms."""
    if platforms == tuple(PLATFORMS):
        return _Family
    entry = type("_RuleEntry", (_RuleEntry,), {"platforms": platforms, "__module__": __name__})
    return RootModel[dict[str, entry]]  # type: ignore[valid-type]


def _rule_text(rule_id: str, family: str, entry: _RuleEntry) -> RuleText:
    platforms = platforms_for(family)
    return RuleText(
        id=rule_id,
        family=family,
        title=entry.title.strip(),
        severity=entry.severity,
        why=" ".join(entry.why.split()),
        # Platforms in the report's order, whatever the order in the file.
        remediation={p: tuple(step.strip() for step in entry.remediation[p]) for p in platforms},
        caveats=tuple(step.strip() for step in entry.caveats),
    )


def load_family(family: str, source: str | bytes) -> dict[str, RuleText]:
    """Parse one family's TOML text (or UTF-8 bytes) into its rule texts (CatalogError naming file, line, key)."""
    model = _family_model(tuple(platforms_for(family)))
    entries = load_toml(source, model, "rule texts", name=f"{family}.toml", error=CatalogError).root
    return {rule_id: _rule_text(rule_id, family, entry) for rule_id, entry in entries.items()}


@cache
def family_texts(family: str) -> dict[str, RuleText]:
    """The shipped texts of one rule family (shareaudit/rules/<family>.toml), loaded once."""
    source = (resources.files("shareaudit.rules") / f"{family}.toml").read_text(encoding="utf-8")
    return load_family(family, source)
