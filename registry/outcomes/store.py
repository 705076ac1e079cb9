"""Writing a batch of outcomes and its rollups in one transaction, exactly once per request id.

PostgreSQL: the batch is COPYed straight into `outcomes` inside a savepoint. If any request
id is already stored (a replayed spool, a consumer reporting twice) the COPY fails as a
whole and the batch takes the slow path instead: COPY into a temporary staging table, then
`INSERT … SELECT … ON CONFLICT (request_id) DO NOTHING RETURNING request_id`. Either way
exactly the rows that were inserted are folded into the rollups, in the same transaction,
so replays never count twice. (INSERT … SELECT costs about twice a COPY: it does not batch
heap inserts, hence the fast path.) SQLite: one writer at a time (BEGIN IMMEDIATE), so the
ids already stored are read first and the rest inserted with executemany.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Column, MetaData, Table, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from registry.errors import DatabaseUnavailableError, InvalidInputError, translate_database_errors
from registry.outcomes.codec import COLUMNS, Row, encode_outcome, parse_line
from registry.outcomes.domain import Outcome, StoreResult
from registry.outcomes.rollups import RollupDelta
from registry.outcomes.tables import OutcomeRow

_OUTCOMES = OutcomeRow.__table__
_COLUMN_LIST = ", ".join(COLUMNS)
_COPY_OUTCOMES = f"COPY outcomes ({_COLUMN_LIST}) FROM STDIN"
# Not on Base.metadata: a per-connection scratch table, emptied at every commit.
_STAGING = Table(
    "outcome_staging",
    MetaData(),
    *(Column(name, _OUTCOMES.c[name].type) for name in COLUMNS),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_CHUNK = 500


def store_outcomes(session: Session, outcomes: Iterable[Outcome]) -> StoreResult:
    """Store outcomes not stored yet and fold them into the rollups. Never commits."""
    return store_outcome_lines(session, [encode_outcome(o) for o in outcomes])


def store_outcome_lines(session: Session, lines: Sequence[bytes]) -> StoreResult:
    """Store encoded outcomes (`codec.encode_outcome` lines) and fold the new ones into the
    rollups. A damaged line raises `InvalidInputError` before anything is written; the
    database being away raises `DatabaseUnavailableError`. Never commits."""
    rows = [parse_line(line) for line in lines]
    total = len(rows)
    firsts: dict[str, int] = {}
    for position, row in enumerate(rows):
        firsts.setdefault(row[0], position)
    if len(firsts) < total:
        keep = sorted(firsts.values())
        lines, rows = [lines[i] for i in keep], [rows[i] for i in keep]
    with translate_database_errors("storing outcomes"):
        if session.get_bind().dialect.name == "postgresql":
            inserted = _insert_postgresql(session, lines, rows)
        else:
            inserted = _insert_sqlite(session, rows)
        delta = RollupDelta()
        delta.add_rows(inserted)
        delta.apply(session)
    return StoreResult(inserted=len(inserted), duplicates=total - len(inserted))


def _insert_postgresql(session: Session, lines: Sequence[bytes], rows: list[Row]) -> list[Row]:
    connection = session.connection()
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        try:
            with connection.begin_nested(), driver.cursor() as cursor:
                _copy(cursor, _COPY_OUTCOMES, lines)
            return rows
        except psycopg.errors.UniqueViolation:
            pass
        connection.execute(CreateTable(_STAGING, if_not_exists=True))
        with driver.cursor() as cursor:
            _copy(cursor, f"COPY outcome_staging ({_COLUMN_LIST}) FROM STDIN", lines)
            cursor.execute(
                f"INSERT INTO outcomes ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "
                "FROM outcome_staging ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
            )
            new = {request_id for (request_id,) in cursor.fetchall()}
            cursor.execute("TRUNCATE outcome_staging")
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        raise InvalidInputError(
            f"the database refused an outcome of the batch ({type(exc).__name__})", field="line"
        ) from None
    except psycopg.OperationalError as exc:
        connection.invalidate()
        raise DatabaseUnavailableError(
            f"storing outcomes: the database is unavailable ({type(exc).__name__})"
        ) from None
    return [row for row in rows if row[0] in new]


def _copy(cursor: psycopg.Cursor[Any], statement: str, lines: Sequence[bytes]) -> None:
    with cursor.copy(statement) as copy:
        copy.write(b"".join(lines))


def _insert_sqlite(session: Session, rows: list[Row]) -> list[Row]:
    ids = [row[0] for row in rows]
    stored: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        stored.update(session.scalars(select(OutcomeRow.request_id).where(
            OutcomeRow.request_id.in_(chunk))))
    new = [row for row in rows if row[0] not in stored]
    if new:
        session.execute(insert(_OUTCOMES), [dict(zip(COLUMNS, row, strict=True)) for row in new])
    return new
