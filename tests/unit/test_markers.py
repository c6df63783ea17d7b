"""`pytest -m "not lab"` selects exactly the tests that need no server (tests/conftest.py marks the rest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Test modules outside tests/unit that need no lab server (a local SMTP/HTTP sink, a wheel build, Chromium).
SERVERLESS = {
    "tests/test_alerts.py",
    "tests/test_packaging.py",
    "tests/test_report_browser.py",
    "tests/test_plan_browser.py",
    "tests/corpus/test_corpus.py",  # the classifier over a corpus of public packages' files, no server
}


# Prints what -m left out, with each test's markers: one collection then says both sides.
PLUGIN = """
def pytest_deselected(items):
    for item in items:
        print("DESELECTED", item.nodeid, *sorted({m.name for m in item.iter_markers()}), sep="\\t")
"""


@pytest.fixture(scope="module")
def selections(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """What `pytest -m "not lab" --collect-only -q` selects, what it leaves out, and which of those are dc."""
    plugin = tmp_path_factory.mktemp("plugin")
    (plugin / "deselected_markers.py").write_text(PLUGIN)
    command = ["-m", "not lab", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "deselected_markers"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *command],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(plugin)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    selected, lab, dc = set(), set(), set()
    for line in proc.stdout.splitlines():
        if line.startswith("DESELECTED\t"):
            _, node, *markers = line.split("\t")
            if "lab" in markers:
                lab.add(node)
            if "dc" in markers:
                dc.add(node)
        elif "::" in line:
            selected.add(line)
    return {"not lab": selected, "lab": lab, "dc": dc}


def _module(node: str) -> str:
    return node.split("::", 1)[0]


def test_not_lab_selects_only_tests_that_need_no_server(selections: dict[str, set[str]]) -> None:
    modules = {_module(node) for node in selections["not lab"]}
    outside = {m for m in modules if not m.startswith("tests/unit/")}
    assert outside <= SERVERLESS, outside - SERVERLESS
    assert any(m.startswith("tests/unit/") for m in modules)


def test_every_lab_module_test_is_marked(selections: dict[str, set[str]]) -> None:
    lab_modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*_lab.py"))
    assert lab_modules
    marked = {_module(node) for node in selections["lab"]}
    assert set(lab_modules) <= marked
    assert not any(_module(node) in lab_modules for node in selections["not lab"])
    assert not selections["lab"] & selections["not lab"]


def test_dc_tests_are_lab_tests(selections: dict[str, set[str]]) -> None:
    assert {_module(node) for node in selections["dc"]} == {"tests/test_ad_lab.py"}
    assert selections["dc"] <= selections["lab"]
