"""Run the real entry point in the test process: exit code mapping, stdout and stderr, no subprocess."""

from __future__ import annotations

import sys

import pytest

from shareaudit.cli.app import main


def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run `shareaudit ARGS` in-process (exit code mapping included): code, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["shareaudit", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err
