"""Keeping patient identifiers out of reports: path components that look like names, birth dates or
record numbers, and the names of medical files, become stable keyed tokens.

A token is HMAC-SHA256 over the component with a per-installation key, so the same folder gets the
same token in every run (findings can be compared and grouped) while the name itself cannot be
recovered or guessed from a list of names without the key.
"""

import hashlib
import hmac
import os
import re
import secrets
import stat
import unicodedata
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from shareaudit.errors import InputError

KEY_SIZE = 32
TOKEN_HEX_DIGITS = 12


class KeyFileError(InputError):
    """The redaction key file is unsafe (readable by others) or unusable (wrong size, not a file)."""


# --- What an identifying component looks like -----------------------------------------------------------
# DICOM PN values join name parts with "^" (PS3.5 6.2.1): SMITH^MARY.
_CARET_NAME = re.compile(r"[^\W\d_]\s*\^\s*[^\W\d_]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
# Record-number words followed by digits: MRN448812, PAT-19570302, PID 12345, Accession#778812.
_RECORD_NUMBER = re.compile(
    r"(?<![^\W\d_])(?:mrn|pid|patid|patientid|pat|ptid|accession|acc|ssn|nhs|medrec|"
    r"kvnr|fallnr|svnr|ahv)[\s_\-#:.=]*\d{3,}",
    re.IGNORECASE,
)
# "Doe, John", "DOE, J", "Müller, Jürgen": a surname, a comma, a given name or initial.
_COMMA_NAME = re.compile(r"([^\W\d_][^\W\d_'\-]+)\s*,\s*([^\W\d_][^\W\d_'\-]*)")
# Full dates in a token: 1957-03-02, 19570302, 02.03.1957, 03/02/1957, 02.03.57.
_FULL_DATE = re.compile(
    r"(?<!\d)(?:"
    r"(?:19|20)\d\d[-_.]?(?:0[1-9]|1[0-2])[-_.]?(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-_./](?:0?[1-9]|1[0-2])[-_./](?:(?:19|20)\d\d|\d\d)"
    r"|(?:0?[1-9]|1[0-2])[-_./](?:0?[1-9]|[12]\d|3[01])[-_./](?:19|20)\d\d"
    r")(?!\d)"
)
_YEAR_MONTH = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])?")
_WORD_OR_NUMBER = re.compile(r"[^\W\d_]+|\d+")
# A short code glued to digits is an ID of the export, not a person: SER00001, IM000001, x64, Q3, WS2019.
_CODE = re.compile(r"[A-Za-z]{1,3}\d+")
# Only extensions with a letter: in "DOE_02.03.57" the ".57" belongs to a date.
_FILE_EXTENSION = re.compile(r"\.(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{1,5}$")

# Words that are never a person's name: structure of exports, modalities, office and IT vocabulary,
# months. Keeping them out of the "name-like" test stops "Exports_2024" or "budget 2023" being redacted.
_COMMON_WORD_LINES = (
    "a an and the of for in on to at by with from new old all misc other tmp temp test tests copy final draft",
    "series ser study studies st se im img image images pa pt pat patient patients case cases scan scans",
    "scanned export exports exported import imports archive archives archived backup backups teaching",
    "radiology imaging dicom dcm dicomdir pacs ris hl7 hl fhir cda ecg ekg eeg emg mri mr ct pet spect",
    "us xray cr dx nm ot sr seg rt ultrasound mammo cardio neuro report reports result results data",
    "raw files file folder share shares public private users user home homes profiles profile documents docs",
    "desktop downloads pictures music videos policies policy budget budgets invoice invoices minutes meeting",
    "meetings notes agenda plan plans project projects proposal contract contracts hr finance sales",
    "marketing it admin administration office team teams dept department q qtr quarter year years",
    "annual monthly weekly daily summary review reviews audit audits log logs logging version versions",
    "release releases build builds setup install installer drivers driver tools software windows win linux",
    "server servers client clients sql db database web www app apps x x86 x64 amd64 arm64 bin lib src",
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august",
    "september october november december mon tue wed thu fri sat sun week day month",
    "doc docx xls xlsx ppt pptx pdf txt csv xml json zip jpg png tif tiff",
)
_COMMON_WORDS = frozenset(word for line in _COMMON_WORD_LINES for word in line.split())


def looks_identifying(component: str) -> bool:
    """True if a path component looks like it carries a person's name, a birth date or a record number."""
    text = component.strip()
    if not text:
        return False
    if _CARET_NAME.search(text) or _EMAIL.search(text) or _SSN.search(text) or _RECORD_NUMBER.search(text):
        return True
    stem = _FILE_EXTENSION.sub("", text) or text
    for surname, given in _COMMA_NAME.findall(stem):
        if _name_like(surname) and (len(given) == 1 or _name_like(given)):
            return True
    words = _name_candidates(stem)
    names = [word for word in words if _name_like(word)]
    has_date = _FULL_DATE.search(stem) is not None
    numbers = [token for token in _numbers(stem) if len(token) >= 4]
    if names and (has_date or numbers):
        # A name-like word next to a date or a long number: DOE_JOHN_1957-03-02, john.doe_1957.
        return True
    if stem.isdigit():
        # A bare long number that is no date is most likely a patient ID or accession number; zero-padded
        # counters (000001) are export structure.
        return len(stem) >= 6 and not stem.startswith("000") and not _is_date_number(stem)
    return False


