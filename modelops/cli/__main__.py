"""`python -m modelops.cli …` is the `modelops` command."""

from modelops.cli import run

run()
