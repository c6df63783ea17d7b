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

import sys

import click

from shareaudit import __version__
from shareaudit.cli.ad import discover_command
from shareaudit.cli.audit import config_group, device_command, diff_command, history_command
from shareaudit.cli.report import report_command, rules_command
from shareaudit.cli.scan import EXIT_CODES_HELP, scan_command
from shareaudit.errors import ShareauditError

EXIT_OK = 0
EXIT_INPUT = 2
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shareaudit")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def cli(debug: bool) -> None:
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
# Active Directory (shareaudit/cli_ad.py).
cli.add_command(discover_command)


def main() -> None:
    """Entry point: run the CLI and turn every outcome into one line and an exit code."""
    debug = "--debug" in sys.argv[1:]
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
    except Exception as exc:  # the last resort: a bug, said in one line unless --debug
        if debug:
            raise
        click.echo(
            f"shareaudit: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        code = EXIT_INTERNAL
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
