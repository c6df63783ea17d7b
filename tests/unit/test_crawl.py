"""The bounded crawl (shareaudit/collect/crawl.py) over an in-memory share: exact counts when nothing
stops it, and the extrapolation when a bound does (`ShareCrawl._content`: entries listed but not taken,
plus unlisted directories times the mean entries of a listed directory, scale every medical count)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Union

import pytest

from shareaudit.collect.crawl import CrawlBounds, MedicalFile, MedicalSink, ShareCrawl, _WalkState
from shareaudit.collect.walk import Entry, Listing
from shareaudit.errors import CollectError, FailureKind
from shareaudit.redact import Redactor

Tree = dict[str, Union["Tree", bytes, None]]  # a folder; bytes: a file's content; None: a folder refused

DICM = (
    b"\0" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + bytes(4)
)  # a Part 10 header, no extension needed
DENIED = "STATUS_ACCESS_DENIED"
UNBOUNDED = CrawlBounds(rate=0)


class DictLister:
    """A `Lister` (shareaudit/collect/walk.py) over a dict tree; paths are joined with a backslash as the crawl does."""

    def __init__(self, tree: Tree, page: int = 0) -> None:
        self.tree = tree
        self.page = page  # > 0: listings with more entries come back partial, as one SMB query's worth
        self.listed: list[str] = []
        self.heads: list[str] = []
        self.ranges: list[str] = []

    def _node(self, path: str) -> Tree | bytes | None:
        node: Tree | bytes | None = self.tree
        for part in path.split("\\") if path else ():
            assert isinstance(node, dict), path
            node = node[part]
        return node

    def _listing(self, path: str, full: bool) -> Listing:
        node = self._node(path)
        if node is None:
            return Listing(path, status=DENIED)
        assert isinstance(node, dict), path
        entries = tuple(
            Entry(
                name,
                isinstance(child, dict) or child is None,
                len(child) if isinstance(child, bytes) else 0,
                1.7e9,
            )
            for name, child in node.items()
        )
        if self.page and not full and len(entries) > self.page:
            return Listing(path, entries[: self.page], partial=True)
        return Listing(path, entries)

    def list_directories(self, paths: Sequence[str]) -> Iterator[Listing]:
        for path in paths:
            self.listed.append(path)
            yield self._listing(path, full=False)

    def list_directory_fully(self, path: str) -> Listing:
        return self._listing(path, full=True)

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        for path in paths:
            self.heads.append(path)
            node = self._node(path)
            yield path, node[:length] if isinstance(node, bytes) else DENIED

    def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, bytes | str]]:
        for path, offset, length in ranges:
            self.ranges.append(path)
            node = self._node(path)
            yield path, node[offset : offset + length] if isinstance(node, bytes) else DENIED


def crawl(
    tree: Tree, bounds: CrawlBounds = UNBOUNDED, on_medical: MedicalSink | None = None, page: int = 0
) -> tuple[ShareCrawl, DictLister]:
    walker = DictLister(tree, page)
    return ShareCrawl(walker, "anonymous", bounds, Redactor(b"k" * 32), on_medical), walker


def dicom_folders(folders: int, files: int) -> Tree:
    """`folders` study folders of `files` DICOM files each, at the root."""
    return {f"ST{d:04d}": {f"IM{i:05d}.dcm": b"x" * 100 for i in range(files)} for d in range(folders)}


def counts(tree: Tree, bounds: CrawlBounds = UNBOUNDED) -> dict[str, int]:
    content = crawl(tree, bounds)[0].run()
    return {type_id: m.count for type_id, m in content.medical.items()}


# --- no bound: exact ------------------------------------------------------------------------------------


def test_an_unbounded_walk_counts_exactly_and_estimates_nothing() -> None:
    tree: Tree = {
        "Teaching": {"case_042": {"IM00001.dcm": DICM, "IM00002": DICM, "notes.txt": b"hello"}},
        "HL7": {"ADT_A01.hl7": b"MSH|^~\\&|x"},
        "Staff only": None,
        "README.txt": b"nothing medical",
    }
    found: list[MedicalFile] = []
    walk, lister = crawl(tree, on_medical=found.append)
    content = walk.run()
    assert {t: m.count for t, m in content.medical.items()} == {"dicom": 2, "hl7v2": 1}
    assert content.medical["dicom"].confidence == "strong"  # the extensionless one was sniffed: DICM at 128
    assert (content.entries_seen, content.dirs_seen, content.files_seen, content.denied_dirs) == (9, 4, 5, 1)
    # Read: the extensionless file, the .dcm to refine its subtype, the .txt files (HL7 heads are cheap).
    assert content.sniffed == 4
    assert sorted(lister.heads) == [
        "README.txt",
        "Teaching\\case_042\\IM00001.dcm",
        "Teaching\\case_042\\IM00002",
        "Teaching\\case_042\\notes.txt",
    ]
    assert content.estimated is False and content.truncated is False and content.bounds_hit == ()
    assert sorted(f.type_id for f in found) == ["dicom", "dicom", "hl7v2"]  # every medical file, as found


def test_a_partial_listing_is_listed_again_in_full() -> None:
    content = crawl(dicom_folders(1, 50), page=8)[0].run()
    assert content.medical["dicom"].count == 50 and content.entries_seen == 51 and not content.estimated


# --- bounds: the estimate ---------------------------------------------------------------------------------


def test_max_dir_entries_scales_by_the_entries_left_in_the_folder() -> None:
    # One folder of 50: 10 taken, 40 listed but not taken. Entries: 1 folder + 10 = 11 taken, 40 unseen.
    content = crawl(dicom_folders(1, 50), CrawlBounds(max_dir_entries=10, rate=0))[0].run()
    assert content.bounds_hit == ("dir_entries",) and content.truncated and content.estimated
    assert content.entries_seen == 11
    assert content.medical["dicom"].count == round(10 * (11 + 40) / 11) == 46  # planted: 50
    assert content.medical["dicom"].bytes == round(1000 * (11 + 40) / 11)


def test_max_entries_scales_by_what_was_listed_but_not_taken() -> None:
    # 20 folders of 10: the root (20 entries) and then 10 folders (100 files) are taken; the other
    # 10 folders were listed in the same batch, so their 100 entries are known but not taken.
    walk, _ = crawl(dicom_folders(20, 10), CrawlBounds(max_entries=120, rate=0))
    content = walk.run()
    assert content.bounds_hit == ("entries",) and content.estimated and content.entries_seen == 120
    factor = (120 + 100) / 120
    assert content.medical["dicom"].count == round(100 * factor) == 183
    assert math.isclose(content.medical["dicom"].count, 200, rel_tol=0.10)  # planted: 200, within 10%


def test_max_entries_counts_unlisted_folders_at_the_mean_folder_size() -> None:
    # The bound stops the walk inside the root listing: 5 of 40 folders taken (not yet listed), 35 left.
    content = crawl(dicom_folders(40, 10), CrawlBounds(max_entries=5, rate=0))[0].run()
    assert content.bounds_hit == ("entries",) and content.estimated
    assert content.entries_seen == 5 and content.medical == {}  # nothing medical seen: nothing to scale


def test_max_depth_counts_unlisted_folders_at_the_mean_folder_size() -> None:
    # 4 wards of 5 DICOM files and 2 study folders each, every study folder 5 DICOM files: 60 planted.
    tree: Tree = {
        f"Ward{w}": {
            **{f"IM{i}.dcm": b"x" for i in range(5)},
            **{f"ST{s}": {f"IM{i}.dcm": b"x" for i in range(5)} for s in range(2)},
        }
        for w in range(4)
    }
    assert counts(tree) == {"dicom": 60}
    content = crawl(tree, CrawlBounds(max_depth=1, rate=0))[0].run()
    assert content.bounds_hit == ("depth",) and content.estimated
    # Listed: the root (4) and the wards (7 each): 5 folders, 32 entries, all taken; 8 study folders unlisted.
    assert content.entries_seen == 32
    mean = 32 / 5
    assert content.medical["dicom"].count == round(20 * (32 + 8 * mean) / 32) == 52
    assert math.isclose(content.medical["dicom"].count, 60, rel_tol=0.15)  # planted: 60, within 15%


def test_max_depth_zero_lists_only_the_root() -> None:
    content = crawl(dicom_folders(3, 4), CrawlBounds(max_depth=0, rate=0))[0].run()
    assert content.bounds_hit == ("depth",) and content.entries_seen == 3 and content.medical == {}


def test_time_budget_counts_pending_folders_at_the_mean_folder_size() -> None:
    # A zero budget stops after the first batch (the root): its 6 folders stay pending, then unlisted.
    tree: Tree = {**dicom_folders(6, 3), **{f"IM{i}.dcm": b"x" for i in range(4)}}
    content = crawl(tree, CrawlBounds(time_budget=0.0, rate=0))[0].run()
    assert content.bounds_hit == ("time",) and content.truncated and content.estimated
    assert content.entries_seen == 10
    assert content.medical["dicom"].count == round(4 * (10 + 6 * 10) / 10) == 28  # planted: 22


def test_max_sniff_stops_reading_and_says_so() -> None:
    tree: Tree = {f"IM{i:03d}": DICM for i in range(5)}  # no extension: only content decides
    walk, lister = crawl(tree, CrawlBounds(max_sniff=2, rate=0))
    content = walk.run()
    assert content.bounds_hit == ("sniff",) and content.truncated and not content.estimated
    assert content.sniffed == 2 and len(lister.heads) == 2
    assert content.medical["dicom"].count == 2  # the unread three are not guessed at


@pytest.mark.parametrize("sniff", [True, False])
def test_no_sniff_reads_nothing(sniff: bool) -> None:
    walk, lister = crawl({"IM001": DICM, "a.dcm": DICM}, CrawlBounds(sniff=sniff, rate=0))
    content = walk.run()
    assert content.medical["dicom"].count == (2 if sniff else 1)
    assert bool(lister.heads) is sniff and content.bounds_hit == ()


# --- what the content refines (issue #11) ---------------------------------------------------------------
def _zip(entries: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_entries_are_judged_by_their_heads_in_batches() -> None:
    # Names that decide nothing: the heads of (at most four) entries of each ZIP, the i-th of all ZIPs at once.
    tree: Tree = {
        "Exports": {f"case{n}.zip": _zip({f"export/{k:04d}": DICM for k in range(6)}) for n in range(3)},
        "Office": {"letters.zip": _zip({"a.txt": b"Dear team", "b.pdf": b"%PDF-1.4"})},
    }
    walk, lister = crawl(tree)
    content = walk.run()
    assert {t: m.count for t, m in content.medical.items()} == {"dicom_archive": 3}
    assert content.medical["dicom_archive"].confidence == "strong"  # DICM at 128 inside an entry
    # Per ZIP: the tail, then its entry heads (four for the exports, one .txt for the letters).
    assert sorted(lister.ranges).count("Exports\\case0.zip") == 1 + 4
    assert sorted(lister.ranges).count("Office\\letters.zip") == 1 + 1


def test_dcm_refinement_is_capped_per_folder_and_never_a_bound() -> None:
    dicomdir = b"\0" * 128 + b"DICM" + b"\x02\x00\x02\x00UI\x14\x00" + b"1.2.840.10008.1.3.10"
    tree: Tree = {"CD": {"DICOMDIR.dcm": dicomdir, **{f"IM{n:04d}.dcm": DICM for n in range(20)}}}
    walk, lister = crawl(tree)
    content = walk.run()
    assert content.medical["dicomdir"].count == 1 and content.medical["dicom"].count == 20
    assert len(lister.heads) == 8  # the first eight .dcm of the folder; the rest are DICOM by name
    assert content.bounds_hit == () and not content.truncated


# --- which reads the sniff budget goes to first -----------------------------------------------------------
HL7 = b"MSH|^~\\&|LAB|HOSP|EHR|HOSP|202401011200||ORU^R01|1|P|2.5\r"


def test_the_budget_goes_to_the_likelier_files_before_ordinary_formats_and_refinements() -> None:
    # Listed first: ordinary text files and .dcm files (refined by their heads); listed last: extensionless
    # DICOM that only a read can find. Ten reads are enough for the DICOM, not for everything.
    tree: Tree = {
        "a": {f"note{n:02d}.txt": b"seen, nothing to add\n" for n in range(30)},
        "b": {f"IM{n:02d}.dcm": DICM for n in range(6)},
        "z": {f"img{n:02d}": DICM for n in range(10)},
    }
    walk, lister = crawl(tree, CrawlBounds(max_sniff=12, rate=0, sample=False))
    content = walk.run()
    assert content.medical["dicom"].count == 16  # all ten extensionless ones read, the six .dcm by name
    assert sum(1 for path in lister.heads if path.startswith("z\\")) == 10
    assert sum(1 for path in lister.heads if path.endswith(".txt")) == 2  # what was left
    assert not any(path.endswith(".dcm") for path in lister.heads)  # refinements come last: none left
    assert content.bounds_hit == ("sniff",) and content.sniffed == 12


def test_ordinary_formats_in_a_medical_location_are_read_with_the_likely_ones() -> None:
    tree: Tree = {
        "a": {f"note{n:02d}.txt": b"seen, nothing to add\n" for n in range(30)},
        "HL7 exports": {f"msg{n:02d}.txt": HL7 for n in range(4)},
        "z": {f"img{n:02d}": DICM for n in range(4)},
    }
    content = crawl(tree, CrawlBounds(max_sniff=8, rate=0, sample=False))[0].run()
    assert {t: m.count for t, m in content.medical.items()} == {"dicom": 4, "hl7v2": 4}


def test_with_budget_to_spare_every_waiting_read_is_made() -> None:
    tree: Tree = {
        "a": {f"note{n:02d}.txt": b"seen, nothing to add\n" for n in range(5)},
        "b": {"report.txt": HL7, "IM01.dcm": DICM},
    }
    walk, lister = crawl(tree)
    content = walk.run()
    assert {t: m.count for t, m in content.medical.items()} == {"dicom": 1, "hl7v2": 1}
    assert len(lister.heads) == 7 and content.bounds_hit == ()


def test_waiting_reads_are_not_made_once_the_time_budget_is_spent() -> None:
    tree: Tree = {"report.txt": HL7, "IM01.dcm": DICM}
    walk, lister = crawl(tree, CrawlBounds(time_budget=0, rate=0))
    content = walk.run()
    assert lister.heads == []
    assert content.bounds_hit == ("time",)
    assert {t: m.count for t, m in content.medical.items()} == {
        "dicom": 1
    }  # the name stands; the .txt unread


def test_a_refined_file_is_counted_at_once_and_streamed_once_with_its_final_type() -> None:
    dicomdir = b"\0" * 128 + b"DICM" + b"\x02\x00\x02\x00UI\x14\x00" + b"1.2.840.10008.1.3.10"
    tree: Tree = {"CD": {"DICOMDIR.dcm": dicomdir, "IM0001.dcm": DICM}}
    found: list[MedicalFile] = []
    walk, lister = crawl(tree, on_medical=found.append)
    listing = next(lister.list_directories(["CD"]))
    walk._take("CD", 1, listing.entries, [], _WalkState())  # listed, nothing read yet
    assert walk.tally.medical["dicom"][0] == 2 and not found  # counted by name (kept if the walk stops)
    content = crawl(tree, on_medical=found.append)[0].run()
    assert {t: m.count for t, m in content.medical.items()} == {"dicomdir": 1, "dicom": 1}
    assert sorted(f.type_id for f in found) == ["dicom", "dicomdir"]  # once each, with the final type


class FailingReads(DictLister):
    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        raise CollectError(FailureKind.TIMEOUT, "the server stopped answering")
        yield from ()


def test_a_walk_that_fails_while_refining_keeps_and_streams_the_files_by_name() -> None:
    tree: Tree = {"CD": {f"IM{n:04d}.dcm": DICM for n in range(3)}}
    found: list[MedicalFile] = []
    walk = ShareCrawl(FailingReads(tree), "anonymous", UNBOUNDED, Redactor(b"k" * 32), found.append)
    content = walk.run()
    assert content.error and content.truncated
    assert content.medical["dicom"].count == 3 and len(found) == 3
