"""Structural checks on the first bytes of a file, for signatures that a plain offset + bytes cannot express.

Every check takes a `HeadView` and the rule's `check_arg` and returns a bool; none may raise on any
input (truncated, empty or random bytes). The type table refers to them by name.
"""

import codecs
import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

# The head of a file is at most this long (field survey section 6: 4 KiB covers every signature).
HEAD_LIMIT = 4096

# Control characters that still occur in text formats: tab, LF, CR, and the MLLP frame bytes
# 0x0B / 0x1C (python-hl7 hl7/mllp/streams.py) plus form feed and ESC.
_TEXT_CONTROLS = frozenset("\t\n\r\x0b\x0c\x1b\x1c")
# The other C0 controls: binary, not text (counted in C, once per head read).
_BINARY_CONTROLS = re.compile(
    "[" + "".join(re.escape(chr(c)) for c in range(32) if chr(c) not in _TEXT_CONTROLS) + "]"
)


@dataclass(frozen=True, slots=True)
class XmlRoot:
    """The root element of an XML document: local name and namespace URI (empty if none)."""

    local_name: str
    namespace: str


class HeadView:
    """The first bytes of a file, with lazily computed text and XML views shared by all rules."""

    def __init__(self, data: bytes) -> None:
        self.data = data[:HEAD_LIMIT]

    @cached_property
    def text(self) -> str | None:
        """The head decoded as text with BOM and leading whitespace removed, or None if it is binary."""
        return _decode_text(self.data)

    @cached_property
    def xml_root(self) -> XmlRoot | None:
        """The root element, if the head is XML and the root start tag is inside the head."""
        return _find_xml_root(self.text) if self.text else None


def _decode_text(data: bytes) -> str | None:
    if not data:
        return None
    encoding = "utf-8"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith(codecs.BOM_UTF16_LE):
        data, encoding = data[2:], "utf-16-le"
    elif data.startswith(codecs.BOM_UTF16_BE):
        data, encoding = data[2:], "utf-16-be"
    elif len(data) >= 4 and data[0] != 0 and data[1] == 0 and data[2] != 0 and data[3] == 0:
        encoding = "utf-16-le"  # GE MUSE and Windows tools write UTF-16 without BOM at times
    elif len(data) >= 4 and data[0] == 0 and data[1] != 0 and data[2] == 0 and data[3] != 0:
        encoding = "utf-16-be"
    if encoding.startswith("utf-16") and len(data) % 2:
        data = data[:-1]  # the head may cut a code unit in half
    text = data.decode(encoding, errors="replace")
    sample = text[:1024]
    if not sample:
        return None
    controls = len(_BINARY_CONTROLS.findall(sample))
    replaced = sample.count("\ufffd")
    # Latin-1 text decoded as UTF-8 yields some replacement characters; binary yields many, plus NULs.
    if controls * 50 > len(sample) or replaced * 4 > len(sample):
        return None
    return text.lstrip()


