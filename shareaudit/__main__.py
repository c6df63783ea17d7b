"""`python -m shareaudit` runs the command line."""

from shareaudit.cli.main import main

main()
