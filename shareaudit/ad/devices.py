"""Which directory accounts look like printer, scanner or service accounts, and why. Pure logic.

A heuristic, so every candidate carries its reasons: a device word in its name or description, a
device group, a servicePrincipalName, a password that never expires, or the auditor naming it. Words
are matched whole ("svc-scan", "Scanners"), never inside other words ("mscanlon" is a person).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Words that name a printing or scanning device, or what it does.
_DEVICE_WORD = re.compile(
    r"(scan|scans|scanner|scanners|scanning|print|printer|printers|printing|mfp|mfps|mfd|copier|copiers|fax)"
)
_WORDS = re.compile(r"[a-z]+")
# [MS-SAMR] 2.2.1.12 / [MS-ADTS] 2.2.16 userAccountControl bits.
UF_ACCOUNTDISABLE = 0x0002
UF_DONT_EXPIRE_PASSWD = 0x10000
# Built-in accounts (Administrator 500, Guest 501, krbtgt 502, ...) are not devices whatever their flags:
# Samba and Windows create Administrator with a password that never expires.
FIRST_ORDINARY_RID = 1000

REASONS = ("named", "name", "description", "group", "spn", "password_never_expires")


def has_device_word(text: str) -> bool:
    """A whole word of the text (letters only, any case) names a printer/scanner/copier."""
    return any(_DEVICE_WORD.fullmatch(word) for word in _WORDS.findall(text.lower()))


def device_reasons(
    name: str,
    description: str,
    in_device_group: bool,
    spns: Iterable[str],
    password_never_expires: bool,
    named: bool,
) -> tuple[str, ...]:
    """Why an account looks like a device/service account (empty: it does not), in REASONS order."""
    found = {
        "named": named,
        "name": has_device_word(name),
        "description": has_device_word(description),
        "group": in_device_group,  # a member, however deeply nested, of a group with a device word
        "spn": any(True for _ in spns),
        "password_never_expires": password_never_expires,
    }
    return tuple(reason for reason in REASONS if found[reason])
