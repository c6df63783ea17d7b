"""Which files of a directory must be read, and what a sample of them allows: pure decisions for the crawl.

Within one directory, files whose names cannot decide their type (no extension, or one the table only
reads) are put in groups of the same name shape and size class (`group_key`). A large group has a few
of its files read (`sample_indices`, spread over the listing); when every one of them is the same
medical type (`agreement`), the rest of the group is counted as that type without being read and the
counts are marked as extrapolated. Anything else, a sample that is not medical, mixes types, or could
not be read, sends the crawl to read the rest of the group, so sampling never decides that a file is
not medical without reading it: it can over-count a medical type, never hide medical data.

A file shorter than every signature of the type table (`min_signature_size`) cannot match any content
rule, so it is not read at all: its size is known from the listing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from shareaudit.classify import TypeTable, Verdict

MIN_SAMPLE = 8  # files read from a sampled group, at least
MIN_GROUP = 20  # smaller groups are read whole: from here on a sample is at most half of the group
# sniff() looks into gzip, where a few compressed bytes can stand for a long head; but a gzip member has a
# 10-byte header before any compressed data (RFC 1952 2.3), so a gzip file yields nothing below 11 bytes.
_GZIP_SMALLEST = 11

GroupKey = tuple[str, int]  # (name shape, size class)


def name_shape(name: str) -> str:
    """The shape of a file name: letters, digits and the rest as classes, the extension kept as it is.

    'IM000123' -> 'A9:8', 'img0001' -> 'a9:7', 'scan_0001.xml' -> 'a_9:9.xml'; the stem's length is part
    of the shape, so 'img1' and 'img10' are two shapes (conservative: more, smaller groups).
    """
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not extension.isalpha():
        stem, extension = name, ""
    classes: list[str] = []
    for ch in stem:
        symbol = "A" if "A" <= ch <= "Z" else "a" if "a" <= ch <= "z" else "9" if "0" <= ch <= "9" else ch
        if not classes or classes[-1] != symbol:
            classes.append(symbol)
    shape = f"{''.join(classes)}:{len(stem)}"
    return f"{shape}.{extension.lower()}" if extension else shape


def size_class(size: int) -> int:
    """Files of one size class are within a factor of two of each other (0 for an empty file)."""
    return max(0, size).bit_length()


def group_key(name: str, size: int) -> GroupKey:
    """The group a file belongs to within its directory."""
    return name_shape(name), size_class(size)


def sample_size(members: int) -> int:
    """How many files of a group of `members` to read first: all of a small group, about 2*sqrt(n) of a large one."""
    if members < MIN_GROUP:
        return members
    return max(MIN_SAMPLE, math.ceil(2 * math.sqrt(members)))


def sample_indices(members: int) -> tuple[int, ...]:
    """Which members (in listing order) to read first: evenly spread, always the first and the last."""
    wanted = sample_size(members)
    if wanted >= members:
        return tuple(range(members))
    step = (members - 1) / (wanted - 1)
    return tuple(sorted({round(i * step) for i in range(wanted)}))


def agreement(results: Sequence[Verdict | str | None]) -> Verdict | None:
    """The verdict that may stand for a whole group, or None: read the rest.

    Each result is a sampled file's verdict once read (None: not medical) or why it could not be read.
    Only a sample that was read in full and is one medical type throughout agrees; its confidence is the
    weakest seen, since the files it stands for were not read.
    """
    if not results:
        return None
    verdicts: list[Verdict] = []
    for result in results:
        if not isinstance(result, Verdict):
            return None  # not medical, or not read: nothing may be assumed about the others
        verdicts.append(result)
    if len({verdict.type_id for verdict in verdicts}) != 1:
        return None
    weakest = min(verdicts, key=lambda verdict: verdict.confidence.rank)
    return replace(weakest, evidence=f"{weakest.evidence} (extrapolated from a sample of {len(verdicts)})")


def min_signature_size(table: TypeTable) -> int:
    """The fewest bytes any content rule of `table` can match: a shorter file cannot be any medical type.

    A lower bound, never more: a rule's bytes at an offset need offset + length bytes, its text prefixes
    and markers at least their own length; a structural check counts as one byte, because how much it
    needs is the check's own business.
    """
    smallest = _GZIP_SMALLEST
    for rule in table.content_rules:
        needed = 1
        for condition in rule.at:
            needed = max(
                needed,
                min(
                    offset + len(alternative)
                    for offset in condition.offsets
                    for alternative in condition.alternatives
                ),
            )
        for texts in (rule.text_starts, rule.text_contains):
            if texts:
                needed = max(needed, min(len(text) for text in texts))
        smallest = min(smallest, needed)
    return max(1, smallest)
