"""`modelops demo`: the lifecycle end to end on the embedded defaults."""

from __future__ import annotations


def demo() -> None:
    """Run the whole lifecycle on the example catalog (SQLite, local provider)."""
