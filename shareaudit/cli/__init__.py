"""The command line: one module per command group; each builds a plan, calls the library, maps the outcome to an exit code."""

from __future__ import annotations

import gc
import os
import signal
import sys

from shareaudit import interrupt

EXIT_INTERRUPTED = 130


def _interrupted_at_start(signum: int, frame: object) -> None:
    # Nothing is gathered yet: leave at once (an exception raised here could land where the import
    # system ignores it).
    sys.stderr.write("shareaudit: interrupted\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """The console entry point: Ctrl-C while the program is still loading exits 130 without a traceback."""
    signal.signal(signal.SIGINT, _interrupted_at_start)
    interrupt.install()
    from shareaudit.cli import app  # the heavy imports (click, rich, the protocol libraries)

    # What the imports built lives as long as the process: out of the collector's way, every collection
    # of a walk and the collection at exit skip it (0.28 s less per scan, median of 8, bench notes in
    # docs/scale.md).
    gc.freeze()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on main() turns it into exit 130
    app.main()
