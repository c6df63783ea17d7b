"""Service/device account rules: a scanner account's reach, and who can read the scans it drops."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Severity
from shareaudit.rules.facts import (
    ANONYMOUS,
    GUEST,
    SERVICE,
    HostFacts,
    identity_class,
    is_scan_drop,
    medical_files,
    medical_summary,
    plural,
    rights_text,
)
from shareaudit.rules.registry import Hit, host_rule

_LISTED = 10  # shares named in one finding's evidence


@host_rule("service-account-overreach")
def service_account_overreach(facts: HostFacts) -> Iterator[Hit]:
    """A service/device account reaches shares beyond its scan drop folder."""
    for label in facts.service_accounts:
        shares = facts.disk_shares()
        drops = [s for s in shares if is_scan_drop(s) and facts.can_write(s, label)]
        beyond = [
            s for s in shares if s not in drops and (facts.can_read(s, label) or facts.can_write(s, label))
        ]
        if not beyond:
            continue
        parts = []
        for share in beyond[:_LISTED]:
            part = f"{share.name} ({rights_text(facts.access(share, label))}"
            if medical_files(share.content) and share.content:
                part += f"; medical data: {medical_summary(share.content)}"
            parts.append(part + ")")
        more = f" and {len(beyond) - _LISTED} more" if len(beyond) > _LISTED else ""
        home = (
            f"Its drop folder: {', '.join(s.name for s in drops)}."
            if drops
            else "No share it can write looks like a scan drop folder."
        )
        risky = any(medical_files(s.content) or facts.can_write(s, label) for s in beyond)
        yield Hit(
            Severity.HIGH if risky else Severity.MEDIUM,
            f"{label} ({facts.account(label)}) reaches {plural(len(beyond), 'share')} beyond its drop folder: "
            f"{'; '.join(parts)}{more}. {home}",
            identity=label,
        )


@host_rule("scan-drop-readable")
def scan_drop_readable(facts: HostFacts) -> Iterator[Hit]:
    """A scan drop folder is readable by identities other than the device that fills it."""
    for share in facts.disk_shares():
        if not is_scan_drop(share):
            continue
        owners = {label for label in facts.service_accounts if facts.can_write(share, label)}
        for label in facts.readers(share, ANONYMOUS, GUEST, SERVICE):
            if label in owners:
                continue
            files = medical_files(share.content)
            kind = " (a service account that does not fill it)" if identity_class(label) == SERVICE else ""
            evidence = (
                f"{share.name} looks like a scan drop folder ('{share.remark or share.name}'); "
                f"{label}{kind} may {rights_text(facts.access(share, label))}."
            )
            if share.content is not None:
                evidence += f" It holds {plural(share.content.files_seen, 'file')}"
                evidence += f", medical: {medical_summary(share.content)}." if files else "."
            yield Hit(Severity.CRITICAL if files else Severity.HIGH, evidence, share=share, identity=label)