def _words(text: str) -> list[str]:
    return [token for token in _WORD_OR_NUMBER.findall(text) if not token.isdigit()]


def _numbers(text: str) -> list[str]:
    return [token for token in _WORD_OR_NUMBER.findall(text) if token.isdigit()]


def _name_candidates(text: str) -> list[str]:
    # Codes such as SER00001 or x64 are left out before splitting, so their letters do not count as words.
    return _words(
        " ".join(part for part in re.split(r"[\s_\-.,;+()\[\]]+", text) if not _CODE.fullmatch(part))
    )


def _name_like(word: str) -> bool:
    return len(word) >= 2 and word.casefold() not in _COMMON_WORDS


def _is_date_number(digits: str) -> bool:
    if len(digits) == 8 and _FULL_DATE.fullmatch(digits):
        return True
    return len(digits) in (4, 6) and _YEAR_MONTH.fullmatch(digits) is not None


# --- Names that identify a patient ------------------------------------------------------------------------
# Stricter than looks_identifying: that one hides anything that may name a person (over-hiding costs
# nothing), this one decides that a file is patient data, so an ordinary name with a date or a number
# (Screenshot 2024-03-02, Invoice_2024-03, IMG_20240302_123456) must not pass. It wants a person's name
# in one of the forms clinical systems write (SURNAME_Given, "Surname, Given", SURNAME^GIVEN) next to a
# full date, or a patient record number.
_PATIENT_RECORD = re.compile(
    r"(?<![^\W\d_])(?:mrn|patid|patientid|patient[\s_\-]?id|ptid|medrec|kvnr|fallnr|svnr|ahv|nhs|accession)"
    r"[\s_\-#:.=]*\d{4,}",
    re.IGNORECASE,
)
_PARTS = re.compile(r"[\s_\-.,;+()\[\]]+")
_TWO_WORDS = re.compile(r"[^\W\d_][\W\d_]+[^\W\d_]")  # two runs of letters, anything between
# Organisation and document words that sit next to a capitalised acronym in ordinary names
# (ACME_Corp_2024-01-15, IEEE_Standard_2023): never a given name.
_NOT_GIVEN_NAMES = frozenset(
    [
        "corp",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "ag",
        "co",
        "company",
        "group",
        "standard",
        "standards",
        "guideline",
        "guidelines",
        "guide",
        "manual",
        "specification",
        "spec",
        "form",
        "forms",
        "template",
        "templates",
        "letter",
        "letters",
        "statement",
        "offer",
        "order",
        "quote",
        "ticket",
        "receipt",
        "payslip",
        "payroll",
        "salary",
        "tax",
        "license",
        "licence",
        "certificate",
        "slides",
        "presentation",
        "readme",
        "first",
        "last",
        "latest",
        "current",
        "news",
        "todo",
        "changes",
        "changelog",
        "copying",
        "authors",
        "install",
        "release",
        "notes",
        "update",
        "upgrade",
        "config",
        "customer",
        "customers",
        "survey",
        "forecast",
        "overview",
        "schedule",
        "roster",
        "timesheet",
        "expenses",
    ]
)
# Words naming a clinical document: next to one of them, a plain "Weber_Klaus" is a patient's name too.
_CLINICAL_WORDS = frozenset(
    [
        "befund",
        "befunde",
        "arztbrief",
        "entlassbrief",
        "entlassungsbrief",
        "ueberweisung",
        "überweisung",
        "referral",
        "discharge",
        "lab",
        "labor",
        "laborbefund",
        "histologie",
        "pathologie",
        "anamnese",
        "konsil",
        "rezept",
        "prescription",
        "epicrisis",
        "epikrise",
        "ultraschall",
        "sonographie",
        "roentgen",
        "röntgen",
        "echo",
        "ekg",
        "ecg",
        "eeg",
        "biopsy",
        "biopsie",
        "op-bericht",
    ]
)
_MIN_CAPS_SURNAME = 4  # WHO, ISO, IBM, NHS: short acronyms are more often organisations than surnames


class PatientName(NamedTuple):
    """How a file name identifies a patient: the strength (strong, medium, weak) and the pattern, in words."""

    strength: str
    why: str


def patient_identifier(name: str) -> PatientName | None:
    """Whether a file name (its stem, the extension is ignored) carries a patient identifier, and how surely."""
    stem = _FILE_EXTENSION.sub("", name.strip()) or name.strip()
    if not stem:
        return None
    record = _PATIENT_RECORD.search(stem) is not None
    person = _written_person(stem)
    if record:
        if person:
            return PatientName("strong", "file name with a patient name and a record number")
        return PatientName("medium", "file name with a patient record number")
    if person and _FULL_DATE.search(stem):
        return PatientName(person, "file name with a patient name and a full date")
    if _SSN.search(stem):
        return PatientName("medium", "file name with a social security number")
    return None


