"""Checks shared by command arguments: integers within their column, text the registry takes.

A value that fails is a usage error naming the argument (exit 2), before any database work.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from registry.orm import INT32_MAX, INT32_MIN

__all__ = ["INT32_MAX", "INT32_MIN", "single_line"]


def single_line(max_length: int) -> Callable[[str | None], str | None]:
    """A typer callback: printable single-line text of at most `max_length` characters."""
    from registry.text import check_single_line

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            check_single_line(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if len(value) > max_length:
            raise typer.BadParameter(
                f"is {len(value)} characters long; at most {max_length} are allowed"
            )
        return value

    return check
