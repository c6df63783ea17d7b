"""The command line: one module per command group; each builds a plan, calls the library, maps the outcome to an exit code."""
