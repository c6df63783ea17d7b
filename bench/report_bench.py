"""HTML report at scale: render a 10,000-finding synthetic result, then open it in headless Chromium.

Run by hand (as root, with the Debian package chromium installed):

    python bench/report_bench.py [--findings 10000] [--runs 5] [--keep DIR]

Prints the fix plan's size and planning time, the file size (and what the plan, the estate view and the
door maps take of it), the render time, and per run the time until the browser's load event ended
(the findings script runs before it) and the time one filter change takes. The figures in the README
come from this script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from chromium import Chromium  # noqa: E402  (tests/ on the path first)
from synthetic import large_result  # noqa: E402

from shareaudit.render import html  # noqa: E402
from shareaudit.rules import evaluate  # noqa: E402
from shareaudit.rules.actions import with_actions  # noqa: E402

# Change the severity filter and report how long filtering, sorting and drawing one page took.
FILTER = """(() => {
  const box = document.querySelector('#findings-browser select');
  const t0 = performance.now();
  box.value = '1';
  box.dispatchEvent(new Event('change'));
  return performance.now() - t0;
})()"""


def main() -> int:
    """Render, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="Keep the report (and a screenshot) in this directory.")
    args = parser.parse_args()

    hosts = max(1, args.findings // 98 + 1)  # about 98 findings per synthetic host
    start = time.perf_counter()
    result = large_result(hosts=hosts)
    findings = evaluate(result)
    evaluated = time.perf_counter() - start
    if len(findings) < args.findings:
        print(f"only {len(findings)} findings generated", file=sys.stderr)
        return 1
    result = replace(result, findings=findings[: args.findings])
    start = time.perf_counter()
    result = with_actions(result)  # the fix plan, as a scan makes it
    planned = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        out = (args.keep or Path(tmp)) / "report.html"
        start = time.perf_counter()
        html.write(result, out)
        rendered = time.perf_counter() - start
        size = out.stat().st_size
        print(f"findings: {len(result.findings)} (rules evaluated in {evaluated:.2f} s)")
        print(f"fix plan: {len(result.actions)} actions, planned in {planned:.2f} s")
        print(f"file size: {size:,} bytes ({size / 1e6:.1f} MB), rendered in {rendered:.2f} s")
        page = out.read_text(encoding="utf-8")
        sections = ("plan", "estate", "doors", "summary")
        starts = [page.index(f'<section id="{name}">') for name in sections]
        print(
            "  "
            + ", ".join(
                f"{name} {(b - a) / 1e6:.2f} MB"
                for name, a, b in zip(sections, starts, starts[1:], strict=False)
            )
        )
        loads, filters = [], []
        for run in range(args.runs):
            with Chromium(Path(tmp) / f"profile-{run}") as browser:
                loads.append(browser.open(out))
                ready = browser.evaluate("document.getElementById('findings-browser').dataset.ready")
                filters.append(float(browser.evaluate(FILTER)) / 1000)
                browser.settle(0.2)
                if browser.report.problems:
                    print("problems:", *browser.report.problems, sep="\n  ", file=sys.stderr)
                    return 1
                if ready != str(len(result.findings)):
                    print(f"the findings browser is not ready ({ready!r})", file=sys.stderr)
                    return 1
                if args.keep and run == 0:
                    browser.screenshot(args.keep / "report.png", full_page=False)
            print(
                f"run {run + 1}: load event ended after {loads[-1]:.3f} s; filter + redraw {filters[-1]:.3f} s"
            )
        print(
            f"time to open (median of {args.runs}): {statistics.median(loads):.2f} s; "
            f"filter + redraw: {statistics.median(filters) * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
