"""One file classified from end to end with ranged reads: the sequential form of what the crawl does in batches.

`classify_file` takes the path, the size from the listing and a `read(offset, length) -> bytes`; it asks
for the same reads the crawl (collect/crawl.py) would ask for, one file at a time: none when the name
decides, the first HEAD_LIMIT bytes when it asks for reading (or, for a `refine` name, when reads are
allowed), and for a ZIP its tail, maybe its central directory and the heads of a few entries. The
corpus test (tests/corpus/) uses it, and a lab test checks that the crawl reaches the same verdicts.
"""

from collections.abc import Callable

from shareaudit.classify.archive import classify_zip
from shareaudit.classify.checks import HEAD_LIMIT
from shareaudit.classify.sniff import sniff
from shareaudit.classify.table import TypeTable, default_table
from shareaudit.classify.verdict import ArchiveFormat, NameOutcome, Verdict, resolve

Read = Callable[[int, int], bytes]


def classify_file(
    path: str, size: int, read: Read, *, table: TypeTable | None = None, refine: bool = True
) -> Verdict | None:
    """The medical verdict for one file (None if not medical); `refine=False` is a crawl out of budget."""
    table = table or default_table()
    name = table.classify_name(path)
    if name.outcome is NameOutcome.NOT_MEDICAL:
        return None
    if name.outcome is NameOutcome.MEDICAL:
        if not (name.refine and refine):
            return name.verdict
        return resolve(name, sniff(read(0, HEAD_LIMIT), path, table), content_read=True)
    if name.outcome is NameOutcome.SNIFF:
        return resolve(name, sniff(read(0, HEAD_LIMIT), path, table), content_read=True)
    if name.archive is ArchiveFormat.ZIP:
        return resolve(name, classify_zip(size, read, table), content_read=True)
    return resolve(name, None, content_read=False)  # 7-Zip: its headers may be compressed or encrypted
