"""An estate in a box for the benches: silent addresses and Samba servers in network namespaces of our own.

`Estate` makes the namespaces of tests/lab/dropnet.py (a range inside 198.18.0.0/15 that drops every
SYN), starts throwaway copies of the lab's personalities on the scanner namespace's own loopback
(127.0.1.x there: no other session's addresses, no limit of 20), runs `shareaudit scan` inside with
`-v`, and tears everything down. `Run` holds what one scan took: wall time, peak memory (GNU time's
maximum resident set), the phases read from the log, and the JSON.

Needs root. Nothing of the machine's own network is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "lab"
sys.path.insert(0, str(LAB))

import dropnet  # noqa: E402  (tests/lab on the path)
from labdata import PASSWORDS, PERSONALITIES  # noqa: E402

_LOG = re.compile(r"^(\d\d:\d\d:\d\d\.\d\d\d) (\w+) ([\w.]+)(?: \[[^\]]*\])?: (.*)$")
START_COPY = """
import json, sys
sys.path.insert(0, {lab!r})
import lab, labdata
p = next(q for q in labdata.PERSONALITIES if q.name == {name!r})
copy = lab.start_copy(p, {address!r}, __import__("pathlib").Path({root!r}))
print(json.dumps({{"pid": copy.pid, "seconds": copy.seconds}}))
"""
DISCARD = """
import sys
sys.path.insert(0, {lab!r})
import lab
lab.discard(lab.load_copy(__import__("pathlib").Path({root!r})))
"""


@dataclass
class Run:
    """One scan: what it took and what it found."""

    code: int
    wall: float
    max_rss_mb: float
    phases: dict[str, float]  # seconds since the process started, by phase mark
    result: dict[str, Any]
    stderr: str

    def hosts(self) -> list[dict[str, Any]]:
        return list(self.result.get("hosts", []))


@dataclass
class Estate:
    """Namespaces, a silent range and Samba copies; `scan()` runs the CLI inside."""

    silent: str
    personalities: list[str]
    name: str = field(default_factory=lambda: f"sa-bench-{os.getpid()}")
    copies: list[tuple[str, str, Path]] = field(default_factory=list)  # (personality, address, dir)
    net: Any = None
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shareaudit-bench-")))

    def __enter__(self) -> Estate:
        self.work.chmod(
            0o755
        )  # smbd serves the copies' shares as the lab users: the path must be traversable
        self.net = dropnet.up(self.name, self.silent)
        try:
            planned = [
                (name, f"127.0.1.{n + 1}", self.work / f"copy-{n:02d}-{name}")
                for n, name in enumerate(self.personalities)
            ]
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=4) as pool:
                for done in pool.map(self._start, planned):
                    self.copies.append(done)
            print(
                f"{len(self.copies)} Samba copies up in {time.monotonic() - started:.0f} s", file=sys.stderr
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, plan: tuple[str, str, Path]) -> tuple[str, str, Path]:
        name, address, root = plan
        code = START_COPY.format(lab=str(LAB), name=name, address=address, root=str(root))
        proc = subprocess.run(
            [*self.net.prefix(), sys.executable, "-c", code], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"copy of {name} on {address} did not start: {proc.stderr.strip()[-500:]}")
        return plan

    def __exit__(self, *_: object) -> None:
        for _, _, root in self.copies:
            if self.net is not None:  # always inside the namespace: its addresses are not the machine's
                code = DISCARD.format(lab=str(LAB), root=str(root))
                subprocess.run([*self.net.prefix(), sys.executable, "-c", code], capture_output=True)
        dropnet.down(self.name)
        with contextlib.suppress(OSError):
            for path in sorted(self.work.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            self.work.rmdir()

    @property
    def addresses(self) -> list[str]:
        return [address for _, address, _ in self.copies]

    def scan(self, targets: list[str], *args: str) -> Run:
        """`shareaudit -v scan` inside the namespace as the audit account, with the JSON written."""
        listed = self.work / "targets.txt"
        listed.write_text("\n".join(targets) + "\n")
        out = self.work / "scan.json"
        command = [
            *self.net.prefix(),
            "/usr/bin/time",
            "-f",
            "maxrss %M",
            sys.executable,
            "-m",
            "shareaudit",
            "-v",
            "scan",
            f"@{listed}",
            "-u",
            "labaudit",
            "--no-history",
            "--data-dir",
            str(self.work / "data"),
            "--json",
            str(out),
            "-q",
            *args,
        ]
        env = {**os.environ, "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"]}
        began = datetime.now()
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.monotonic() - started
        rss = re.search(r"maxrss (\d+)", proc.stderr)
        result = json.loads(out.read_text()) if out.exists() else {}
        return Run(
            proc.returncode,
            wall,
            int(rss.group(1)) / 1024 if rss else 0.0,
            _phases(proc.stderr, began),
            result,
            proc.stderr,
        )


def _phases(stderr: str, began: datetime) -> dict[str, float]:
    """Seconds from the start of the process to each phase mark in the -v log."""
    marks = {
        "sweep started": ("shareaudit.collect.hosts", "sweep: "),
        "collection done": ("shareaudit.audit.run", "collection done"),
        "writing outputs": ("shareaudit.audit.run", "writing the outputs"),
        "outputs written": ("shareaudit.audit.run", "outputs written"),
    }
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _LOG.match(line)
        if not match:
            continue
        clock, _, logger, message = match.groups()
        at = datetime.combine(began.date(), datetime.strptime(clock, "%H:%M:%S.%f").time())
        for mark, (source, words) in marks.items():
            if mark not in found and logger == source and words in message:
                found[mark] = round((at - began).total_seconds(), 2)
    took = re.search(r"sweep done in ([\d.]+) s", stderr)
    if took and "sweep started" in found:
        found["sweep done"] = round(found["sweep started"] + float(took.group(1)), 2)
    return found


def fully_scanned(host: dict[str, Any]) -> bool:
    """A live lab host scanned to the end: no error, its posture, its shares, at least one share walked."""
    return (
        host["error"] is None
        and host["posture"] is not None
        and bool(host["shares"])
        and any(s["content"] is not None and not s["content"]["error"] for s in host["shares"])
    )


def describe(run: Run, live: list[str]) -> list[str]:
    """The figures of one run, as lines."""
    hosts = {h["address"]: h for h in run.hosts()}
    scanned = [a for a in live if a in hosts and fully_scanned(hosts[a])]
    silent = [h for h in run.hosts() if h["address"] not in live]
    kinds: dict[str, int] = {}
    for host in silent:
        kinds[host["error_kind"] or "none"] = kinds.get(host["error_kind"] or "none", 0) + 1
    per_host = [hosts[a]["elapsed_s"] for a in live if a in hosts]
    lines = [
        f"exit code {run.code}; wall {run.wall:.1f} s; peak memory {run.max_rss_mb:.0f} MB",
        f"phases (s from start): {run.phases}",
        f"live hosts fully scanned: {len(scanned)}/{len(live)}; other targets: {len(silent)} ({kinds})",
    ]
    for address in live:
        if address not in scanned:
            host = hosts.get(address)
            lines.append(f"NOT fully scanned: {address}: {host['error'] if host else 'missing'}")
    if per_host:
        lines.append(
            f"deep scan per live host: median {statistics.median(per_host):.1f} s, max {max(per_host):.1f} s, "
            f"sum {sum(per_host):.0f} s"
        )
    return lines


PERSONALITY_NAMES = [p.name for p in PERSONALITIES]
