#!/usr/bin/env python3
"""Does sniffing more (issue #11) slow scans where it does not pay? This tree against a baseline revision.

Run by hand, as root, with the lab up (`make lab-up`):
    .venv/bin/python bench/sniff_bench.py [--baseline main] [--files 20000] [--repeat 2]

The baseline is the package as it is at a git revision (default `main`), unpacked with `git archive`
into a temporary directory and run with PYTHONPATH pointing at it. A throwaway copy of labnas
(tests/lab/lab.py, address 127.0.0.47) gets, in turn, three trees in its guest-readable `public` share:
- office: documents, pictures and 15% .txt/.json/.xml/.gz files that the new table reads anywhere;
- pacs: study folders of 100 .dcm files each, whose subtype the new table may refine from content;
- plain: documents and pictures only, nothing either version reads.
Each tree is scanned (`--max-rate 0`, that share only) by both versions, alternating, `--repeat`
times; the crawl time, files read and medical files found are printed per tree and version. It also
times `classify_name` over 100,000 names in-process for both versions (the patient-name check runs on
every name). Traffic goes to 127.0.0.47 only; the copy is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import lab as lab_control  # noqa: E402
from labdata import LABNAS  # noqa: E402

ADDRESS = "127.0.0.47"
DICOM = b"\0" * 128 + b"DICM" + b"\x02\x00\x02\x00UI\x1a\x00" + b"1.2.840.10008.5.1.4.1.1.2\0" + b"\0" * 200
OFFICE = (".docx", ".xlsx", ".pdf", ".pptx", ".jpg", ".png", ".msg", ".csv")
READ_NOW = (".txt", ".json", ".xml", ".gz")


def plant(public: Path, tree: str, files: int) -> None:
    shutil.rmtree(public, ignore_errors=True)
    public.mkdir(parents=True)
    rng = random.Random(11)
    if tree == "pacs":
        for number in range(files):
            folder = public / f"Study{number // 100:04d}" / "Series1"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"IM{number % 100:05d}.dcm").write_bytes(DICOM)
    else:
        for number in range(files):
            folder = public / f"Dept{number // 500:03d}" / f"Project{number // 50 % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            if tree == "office" and rng.random() < 0.15:
                suffix = rng.choice(READ_NOW)
                body = (
                    b'{"name": "settings", "items": [1, 2, 3]}'
                    if suffix == ".json"
                    else b"Meeting notes\n" * 20
                )
            else:
                suffix = rng.choice(OFFICE)
                body = b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(200))
            (folder / f"document {number:06d}{suffix}").write_bytes(body)
    os.system(f"chmod -R a+rX {public}")


def scan(address: str, pythonpath: str, workdir: Path) -> dict[str, float]:
    out = workdir / "scan.json"
    env = dict(os.environ, PYTHONPATH=pythonpath, SHAREAUDIT_DATA_DIR=str(workdir / "data"))
    cmd = [
        sys.executable,
        "-m",
        "shareaudit",
        "scan",
        address,
        "--protocols",
        "smb",
        "--include-share",
        "public",
    ]
    cmd += ["--no-history", "--max-rate", "0", "--json", str(out), "-q"]
    started = time.monotonic()
    # cwd: `python -m` puts the working directory first on sys.path, which would shadow PYTHONPATH.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr[-400:]}")
    host = json.loads(out.read_text())["hosts"][0]
    content = next(s for s in host["shares"] if s["name"] == "public")["content"]
    return {
        "crawl_s": content["elapsed_s"],
        "wall_s": wall,
        "sniffed": content["sniffed"],
        "medical": sum(m["count"] for m in content["medical"].values()),
        "entries": content["entries_seen"],
    }


NAMES_SCRIPT = """
import random, time
from shareaudit.classify import classify_name
rng = random.Random(5)
words = ["Report", "budget", "Scan", "IMG", "notes", "Invoice", "Referral_MUELLER_Hans", "setup", "data"]
names = [f"Dept{rng.randrange(50)}/{rng.choice(words)}_{rng.randrange(10**rng.randrange(1, 9))}"
         f"{rng.choice(['.pdf', '.docx', '.jpg', '', '.txt', '.dcm', '.xlsx'])}" for _ in range(100_000)]
for name in names[:1000]:
    classify_name(name)
started = time.perf_counter()
for name in names:
    classify_name(name)
print((time.perf_counter() - started) / len(names) * 1e6)
"""


def name_cost(pythonpath: str) -> float:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run(
        [sys.executable, "-c", NAMES_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    return float(proc.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="main", help="git revision to compare against (default main)")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sniff-bench-") as temp:
        base = Path(temp) / "baseline"
        base.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "shareaudit"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        versions = {"baseline": str(base), "this tree": str(ROOT)}
        print(
            "classify_name, microseconds per name (100,000 names): "
            + ", ".join(f"{label} {name_cost(path):.2f}" for label, path in versions.items())
        )
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        with lab_control.throwaway(LABNAS, ADDRESS) as copy:
            public = copy.instance.shares / "public"
            for tree in ("office", "pacs", "plain"):
                plant(public, tree, args.files)
                for _ in range(args.repeat):
                    for label, path in versions.items():
                        work = Path(temp) / f"{tree}-{label.replace(' ', '_')}"
                        work.mkdir(exist_ok=True)
                        results.setdefault((tree, label), []).append(scan(copy.address, path, work))
        print(
            f"\n{'tree':8} {'version':10} {'entries':>8} {'read':>6} {'medical':>8} {'crawl s (median)':>17} {'wall s':>7}"
        )
        for (tree, label), runs in results.items():
            crawl = statistics.median(run["crawl_s"] for run in runs)
            wall = statistics.median(run["wall_s"] for run in runs)
            last = runs[-1]
            print(
                f"{tree:8} {label:10} {last['entries']:8.0f} {last['sniffed']:6.0f} {last['medical']:8.0f} "
                f"{crawl:17.2f} {wall:7.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
