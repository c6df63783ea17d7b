"""Server strings reach a terminal escaped: no escape sequence, no bidi override, no forged line."""

from __future__ import annotations

from rich.console import Console
from synthetic import READ, host, result, share

from shareaudit.render.printable import printable
from shareaudit.render.terminal import print_summary
from shareaudit.rules import evaluate

HOSTILE = "scans\x1b[2J\x1b]0;owned\x07\r\nFAKE LINE\u202egpj.exe\x9b31m"


def test_control_characters_are_written_as_escapes() -> None:
    shown = printable(HOSTILE)
    assert shown == "scans\\x1b[2J\\x1b]0;owned\\x07\\x0d\\x0aFAKE LINE\\u202egpj.exe\\x9b31m"
    assert printable("Röntgen_放射線 ok") == "Röntgen_放射線 ok"  # printable text is left as it is


def test_the_summary_never_sends_a_server_string_raw(tmp_path: object) -> None:
    scan = result(host(target="nas01", shares=[share(HOSTILE, {"anonymous": READ, "guest": READ})]))
    console = Console(record=True, width=400, force_terminal=True, color_system="standard")
    from dataclasses import replace

    print_summary(replace(scan, findings=evaluate(scan)), console)
    out = console.export_text(styles=False)
    for raw in ("\x1b[2J", "\x1b]0;", "\x07", "\u202e", "\x9b", "\r"):
        assert raw not in out
    assert "scans\\x1b[2J" in out
