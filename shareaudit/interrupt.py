"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt in the main thread wherever it is at the time. When that is inside a
callback CPython cannot raise out of (a weakref callback of the import system while a module loads, a
`__del__`), the exception is handed to `sys.unraisablehook`, printed as "Exception ignored in ...", and
the program goes on as if nothing had been pressed. `install()` replaces that hook for KeyboardInterrupt
only: the interrupt is remembered, nothing is printed, and the scan's wait loop raises it at its next
turn (`check()`). Every other unraisable exception goes to the default hook.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

_pressed = threading.Event()


def _unraisable(info: Any) -> None:
    if isinstance(info.exc_value, KeyboardInterrupt):
        _pressed.set()
        return
    sys.__unraisablehook__(info)


def install() -> None:
    """Remember a Ctrl-C that arrives where it cannot be raised."""
    sys.unraisablehook = _unraisable


def check() -> None:
    """Raise the KeyboardInterrupt that was swallowed, if one was."""
    if _pressed.is_set():
        _pressed.clear()
        raise KeyboardInterrupt
