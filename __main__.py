"""`python -m sapa`: the same command line as the `sapa` script."""

from sapa.cli import run

run()
