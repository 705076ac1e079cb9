"""`INSERT … ON CONFLICT` for the session's backend: PostgreSQL's or SQLite's (alike in use).

The dialect's module is imported when a write needs it: importing PostgreSQL's at module
level would cost every command on SQLite ~16 ms (tests/cli/test_lazy_loading.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def conflict_insert(session: Session, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` (a Table or mapped class) that takes ON CONFLICT clauses."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
