"""The HTML report of a hostile scan result, opened in headless Chromium: no dialog, no script error,
no element or request that the report did not create itself; and it stays usable (filters, details).

Chromium is the Debian package `chromium` (the Makefile installs it); without it these tests fail.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from chromium import Chromium, chromium_path
from synthetic import HOSTILE, LONG, hostile_result

from shareaudit.render import html
from shareaudit.rules import evaluate

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SHOW_ALL = "document.querySelectorAll('.host, .inv').forEach(e => e.style.contentVisibility = 'visible')"

# Click every closed ▸ of the current page (each click redraws the page, so look the next one up again).
OPEN_ALL = (
    "(() => { let n = 0, b; while ((b = document.querySelector('button.toggle[aria-expanded=false]'))"
    " && n < 100) { b.click(); n++; } return n; })()"
)
NEXT_PAGES = (
    "(() => { let pages = 0; const next = () => [...document.querySelectorAll('.pager button')][2];"
    " while (!next().disabled && pages < 20) { next().click(); pages++; "
    + OPEN_ALL
    + "; } return pages; })()"
)
# The report's own SVG (door maps, charts, legend swatches) carries one of these classes; any other is injected.
OWN_SVG = "svg.doormap-svg, svg.chart-svg, svg.swatch"
INJECTED = (
    "document.querySelectorAll('img, svg:not(.doormap-svg):not(.chart-svg):not(.swatch), iframe, object, embed,"
    " form, base, link, meta[http-equiv=refresh]').length"
)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = hostile_result()
    path = tmp_path_factory.mktemp("hostile") / "report.html"
    html.write(dataclasses.replace(result, findings=evaluate(result)), path)
    return path


def expected_svg(report: Path) -> int:
    """How many SVG elements the renderer wrote (counted in the file, before any script ran)."""
    page = report.read_text(encoding="utf-8")
    return sum(page.count(f'class="{name}"') for name in ("doormap-svg", "chart-svg", "swatch"))


def test_chromium_is_installed() -> None:
    assert chromium_path(), "install the Debian package chromium (make deps does)"


def test_hostile_report_runs_nothing_it_should_not(hostile_report: Path, tmp_path: Path) -> None:
    with Chromium(tmp_path / "profile", log=tmp_path / "chromium.log") as browser:
        browser.open(hostile_report)
        browser.settle(0.5)
        scripts = browser.evaluate("document.scripts.length")
        own_svg = browser.evaluate(f"document.querySelectorAll('{OWN_SVG}').length")
        before = browser.evaluate(INJECTED)
        opened = browser.evaluate(OPEN_ALL)
        # Every page of findings, every detail: all the data goes through the script once.
        pages = browser.evaluate(NEXT_PAGES)
        browser.settle(0.5)
        after = browser.evaluate(INJECTED)
        text = browser.evaluate("document.querySelector('main').textContent")
        title = browser.evaluate("document.title")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(ARTIFACTS / "hostile-report-top.png", full_page=False)
        # Off-screen hosts are not laid out (content-visibility: auto); lay everything out for the picture.
        browser.evaluate(SHOW_ALL)
        browser.screenshot(ARTIFACTS / "hostile-report.png")
        report = browser.report
    assert report.problems == [], report.problems
    assert report.requests == [hostile_report.resolve().as_uri()]
    assert scripts == 2 and before == 0 and after == 0
    assert own_svg == expected_svg(hostile_report)
    assert opened == 50 and pages >= 1
    assert title.startswith("shareaudit report")
    for hostile in (
        HOSTILE[0],
        HOSTILE[1],
        HOSTILE[2],
        HOSTILE[3],
        HOSTILE[5],
        "x'; Remove-Item C:\\ -Recurse; '",
    ):
        assert hostile in text, hostile  # shown, as text
    assert LONG[:100] in text


def test_filters_and_sorting_work(hostile_report: Path, tmp_path: Path) -> None:
    with Chromium(tmp_path / "profile") as browser:
        browser.open(hostile_report)
        total = int(browser.evaluate("document.getElementById('findings-browser').dataset.ready"))
        rows = browser.evaluate(
            "(() => { const s = document.querySelector('#findings-browser select');"
            " s.value = '3'; s.dispatchEvent(new Event('change'));"
            " return [...document.querySelectorAll('table.findings tbody tr:not(.detail) td:first-child')]"
            ".map(td => td.textContent); })()"
        )
        searched = browser.evaluate(
            "(() => { const s = document.querySelector('#findings-browser select'); s.value = '';"
            " s.dispatchEvent(new Event('change'));"
            " const box = document.querySelector('#findings-browser input[type=search]');"
            " box.value = 'svg onload'; box.dispatchEvent(new Event('input'));"
            " return document.querySelector('.pager span').textContent; })()"
        )
        sorted_hosts = browser.evaluate(
            "(() => { const box = document.querySelector('#findings-browser input[type=search]');"
            " box.value = ''; box.dispatchEvent(new Event('input'));"
            " [...document.querySelectorAll('th button')][2].click();"
            " return [...document.querySelectorAll('table.findings tbody tr:not(.detail) td:nth-child(3)')]"
            ".map(td => td.textContent); })()"
        )
        problems = browser.report.problems
    assert problems == []
    assert total > 50
    assert rows and set(rows) == {"low"}
    assert "of " in searched and f"({total} in total)" in searched
    assert sorted_hosts == sorted(sorted_hosts)
