"""-v and --debug log the protocol steps to stderr, and never a secret or a name below a share root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clirun import Run, shareaudit
from impacket.ntlm import compute_nthash
from labdata import LABNAS, PASSWORDS, PATIENT_MARKERS

pytestmark = pytest.mark.usefixtures("lab")

SECRETS = [p for p in PASSWORDS.values() if p]
NT_HASHES = [compute_nthash(p).hex() for p in SECRETS]
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+)( \[[\w-]+\])?: ")


def _scan(tmp: Path, *flags: str) -> Run:
    env = {
        "PATH": "/usr/bin:/bin",
        "SHAREAUDIT_PASSWORD": PASSWORDS["labaudit"],
        "SHAREAUDIT_PASSWORD_PRINTER": PASSWORDS["labscan"],
    }
    return shareaudit(
        *flags,
        "scan",
        LABNAS.address,
        "-u",
        "labaudit",
        "--identity",
        "printer=labscan",
        "--no-history",
        "--data-dir",
        str(tmp / "data"),
        "--json",
        str(tmp / "scan.json"),
        env=env,
    )


def _assert_nothing_secret(err: str) -> None:
    for secret in SECRETS:
        assert secret not in err, "a password is in the log"
    for nt_hash in NT_HASHES:
        assert nt_hash not in err.lower(), "an NT hash is in the log"
    for marker in PATIENT_MARKERS:
        assert marker not in err, f"a name below a share root ({marker}) is in the log"


def _loggers(err: str) -> set[str]:
    return {m.group(2) for line in err.splitlines() if (m := LOG_LINE.match(line))}


def test_verbose_logs_the_protocol_steps(tmp_path: Path) -> None:
    run = _scan(tmp_path, "-v")
    assert run.code == 0, run.text
    err = run.err
    host = LABNAS.address
    assert f"{host}:445: negotiate: dialects NT LM 0.12, 2.0.2, 2.1, 3.0, 3.0.2, 3.1.1" in err
    assert "signing required: False" in err
    assert f"{host}: logon as anonymous (anonymous): accepted" in err
    assert f"{host}: logon as audit (user): accepted" in err
    assert f"{host}: data logon as printer (user): accepted, signed" in err
    assert f"{host}: share hr as audit: tree connect refused, STATUS_ACCESS_DENIED" in err
    assert re.search(
        rf"{host}: share public as audit: tree connect accepted, maximal access 0x[0-9a-f]{{8}}", err
    )
    assert re.search(rf"{host}: share public as audit: root MxAc 0x[0-9a-f]{{8}}, listable: True", err)
    assert f"{host}: NetrShareEnum level 502: 10 shares" in err
    assert re.search(rf"{host}: LsarLookupSids: \d+ SIDs asked, \d+ named", err)
    assert re.search(rf"{host}: share imaging as printer: walked \d+ entries", err)
    # INFO only, and only shareaudit's own loggers: the libraries stay quiet without --debug.
    assert " DEBUG " not in err
    assert _loggers(err) and all(name.startswith("shareaudit.") for name in _loggers(err))
    _assert_nothing_secret(err)


def test_debug_adds_status_codes_timings_and_library_lines_without_secrets(tmp_path: Path) -> None:
    run = _scan(tmp_path, "--debug")
    assert run.code == 0, run.text
    err = run.err
    host = LABNAS.address
    assert f"{host}:445: NEGOTIATE 3.1.1: accepted, security mode 0x1" in err
    assert f"{host}: share hr as audit: tree connect status 0xc0000022" in err
    assert re.search(rf"{host}: logon as audit took \d+ ms", err)
    assert re.search(r"share public as anonymous: \d+ compounds sent; refused: STATUS_ACCESS_DENIED x1", err)
    loggers = _loggers(err)
    assert any(name.startswith("smbprotocol") for name in loggers)
    # pyspnego's DEBUG lines carry the NTLM tokens: never let through.
    assert not any(name.startswith("spnego") for name in loggers)
    # smbprotocol below INFO dumps whole messages (listings): never let through.
    assert not any(f"DEBUG {name}" in err for name in loggers if name.startswith("smbprotocol"))
    _assert_nothing_secret(err)


def test_without_flags_nothing_is_logged(tmp_path: Path) -> None:
    run = _scan(tmp_path)
    assert run.code == 0, run.text
    assert not _loggers(run.err), run.err
