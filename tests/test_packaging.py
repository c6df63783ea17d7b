"""An installed wheel renders the HTML report and the device page: the templates and rule texts travel with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "shareaudit", "templates")

RENDER = """
import dataclasses, pathlib, sys
import shareaudit
from shareaudit.model import ScanResult, Tool
from shareaudit.render import html
from shareaudit.rules import RULES, evaluate
assert pathlib.Path(shareaudit.__file__).is_relative_to(sys.argv[1]), shareaudit.__file__
print(html.template_root())
result = ScanResult(Tool("shareaudit", "test"), "2026-11-29T05:00:00+00:00", "", ())
print(len(RULES), "rules")
html.write(dataclasses.replace(result, findings=evaluate(result)), pathlib.Path(sys.argv[2]))
from shareaudit.audit.device import checks
from shareaudit.render.device import render_device_html
device = dataclasses.replace(result, options={"device": "scanner", "drop_share": "scans"})
device = dataclasses.replace(device, findings=evaluate(device))
pathlib.Path(sys.argv[3]).write_text(render_device_html(device, checks(device), "scanner", "scans"))
"""


def test_wheel_carries_templates_and_rule_texts(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in SOURCES:  # build from a copy: nothing is written into the checkout
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tree / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(tree)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("shareaudit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "shareaudit/templates/report.html.j2" in names
    assert "shareaudit/templates/partials/summary.html.j2" in names
    assert {"shareaudit/rules/posture.toml", "shareaudit/rules/access.toml"} <= names

    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    report = tmp_path / "report.html"
    device = tmp_path / "device.html"
    run = subprocess.run(
        [sys.executable, "-c", RENDER, str(target), str(report), str(device)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: its templates/ must not be what is found
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(target / "shareaudit" / "templates")
    assert "<title>shareaudit report" in report.read_text()
    assert "<title>shareaudit device check: scanner" in device.read_text()
