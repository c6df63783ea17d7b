"""Sampling like files (shareaudit/collect/sampling.py) and how the crawl uses it: the pure decisions, then
walks of in-memory shares where the truth is known file by file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from test_crawl import DENIED, DICM, DictLister, Tree

from shareaudit.classify import Confidence, Verdict, default_table, load_table, sniff
from shareaudit.collect.crawl import CrawlBounds, MedicalFile, ShareCrawl
from shareaudit.collect.sampling import (
    MIN_GROUP,
    MIN_SAMPLE,
    agreement,
    group_key,
    min_signature_size,
    name_shape,
    sample_indices,
    sample_size,
    size_class,
)
from shareaudit.collect.walk import RateLimit
from shareaudit.model import Content
from shareaudit.redact import Redactor

HL7 = b"MSH|^~\\&|RIS|HOSP|PACS|HOSP|20240311||ADT^A01|1|P|2.5\rPID|1||4711"
PLAIN = b"x" * len(DICM)  # not medical, and of DICM's size class
UNBOUNDED = CrawlBounds(rate=0)


def walk(tree: Tree, bounds: CrawlBounds = UNBOUNDED) -> tuple[Content, DictLister, list[MedicalFile]]:
    lister = DictLister(tree)
    found: list[MedicalFile] = []
    content = ShareCrawl(lister, "anonymous", bounds, Redactor(b"k" * 32), found.append).run()
    return content, lister, found


def verdict(type_id: str, confidence: Confidence = Confidence.STRONG) -> Verdict:
    return Verdict(type_id, type_id, confidence, "test")


# --- the pure decisions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("IM000123", "A9:8"),
        ("IM000124", "A9:8"),
        ("img0001", "a9:7"),
        ("scan_0001.XML", "a_9:9.xml"),
        ("1.2.840.10008", "9.9.9.9:13"),  # a numeric extension is part of the name, not an extension
        ("3fa9c2", "9a9a9:6"),
        (".bashrc", ".a:7"),
    ],
)
def test_name_shape(name: str, shape: str) -> None:
    assert name_shape(name) == shape


def test_shapes_and_size_classes_keep_unlike_files_apart() -> None:
    assert name_shape("img1") != name_shape("img10")  # lengths differ: two groups
    assert name_shape("IMG0001") != name_shape("img0001")  # case differs
    assert name_shape("a0001.xml") != name_shape("a0001.txt")
    assert size_class(0) == 0 and size_class(1) == 1 and size_class(255) == size_class(128) != size_class(256)
    assert group_key("img0001", 500) == group_key("img0002", 300) != group_key("img0003", 600)


def test_small_groups_are_read_whole_and_large_ones_sampled_at_most_half() -> None:
    for members in range(0, MIN_GROUP):
        assert sample_size(members) == members and sample_indices(members) == tuple(range(members))
    previous = 0
    for members in range(MIN_GROUP, 5001):
        wanted = sample_size(members)
        assert MIN_SAMPLE <= wanted <= members // 2 and wanted >= previous
        previous = wanted
        picked = sample_indices(members)
        assert len(picked) == wanted and picked == tuple(sorted(set(picked)))
        assert picked[0] == 0 and picked[-1] == members - 1  # the first and the last are always read
    assert sample_size(100) == 20 and sample_size(10_000) == 200


def test_only_a_sample_of_one_medical_type_throughout_agrees() -> None:
    weak = verdict("dicom", Confidence.WEAK)
    agreed = agreement([verdict("dicom"), weak, verdict("dicom")])
    assert agreed is not None and agreed.type_id == "dicom"
    assert agreed.confidence is Confidence.WEAK  # the files it stands for were not read: the weakest claim
    assert "sample of 3" in agreed.evidence
    assert agreement([verdict("dicom"), None, verdict("dicom")]) is None  # one not medical: read the rest
    assert agreement([None] * 8) is None  # not medical is never extrapolated
    assert agreement([verdict("dicom"), "STATUS_ACCESS_DENIED"]) is None  # one not read
    assert agreement([verdict("dicom"), verdict("hl7v2")]) is None
    assert agreement([]) is None


TABLE = """schema = 1
[[type]]
id = "unreadable_archive"
label = "archive"
[[type]]
id = "t"
label = "t"
"""


@pytest.mark.parametrize(
    ("rule", "smallest"),
    [
        ('at = [{ offset = 128, bytes = "DICM" }]', 11),  # a gzip file from 11 bytes on may hold a DICOM head
        ('at = [{ offset = 2, bytes = ["ABCD", "AB"] }]', 4),
        ('text_starts = ["MSH|", "FHS|"]', 4),
        ('check = "edf_header"', 1),  # what a check needs is the check's business: one byte
    ],
)
def test_min_signature_size_is_a_lower_bound_of_the_table(rule: str, smallest: int) -> None:
    table = load_table(TABLE + f'[[type.content]]\nwhy = "w"\nconfidence = "strong"\n{rule}\n')
    assert min_signature_size(table) == smallest


def test_no_file_shorter_than_the_bound_matches_the_shipped_table() -> None:
    bound = min_signature_size(default_table())
    assert bound >= 1
    for size in range(bound):
        for fill in (b"\0", b"M", b"\x1f"):
            assert sniff(fill * size, "x") is None


# --- the crawl: extrapolated when the sample agrees, read whole otherwise ------------------------------


def test_a_folder_of_extensionless_dicom_files_is_sampled_and_extrapolated() -> None:
    tree: Tree = {"CT": {f"img{i:04d}": DICM for i in range(100)}}
    content, lister, found = walk(tree)
    assert content.sniffed == len(lister.heads) == sample_size(100) == 20
    assert content.medical["dicom"].count == 100  # the truth
    assert (content.medical["dicom"].extrapolated, content.medical["dicom"].sample) == (80, 20)
    assert content.estimated and content.extrapolated == 80 and content.sampled_groups == 1
    assert content.medical["dicom"].confidence is Confidence.STRONG  # the 20 read were DICM at 128
    assert not content.truncated and content.bounds_hit == ()
    assert sum(f.estimated for f in found) == 80 and len(found) == 100  # every file in the inventory, marked


def test_a_folder_of_extensionless_files_that_are_not_medical_is_read_whole() -> None:
    content, lister, _ = walk({"cache": {f"blob{i:04d}": PLAIN for i in range(100)}})
    assert content.sniffed == len(lister.heads) == 100 and content.medical == {} and not content.estimated
    assert content.extrapolated == 0 and content.sampled_groups == 0


@pytest.mark.parametrize("position", [0, 1, 37, 50, 98, 99])
def test_one_medical_file_among_many_like_ones_is_never_hidden(position: int) -> None:
    files = {f"blob{i:04d}": (DICM if i == position else PLAIN) for i in range(100)}
    content, lister, found = walk({"cache": files})
    assert len(lister.heads) == 100
    assert {t: m.count for t, m in content.medical.items()} == {"dicom": 1}
    assert content.medical["dicom"].extrapolated == 0 and not content.estimated
    assert [(f.type_id, f.estimated) for f in found] == [("dicom", False)]


def test_one_file_of_another_type_in_the_sample_has_the_whole_group_read() -> None:
    # 60 DICOM and 40 HL7 messages of one shape and size class: the spread sample sees both.
    hl7 = HL7.ljust(len(DICM), b"\r")
    files = {f"msg{i:04d}": (DICM if i % 5 < 3 else hl7) for i in range(100)}
    content, lister, _ = walk({"exports": files})
    assert {t: m.count for t, m in content.medical.items()} == {"dicom": 60, "hl7v2": 40}
    assert content.sniffed == len(lister.heads) == 100 and not content.estimated


class Refusing(DictLister):
    """Lists everything, refuses to read some files (a lock, a deny ACE)."""

    def __init__(self, tree: Tree, refused: set[str]) -> None:
        super().__init__(tree)
        self.refused = refused

    def read_heads(self, paths: Sequence[str], length: int) -> Iterator[tuple[str, bytes | str]]:
        for path, head in super().read_heads(paths, length):
            yield path, DENIED if path in self.refused else head


def test_a_sample_file_that_cannot_be_read_has_the_rest_read() -> None:
    tree: Tree = {"CT": {f"img{i:04d}": DICM for i in range(100)}}
    lister = Refusing(tree, {"CT\\img0000"})  # the first file of the sample
    content = ShareCrawl(lister, "anonymous", UNBOUNDED, Redactor(b"k" * 32)).run()
    assert len(lister.heads) == 100 and content.sniffed == 99
    assert content.medical["dicom"].count == 99 and content.medical["dicom"].extrapolated == 0
    assert not content.estimated  # the one not read is not counted: its name says nothing


def test_groups_are_per_folder_shape_and_size_class() -> None:
    big = DICM + b"\0" * 300  # another size class
    tree: Tree = {
        "A": {**{f"img{i:04d}": DICM for i in range(30)}, **{f"img{i:04d}x": PLAIN for i in range(30)}},
        "B": {f"img{i:04d}": (DICM if i < 30 else big) for i in range(60)},
    }
    content, lister, _ = walk(tree)
    assert content.medical["dicom"].count == 90  # A's 30 DICOM and B's 60, both classes
    assert content.sampled_groups == 3  # A: img+4 digits (DICOM); B: two size classes. A's PLAIN read whole
    assert content.medical["dicom"].sample == 3 * sample_size(30)
    assert len(lister.heads) == 3 * sample_size(30) + 30


def test_files_too_small_for_any_signature_are_not_read() -> None:
    tree: Tree = {"locks": {f"lock{i:03d}": b"" for i in range(50)}, "IM00001": DICM}
    content, lister, _ = walk(tree)
    assert lister.heads == ["IM00001"] and content.too_small == 50 and content.sniffed == 1
    assert content.medical["dicom"].count == 1


def test_without_sampling_every_file_is_read() -> None:
    tree: Tree = {"CT": {f"img{i:04d}": DICM for i in range(100)}}
    content, lister, _ = walk(tree, CrawlBounds(rate=0, sample=False))
    assert content.sniffed == len(lister.heads) == 100 and not content.estimated
    assert content.medical["dicom"].count == 100


def test_a_sniff_budget_smaller_than_the_sample_reads_what_it_may_and_says_so() -> None:
    tree: Tree = {"CT": {f"img{i:04d}": DICM for i in range(100)}}
    content, lister, _ = walk(tree, CrawlBounds(rate=0, max_sniff=10))
    assert len(lister.heads) == 10 and "sniff" in content.bounds_hit
    assert content.medical["dicom"].count == 10 and content.medical["dicom"].extrapolated == 0


# --- what the walk asked of the server ------------------------------------------------------------------


def test_walk_stats_count_listings_reads_and_the_rate_limit_wait() -> None:
    tree: Tree = {"CT": {f"img{i:04d}": DICM for i in range(100)}, "docs": {"a.pdf": b"%PDF"}}
    lister = DictLister(tree)
    rate = RateLimit(1000)
    rate.waited = 2.5  # as if the walker had waited that long for it
    content = ShareCrawl(lister, "anonymous", UNBOUNDED, Redactor(b"k" * 32), rate_limit=rate).run()
    assert content.walk is not None
    assert content.walk.listings == len(lister.listed) == 3  # the root, CT, docs
    assert content.walk.reads == len(lister.heads) == 20
    assert (content.walk.rate, content.walk.rate_waited_s) == (1000, 2.5)
    unlimited = ShareCrawl(DictLister(tree), "anonymous", UNBOUNDED, Redactor(b"k" * 32)).run()
    assert unlimited.walk is not None and (unlimited.walk.rate, unlimited.walk.rate_waited_s) == (0, 0)


def test_the_rate_limit_adds_up_what_it_made_callers_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []
    monkeypatch.setattr("shareaudit.collect.walk.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("shareaudit.collect.walk.time.sleep", slept.append)  # the clock stands still
    rate = RateLimit(10)  # one request per 0.1 s
    for _ in range(5):
        rate.take()
    assert slept == pytest.approx([0.1, 0.2, 0.3, 0.4]) and rate.waited == pytest.approx(1.0)
    free = RateLimit(0)
    free.take(1000)
    assert free.waited == 0 and free.per_second == 0
