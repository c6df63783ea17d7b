"""The command line: parse, call the library, render, map the outcome to an exit code.

Exit codes (also in `shareaudit --help` and the README):
  0  the scan completed and every target was scanned
  1  findings at or above --fail-on (accepted risks do not count); takes precedence over 3
  2  usage or input error (bad option, target, config, missing or unreadable secret)
  3  the scan completed but some targets failed (unreachable, refused, not SMB, ...)
  4  internal error (a bug: please report it; --debug shows the traceback)
  130 interrupted (Ctrl-C); what was gathered so far is still written
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

import click

from shareaudit import __version__
from shareaudit.cli.ad import discover_command
from shareaudit.cli.audit import config_group, device_command, diff_command, history_command
from shareaudit.cli.merge import merge_command
from shareaudit.cli.report import report_command, rules_command
from shareaudit.cli.scan import EXIT_CODES_HELP, scan_command
from shareaudit.errors import ShareauditError

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shareaudit")
@click.option(
    "--debug",
    is_flag=True,
    help="Show tracebacks of internal errors, and log every protocol step with status codes and timings "
    "to stderr.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log the protocol steps (connect, negotiate, logons, shares) to stderr.",
)
def cli(debug: bool, verbose: bool) -> None:
    """Who can reach what on SMB file servers and NAS appliances, and where medical data is exposed."""


cli.add_command(scan_command)
# Scheduled and one-off audits (shareaudit/cli_audit.py).
cli.add_command(config_group)
cli.add_command(history_command)
cli.add_command(diff_command)
cli.add_command(device_command)
# Findings and reports (shareaudit/cli_report.py).
cli.add_command(report_command)
cli.add_command(rules_command)
# Runs from several vantage points as one result (shareaudit/cli/merge.py).
cli.add_command(merge_command)
# Active Directory (shareaudit/cli_ad.py).
cli.add_command(discover_command)


# Libraries whose log lines --debug lets through, and from which level. impacket logs no secrets
# (0.13: parse failures and RPC server errors only). smbprotocol's DEBUG lines dump whole messages,
# listings included, so names below a share root: INFO at most. pyspnego (`spnego`) stays silent: its
# DEBUG lines carry the NTLM tokens, whose NTLMv2 response can be cracked offline.
_LIBRARY_LOGGERS = {"impacket": logging.DEBUG, "smbprotocol": logging.INFO, "spnego": None}


def _group_flags(args: Sequence[str]) -> tuple[bool, bool]:
    """(--verbose, --debug) as click parses the group's own options, before the command runs."""
    try:
        with cli.make_context("shareaudit", list(args), resilient_parsing=True) as ctx:
            return bool(ctx.params.get("verbose")), bool(ctx.params.get("debug"))
    except (click.exceptions.ClickException, click.exceptions.Exit):
        return False, False


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a line is logged: the live progress display (a terminal
    only) redirects it while it draws, so log lines print above the bar instead of through it."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def _configure_logging(verbose: bool, debug: bool) -> None:
    """-v: the `shareaudit` loggers at INFO on stderr; --debug: DEBUG, and the SMB libraries' own lines.

    The handler sits on the `shareaudit` logger (and, with --debug, the libraries'), never on the root
    logger. Without --debug the libraries stay silent, warnings included.
    """
    for name, level in _LIBRARY_LOGGERS.items():
        library = logging.getLogger(name)
        library.propagate = False
        if not (debug and level is not None):
            library.addHandler(logging.NullHandler())
            library.setLevel(logging.CRITICAL + 1)
    if not (verbose or debug):
        return
    handler = _Stderr()
    thread = " [%(threadName)s]" if debug else ""
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s.%(msecs)03d %(levelname)s %(name)s{thread}: %(message)s", "%H:%M:%S")
    )
    ours = logging.getLogger("shareaudit")
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if debug else logging.INFO)
    ours.propagate = False
    for name, level in _LIBRARY_LOGGERS.items():
        if debug and level is not None:
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(level)


def main() -> None:
    """Entry point: run the CLI and turn every outcome into one line and an exit code."""
    verbose, debug = _group_flags(sys.argv[1:])
    _configure_logging(verbose, debug)
    try:
        code = cli.main(standalone_mode=False, prog_name="shareaudit")
    except click.exceptions.Abort:
        click.echo("shareaudit: aborted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = EXIT_INPUT if exc.exit_code == 2 else exc.exit_code
    except ShareauditError as exc:
        click.echo(f"shareaudit: error: {exc}", err=True)
        code = EXIT_INPUT
    except KeyboardInterrupt:
        click.echo("shareaudit: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last resort: a bug, said in one line (traceback with --debug)
        if debug:
            traceback.print_exc()  # the traceback, and still the documented exit code, never 1 ("findings")
        click.echo(
            f"shareaudit: internal error: {type(exc).__name__}: {exc}"
            + ("" if debug else " (run with --debug for details)"),
            err=True,
        )
        code = EXIT_INTERNAL
    if code == EXIT_INTERRUPTED:
        # What was gathered is written; hosts still in flight are not waited for (their threads would
        # hold the exit for up to a timeout per request). Exit now, without joining them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