_XML_NAME = r"[A-Za-z_][\w.\-]*"
_START_TAG = re.compile(rf"<({_XML_NAME})(?::({_XML_NAME}))?")
_ATTRIBUTE = re.compile(r"\s+([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def _find_xml_root(text: str) -> XmlRoot | None:
    pos = 0
    length = len(text)
    # Skip the prolog: XML declaration, processing instructions, comments, DOCTYPE (XML 1.0 section 2.8).
    for _ in range(64):
        while pos < length and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                return None
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            if end < 0:
                return None
            pos = end + 3
        elif text.startswith("<!", pos):
            end = _doctype_end(text, pos)
            if end < 0:
                return None
            pos = end + 1
        else:
            break
    match = _START_TAG.match(text, pos)
    if match is None:
        return None
    prefix, local = (match.group(1), match.group(2)) if match.group(2) else ("", match.group(1))
    attributes: dict[str, str] = {}
    pos = match.end()
    while (attribute := _ATTRIBUTE.match(text, pos)) is not None:
        value = attribute.group(2) if attribute.group(2) is not None else attribute.group(3)
        attributes[attribute.group(1)] = value or ""
        pos = attribute.end()
    namespace = attributes.get(f"xmlns:{prefix}" if prefix else "xmlns", "")
    return XmlRoot(local, namespace)


def _doctype_end(text: str, pos: int) -> int:
    """Index of the '>' closing a declaration at pos, skipping an internal subset in [...]."""
    depth = 0
    quote = ""
    for index in range(pos, len(text)):
        ch = text[index]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ">" and depth <= 0:
            return index
    return -1


# --- DICOM ------------------------------------------------------------------------------------------------
# PS3.5 6.2: the value representations; PS3.5 7.1.2: those with a 2-byte reserved field and 4-byte length.
_VRS = frozenset(
    (
        b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV"
    ).split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_UNDEFINED_LENGTH = 0xFFFFFFFF


def dicom_media_storage_class(head: HeadView, args: tuple[str, ...]) -> bool:
    """True if the Part 10 file meta group names one of `args` as Media Storage SOP Class (0002,0002)."""
    data = head.data
    if data[128:132] != b"DICM":
        return False
    pos = 132
    # The file meta group is always explicit VR little endian (PS3.10 7.1).
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            return False
        vr = data[pos + 4 : pos + 6]
        if vr not in _VRS:
            return False
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                return False
            (value_length,) = struct.unpack_from("<I", data, pos + 8)
            pos += 12
        else:
            (value_length,) = struct.unpack_from("<H", data, pos + 6)
            pos += 8
        if value_length == _UNDEFINED_LENGTH:
            return False
        if element == 0x0002:
            value = data[pos : pos + value_length].rstrip(b"\x00 ")
            return value.decode("ascii", errors="replace") in args
        pos += value_length
    return False


def dicom_raw_dataset(head: HeadView, args: tuple[str, ...]) -> bool:
    """True if the head parses as a DICOM data set without preamble (ACR-NEMA, or pydicom force=True).

    Little endian (implicit or explicit VR) starts with group 0002 or 0008 as 02 00 / 08 00; Explicit VR
    Big Endian (PS3.5 A.3, retired but still written by old modalities) as 00 02 / 00 08.
    """
    data = head.data
    if len(data) < 8:
        return False
    if data[1] == 0 and data[0] in (0x02, 0x08):
        return _plausible_elements(data, explicit=True) or _plausible_elements(data, explicit=False)
    if data[0] == 0 and data[1] in (0x02, 0x08):
        return _plausible_elements(data, explicit=True, order=">")
    return False


def _plausible_elements(data: bytes, *, explicit: bool, order: str = "<") -> bool:
    """At least two consecutive elements with ascending tags, known VRs (explicit) and even lengths."""
    pos = 0
    previous = (-1, -1)
    parsed = 0
    while parsed < 4 and pos + 8 <= len(data):
        group, element = struct.unpack_from(f"{order}HH", data, pos)
        if (group, element) <= previous or (parsed == 0 and group not in (0x0002, 0x0008)):
            return False
        if group % 2 or group > 0x0020:
            return False  # the first elements of a data set come from the low, public groups
        if explicit:
            vr = data[pos + 4 : pos + 6]
            if vr not in _VRS:
                return False
            if vr in _LONG_VRS:
                if pos + 12 > len(data) or data[pos + 6 : pos + 8] != b"\x00\x00":
                    return False
                (value_length,) = struct.unpack_from(f"{order}I", data, pos + 8)
                header = 12
            else:
                (value_length,) = struct.unpack_from(f"{order}H", data, pos + 6)
                header = 8
        else:
            (value_length,) = struct.unpack_from("<I", data, pos + 4)
            header = 8
            # Implicit VR: the tags seen before pixel data are short strings and numbers.
            if value_length != _UNDEFINED_LENGTH and value_length > 0xFFFF:
                return False
        parsed += 1
        if value_length == _UNDEFINED_LENGTH:
            break  # a sequence: what follows is nested, stop here
        if value_length % 2:
            return False  # PS3.5 7.1.1: value lengths are even
        previous = (group, element)
        pos += header + value_length
    return parsed >= 2


# --- Neuroimaging -----------------------------------------------------------------------------------------
_NIFTI1_MAGICS = (b"n+1\x00", b"ni1\x00")


def analyze_header(head: HeadView, args: tuple[str, ...]) -> bool:
    """Analyze 7.5: sizeof_hdr 348 (either byte order), no NIfTI magic at 344, dim[0] in 1..7, dims >= 1."""
    data = head.data
    if len(data) < 348 or data[344:348] in _NIFTI1_MAGICS:
        return False
    for order in "<>":
        (size,) = struct.unpack_from(f"{order}i", data, 0)
        if size != 348:
            continue
        (ndim,) = struct.unpack_from(f"{order}h", data, 40)
        if not 1 <= ndim <= 7:
            continue
        dims = struct.unpack_from(f"{order}7h", data, 42)
        if all(extent >= 1 for extent in dims[:ndim]):
            return True
    return False


def mgh_header(head: HeadView, args: tuple[str, ...]) -> bool:
    """FreeSurfer MGH: big-endian version 1, positive dimensions, a known voxel type (mghformat.py).

    With the argument "oriented" the header must also carry its orientation block: goodRASFlag 1, voxel
    sizes in (0, 1000) mm and nine finite direction cosines, no column all zero (nibabel
    freesurfer/mghformat.py header layout: 7 ints, a short, 3 + 9 + 3 floats, all big-endian). Real
    volumes have unit columns; nibabel's own test volume does not, so unit length is not required.
    """
    data = head.data
    if len(data) < 28:
        return False
    version, width, height, depth, frames, voxel_type, dof = struct.unpack_from(">7i", data, 0)
    if version != 1 or voxel_type not in (0, 1, 3, 4) or dof < 0:
        return False
    if not all(1 <= size < 1 << 24 for size in (width, height, depth, frames)):
        return False
    if "oriented" not in args:
        return True
    if len(data) < 30 + 15 * 4 or struct.unpack_from(">h", data, 28)[0] != 1:
        return False
    floats = struct.unpack_from(">15f", data, 30)
    spacing, cosines = floats[:3], floats[3:12]
    if not all(0.0 < size < 1000.0 for size in spacing):
        return False
    if not all(math.isfinite(value) and abs(value) <= 1000.0 for value in cosines):
        return False
    columns = (cosines[0:3], cosines[3:6], cosines[6:9])
    return all(any(value != 0.0 for value in column) for column in columns)


def contains_bytes(head: HeadView, args: tuple[str, ...]) -> bool:
    """True if one of `args` (latin-1) occurs anywhere in the head."""
    return any(arg.encode("latin-1") in head.data for arg in args)


# --- EDF --------------------------------------------------------------------------------------------------
_EDF_DATE = re.compile(rb"\d\d[.:/\-]\d\d[.:/\-]\d\d")
_INTEGER = re.compile(rb"[+-]?\d+")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def edf_header(head: HeadView, args: tuple[str, ...]) -> bool:
    """EDF: version "0" + 7 spaces and a consistent 256-byte header (edfplus.info/specs/edf.html)."""
    data = head.data
    if len(data) < 256 or data[:8] != b"0       ":
        return False
    fixed = data[:256]
    # The header is ASCII; some writers put Latin-1 names in the patient field, so only controls fail.
    if any(byte < 0x20 or byte == 0x7F for byte in fixed):
        return False
    if not (_EDF_DATE.fullmatch(fixed[168:176]) and _EDF_DATE.fullmatch(fixed[176:184])):
        return False
    header_bytes = _ascii_integer(fixed[184:192])
    records = _ascii_integer(fixed[236:244])
    signals = _ascii_integer(fixed[252:256])
    if header_bytes is None or records is None or signals is None:
        return False
    if _NUMBER.fullmatch(fixed[244:252].strip()) is None:
        return False
    # Header length is 256 bytes plus 256 per signal; -1 records means "unknown" while recording.
    return 0 <= signals < 10000 and header_bytes == 256 * (signals + 1) and records >= -1


def _ascii_integer(field: bytes) -> int | None:
    field = field.strip()
    return int(field) if _INTEGER.fullmatch(field) else None


# --- FHIR JSON --------------------------------------------------------------------------------------------
_RESOURCE_TYPE = re.compile(r"\s*:\s*\"[A-Z][A-Za-z]+\"")


def fhir_json(head: HeadView, args: tuple[str, ...]) -> bool:
    """A JSON object (or the first NDJSON line, or the first object of an array) with a top-level
    "resourceType" string (FHIR json.html; exports also write arrays of resources)."""
    text = head.text
    if text and text.startswith("["):
        text = text[1:].lstrip()
    if not text or not text.startswith("{"):
        return False
    depth = 0
    pos = 0
    length = len(text)
    while pos < length:
        ch = text[pos]
        if ch == '"':
            end = _string_end(text, pos)
            if end < 0:
                return False
            if depth == 1 and text[pos + 1 : end] == "resourceType" and _RESOURCE_TYPE.match(text, end + 1):
                return True
            pos = end + 1
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth <= 0:
                return False  # the first object ended without the key
        pos += 1
    return False


def _string_end(text: str, start: int) -> int:
    """Index of the quote closing the JSON string that opens at start, or -1 if the head cuts it."""
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch == '"':
            return pos
        pos += 1
    return -1


# --- DICOM JSON -------------------------------------------------------------------------------------------
# PS3.18 F.2: an object (or an array of objects) whose members are named by 8 hex digit tags, each an
# object with a "vr" member: {"00080005": {"vr": "CS", "Value": [...]}, ...}.
_DICOM_JSON = re.compile(
    r'\A\[?\s*\{\s*"[0-9A-Fa-f]{8}"\s*:\s*\{\s*(?:"(?:Value|InlineBinary|BulkDataURI)"\s*:[^{}]*?,\s*)?"vr"\s*:\s*"[A-Z]{2}"'
)


def dicom_json(head: HeadView, args: tuple[str, ...]) -> bool:
    """The DICOM JSON model: the first member is a tag with a VR (PS3.18 F.2)."""
    text = head.text
    return text is not None and _DICOM_JSON.match(text) is not None


# --- WFDB -------------------------------------------------------------------------------------------------
# physionet.org/physiotools/wag/header-5.htm. Record line: name[/segments] signals [fs[/counter[(base)]]
# [samples [time [date]]]]. Signal line: file format[xsamp][:skew][+offset] [gain...]; segment line
# (multi-segment records): name samples.
_WFDB_RECORD = re.compile(
    r"[A-Za-z0-9_\-]+(/\d+)?[ \t]+(\d+)(?:[ \t]+\d+(?:\.\d*)?(?:/\d+(?:\.\d*)?(?:\(-?\d+\))?)?"
    r"(?:[ \t]+\d+(?:[ \t]+\S+(?:[ \t]+\S+)?)?)?)?[ \t]*"
)
_WFDB_FORMATS = "8|16|61|80|160|212|310|311|24|32|508|516|524"
_WFDB_SIGNAL = re.compile(rf"\S+[ \t]+(?:{_WFDB_FORMATS})(?:x\d+)?(?::\d+)?(?:\+\d+)?(?:[ \t]|$)")
_WFDB_SEGMENT = re.compile(r"(?:[A-Za-z0-9_\-]+|~)[ \t]+\d+[ \t]*")


def wfdb_header(head: HeadView, args: tuple[str, ...]) -> bool:
    """A WFDB header: a record line and a first signal (or segment) line that fit the specification."""
    text = head.text
    if not text:
        return False
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if len(lines) < 2:
        return False
    record = _WFDB_RECORD.fullmatch(lines[0])
    if record is None or int(record.group(2)) == 0:
        return False
    if record.group(1):
        return _WFDB_SEGMENT.fullmatch(lines[1]) is not None
    return _WFDB_SIGNAL.match(lines[1]) is not None


# --- TrackVis ---------------------------------------------------------------------------------------------
def trk_header(head: HeadView, args: tuple[str, ...]) -> bool:
    """TrackVis: "TRACK" then, at offset 996, hdr_size 1000 in either byte order (trackvis.org file format)."""
    data = head.data
    if len(data) < 1000 or not data.startswith(b"TRACK"):
        return False
    return data[996:1000] in (struct.pack("<i", 1000), struct.pack(">i", 1000))


Check = Callable[[HeadView, tuple[str, ...]], bool]

CHECKS: Mapping[str, Check] = {
    "dicom_media_storage_class": dicom_media_storage_class,
    "dicom_raw_dataset": dicom_raw_dataset,
    "analyze_header": analyze_header,
    "mgh_header": mgh_header,
    "contains_bytes": contains_bytes,
    "edf_header": edf_header,
    "fhir_json": fhir_json,
    "dicom_json": dicom_json,
    "wfdb_header": wfdb_header,
    "trk_header": trk_header,
}
