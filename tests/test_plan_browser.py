"""The report's top in headless Chromium: the first screen answers its three questions without scrolling at
1366x768, nothing overflows (first screen, plan, door maps, estate; on screen and in print), the door maps'
texts stay inside their pictures, hostile server names stay text; screenshots in test-artifacts/.

Chromium is the Debian package `chromium` (tests/chromium.py drives it over the DevTools pipe).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium
from synthetic import (
    FULL,
    HOSTILE,
    LONG,
    READ,
    REFUSED,
    WRITE,
    content,
    host,
    hostile_result,
    large_result,
    posture,
    share,
)
from synthetic import result as scan_result

from shareaudit.model import DicomFacts, ScanResult, Service, StudyReach
from shareaudit.render import html
from shareaudit.rules import evaluate
from shareaudit.rules.actions import with_actions

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
WIDTH, HEIGHT = 1366, 768
SHOW_ALL = (
    "document.querySelectorAll('.host, .inv, .mapbox').forEach(e => e.style.contentVisibility = 'visible')"
)
# For each door map and chart: how far any text or shape sticks out of its view box (0 when nothing does).
OVERFLOW = """(() => [...document.querySelectorAll('svg.doormap-svg, svg.chart-svg')].map(svg => {
  const box = svg.viewBox.baseVal; let worst = 0;
  svg.querySelectorAll('text, rect, path').forEach(el => {
    const b = el.getBBox();
    worst = Math.max(worst, box.x - b.x, b.x + b.width - (box.x + box.width), box.y - b.y, b.y + b.height - (box.y + box.height));
  });
  return worst;
}))()"""
# What sticks out sideways, as "tag.class: px": a box past the page's right edge, or text spilling out of its
# box (scrollWidth beyond clientWidth where overflow is visible). The page must never scroll sideways.
TOO_WIDE = """(() => { const w = document.documentElement.clientWidth; const out = [];
  document.querySelectorAll('body *').forEach(el => {
    if (el.closest('svg')) { return; }
    const r = el.getBoundingClientRect();
    const spill = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible' && el.clientWidth > 0;
    if ((r.width > 0 && r.right > w + 1) || spill) {
      out.push(el.tagName + '.' + el.className + ': ' + Math.round(r.right) + '/' + el.scrollWidth); }
  });
  if (document.documentElement.scrollWidth > w) { out.push('page: ' + document.documentElement.scrollWidth); }
  return out.slice(0, 10); })()"""


def evaluated(result: ScanResult) -> ScanResult:
    return with_actions(dataclasses.replace(result, findings=evaluate(result)))


def clinic(with_hostile: bool = False) -> ScanResult:
    """A clinic NAS like the lab's labnas with a PACS port open to any AE title (and a hostile second host)."""
    pacs = DicomFacts(
        transport="plain", any_calling_ae=True, any_called_ae=True,
        query=StudyReach("answered", studies=3, modalities={"CT": 1, "MR": 1, "CR": 1}),
    )  # fmt: skip
    labels = ("audit", "anonymous", "guest", "printer", "device")
    nas = host(
        "nas01.clinic.example",
        [
            share("public", {"audit": READ, "anonymous": READ, "guest": READ, "printer": READ, "device": READ},
                  content=content({"dicom": 2, "hl7v2": 1})),
            share("pacs$", {"audit": READ, "anonymous": READ, "guest": READ, "printer": READ, "device": READ},
                  content=content({"dicom": 3, "hl7v2": 1})),
            share("scans", {"audit": WRITE, "anonymous": FULL, "guest": FULL, "printer": WRITE, "device": WRITE}),
            share("imaging", {"audit": READ, "anonymous": REFUSED, "guest": REFUSED, "printer": READ, "device": REFUSED},
                  content=content({"dicom": 9, "nifti": 2, "hl7v2": 3}, crawled_as="printer")),
            share("hr", {"audit": REFUSED, "anonymous": REFUSED, "guest": REFUSED, "printer": REFUSED, "device": REFUSED}),
        ],
        posture_=posture(smb1=True, signing=False, null=True, guest=True, fallback=True),
        services=(Service("dicom", 11112, True, dicom=pacs),),
    )  # fmt: skip
    if not with_hostile:
        return evaluated(scan_result(nas, labels=labels))
    hostile = hostile_result()
    return evaluated(scan_result(nas, hostile.hosts[0], labels=(*labels, "svc<i>x</i>")))


def open_page(browser: Chromium, result: ScanResult, path: Path) -> None:
    html.write(result, path, generated_at="2026-11-29T06:00:00+00:00")
    browser.open(path)
    browser.settle(0.3)


def geometry(browser: Chromium) -> dict[str, Any]:
    value: dict[str, Any] = browser.evaluate(
        "(() => { const r = s => document.querySelector(s).getBoundingClientRect();"
        " return { panels: [...document.querySelectorAll('#overview .panel')].map(p => p.getBoundingClientRect().bottom),"
        " titles: [...document.querySelectorAll('#overview h2')].map(h => h.textContent),"
        " scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth,"
        " plan: r('#plan').top }; })()"
    )
    return value


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("plan-pages")


