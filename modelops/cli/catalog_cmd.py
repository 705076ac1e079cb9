"""`modelops catalog …`."""

from __future__ import annotations

import typer

app = typer.Typer(help="catalog commands.")
