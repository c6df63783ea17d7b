"""The medical file-type table (shareaudit/data/filetypes.toml) and classification by name.

The table is loaded and validated once; name lookups are dict hits on the lowercased suffix or name,
because `classify_name` runs on every file name of a share.
"""

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from shareaudit.classify.checks import CHECKS, HEAD_LIMIT
from shareaudit.classify.verdict import (
    NOT_MEDICAL,
    ArchiveFormat,
    Confidence,
    NameOutcome,
    NameVerdict,
    Verdict,
)
from shareaudit.errors import ShareauditError

SCHEMA_VERSION = 1
# The type reported for an archive whose entries cannot be listed but whose location looks medical.
UNREADABLE_ARCHIVE = "unreadable_archive"


class TableError(ShareauditError, ValueError):
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
        lowered = base.lower()
        rule = self._by_exact.get(lowered)
        if rule is None:
            rule = self._suffix_rule(lowered)
        if rule is not None:
            return self._apply(rule, path, cut, base)
        dot = lowered.rfind(".")
        if dot == 0 or (dot > 0 and not lowered[dot + 1 :].isdigit()):
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
        if not rule.medical_location and result.outcome is not NameOutcome.ARCHIVE:
            return result
        medical = self._location_medical(_directories(path, cut), base)
        if rule.medical_location and not medical:
            return NOT_MEDICAL
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
_TOP_KEYS = {"schema", "locations", "sniff", "type"}
_TYPE_KEYS = {"id", "label", "name", "content"}
_NAME_KEYS = {"suffixes", "exact", "pattern", "action", "confidence", "where", "archive"}
_SNIFF_KEYS = {"suffixes", "exact", "where"}
_CONTENT_KEYS = {
    "why",
    "confidence",
    "at",
    "text_starts",
    "text_contains",
    "text_regex",
    "xml_root",
    "xml_namespace",
    "check",
    "check_arg",
    "names",
    "where",
}
_AT_KEYS = {"offset", "bytes", "hex"}
_TYPE_ID = re.compile(r"[a-z][a-z0-9_]*")


def load_table(source: str) -> TypeTable:
    """Parse and validate a type table from TOML text."""
    try:
        document = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise TableError(f"type table is not valid TOML: {error}") from error
    _check_keys(document, _TOP_KEYS, "table")
    if document.get("schema") != SCHEMA_VERSION:
        raise TableError(f"type table schema must be {SCHEMA_VERSION}")
    locations = _table(document.get("locations", {}), "locations")
    _check_keys(locations, {"words", "fragments"}, "locations")
    builder = _Builder()
    for index, entry in enumerate(_list(document.get("sniff", []), "sniff")):
        where = f"sniff[{index}]"
        entry = _table(entry, where)
        _check_keys(entry, _SNIFF_KEYS, where)
        builder.add_name_rule(None, {**entry, "action": "sniff"}, where)
    for index, entry in enumerate(_list(document.get("type", []), "type")):
        builder.add_type(_table(entry, f"type[{index}]"), index)
    if UNREADABLE_ARCHIVE not in builder.types:
        raise TableError(f"type table must define {UNREADABLE_ARCHIVE!r}")
    builder.finish_names()
    # Strongest first; within a tier the table order stands (specific types before generic ones).
    content_rules = sorted(builder.content_rules, key=lambda rule: -rule.confidence.rank)
    return TypeTable(
        types=builder.types,
        by_exact=builder.by_exact,
        by_suffix=builder.by_suffix,
        patterns=tuple(builder.patterns),
        content_rules=tuple(content_rules),
        location_words=frozenset(word.lower() for word in _strings(locations.get("words", []), "words")),
        location_fragments=tuple(
            fragment.casefold() for fragment in _strings(locations.get("fragments", []), "fragments")
        ),
    )


@cache
def default_table() -> TypeTable:
    """The type table shipped with shareaudit (loaded once)."""
    source = (resources.files("shareaudit") / "data" / "filetypes.toml").read_text(encoding="utf-8")
    return load_table(source)


