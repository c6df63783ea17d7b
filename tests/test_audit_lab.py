"""Scheduled and one-off use against the lab: config file, history, diff, suppressions, device check."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from clirun import Run, shareaudit
from labdata import LABACL, LABFS, LABNAS, PASSWORDS

pytestmark = pytest.mark.usefixtures("lab")

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "audit.example.toml"
ADMIN = f"labadmin%{PASSWORDS['labadmin']}"
EVERYONE_READ = "ACL:S-1-1-0:ALLOWED/OI|CI/READ"


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "SHAREAUDIT_DATA_DIR": str(tmp / "data"), **extra}


# --- config ------------------------------------------------------------------------------------------------


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    """The documented example, as an admin would copy it (with its target list beside it)."""
    config = tmp_path / "audit.toml"
    shutil.copy(EXAMPLE, config)
    (tmp_path / "lab-hosts.txt").write_text(f"# NT ACL server\n{LABACL.address}\n")
    shutil.copy(EXAMPLE.parent / "suppressions.example.toml", tmp_path / "suppressions.toml")
    return config


def test_example_config_checks(example_config: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, AUDIT_PASSWORD=PASSWORDS["labaudit"], PRINTER_PASSWORD=PASSWORDS["labscan"])
    run = shareaudit("config", "check", str(example_config), env=env)
    assert run.code == 0, run.text
    assert run.out.strip() == f"{example_config}: OK: 3 target(s); identities: audit, printer"
    missing = shareaudit("config", "check", str(example_config), env=_env(tmp_path))
    assert missing.code == 2
    assert (
        missing.err.strip()
        == f"shareaudit: error: {example_config}: [audit]: environment variable AUDIT_PASSWORD is not set"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('targets = ["a"]\n\n[crawl]\nmax_dept = 3\n', ":4: crawl.max_dept: unknown key"),
        ('targets = ["a"]\n[scan]\ntimeout = "fast"\n', ":3: scan.timeout: Input should be a valid number"),
        ('targets = ["a"]\n[output]\nfail_on = "hgh"\n', ":3: output.fail_on: Input should be 'critical'"),
        ('targets = ["a"\n', ": not valid TOML: "),
        (
            '[identities.guest]\naccount = "x"\npassword_env = "Y"\n',
            ":1: identities.guest: label is reserved",
        ),
        ('[audit]\nuser = "x"\npassword = "inline"\n', ":3: audit.password: unknown key"),
    ],
)
def test_malformed_config_names_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    run = shareaudit("config", "check", str(bad), env=_env(tmp_path))
    assert run.code == 2
    assert run.err.startswith(f"shareaudit: error: {bad}{message}"), run.err
    assert "Traceback" not in run.err


class _Hook(BaseHTTPRequestHandler):
    posts: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Hook.posts.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def webhook() -> Iterator[list[bytes]]:
    """The webhook receiver the example config points at (127.0.0.1:8089)."""
    _Hook.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 8089), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Hook.posts
    server.shutdown()
    server.server_close()


def test_scan_with_the_example_config(example_config: Path, tmp_path: Path, webhook: list[bytes]) -> None:
    env = {  # no SHAREAUDIT_DATA_DIR: the config's data_dir applies
        "PATH": "/usr/bin:/bin",
        "AUDIT_PASSWORD": PASSWORDS["labaudit"],
        "PRINTER_PASSWORD": PASSWORDS["labscan"],
        "SMTP_PASSWORD": "Smtp-Pass-3",
    }
    run = shareaudit(
        "scan",
        "--config",
        str(example_config),
        "--no-crawl",
        "-q",
        "--json",
        str(tmp_path / "s.json"),
        env=env,
    )
    assert run.code in (0, 1), run.text  # 1: findings at or above fail_on
    data = json.loads((tmp_path / "s.json").read_text())
    assert {h["address"] for h in data["hosts"]} == {LABNAS.address, LABFS.address, LABACL.address}
    assert [i["label"] for i in data["identities"]] == ["audit", "anonymous", "guest", "printer"]
    assert data["options"]["crawl"] is False and data["options"]["timeout"] == 5
    # the suppressions file of the example hides guest write on labnas/scans until its expiry
    scans = [f for f in data["findings"] if f["rule"] == "unprivileged-write" and f["share"] == "scans"]
    assert scans and all(f["suppressed"] is not None for f in scans if f["identity"] == "guest")
    runs = shareaudit("history", "--config", str(example_config), env=env)
    assert "lab-weekly" in runs.out
    assert (tmp_path / "state" / "redaction.key").exists()  # data_dir from the config, relative to it
    # alerts: the webhook got one summary of the new (first-run: all) findings; no SMTP server listens
    # on the example's port, which is a warning, not a lost run
    assert len(webhook) == 1
    summary = json.loads(webhook[0])
    assert "Smtp-Pass-3" not in webhook[0].decode() and PASSWORDS["labaudit"] not in webhook[0].decode()
    assert summary and run.err.count("alert not sent") == 1 and "Smtp-Pass-3" not in run.err
    second = shareaudit("scan", "--config", str(example_config), "--no-crawl", "-q", env=env)
    assert second.code in (0, 1) and len(webhook) == 1  # nothing new: no second message


# --- history, diff, suppressions ---------------------------------------------------------------------------


@pytest.fixture
def loosened_records() -> Iterator[None]:
    """Between two runs an admin gives Everyone read on labacl's records share; undone afterwards."""
    yield
    subprocess.run(
        ["smbcacls", f"//{LABACL.address}/records", "/", "-U", ADMIN, "-D", EVERYONE_READ], check=False
    )


