"""The medical file-type table (shareaudit/data/filetypes.toml) and classification by name.

The table is loaded and validated once; name lookups are dict hits on the lowercased suffix or name,
because `classify_name` runs on every file name of a share.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

from shareaudit.classify.checks import CHECKS, HEAD_LIMIT
from shareaudit.classify.verdict import (
    NOT_MEDICAL,
    ArchiveFormat,
    Confidence,
    NameOutcome,
    NameVerdict,
    Verdict,
)
from shareaudit.errors import InputError
from shareaudit.plan.files import STRICT, Loc, TomlDocument, read_toml
from shareaudit.redact import patient_identifier

SCHEMA_VERSION = 1
# The type reported for an archive whose entries cannot be listed but whose location looks medical.
UNREADABLE_ARCHIVE = "unreadable_archive"
# The type of a file whose name carries a patient identifier (redact.patient_identifier), whatever its
# format: scanned referrals and lab results that a multifunction printer leaves on a share.
PATIENT_DOCUMENT = "patient_document"
# Every patient identifier needs at least four digits (a full date, a record number, an SSN): names with
# fewer are not looked at further, which keeps the check off the path of most file names.
# Reads that only refine a type the name already decided (a .dcm that is a DICOMDIR or an ECG): at most
# this share of the sniff budget per share, and this many per directory (a study folder of 5,000 .dcm
# files is DICOM by name; its first few say whether they are waveforms).
REFINE_SNIFF_SHARE = 0.2
REFINE_PER_DIRECTORY = 8
_FOUR_DIGITS = re.compile(r"(?:\D*\d){4}")


class TableError(InputError, ValueError):
    """The type table is malformed (unknown key, bad value, duplicate suffix)."""


@dataclass(frozen=True, slots=True)
class FileType:
    """One medical type of the table."""

    type_id: str
    label: str


@dataclass(frozen=True, slots=True)
class BytesAt:
    """One of `alternatives` at one of `offsets`."""

    offsets: tuple[int, ...]
    alternatives: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ContentRule:
    """A content signature: every condition that is set must hold."""

    type_id: str
    confidence: Confidence
    why: str
    at: tuple[BytesAt, ...] = ()
    text_starts: tuple[str, ...] = ()
    text_contains: tuple[str, ...] = ()
    text_regex: tuple[re.Pattern[str], ...] = ()
    xml_root: tuple[str, ...] = ()
    xml_namespace: tuple[str, ...] = ()
    check: str | None = None
    check_arg: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    medical_location: bool = False


@dataclass(frozen=True, slots=True)
class _NameRule:
    result: NameVerdict
    medical_location: bool
    pattern: str | None = None


# --- Name patterns ----------------------------------------------------------------------------------------
# PS3.10 8.2 / PS3.3 F.3.2.2 (pydicom fileset.is_conformant_file_id): file IDs are at most 8 characters
# of A-Z, 0-9 and underscore. Requiring a digit keeps README, LICENSE and friends out.
_FILE_SET_ID = re.compile(r"[A-Z0-9_]{1,8}")
# A UID is dotted decimal with at least four arcs under root 0, 1 or 2 (PS3.5 9.1); PACS exports name
# files by SOP Instance UID, sometimes behind a modality prefix ("MR.1.2.840...").
_UID_NAME = re.compile(r"(?:[a-z]{1,4}\.)?[0-2](?:\.(?:0|[1-9]\d*)){3,}")


def is_file_set_id(component: str) -> bool:
    """True for a DICOM file-set ID component with at least one digit, e.g. IM000001 or SE000002."""
    return _FILE_SET_ID.fullmatch(component) is not None and any(ch.isdigit() for ch in component)


def _dicom_file_set_member(base: str, dirs: list[str]) -> bool:
    if not is_file_set_id(base):
        return False
    if any(directory.casefold() == "dicom" for directory in dirs):
        return True
    # Exports without a DICOM/ folder still nest ID-named levels: PT000000/ST000000/SE000000/IM000000.
    return len(dirs) >= 2 and is_file_set_id(dirs[-1]) and is_file_set_id(dirs[-2])


def is_dicom_uid_name(base: str) -> bool:
    """True for a file named by a DICOM UID, e.g. 1.2.840.113619.2.55.3.604688119.969.1268071029.320."""
    return _UID_NAME.fullmatch(base.lower()) is not None


def _dicom_uid_name(base: str, dirs: list[str]) -> bool:
    return is_dicom_uid_name(base)


_NAME_PATTERNS: Mapping[str, Callable[[str, list[str]], bool]] = {
    "dicom_file_set_id": _dicom_file_set_member,
    "dicom_uid": _dicom_uid_name,
}
_PATTERN_EVIDENCE = {
    "dicom_file_set_id": "DICOM file-set ID in a DICOM file-set tree",
    "dicom_uid": "file named like a DICOM UID",
}

# What follows the last dot is an extension when it is short and has a letter (.pdf, .mp4, .7z); after
# "image.1", "1.2.840.10008.1", "report v2.0-final" or "Scan 10.15.33" the name has none and is read.
_EXTENSION = re.compile(r"(?=[a-z0-9_~$]*[a-z])[a-z0-9_~$]{1,10}")

# Words inside a path component: "CTScans" -> CT, Scans; "MRI_2024" -> MRI, 2024.
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_LOCATION_CACHE_LIMIT = 1 << 16


class TypeTable:
    """The loaded type table with its precomputed name index."""

    def __init__(
        self,
        types: Mapping[str, FileType],
        by_exact: Mapping[str, _NameRule],
        by_suffix: Mapping[str, _NameRule],
        patterns: tuple[_NameRule, ...],
        content_rules: tuple[ContentRule, ...],
        location_words: frozenset[str],
        location_fragments: tuple[str, ...],
    ) -> None:
        self.types = types
        self.content_rules = content_rules
        self._by_exact = by_exact
        self._by_suffix = by_suffix
        self._patterns = patterns
        self._max_suffix_parts = max((suffix.count(".") for suffix in by_suffix), default=1)
        self._location_words = location_words
        self._location_fragments = location_fragments
        self._location_cache: dict[str, bool] = {}

    @property
    def extensions(self) -> frozenset[str]:
        """The last extension of every suffix in the table, without the dot (dcm, nii, gz, ...)."""
        return frozenset(suffix.rsplit(".", 1)[-1] for suffix in self._by_suffix)

    def verdict(self, type_id: str, confidence: Confidence, evidence: str) -> Verdict:
        """A verdict for a type of this table."""
        return Verdict(type_id, self.types[type_id].label, confidence, evidence)

    def component_looks_medical(self, component: str) -> bool:
        """True if a directory name (or file stem) names a medical department, modality or format."""
        cached = self._location_cache.get(component)
        if cached is not None:
            return cached
        folded = component.casefold()
        result = any(fragment in folded for fragment in self._location_fragments) or any(
            word.lower() in self._location_words for word in _WORDS.findall(component)
        )
        if len(self._location_cache) >= _LOCATION_CACHE_LIMIT:
            self._location_cache.clear()
        self._location_cache[component] = result
        return result

    def path_looks_medical(self, path: str) -> bool:
        """True if a directory of `path` or the stem of its file name looks medical."""
        dirs, base = split_path(path)
        return self._location_medical(dirs, base)

    def _location_medical(self, dirs: list[str], base: str) -> bool:
        stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
        return any(self.component_looks_medical(part) for part in (*dirs, stem) if part)

    def classify_name(self, path: str) -> NameVerdict:
        """Classify a share-relative path by its name alone."""
        cut = max(path.rfind("/"), path.rfind("\\"))
        base = path[cut + 1 :]
        if not base:
            return NOT_MEDICAL
        result = self._by_name(path, cut, base)
        if result.outcome is NameOutcome.MEDICAL or not _FOUR_DIGITS.match(base):
            return result
        return self._patient_document(result, base)

    def _patient_document(self, result: NameVerdict, base: str) -> NameVerdict:
        """A name carrying a patient identifier makes the file patient data, unless the table decided already."""
        if PATIENT_DOCUMENT not in self.types:
            return result
        patient = patient_identifier(base)
        if patient is None:
            return result
        verdict = self.verdict(PATIENT_DOCUMENT, Confidence(patient.strength), patient.why)
        if result.outcome is NameOutcome.NOT_MEDICAL:
            return NameVerdict(NameOutcome.MEDICAL, verdict)
        # SNIFF or ARCHIVE: what the content shows wins; when it shows nothing, the name still stands.
        return NameVerdict(result.outcome, verdict, result.archive, stands=True)

    def _by_name(self, path: str, cut: int, base: str) -> NameVerdict:
        lowered = base.lower()
        rule = self._by_exact.get(lowered)
        if rule is None:
            rule = self._suffix_rule(lowered)
        if rule is not None:
            return self._apply(rule, path, cut, base)
        dot = lowered.rfind(".")
        if dot == 0 or (dot > 0 and _EXTENSION.fullmatch(lowered, dot + 1)):
            # Dotfiles (.bashrc, .DS_Store) are configuration; other extensions are not in the table.
            return NOT_MEDICAL
        # No extension, or a numeric one (UID names, "image.1"): DICOM is often stored like this.
        dirs = _directories(path, cut)
        for pattern_rule in self._patterns:
            if pattern_rule.pattern is not None and _NAME_PATTERNS[pattern_rule.pattern](base, dirs):
                return self._apply(pattern_rule, path, cut, base)
        return _SNIFF

    def _suffix_rule(self, lowered: str) -> _NameRule | None:
        # Longest suffix first (".nii.gz" before ".gz"); a leading dot does not start a suffix.
        dot = lowered.rfind(".")
        if dot <= 0:
            return None
        starts = [dot]
        for _ in range(self._max_suffix_parts - 1):
            previous = lowered.rfind(".", 0, starts[-1])
            if previous <= 0:
                break
            starts.append(previous)
        for start in reversed(starts):
            rule = self._by_suffix.get(lowered[start:])
            if rule is not None:
                return rule
        return None

    def _apply(self, rule: _NameRule, path: str, cut: int, base: str) -> NameVerdict:
        result = rule.result
        if not rule.medical_location and result.outcome is not NameOutcome.ARCHIVE and not result.later:
            return result
        medical = self._location_medical(_directories(path, cut), base)
        if rule.medical_location and not medical:
            return NOT_MEDICAL
        if result.later and medical:
            return replace(result, later=False)  # in a medical location, read with the likely ones
        if result.outcome is NameOutcome.ARCHIVE and result.verdict is None and medical:
            # If the archive cannot be listed, where it sits is all there is to go on.
            return NameVerdict(
                NameOutcome.ARCHIVE,
                self.verdict(UNREADABLE_ARCHIVE, Confidence.WEAK, "archive in a medical location"),
                result.archive,
            )
        return result


def _directories(path: str, cut: int) -> list[str]:
    return [part for part in path[: max(cut, 0)].replace("\\", "/").split("/") if part]


_SNIFF = NameVerdict(NameOutcome.SNIFF)


def split_path(path: str) -> tuple[list[str], str]:
    """Split a share-relative path (either separator) into its directory components and file name."""
    normalized = path.replace("\\", "/")
    directory, _, base = normalized.rpartition("/")
    return [part for part in directory.split("/") if part], base


# --- Loading ----------------------------------------------------------------------------------------------
# The table's shape is the pydantic models below (unknown keys refused, every error with its line);
# what spans entries (duplicate ids, suffixes and names, the unreadable_archive type) is checked by _Builder.
_TYPE_ID = re.compile(r"[a-z][a-z0-9_]*")
_OUTCOMES = {"medical": NameOutcome.MEDICAL, "sniff": NameOutcome.SNIFF, "archive": NameOutcome.ARCHIVE}


def _as_list(value: object) -> object:
    """A single value where a list is expected is a list of one."""
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _not_empty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"bad regular expression {pattern!r}: {error}") from error
    return patterns


def _offsets(offsets: list[int]) -> list[int]:
    if not offsets or not all(0 <= offset < HEAD_LIMIT for offset in offsets):
        raise ValueError(f"must be an integer (or list of them) within the first {HEAD_LIMIT} bytes")
    return offsets


def _latin1(texts: list[str]) -> list[str]:
    for text in texts:
        try:
            text.encode("latin-1")
        except UnicodeEncodeError as error:
            raise ValueError(f"bad signature bytes: {error}") from error
    return texts


def _hex(texts: list[str]) -> list[str]:
    for text in texts:
        try:
            bytes.fromhex(text)
        except ValueError as error:
            raise ValueError(f"bad signature bytes: {error}") from error
    return texts


def _known_check(check: str) -> str:
    if check not in CHECKS:
        raise ValueError(f"unknown check {check!r}")
    return check


def _known_pattern(pattern: str) -> str:
    if pattern not in _NAME_PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}")
    return pattern


def _type_id(type_id: str) -> str:
    if not _TYPE_ID.fullmatch(type_id):
        raise ValueError("must be a lowercase identifier")
    return type_id


def _schema(version: int) -> int:
    if version != SCHEMA_VERSION:
        raise ValueError(f"must be {SCHEMA_VERSION}")
    return version


# A non-empty string, or a list of them.
_Strings = Annotated[list[Annotated[str, AfterValidator(_not_empty)]], BeforeValidator(_as_list)]
_ConfidenceName = Literal["strong", "medium", "weak"]
_WhereName = Literal["anywhere", "medical_location"]


class _Locations(BaseModel):
    model_config = STRICT

    words: _Strings = []
    fragments: _Strings = []


class _SniffEntry(BaseModel):
    """A [[sniff]] rule: names worth reading that belong to no single type."""

    model_config = STRICT

    suffixes: _Strings | None = None
    exact: _Strings | None = None
    where: _WhereName = "anywhere"
    later: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> Self:
        if (self.suffixes is None) == (self.exact is None):
            raise ValueError("give exactly one of suffixes, exact")
        return self


class _NameEntry(BaseModel):
    """A [[type.name]] rule."""

    model_config = STRICT

    suffixes: _Strings | None = None
    exact: _Strings | None = None
    pattern: Annotated[str, AfterValidator(_known_pattern)] | None = None
    action: Literal["medical", "sniff", "archive"]
    confidence: _ConfidenceName | None = None
    where: _WhereName = "anywhere"
    archive: Literal["zip", "7z"] | None = None
    refine: bool = False
    later: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.refine and self.action != "medical":
            raise ValueError("refine is only for action 'medical'")
        if self.later and self.action != "sniff":
            raise ValueError("later is only for action 'sniff'")
        if self.action == "medical" and self.confidence is None:
            raise ValueError("a medical name rule needs a confidence")
        if self.action == "archive" and self.archive is None:
            raise ValueError("archive must be 'zip' or '7z'")
        if self.action != "archive" and self.archive is not None:
            raise ValueError("archive is only for action 'archive'")
        if sum(selector is not None for selector in (self.suffixes, self.exact, self.pattern)) != 1:
            raise ValueError("give exactly one of suffixes, exact, pattern")
        return self


class _AtEntry(BaseModel):
    """One { offset = ..., bytes = ... | hex = ... } condition."""

    model_config = STRICT

    offset: Annotated[list[int], BeforeValidator(_as_list), AfterValidator(_offsets)]
    text: Annotated[_Strings, AfterValidator(_latin1)] | None = Field(None, alias="bytes")
    hex: Annotated[_Strings, AfterValidator(_hex)] | None = None

    @model_validator(mode="after")
    def _one_signature(self) -> Self:
        if (self.text is None) == (self.hex is None):
            raise ValueError("give exactly one of bytes, hex")
        if not all(self.signatures()):
            raise ValueError("signature bytes must not be empty")
        return self

    def signatures(self) -> tuple[bytes, ...]:
        if self.text is not None:
            return tuple(text.encode("latin-1") for text in self.text)
        return tuple(bytes.fromhex(text) for text in self.hex or ())


class _ContentEntry(BaseModel):
    """A [[type.content]] rule."""

    model_config = STRICT

    why: Annotated[str, AfterValidator(_not_empty)]
    confidence: _ConfidenceName
    at: list[_AtEntry] = []
    text_starts: _Strings = []
    text_contains: _Strings = []
    text_regex: Annotated[_Strings, AfterValidator(_regexes)] = []
    xml_root: _Strings = []
    xml_namespace: _Strings = []
    check: Annotated[str, AfterValidator(_known_check)] | None = None
    check_arg: _Strings = []
    names: _Strings = []
    where: _WhereName = "anywhere"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.check_arg and self.check is None:
            raise ValueError("check_arg without check")
        conditions = (
            self.at,
            self.text_starts,
            self.text_contains,
            self.text_regex,
            self.xml_root,
            self.xml_namespace,
            self.check,
        )
        if not any(conditions):
            raise ValueError("a content rule needs at least one condition")
        return self


class _TypeEntry(BaseModel):
    """A [[type]]: one medical type with its name and content rules."""

    model_config = STRICT

    id: Annotated[str, AfterValidator(_type_id)]
    label: Annotated[str, AfterValidator(_not_empty)]
    name: list[_NameEntry] = []
    content: list[_ContentEntry] = []


class _TableFile(BaseModel):
    model_config = STRICT

    version: Annotated[int, AfterValidator(_schema)] = Field(alias="schema")
    locations: _Locations = _Locations()
    sniff: list[_SniffEntry] = []
    types: list[_TypeEntry] = Field([], alias="type")


def load_table(source: str | bytes, name: str = "filetypes.toml") -> TypeTable:
    """Parse and validate a type table from TOML text (or UTF-8 bytes); TableError naming file, line and key."""
    document = read_toml(source, "type table", name=name, error=TableError)
    loaded = document.validate(_TableFile)
    builder = _Builder(document)
    for index, sniff_entry in enumerate(loaded.sniff):
        builder.add_name_rule(None, _NameEntry(**sniff_entry.model_dump(), action="sniff"), ("sniff", index))
    for index, type_entry in enumerate(loaded.types):
        builder.add_type(type_entry, ("type", index))
    if UNREADABLE_ARCHIVE not in builder.types:
        raise document.problem(("type",), f"the table must define {UNREADABLE_ARCHIVE!r}")
    builder.finish_names()
    # Strongest first; within a tier the table order stands (specific types before generic ones).
    content_rules = sorted(builder.content_rules, key=lambda rule: -rule.confidence.rank)
    return TypeTable(
        types=builder.types,
        by_exact=builder.by_exact,
        by_suffix=builder.by_suffix,
        patterns=tuple(builder.patterns),
        content_rules=tuple(content_rules),
        location_words=frozenset(word.lower() for word in loaded.locations.words),
        location_fragments=tuple(fragment.casefold() for fragment in loaded.locations.fragments),
    )


@cache
def default_table() -> TypeTable:
    """The type table shipped with shareaudit (loaded once)."""
    source = (resources.files("shareaudit") / "data" / "filetypes.toml").read_text(encoding="utf-8")
    return load_table(source)


class _Builder:
    def __init__(self, document: TomlDocument) -> None:
        self.document = document
        self.types: dict[str, FileType] = {}
        self.by_exact: dict[str, _NameRule] = {}
        self.by_suffix: dict[str, _NameRule] = {}
        self.patterns: list[_NameRule] = []
        self.content_rules: list[ContentRule] = []
        self._pending_names: list[tuple[str | None, _NameEntry, Loc]] = []

    def add_type(self, entry: _TypeEntry, loc: Loc) -> None:
        if entry.id in self.types:
            raise self.document.problem((*loc, "id"), f"duplicate type id {entry.id!r}")
        self.types[entry.id] = FileType(entry.id, entry.label)
        for number, name_entry in enumerate(entry.name):
            self.add_name_rule(entry.id, name_entry, (*loc, "name", number))
        for content_entry in entry.content:
            self.content_rules.append(_content_rule(entry.id, content_entry))

    def add_name_rule(self, type_id: str | None, entry: _NameEntry, loc: Loc) -> None:
        # Verdicts need the type labels, and sniff rules come before the types: build them at the end.
        self._pending_names.append((type_id, entry, loc))

    def finish_names(self) -> None:
        for type_id, entry, loc in self._pending_names:
            self._build_name_rule(type_id, entry, loc)

    def _build_name_rule(self, type_id: str | None, entry: _NameEntry, loc: Loc) -> None:
        outcome = _OUTCOMES[entry.action]
        confidence = Confidence(entry.confidence) if entry.confidence is not None else None
        archive = ArchiveFormat(entry.archive) if entry.archive is not None else None
        medical_location = entry.where == "medical_location"

        def make(evidence: str, pattern: str | None = None) -> _NameRule:
            verdict = None
            if type_id is not None and confidence is not None:
                verdict = Verdict(type_id, self.types[type_id].label, confidence, evidence)
            return _NameRule(
                NameVerdict(outcome, verdict, archive, refine=entry.refine, later=entry.later),
                medical_location,
                pattern,
            )

        if entry.pattern is not None:
            self.patterns.append(make(_PATTERN_EVIDENCE[entry.pattern], entry.pattern))
        elif entry.exact is not None:
            for name in entry.exact:
                key = name.lower()
                if key in self.by_exact:
                    raise self.document.problem((*loc, "exact"), f"name {name!r} is already in another rule")
                self.by_exact[key] = make(f"file name {name.upper()}")
        else:
            for suffix in entry.suffixes or ():
                key = suffix.lower()
                if not key.startswith(".") or key.endswith(".") or ".." in key or "/" in key or "\\" in key:
                    raise self.document.problem((*loc, "suffixes"), f"bad suffix {suffix!r}")
                if key in self.by_suffix:
                    raise self.document.problem(
                        (*loc, "suffixes"), f"suffix {suffix!r} is already in another rule"
                    )
                self.by_suffix[key] = make(f"extension {key}")


def _content_rule(type_id: str, entry: _ContentEntry) -> ContentRule:
    return ContentRule(
        type_id=type_id,
        confidence=Confidence(entry.confidence),
        why=entry.why,
        at=tuple(BytesAt(tuple(item.offset), item.signatures()) for item in entry.at),
        text_starts=tuple(entry.text_starts),
        text_contains=tuple(entry.text_contains),
        text_regex=tuple(re.compile(pattern) for pattern in entry.text_regex),
        xml_root=tuple(entry.xml_root),
        xml_namespace=tuple(entry.xml_namespace),
        check=entry.check,
        check_arg=tuple(entry.check_arg),
        names=tuple(name.lower() for name in entry.names),
        medical_location=entry.where == "medical_location",
    )


def classify_name(path: str, table: TypeTable | None = None) -> NameVerdict:
    """Classify a share-relative path (/ or \\ separators) by its name alone."""
    return (table or default_table()).classify_name(path)
