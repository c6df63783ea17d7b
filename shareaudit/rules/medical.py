"""Medical data rules: where the crawler found medical files, and who besides their owners can read them."""

from __future__ import annotations

from collections.abc import Iterator

from shareaudit.model import Content, Severity
from shareaudit.rules.facts import (
    ANONYMOUS,
    GUEST,
    SERVICE,
    HostFacts,
    content_note,
    identity_class,
    medical_files,
    medical_summary,
    plural,
)
from shareaudit.rules.registry import Hit, host_rule

# Least privileged first: the finding is named after the widest door.
_WIDTH = {ANONYMOUS: 0, GUEST: 1, SERVICE: 2}


def _inventory(content: Content) -> str:
    text = f"{plural(medical_files(content), 'medical file')}: {medical_summary(content)}"
    if content.study_stores:
        text += f"; {plural(len(content.study_stores), 'imaging study store')}"
    return f"{text} ({content_note(content)})"


@host_rule("medical-data-exposed")
def medical_data_exposed(facts: HostFacts) -> Iterator[Hit]:
    """Medical data is readable by the null session, guest, or a service/device account."""
    for share in facts.disk_shares():
        content = share.content
        if content is None or not medical_files(content):
            continue
        readers = sorted(
            facts.readers(share, ANONYMOUS, GUEST, SERVICE), key=lambda label: _WIDTH[identity_class(label)]
        )
        if not readers:
            continue
        yield Hit(
            Severity.CRITICAL,
            f"{share.name} holds {_inventory(content)}. Readable by: {', '.join(readers)}.",
            share=share,
            identity=readers[0],
        )


@host_rule("medical-data-inventory")
def medical_data_inventory(facts: HostFacts) -> Iterator[Hit]:
    """Medical data that only its proper owners (here: the audit account) can read: for the inventory."""
    for share in facts.disk_shares():
        content = share.content
        if content is None or not medical_files(content):
            continue
        if facts.readers(share, ANONYMOUS, GUEST, SERVICE):
            continue  # medical-data-exposed reports it
        yield Hit(
            Severity.INFO,
            f"{share.name} holds {_inventory(content)}. None of the anonymous, guest or service "
            "identities measured can read it.",
            share=share,
        )
