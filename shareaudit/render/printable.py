"""Server strings made safe for a terminal: control characters shown escaped, never sent raw.

A share name holding `ESC[2J` would clear an admin's screen, or forge lines of the summary; bidirectional
overrides would make a name read backwards. HTML and CSV escape on their own; the terminal needs this.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode bidi embeddings, overrides and isolates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """The text with every control character written as an escape (\\x1b, \\u202e)."""
    return _UNPRINTABLE.sub(_escaped, text)
