"""`python -m compiler`: the same entry point as the `billplan` console script."""

from compiler.cli import run

run()
