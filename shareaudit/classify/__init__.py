"""Medical / PHI file classification: by name, by the first 4 KiB of content, and by archive listing.

Pure logic over names and bytes handed in by the caller; the type table lives in
shareaudit/data/filetypes.toml. Typical flow for one file:

    name = classify_name(path)
    NameOutcome.MEDICAL  -> name.verdict
    NameOutcome.SNIFF    -> resolve(name, sniff(first_4_kib, path), content_read=True)
    NameOutcome.ARCHIVE  -> zip: list_zip(size, read) then classify_archive(listing.names);
                            7z: sniff(first bytes, path)
"""

from shareaudit.classify.archive import (
    ByteRange,
    CentralDirectoryRead,
    ZipListing,
    ZipProblem,
    ZipUnreadable,
    classify_archive,
    classify_unlisted_archive,
    list_zip,
    parse_central_directory,
    parse_zip_tail,
    zip_tail_range,
)
from shareaudit.classify.checks import HEAD_LIMIT
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
    "classify_name",
    "classify_unlisted_archive",
    "default_table",
    "list_zip",
    "load_table",
    "parse_central_directory",
    "parse_zip_tail",
    "resolve",
    "sniff",
    "zip_tail_range",
]