def _written_person(stem: str) -> str | None:
    """A person's name as clinical systems write it, and how sure that is.

    medium: SMITH^JOHN, "Smith, John", SMITH_John, John_SMITH; weak: SMITH_JOHN (two words in capitals
    may be any two words).
    """
    if _TWO_WORDS.search(stem) is None:
        return None  # every pattern below needs two runs of letters: most file names have one
    if _CARET_NAME.search(stem):
        return "medium"
    for surname, given in _COMMA_NAME.findall(stem):
        if _name_like(surname) and _name_like(given) and given.casefold() not in _NOT_GIVEN_NAMES:
            return "medium"
    parts = [part for part in _PARTS.split(stem) if part]
    clinical = any(part.casefold() in _CLINICAL_WORDS for part in parts)
    found = None
    for first, second in pairwise(parts):
        if clinical and _given_name(first) and _given_name(second):
            return "medium"  # Befund_Weber_Klaus
        if _caps_surname(first) and _given_name(second):
            if not second.isupper():
                return "medium"
            found = "weak"
        elif _given_name(first) and not first.isupper() and _caps_surname(second):
            return "medium"
    return found


def _caps_surname(word: str) -> bool:
    return (
        len(word) >= _MIN_CAPS_SURNAME
        and word.isalpha()
        and word.isupper()
        and _name_like(word)
        and word.casefold() not in _NOT_GIVEN_NAMES
    )


def _given_name(word: str) -> bool:
    # A given name is letters only, capitalised (John) or in capitals (JOHN), and no common word.
    return (
        len(word) >= 2
        and word.isalpha()
        and word[0].isupper()
        and (word[1:].islower() or word.isupper())
        and _name_like(word)
        and word.casefold() not in _NOT_GIVEN_NAMES
    )


# --- Tokens -----------------------------------------------------------------------------------------------
_SEPARATORS = re.compile(r"([/\\])")


class Redactor:
    """Replaces identifying path components and medical file names with stable keyed tokens."""

    def __init__(self, key: bytes, show_names: bool = False) -> None:
        if len(key) < 16:
            raise ValueError("redaction key must be at least 16 bytes")
        self._key = bytes(key)
        self.show_names = show_names

    def token(self, kind: str, text: str) -> str:
        """The token for `text`, e.g. [dicom:3f9a1c2b7e10]; the same text and key always give the same token."""
        # NFC + casefold: SMB names are case-insensitive, so DOE_JOHN and Doe_John are one folder.
        normalized = unicodedata.normalize("NFC", text).casefold()
        digest = hmac.new(self._key, normalized.encode("utf-8", errors="surrogatepass"), hashlib.sha256)
        return f"[{kind}:{digest.hexdigest()[:TOKEN_HEX_DIGITS]}]"

    def path(self, path: str, medical_type: str | None) -> str:
        """The path with identifying components (and, for a medical file, its name) replaced by tokens."""
        if self.show_names:
            return path
        parts = _SEPARATORS.split(path)
        # split() with a capturing group alternates component, separator, component...; the last
        # element is the file name (empty if the path ends with a separator).
        last = len(parts) - 1
        for index in range(0, len(parts), 2):
            component = parts[index]
            if not component:
                continue
            if index == last and medical_type is not None:
                parts[index] = self.token(medical_type, component)
            elif looks_identifying(component):
                parts[index] = self.token("name", component)
        return "".join(parts)


# --- Key file ---------------------------------------------------------------------------------------------
def load_or_create_key(path: Path) -> bytes:
    """The redaction key at `path`, created (32 random bytes, mode 0600) if missing; refuses an exposed file."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(KEY_SIZE)
    # O_EXCL: the file is created by this call, with mode 0600 from the start, or not at all.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        if path.parent.is_dir():
            return _read_key(path)  # another run created it first: use theirs
        raise KeyFileError(f"cannot create redaction key {path}: {path.parent} is not a directory") from None
    except OSError as error:
        raise KeyFileError(f"cannot create redaction key {path}: {error.strerror or error}") from error
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write redaction key {path}: {error.strerror or error}") from error
    return key


def _read_key(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise
    except OSError as error:
        raise KeyFileError(f"cannot open redaction key {path}: {error.strerror or error}") from error
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"redaction key {path} is not a regular file")
        if status.st_mode & 0o077:
            raise KeyFileError(
                f"redaction key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(status.st_mode):04o}); run: chmod 600 {path}"
            )
        key = os.read(descriptor, KEY_SIZE + 1)
    finally:
        os.close(descriptor)
    if len(key) != KEY_SIZE:
        raise KeyFileError(f"redaction key {path} must hold exactly {KEY_SIZE} bytes, found {len(key)}")
    return key