def test_the_first_screen_answers_the_three_questions_without_scrolling(pages: Path, tmp_path: Path) -> None:
    result = clinic()
    with Chromium(tmp_path / "profile", width=WIDTH, height=HEIGHT) as browser:
        open_page(browser, result, pages / "clinic.html")
        shape = geometry(browser)
        first = browser.evaluate("[...document.querySelectorAll('ol.first a')].map(a => a.textContent)")
        where = browser.evaluate("document.querySelector('ul.reach').textContent")
        browser.screenshot(ARTIFACTS / "plan-first-screen.png", full_page=False)
        problems = browser.report.problems
    assert problems == []
    assert shape["titles"] == ["How bad", "Where the patient data is reachable from", "What to do first"]
    assert shape["panels"] and max(shape["panels"]) <= HEIGHT, shape  # all three, whole, above the fold
    assert shape["scroll"] <= WIDTH
    assert first == [a.title for a in result.actions[:3]]
    assert "port 11112" in where and "public" in where and "anonymous" in where


def test_nothing_overflows_on_screen_or_in_print(pages: Path, tmp_path: Path) -> None:
    result = clinic(with_hostile=True)
    with Chromium(tmp_path / "profile", width=WIDTH, height=HEIGHT) as browser:
        open_page(browser, result, pages / "hostile.html")
        browser.evaluate(SHOW_ALL)
        wide = browser.evaluate(TOO_WIDE)
        overflow = browser.evaluate(OVERFLOW)
        browser.evaluate("document.querySelector('#doors').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "plan-doormap.png", full_page=False)
        browser.evaluate("document.querySelector('#plan').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "plan-actions.png", full_page=False)
        browser.call("Emulation.setEmulatedMedia", session=True, media="print")
        browser.evaluate(SHOW_ALL)
        printed = browser.evaluate(TOO_WIDE)
        map_fits = browser.evaluate(
            "[...document.querySelectorAll('figure.doormap')].every(f => f.getBoundingClientRect().right <= document.documentElement.clientWidth + 1)"
        )
        browser.screenshot(ARTIFACTS / "plan-print.png")
        problems = browser.report.problems
    assert problems == []
    assert wide == [] and printed == []
    assert overflow and max(overflow) <= 0.5, overflow
    assert map_fits


def test_hostile_names_stay_text_in_the_maps_and_the_plan(pages: Path, tmp_path: Path) -> None:
    result = clinic(with_hostile=True)
    with Chromium(tmp_path / "profile", width=WIDTH, height=HEIGHT) as browser:
        open_page(browser, result, pages / "hostile.html")
        browser.evaluate(SHOW_ALL)
        injected = browser.evaluate(
            "document.querySelectorAll('main img, main iframe, main script, main svg:not(.doormap-svg):not(.chart-svg):not(.swatch),"
            " main svg image, main svg foreignObject, main svg a, main svg script, main [onload], main [onerror]').length"
        )
        svg_text = browser.evaluate(
            "[...document.querySelectorAll('svg.doormap-svg')].map(s => s.textContent).join(' ')"
        )
        plan_text = browser.evaluate("document.querySelector('#plan').textContent")
        browser.evaluate("[...document.querySelectorAll('.mapbox')].at(-1).scrollIntoView()")
        browser.screenshot(ARTIFACTS / "plan-hostile-doormap.png", full_page=False)
        problems = browser.report.problems
    assert problems == [] and injected == 0
    for name in (HOSTILE[0], HOSTILE[1], HOSTILE[5]):
        assert name in svg_text, name  # in a <title>, whole, as text
        assert name in plan_text, name
    assert LONG[:40] in svg_text


def test_a_large_estate_does_not_overflow(pages: Path, tmp_path: Path) -> None:
    result = evaluated(large_result(hosts=25, shares_per_host=16))
    with Chromium(tmp_path / "profile", width=WIDTH, height=HEIGHT) as browser:
        open_page(browser, result, pages / "estate.html")
        shape = geometry(browser)
        browser.evaluate(SHOW_ALL)
        wide = browser.evaluate(TOO_WIDE)
        overflow = browser.evaluate(OVERFLOW)
        folded = browser.evaluate("document.querySelectorAll('svg.doormap-svg g.door.folded').length")
        browser.screenshot(ARTIFACTS / "plan-estate-first-screen.png", full_page=False)
        browser.evaluate("document.querySelector('#estate').scrollIntoView()")
        browser.screenshot(ARTIFACTS / "plan-estate.png", full_page=False)
        problems = browser.report.problems
    assert problems == [] and wide == []
    assert max(shape["panels"]) <= HEIGHT
    assert max(overflow) <= 0.5, overflow
    assert folded == len(result.hosts)  # 16 shares each: every map folds


def test_a_link_to_an_action_opens_it(pages: Path, tmp_path: Path) -> None:
    result = clinic()
    later = result.actions[5]
    with Chromium(tmp_path / "profile", width=WIDTH, height=HEIGHT) as browser:
        open_page(browser, result, pages / "clinic.html")
        opened = browser.evaluate("[...document.querySelectorAll('details.action')].map(d => d.open)")
        browser.evaluate(f"window.location.hash = '#action-{later.id}'")
        browser.settle(0.2)
        now_open = browser.evaluate(f"document.getElementById('action-{later.id}').open")
        top = browser.evaluate(f"document.getElementById('action-{later.id}').getBoundingClientRect().top")
        problems = browser.report.problems
    assert problems == []
    assert opened[:3] == [True, True, True] and not any(opened[3:])
    assert now_open and -1 <= top < HEIGHT  # scrolled to it (to the sub-pixel)
