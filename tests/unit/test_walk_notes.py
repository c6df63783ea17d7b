"""Why a walk took long (shareaudit/render/walks.py): which shares get a line, what it says, and that the
terminal summary and the HTML report both show it (and say nothing for walks that were quick and free)."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from rich.console import Console
from synthetic import content, host, result, share

from shareaudit.collect.crawl import CrawlBounds
from shareaudit.model import Confidence, MedicalCount, ScanResult, Share, WalkStats
from shareaudit.render import html
from shareaudit.render.terminal import print_summary
from shareaudit.render.walks import RATE_NOTED_S, SLOW_S, walk_notes

OPTIONS = {"bounds": asdict(CrawlBounds(max_entries=50_000))}


def walked(name: str, seconds: float = 0.5, waited: float = 0.0, hit: tuple[str, ...] = ()) -> Share:
    stats = WalkStats(listings=1832, reads=2167, rate=1000.0, rate_waited_s=waited)
    walk = content(
        {"dicom": 3}, files=21831, elapsed_s=seconds, walk=stats, bounds_hit=hit, truncated=bool(hit)
    )
    return share(name, content=walk)


def scan(*shares: Share) -> ScanResult:
    return result(host(shares=shares), options=OPTIONS)


def test_only_walks_held_back_bounded_or_slow_get_a_line() -> None:
    notes = walk_notes(
        scan(
            walked("quick"),
            walked("barely", waited=RATE_NOTED_S - 0.01),
            walked("gentle", seconds=12.4, waited=9.8),
            walked("bounded", seconds=3.0, hit=("entries", "sniff")),
            walked("slow", seconds=SLOW_S + 1),
            share("notwalked"),
        )
    )
    assert [note.share for note in notes] == ["slow", "gentle", "bounded"]  # slowest first
    slow, gentle, bounded = notes
    assert gentle.text == (
        "12.4 s, 21,831 entries, 1,832 listings + 2,167 reads; "
        "the rate limit (--max-rate 1,000/s) held it back 9.8 s"
    )
    assert bounded.reasons == (
        "it stopped at 50,000 entries (--max-entries)",
        "its budget of 5,000 file reads was used up (--max-sniff)",
    )
    assert slow.reasons == () and slow.text.endswith("no bound or rate limit held it back")
    assert slow.host == "nas01"


@pytest.mark.parametrize(
    ("bound", "words"),
    [
        ("depth", "folders deeper than 12 levels were not walked (--max-depth)"),
        ("dir_entries", "a folder had more than 20,000 entries (--max-dir-entries)"),
        ("time", "its time budget of 300 s ran out (--time-budget)"),
    ],
)
def test_each_bound_is_said_with_its_value_and_option(bound: str, words: str) -> None:
    (note,) = walk_notes(scan(walked("s", hit=(bound,))))
    assert note.reasons == (words,)


def test_results_written_before_walk_stats_still_say_their_bounds() -> None:
    old = share("old", content=content({"dicom": 1}, bounds_hit=("entries",), truncated=True))
    (note,) = walk_notes(result(host(shares=[old])))  # no walk stats, no options.bounds
    assert note.listings is None and note.reasons == ("it stopped at the set entries (--max-entries)",)
    assert "listings" not in note.text


def test_terminal_and_html_show_the_line_and_nothing_when_all_walks_were_quick() -> None:
    held = scan(walked("archive", seconds=12.4, waited=9.8), walked("quick"))
    console = Console(record=True, width=200)
    print_summary(held, console)
    text = console.export_text()
    assert "Walks that were slow or held back:" in text
    assert "nas01 \\ archive: 12.4 s, 21,831 entries" in text and "held it back 9.8 s" in text
    assert "quick:" not in text
    page = html.render(held)
    assert 'id="walks"' in page and "held it back 9.8 s" in page and "1832 listings + 2167 reads" in page
    calm = scan(walked("quick"))
    console = Console(record=True, width=200)
    print_summary(calm, console)
    assert "slow or held back" not in console.export_text()
    assert 'id="walks"' not in html.render(calm)


def test_html_says_which_counts_come_from_a_sample() -> None:
    counts = {"dicom": MedicalCount(100, 100_000, Confidence.STRONG, extrapolated=80, sample=20)}
    sampled = replace(
        content({"dicom": 100}, extrapolated=80, sampled_groups=1, estimated=True), medical=counts
    )
    page = html.render(result(host(shares=[share("imaging", content=sampled)])))
    assert "(80 extrapolated from 20 read)" in page
    assert "80 files of many alike in one folder" in page and "(1 group)" in page
    exact = content({"dicom": 3})
    assert "extrapolated from" not in html.render(result(host(shares=[share("imaging", content=exact)])))
