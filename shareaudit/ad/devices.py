"""Which directory accounts look like device or service accounts, and why. Pure logic.

A heuristic, so every candidate carries its signals, each with the points it counts and what matched:

| reason | points | the account ... |
|---|---|---|
| `named` | 3 | was named with `--device-account` (also makes a built-in account a candidate) |
| `managed` | 3 | is a managed or group managed service account (objectClass msDS-(Group)ManagedServiceAccount) |
| `name` | 3 | follows a naming convention (`svc-`, `-svc`, `sa-`, `srv-`, words such as service, backup, scan, print) or has a device word (scanner, printer, mfp, copier, fax) |
| `group` | 3 | is in a group with a device word (Scanners, Print Devices), however nested |
| `spn` | 3 | has a servicePrincipalName: something runs as it |
| `description` | 2 | has a description naming a job, a system or a vendor (backup job, PACS database, HP LaserJet) |
| `password_never_expires` | 2 | has a password that never expires |
| `workstations` | 2 | may log on only from listed computers (userWorkstations) |
| `old_password` | 1 | has a password older than the configured age |
| `never_logged_on` | 1 | never logged on (no lastLogonTimestamp, lastLogon or logonCount) |

An account is a candidate at 3 points. An account that looks like a person (given name, surname and
mail) counts only the strong signals (3 points): a nurse whose description says "Backup contact for
ward 3", or a new colleague who never logged on, is not a service account. Built-in accounts (RID < 1000:
Administrator, whose password never expires by default, or krbtgt with its kadmin SPN) are never
candidates unless named.

Words are matched whole ("svc-scan", "Scanners", "scan01"), never inside other words ("mscanlon",
"Scanlan, Mary" are people).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from shareaudit.model import AccountSignal


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that name a printing or scanning device, or what it does: in names, descriptions and group names.
DEVICE_WORDS = _vocabulary(
    "scan scans scanner scanners scanning print prints printer printers printing "
    "mfp mfps mfd copier copiers fax"
)
# Words of a description that name a job, a system or a vendor (besides the device words). Whole words
# only; words that are also ordinary English or names (sharp, brother, epic, trend) are left out.
JOB_WORDS = _vocabulary(
    "backup backups job jobs task tasks batch scheduled nightly sync synchronisation synchronization "
    "replication export import archive archiving transfer interface integration gateway connector "
    "agent daemon service services spooler monitoring automation robot kiosk"
)
SYSTEM_WORDS = _vocabulary(
    "sql mssql mysql postgres postgresql oracle database db pacs ris lis emr ehr dicom hl7 fhir "
    "ldap smtp ftp sftp http https web iis apache sharepoint exchange nas san vpn erp crm "
    "app application appliance server cluster"
)
VENDOR_WORDS = _vocabulary(
    "veeam acronis commvault veritas arcserve netbackup sophos symantec kaspersky eset mcafee "
    "hp hpe laserjet officejet canon imagerunner ricoh xerox kyocera konica minolta bizhub lexmark "
    "epson toshiba synology qnap truenas vmware citrix sap agfa siemens philips carestream fujifilm "
    "sectra orthanc"
)
DESCRIPTION_WORDS = DEVICE_WORDS | JOB_WORDS | SYSTEM_WORDS | VENDOR_WORDS

# Naming conventions for service accounts: a trailing separator is a prefix, a leading one a suffix,
# anything else a whole word (or its plural). `--service-pattern` adds to these.
DEFAULT_SERVICE_PATTERNS = (
    "svc-",
    "svc_",
    "sa-",
    "srv-",
    "-svc",
    "_svc",
    "service",
    "backup",
    "scan",
    "print",
)

# [MS-SAMR] 2.2.1.12 / [MS-ADTS] 2.2.16 userAccountControl bits.
UF_ACCOUNTDISABLE = 0x0002
UF_DONT_EXPIRE_PASSWD = 0x10000
# [MS-KILE] 2.2.7 msDS-SupportedEncryptionTypes: RC4-HMAC.
ETYPE_RC4 = 0x4
# Built-in accounts (Administrator 500, Guest 501, krbtgt 502, ...) are not devices whatever their flags:
# Samba and Windows create Administrator with a password that never expires.
FIRST_ORDINARY_RID = 1000
DEFAULT_OLD_PASSWORD_DAYS = 365

STRONG, MEDIUM, WEAK = 3, 2, 1
CANDIDATE = 3  # the points that make a candidate
POINTS = {
    "named": STRONG,
    "managed": STRONG,
    "name": STRONG,
    "group": STRONG,
    "spn": STRONG,
    "description": MEDIUM,
    "password_never_expires": MEDIUM,
    "workstations": MEDIUM,
    "old_password": WEAK,
    "never_logged_on": WEAK,
}
# The order reasons are listed in (the first six as before service accounts were judged).
REASONS = (
    "named",
    "managed",
    "name",
    "description",
    "group",
    "spn",
    "password_never_expires",
    "workstations",
    "old_password",
    "never_logged_on",
)
_SEPARATORS = "-_."
_GLOB = re.compile(r"[*?\[]")


def words(text: str) -> set[str]:
    """The whole words of a text, lower case: letter-and-digit runs and their letter runs ("scan01", "scan")."""
    lowered = text.lower()
    return set(re.findall(r"[a-z0-9]+", lowered)) | set(re.findall(r"[a-z]+", lowered))


def has_device_word(text: str) -> bool:
    """A whole word of the text (any case) names a printer/scanner/copier."""
    return bool(words(text) & DEVICE_WORDS)


@dataclass(frozen=True, slots=True)
class NamePattern:
    """One naming convention: a prefix ("svc-"), a suffix ("-svc"), a whole word ("backup") or a glob."""

    text: str
    kind: str  # prefix | suffix | word | glob

    @classmethod
    def parse(cls, text: str) -> NamePattern:
        """ValueError for a pattern that would match nothing or everything."""
        pattern = text.strip().lower()
        if _GLOB.search(pattern):
            if not pattern.strip("*?"):
                raise ValueError(f"service pattern {text!r} matches every account")
            return cls(pattern, "glob")
        if not pattern.strip(_SEPARATORS):
            raise ValueError(f"service pattern {text!r} has no letters or digits")
        if pattern[-1] in _SEPARATORS:
            return cls(pattern, "prefix")
        if pattern[0] in _SEPARATORS:
            return cls(pattern, "suffix")
        if not re.fullmatch(r"[a-z0-9]+", pattern):
            raise ValueError(
                f"service pattern {text!r}: a word is letters and digits; write a prefix as 'svc-', "
                "a suffix as '-svc', or a glob as 'svc*'"
            )
        return cls(pattern, "word")

    def matches(self, name: str) -> bool:
        """The account name (sAMAccountName without a trailing $) follows this convention."""
        name = name.lower().rstrip("$")
        if self.kind == "prefix":
            return name.startswith(self.text) and len(name) > len(self.text)
        if self.kind == "suffix":
            return name.endswith(self.text) and len(name) > len(self.text)
        if self.kind == "glob":
            return fnmatch.fnmatchcase(name, self.text)
        found = words(name)
        return self.text in found or self.text + "s" in found

    def __str__(self) -> str:
        if self.kind == "word":
            return f'word "{self.text}"'
        return f'"{self.text}" {self.kind}'


@dataclass(frozen=True, slots=True)
class ServiceRules:
    """What counts: the naming conventions and the age from which a password is old."""

    patterns: tuple[NamePattern, ...] = tuple(NamePattern.parse(p) for p in DEFAULT_SERVICE_PATTERNS)
    old_password_days: int = DEFAULT_OLD_PASSWORD_DAYS

    @classmethod
    def with_patterns(
        cls, extra: Iterable[str], old_password_days: int = DEFAULT_OLD_PASSWORD_DAYS
    ) -> ServiceRules:
        """The default conventions plus these (ValueError for a bad one)."""
        patterns = list(cls().patterns)
        for text in extra:
            pattern = NamePattern.parse(text)
            if pattern not in patterns:
                patterns.append(pattern)
        return cls(tuple(patterns), old_password_days)


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the directory says about one account, decoded; the input of `judge`."""

    name: str  # sAMAccountName
    description: str = ""
    builtin: bool = False  # RID below 1000
    named: bool = False  # --device-account
    managed: str | None = None  # "gmsa" | "msa"
    device_group: str | None = None  # the name of a device group it is in, however nested
    spns: Sequence[str] = ()
    password_never_expires: bool = False
    workstations: Sequence[str] = ()
    password_last_set: datetime | None = None
    last_logon: datetime | None = None
    logon_count: int | None = None
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None

    @property
    def person(self) -> bool:
        """Looks like a person: a given name, a surname and a mail address."""
        return bool(self.given_name and self.surname and self.mail)


