"""Adding counters to rows keyed by a tuple: `INSERT … ON CONFLICT DO UPDATE SET c = c + x`.

What every rollup (per-minute outcome rollups, daily usage) is written with. Rows are
upserted in key order, so concurrent writers lock them in the same order; PostgreSQL gets
one statement whatever the row count (arrays in, unnest), exact decimals for NUMERIC sums.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, Numeric, Table, TextClause, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session


def add_sums(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """Insert the rows, or add their counters to the rows already there (by `keys`)."""
    ordered = sorted(rows, key=lambda row: row[: len(keys)])
    if not ordered:
        return
    names = (*keys, *counters)
    if session.get_bind().dialect.name == "postgresql":
        # One statement whatever the row count: arrays in, unnest, upsert.
        exact = [_is_exact(table, name) for name in names]
        columns = [
            [Decimal(v) for v in column] if exact[i] else list(column)
            for i, column in enumerate(zip(*ordered, strict=True))
        ]
        session.execute(
            _unnest_upsert(session, table, names, keys), dict(zip(names, columns, strict=True))
        )
        return
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in counters},
    )
    session.execute(stmt, [dict(zip(names, _sqlite_values(row), strict=True)) for row in ordered])


_STATEMENTS: dict[str, TextClause] = {}


def _unnest_upsert(
    session: Session, table: Table, names: tuple[str, ...], keys: tuple[str, ...]
) -> TextClause:
    statement = _STATEMENTS.get(table.name)
    if statement is None:
        dialect = session.get_bind().dialect
        arrays = ", ".join(
            f"CAST(:{n} AS {table.c[n].type.compile(dialect=dialect)}[])" for n in names
        )
        updates = ", ".join(
            f"{n} = {table.name}.{n} + excluded.{n}" for n in names if n not in keys
        )
        statement = _STATEMENTS[table.name] = text(
            f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
        )
    return statement


def _is_exact(table: Table, name: str) -> bool:
    kind = table.c[name].type
    return isinstance(kind, Numeric) and not isinstance(kind, Float)


def _sqlite_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # SQLite binds neither Decimal nor integers past 64 bits; its sums are doubles anyway.
    return tuple(
        float(v) if isinstance(v, Decimal) or (isinstance(v, int) and abs(v) >= 2**63) else v
        for v in row
    )
