"""`modelops keys …`."""

from __future__ import annotations

import typer

app = typer.Typer(help="keys commands.")