def _scan(tmp: Path, *extra: str) -> Run:
    env = _env(tmp, SHAREAUDIT_PASSWORD=PASSWORDS["labaudit"])
    return shareaudit(
        "scan", LABACL.address, "-u", "labaudit", "-q", "--history", str(tmp / "h.sqlite"), *extra, env=env
    )


def test_diff_reports_exactly_the_change(tmp_path: Path, loosened_records: None) -> None:
    assert _scan(tmp_path).code == 0
    subprocess.run(
        ["smbcacls", f"//{LABACL.address}/records", "/", "-U", ADMIN, "-a", EVERYONE_READ], check=True
    )
    second = _scan(tmp_path, "--json", str(tmp_path / "after.json"))
    assert second.code == 0, second.text
    diff = shareaudit("diff", "--history", str(tmp_path / "h.sqlite"), "--json", env=_env(tmp_path))
    assert diff.code == 0, diff.text
    changes = json.loads(diff.out)
    assert changes["new"] and all(
        (f["host"], f["share"], f["identity"]) == (LABACL.address, "records", "guest") for f in changes["new"]
    )
    assert {f["rule"] for f in changes["new"]} == {"unprivileged-read", "medical-data-exposed"}
    # what the guest exposure replaces: the share's "medical data held, properly restricted" inventory note
    assert [f["rule"] for f in changes["resolved"]] == ["medical-data-inventory"]
    assert changes["changed"] == [] and changes["medical_grew"] == []
    after = json.loads((tmp_path / "after.json").read_text())["findings"]
    marked_new = {(f["share"], f["identity"], f["rule"]) for f in after if f["new"]}
    assert marked_new == {
        ("records", "guest", "unprivileged-read"),
        ("records", "guest", "medical-data-exposed"),
    }
    assert all(f["new"] is False for f in after if f["share"] != "records")


def test_suppression_hides_until_it_expires(tmp_path: Path, loosened_records: None) -> None:
    subprocess.run(
        ["smbcacls", f"//{LABACL.address}/records", "/", "-U", ADMIN, "-a", EVERYONE_READ], check=True
    )
    rules = tmp_path / "accepted.toml"

    def accept(expires: date) -> None:
        rules.write_text(
            '[[suppress]]\nrule = "unprivileged-read"\nhost = "127.0.0.*"\nshare = "records"\n'
            f'reason = "migration to the PACS archive"\nowner = "radiology-it"\nexpires = {expires.isoformat()}\n'
        )

    accept(date.today() + timedelta(days=30))
    run = _scan(tmp_path, "--suppressions", str(rules), "--json", str(tmp_path / "s.json"), "--no-history")
    found = [
        f
        for f in json.loads((tmp_path / "s.json").read_text())["findings"]
        if f["rule"] == "unprivileged-read" and f["share"] == "records"
    ]
    assert found and all(f["suppressed"]["owner"] == "radiology-it" for f in found), run.text
    accept(date.today() - timedelta(days=1))
    _scan(tmp_path, "--suppressions", str(rules), "--json", str(tmp_path / "s.json"), "--no-history")
    found = [
        f
        for f in json.loads((tmp_path / "s.json").read_text())["findings"]
        if f["rule"] == "unprivileged-read" and f["share"] == "records"
    ]
    assert found and all(f["suppressed"] is None for f in found)


# --- the device check --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("ftplab")  # the FTP doors are checked too (tests/lab/ftplab.py)
def test_device_passes_when_confined(tmp_path: Path) -> None:
    env = _env(tmp_path, SHAREAUDIT_PASSWORD_SCANNER=PASSWORDS["labdevice"])
    html = tmp_path / "device.html"
    run = shareaudit(
        "device",
        LABFS.address,
        "--account",
        "scanner=labdevice",
        "--drop-share",
        "scaninbox",
        "--html",
        str(html),
        env=env,
    )
    assert run.code == 0, run.text
    assert run.out.count("PASS ") == 6 and "FAIL" not in run.out  # 4 over SMB, 2 over FTP
    assert "PASS: the account is confined" in html.read_text()


@pytest.mark.usefixtures("ftplab")
def test_device_fails_naming_each_reason(tmp_path: Path) -> None:
    env = _env(tmp_path, SHAREAUDIT_PASSWORD_PRINTER=PASSWORDS["labscan"])
    html = tmp_path / "device.html"
    run = shareaudit(
        "device",
        LABNAS.address,
        "--account",
        "printer=labscan",
        "--drop-share",
        "scans",
        "--html",
        str(html),
        env=env,
    )
    assert run.code == 1
    assert run.out.count("FAIL ") == 6  # 4 over SMB, 2 over FTP
    for reason in (
        "printer lands in / and reaches pub/ beyond its drop folder scans",
        "also takes passwords in clear text",
        "printer can read share imaging, holding medical data",
        "printer can read/write share print$",
        "the server accepts SMB1",
        "the server lets unknown users in as guest",
        "the server does not require signing",
        "guest can read the drop folder scans",
        "the ACL of scans lets Everyone read it",
        "printer can delete files in scans",
    ):
        assert reason in run.out, reason
    # Samba claims it for every account on the 0777 folder; only the owner (nobody) can really do it.
    assert "printer can change permissions" not in run.out
    page = html.read_text()
    assert (
        "FAIL: see below" in page and "DOE_JOHN" not in page and PASSWORDS["labscan"] not in run.text + page
    )