class _Builder:
    def __init__(self) -> None:
        self.types: dict[str, FileType] = {}
        self.by_exact: dict[str, _NameRule] = {}
        self.by_suffix: dict[str, _NameRule] = {}
        self.patterns: list[_NameRule] = []
        self.content_rules: list[ContentRule] = []
        self._pending_names: list[tuple[str | None, dict[str, Any], str]] = []

    def add_type(self, entry: dict[str, Any], index: int) -> None:
        where = f"type[{index}]"
        _check_keys(entry, _TYPE_KEYS, where)
        type_id = entry.get("id")
        if not isinstance(type_id, str) or not _TYPE_ID.fullmatch(type_id):
            raise TableError(f"{where}: id must be a lowercase identifier")
        if type_id in self.types:
            raise TableError(f"{where}: duplicate type id {type_id!r}")
        label = entry.get("label")
        if not isinstance(label, str) or not label:
            raise TableError(f"{where} ({type_id}): label is required")
        self.types[type_id] = FileType(type_id, label)
        for number, name_entry in enumerate(_list(entry.get("name", []), f"{type_id}.name")):
            rule_where = f"{type_id}.name[{number}]"
            self.add_name_rule(type_id, _table(name_entry, rule_where), rule_where)
        for number, content_entry in enumerate(_list(entry.get("content", []), f"{type_id}.content")):
            rule_where = f"{type_id}.content[{number}]"
            self.content_rules.append(_content_rule(type_id, _table(content_entry, rule_where), rule_where))

    def add_name_rule(self, type_id: str | None, entry: dict[str, Any], where: str) -> None:
        _check_keys(entry, _NAME_KEYS, where)
        # Verdicts need the type labels, and sniff rules come before the types: build them at the end.
        self._pending_names.append((type_id, entry, where))

    def finish_names(self) -> None:
        for type_id, entry, where in self._pending_names:
            self._build_name_rule(type_id, entry, where)

    def _build_name_rule(self, type_id: str | None, entry: dict[str, Any], where: str) -> None:
        action = entry.get("action")
        outcomes = {
            "medical": NameOutcome.MEDICAL,
            "sniff": NameOutcome.SNIFF,
            "archive": NameOutcome.ARCHIVE,
        }
        if action not in outcomes:
            raise TableError(f"{where}: action must be one of {sorted(outcomes)}")
        outcome = outcomes[action]
        confidence = _confidence(entry["confidence"], where) if "confidence" in entry else None
        if outcome is NameOutcome.MEDICAL and confidence is None:
            raise TableError(f"{where}: a medical name rule needs a confidence")
        if type_id is None and confidence is not None:
            raise TableError(f"{where}: a confidence needs a type")
        archive: ArchiveFormat | None = None
        if outcome is NameOutcome.ARCHIVE:
            try:
                archive = ArchiveFormat(str(entry.get("archive")))
            except ValueError as error:
                raise TableError(f"{where}: archive must be 'zip' or '7z'") from error
        elif "archive" in entry:
            raise TableError(f"{where}: archive is only for action 'archive'")
        medical_location = _where(entry, where)
        selectors = [key for key in ("suffixes", "exact", "pattern") if key in entry]
        if len(selectors) != 1:
            raise TableError(f"{where}: give exactly one of suffixes, exact, pattern")

        def make(evidence: str, pattern: str | None = None) -> _NameRule:
            verdict = None
            if type_id is not None and confidence is not None:
                verdict = Verdict(type_id, self.types[type_id].label, confidence, evidence)
            return _NameRule(NameVerdict(outcome, verdict, archive), medical_location, pattern)

        if "pattern" in entry:
            pattern = entry["pattern"]
            if pattern not in _NAME_PATTERNS:
                raise TableError(f"{where}: unknown pattern {pattern!r}")
            self.patterns.append(make(_PATTERN_EVIDENCE[pattern], pattern))
        elif "exact" in entry:
            for name in _strings(entry["exact"], where):
                key = name.lower()
                if key in self.by_exact:
                    raise TableError(f"{where}: name {name!r} is already in another rule")
                self.by_exact[key] = make(f"file name {name.upper()}")
        else:
            for suffix in _strings(entry["suffixes"], where):
                key = suffix.lower()
                if not key.startswith(".") or key.endswith(".") or ".." in key or "/" in key or "\\" in key:
                    raise TableError(f"{where}: bad suffix {suffix!r}")
                if key in self.by_suffix:
                    raise TableError(f"{where}: suffix {suffix!r} is already in another rule")
                self.by_suffix[key] = make(f"extension {key}")


