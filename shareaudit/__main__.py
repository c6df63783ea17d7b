"""`python -m shareaudit` runs the command line."""

from shareaudit.cli import main

main()
