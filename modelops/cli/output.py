"""Rendering command results: JSON for machines, rich tables for people.

Text that came from the database is data: control characters print visibly (`\\x1b`),
so a stored value can never move the cursor or clear a reader's screen.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from registry.text import visible

__all__ = ["Cell", "print_json", "print_table", "say", "say_markup", "stderr", "stdout", "visible"]

Cell = str | int | float | bool | None | datetime | Enum

# Piped output gets a wide page, so tables stay one row per line in logs and files.
PIPED_WIDTH = 160


class _Terminal(Console):
    """A console that shows the control characters of any text it prints as escapes."""

    def print(self, *objects: Any, **options: Any) -> None:
        shown = (visible(item) if isinstance(item, str) else item for item in objects)
        super().print(*shown, **options)


# No emoji codes: a stored ":warning:" prints as those nine characters (and rich's table of
# codes is not imported).
stdout = _Terminal(highlight=False, soft_wrap=True, emoji=False)
stderr = _Terminal(stderr=True, highlight=False, soft_wrap=True, emoji=False)
if not stdout.is_terminal:
    stdout.width = PIPED_WIDTH


def print_json(data: object) -> None:
    """Write `data` as JSON on stdout (pydantic models and datetimes included).

    `json.dumps` escapes every control character (and everything non-ASCII).
    """
    print(json.dumps(_jsonable(data), indent=2, sort_keys=False, default=str))


def _jsonable(data: object) -> object:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [_jsonable(item) for item in data]
    if isinstance(data, dict):
        return {key: _jsonable(value) for key, value in data.items()}
    return data


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    from rich.table import Table  # only commands that draw tables pay for it

    if not rows:
        stdout.print(f"{_text(title)}: none")
        return
    table = Table(title=_text(title), title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    stdout.print(table)


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, Enum):
        return _text(str(value.value))
    return _text(str(value))


def _text(value: str) -> str:
    # Values are data, not markup: "[redacted]" must print as it is.
    return escape(visible(value, keep_newlines=False))


def say(message: str) -> None:
    """Print a line for people as it is: no markup is read from it (a stored "[redacted]"
    prints so), and control characters show."""
    stdout.print(message, markup=False)


def say_markup(markup: str) -> None:
    """Print a line of rich markup; the caller `escape`s every value it did not write."""
    stdout.print(markup)
