"""Content sniffing: the medical type of a file from at most its first 4 KiB.

Nothing read here is kept: the head is examined and only the type decision leaves this module.
"""

import zlib
from dataclasses import replace

from shareaudit.classify.checks import CHECKS, HEAD_LIMIT, HeadView
from shareaudit.classify.table import ContentRule, TypeTable, default_table, split_path
from shareaudit.classify.verdict import Verdict

GZIP_MAGIC = b"\x1f\x8b"
# gzip wrapper with the largest window (zlib manual, inflateInit2: windowBits + 16 selects gzip).
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Compressed names whose decompressed form has a name of its own (.mgz is a gzipped .mgh, nibabel
# freesurfer/mghformat.py).
_GZIP_RENAMES = {".mgz": ".mgh", ".tgz": ".tar"}


def sniff(head: bytes, name: str, table: TypeTable | None = None) -> Verdict | None:
    """The medical type of a file from its first bytes (name: file name or share-relative path), or None."""
    table = table or default_table()
    data = bytes(head[:HEAD_LIMIT])
    if data.startswith(GZIP_MAGIC):
        # .nii.gz, .mnc.gz, .mgz, .dcm.gz, .tar.gz: decompress only what the head holds and look again.
        inner = _gunzip_head(data)
        verdict = (
            _in_tar(table, inner) or _match(table, HeadView(inner), _gunzipped_name(name)) if inner else None
        )
        return replace(verdict, evidence=f"gzip-compressed: {verdict.evidence}") if verdict else None
    return _in_tar(table, data) or _match(table, HeadView(data), name)


# POSIX ustar (pax) and GNU tar headers: 512 bytes, "ustar" at 257, size in octal at 124, type at 156.
_TAR_BLOCK = 512
_TAR_MAGIC = b"ustar"
_TAR_FILE_TYPES = (b"0", b"\0", b"7")


def _in_tar(table: TypeTable, data: bytes) -> Verdict | None:
    """The first regular member of a tar whose header and first bytes lie in the head, judged by its bytes."""
    position = 0
    while position + _TAR_BLOCK <= len(data) and data.startswith(_TAR_MAGIC, position + 257):
        header = data[position : position + _TAR_BLOCK]
        member = header[:100].split(b"\0", 1)[0].decode("utf-8", errors="replace")
        size_field = header[124:136].split(b"\0", 1)[0].strip()
        try:
            size = int(size_field or b"0", 8)
        except ValueError:
            return None
        if header[156:157] in _TAR_FILE_TYPES and size > 0:
            body = data[position + _TAR_BLOCK : position + _TAR_BLOCK + size]
            verdict = _match(table, HeadView(body), member) if body else None
            return replace(verdict, evidence=f"tar member: {verdict.evidence}") if verdict else None
        # A directory, link or pax header: skip it (and its data, when it is in the head) to the next header.
        position += _TAR_BLOCK + (size + _TAR_BLOCK - 1) // _TAR_BLOCK * _TAR_BLOCK
    return None


def _gunzip_head(data: bytes) -> bytes:
    decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        # max_length bounds the output, so a compression bomb yields 4 KiB and no more.
        return decompressor.decompress(data, HEAD_LIMIT)
    except zlib.error:
        return b""


def _gunzipped_name(name: str) -> str:
    lowered = name.lower()
    for suffix in (".gz", ".gzip"):
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    for suffix, replacement in _GZIP_RENAMES.items():
        if lowered.endswith(suffix):
            return name[: -len(suffix)] + replacement
    return name


def _match(table: TypeTable, head: HeadView, name: str) -> Verdict | None:
    base = split_path(name)[1].lower()
    for rule in table.content_rules:
        if rule.names and not base.endswith(rule.names):
            continue
        if not _holds(rule, head):
            continue
        if rule.medical_location and not table.path_looks_medical(name):
            continue
        return table.verdict(rule.type_id, rule.confidence, rule.why)
    return None


def _holds(rule: ContentRule, head: HeadView) -> bool:
    data = head.data
    for signature in rule.at:
        if not any(
            data.startswith(alternative, offset)
            for offset in signature.offsets
            for alternative in signature.alternatives
        ):
            return False
    if rule.text_starts or rule.text_contains or rule.text_regex:
        text = head.text
        if text is None:
            return False
        if rule.text_starts and not text.startswith(rule.text_starts):
            return False
        if rule.text_contains and not any(marker in text for marker in rule.text_contains):
            return False
        if not all(pattern.search(text) for pattern in rule.text_regex):
            return False
    if rule.xml_root or rule.xml_namespace:
        root = head.xml_root
        if root is None:
            return False
        if rule.xml_root and root.local_name not in rule.xml_root:
            return False
        if rule.xml_namespace and root.namespace not in rule.xml_namespace:
            return False
    return rule.check is None or CHECKS[rule.check](head, rule.check_arg)