@dataclass(frozen=True, slots=True)
class Judgement:
    """Every signal found (in REASONS order), the points that count, and the verdict."""

    signals: tuple[AccountSignal, ...] = ()
    score: int = 0
    candidate: bool = False
    person: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        """The codes of the signals."""
        return tuple(signal.reason for signal in self.signals)


def _quoted(found: Iterable[str], limit: int = 4) -> str:
    ordered = sorted(found)
    shown = ", ".join(f'"{word}"' for word in ordered[:limit])
    return shown + (f" (+{len(ordered) - limit} more)" if len(ordered) > limit else "")


def _name_matches(name: str, rules: ServiceRules) -> list[str]:
    matched = [str(p) for p in rules.patterns if p.kind != "word" and p.matches(name)]
    found = words(name.rstrip("$"))
    word_hits = {w for w in found & DEVICE_WORDS}
    word_hits |= {p.text for p in rules.patterns if p.kind == "word" and p.matches(name)}
    matched += [f'word "{w}"' for w in sorted(word_hits)]
    return matched


def judge(facts: AccountFacts, rules: ServiceRules, now: datetime) -> Judgement:
    """The signals of one account and whether it is a candidate device/service account."""
    found: dict[str, str] = {}
    if facts.named:
        found["named"] = "named with --device-account"
    if facts.managed:
        found["managed"] = (
            "group managed service account (msDS-GroupManagedServiceAccount)"
            if facts.managed == "gmsa"
            else "managed service account (msDS-ManagedServiceAccount)"
        )
    name_hits = _name_matches(facts.name, rules)
    if name_hits:
        found["name"] = "name: " + ", ".join(name_hits)
    if facts.device_group:
        found["group"] = f"in the device group {facts.device_group}"
    if facts.spns:
        more = f" (+{len(facts.spns) - 1} more)" if len(facts.spns) > 1 else ""
        found["spn"] = f"servicePrincipalName {facts.spns[0]}{more}"
    described = words(facts.description) & DESCRIPTION_WORDS
    if described:
        found["description"] = "description names " + _quoted(described)
    if facts.password_never_expires:
        found["password_never_expires"] = "password never expires"
    if facts.workstations:
        found["workstations"] = "may log on only from " + ", ".join(facts.workstations)
    if facts.password_last_set is not None:
        age = (now - facts.password_last_set).days
        if age > rules.old_password_days:
            found["old_password"] = (
                f"password set {facts.password_last_set:%Y-%m-%d}, {age} days ago "
                f"(older than {rules.old_password_days})"
            )
    if facts.last_logon is None and not facts.logon_count:
        found["never_logged_on"] = "never logged on"
    signals = tuple(
        AccountSignal(reason, POINTS[reason], found[reason]) for reason in REASONS if reason in found
    )
    person = facts.person and not facts.managed
    counted = [s for s in signals if s.points >= STRONG] if person else list(signals)
    score = sum(s.points for s in counted)
    candidate = facts.named or (score >= CANDIDATE and not facts.builtin)
    return Judgement(signals, score, candidate, person)


def rc4_allowed(encryption_types: int | None) -> bool:
    """Kerberos may use RC4 with the account: msDS-SupportedEncryptionTypes absent, 0, or with the RC4 bit."""
    return not encryption_types or bool(encryption_types & ETYPE_RC4)


def explain(signals: Iterable[AccountSignal], score: int, person: bool) -> str:
    """The scoring as a reviewer reads it: each signal with its points, then the total that counts."""
    parts = [f"{signal.detail} ({signal.points})" for signal in signals]
    total = f"= {score}" + (" (looks like a person: only strong signals count)" if person else "")
    return "; ".join(parts) + f" {total}" if parts else total
