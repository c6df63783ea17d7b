"""Medical / PHI file classification: by name, by the first 4 KiB of content, and by archive listing.

Pure logic over names and bytes handed in by the caller; the type table lives in
shareaudit/data/filetypes.toml. Typical flow for one file:

    name = classify_name(path)
    NameOutcome.MEDICAL  -> name.verdict (name.refine: the head may name a more specific type, read it
                            when the budget allows and resolve as for SNIFF)
    NameOutcome.SNIFF    -> resolve(name, sniff(first_4_kib, path), content_read=True)
    NameOutcome.ARCHIVE  -> zip: classify_zip(size, read): the listing, then the heads of a few entries
                            when the names do not decide; 7z: the name's verdict
A name carrying a patient identifier gives a `patient_document` verdict that stands when the content
shows nothing (NameVerdict.stands). `classify_file` (probe.py) is the whole sequence for one file.
"""

from shareaudit.classify.archive import (
    ByteRange,
    CentralDirectoryRead,
    ZipListing,
    ZipProblem,
    ZipUnreadable,
    classify_archive,
    classify_unlisted_archive,
    classify_zip,
    entry_head,
    entry_head_ranges,
    judge_zip,
    list_zip,
    parse_central_directory,
    parse_zip_tail,
    zip_tail_range,
)
from shareaudit.classify.checks import HEAD_LIMIT
from shareaudit.classify.probe import classify_file
from shareaudit.classify.sniff import sniff
from shareaudit.classify.table import (
    FileType,
    TableError,
    TypeTable,
    classify_name,
    default_table,
    load_table,
)
from shareaudit.classify.verdict import (
    ArchiveFormat,
    Confidence,
    NameOutcome,
    NameVerdict,
    Verdict,
    resolve,
)

__all__ = [
    "HEAD_LIMIT",
    "ArchiveFormat",
    "ByteRange",
    "CentralDirectoryRead",
    "Confidence",
    "FileType",
    "NameOutcome",
    "NameVerdict",
    "TableError",
    "TypeTable",
    "Verdict",
    "ZipListing",
    "ZipProblem",
    "ZipUnreadable",
    "classify_archive",
    "classify_file",
    "classify_name",
    "classify_unlisted_archive",
    "classify_zip",
    "default_table",
    "entry_head",
    "entry_head_ranges",
    "judge_zip",
    "list_zip",
    "load_table",
    "parse_central_directory",
    "parse_zip_tail",
    "resolve",
    "sniff",
    "zip_tail_range",
]