def _content_rule(type_id: str, entry: dict[str, Any], where: str) -> ContentRule:
    _check_keys(entry, _CONTENT_KEYS, where)
    why = entry.get("why")
    if not isinstance(why, str) or not why:
        raise TableError(f"{where}: why is required")
    if "confidence" not in entry:
        raise TableError(f"{where}: confidence is required")
    check = entry.get("check")
    if check is not None and check not in CHECKS:
        raise TableError(f"{where}: unknown check {check!r}")
    if "check_arg" in entry and check is None:
        raise TableError(f"{where}: check_arg without check")
    try:
        regexes = tuple(re.compile(pattern) for pattern in _strings(entry.get("text_regex", []), where))
    except re.error as error:
        raise TableError(f"{where}: bad text_regex: {error}") from error
    rule = ContentRule(
        type_id=type_id,
        confidence=_confidence(entry["confidence"], where),
        why=why,
        at=tuple(_bytes_at(item, where) for item in _list(entry.get("at", []), where)),
        text_starts=_strings(entry.get("text_starts", []), where),
        text_contains=_strings(entry.get("text_contains", []), where),
        text_regex=regexes,
        xml_root=_strings(entry.get("xml_root", []), where),
        xml_namespace=_strings(entry.get("xml_namespace", []), where),
        check=check,
        check_arg=_strings(entry.get("check_arg", []), where),
        names=tuple(name.lower() for name in _strings(entry.get("names", []), where)),
        medical_location=_where(entry, where),
    )
    conditions = (
        rule.at,
        rule.text_starts,
        rule.text_contains,
        rule.text_regex,
        rule.xml_root,
        rule.xml_namespace,
        rule.check,
    )
    if not any(conditions):
        raise TableError(f"{where}: a content rule needs at least one condition")
    return rule


def _bytes_at(item: object, where: str) -> BytesAt:
    entry = _table(item, where)
    _check_keys(entry, _AT_KEYS, where)
    raw_offsets = entry.get("offset")
    offsets = tuple(raw_offsets) if isinstance(raw_offsets, list) else (raw_offsets,)
    if not offsets or not all(
        isinstance(offset, int) and not isinstance(offset, bool) and 0 <= offset < HEAD_LIMIT
        for offset in offsets
    ):
        raise TableError(f"{where}: offset must be an integer (or list) within the first {HEAD_LIMIT} bytes")
    if ("bytes" in entry) == ("hex" in entry):
        raise TableError(f"{where}: give exactly one of bytes, hex")
    try:
        if "bytes" in entry:
            alternatives = tuple(text.encode("latin-1") for text in _strings(entry["bytes"], where))
        else:
            alternatives = tuple(bytes.fromhex(text) for text in _strings(entry["hex"], where))
    except (UnicodeEncodeError, ValueError) as error:
        raise TableError(f"{where}: bad signature bytes: {error}") from error
    if not alternatives or not all(alternatives):
        raise TableError(f"{where}: signature bytes must not be empty")
    return BytesAt(tuple(int(offset) for offset in offsets), alternatives)


def _confidence(value: object, where: str) -> Confidence:
    try:
        return Confidence(str(value))
    except ValueError as error:
        raise TableError(f"{where}: confidence must be strong, medium or weak") from error


def _where(entry: Mapping[str, Any], where: str) -> bool:
    value = entry.get("where", "anywhere")
    if value not in ("anywhere", "medical_location"):
        raise TableError(f"{where}: where must be 'anywhere' or 'medical_location'")
    return bool(value == "medical_location")


def _check_keys(entry: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = set(entry) - set(allowed)
    if unknown:
        raise TableError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TableError(f"{where}: expected a table")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TableError(f"{where}: expected a list")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item for item in items):
        raise TableError(f"{where}: expected a non-empty string or a list of them")
    return tuple(items)


def classify_name(path: str, table: TypeTable | None = None) -> NameVerdict:
    """Classify a share-relative path (/ or \\ separators) by its name alone."""
    return (table or default_table()).classify_name(path)
