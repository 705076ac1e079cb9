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

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Column, MetaData, Table, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from registry.errors import DatabaseUnavailableError, InvalidInputError, translate_database_errors
from registry.outcomes.codec import COLUMNS, encode_outcome, parse_line
from registry.outcomes.domain import Outcome, StoreResult
from registry.outcomes.rollups import RollupDelta
from registry.outcomes.tables import OutcomeRow
from registry.usage.daily import DailyDelta

_OUTCOMES = cast(Table, OutcomeRow.__table__)
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
    rollups. A damaged line raises `InvalidInputError` and nothing is written; the database
    being away raises `DatabaseUnavailableError`. Never commits."""
    if not lines:
        return StoreResult(inserted=0, duplicates=0)
    firsts: dict[bytes, bytes] = {}
    for line in lines:  # a request id twice in one batch: the first one counts
        firsts.setdefault(line[: line.find(b"\t")], line)
    unique = list(firsts.values())
    delta = RollupDelta()
    with translate_database_errors("storing outcomes"):
        if session.get_bind().dialect.name == "postgresql":
            # Folding (Python) runs while the server digests the COPY.
            inserted = _insert_postgresql(session, unique, lambda: delta.add_lines(unique))
        else:
            delta.add_lines(unique)
            inserted = _insert_sqlite(session, unique)
        if len(inserted) < len(unique):
            delta = RollupDelta()
            delta.add_lines(inserted)
        delta.apply(session)
        daily = DailyDelta()  # the same lines, so daily usage equals the rollups' sums
        daily.add_lines(inserted)
        daily.apply(session)
    return StoreResult(inserted=len(inserted), duplicates=len(lines) - len(inserted))


def _insert_postgresql(
    session: Session, lines: list[bytes], meanwhile: Callable[[], None]
) -> list[bytes]:
    """COPY the lines, calling `meanwhile` while the server works; returns the lines that
    were new, now in `outcomes`."""
    connection = session.connection()
    driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
    try:
        try:
            with connection.begin_nested(), driver.cursor() as cursor:
                _copy(cursor, _COPY_OUTCOMES, lines, meanwhile)
            return lines
        except psycopg.errors.UniqueViolation:
            pass
        connection.execute(CreateTable(_STAGING, if_not_exists=True))
        with driver.cursor() as cursor:
            _copy(cursor, f"COPY outcome_staging ({_COLUMN_LIST}) FROM STDIN", lines, _nothing)
            cursor.execute(
                f"INSERT INTO outcomes ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "
                "FROM outcome_staging ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
            )
            new = {request_id.encode() for (request_id,) in cursor.fetchall()}
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
    return [line for line in lines if line[: line.find(b"\t")] in new]


def _copy(
    cursor: psycopg.Cursor[Any],
    statement: str,
    lines: Sequence[bytes],
    meanwhile: Callable[[], None],
) -> None:
    with cursor.copy(statement) as copy:
        copy.write(b"".join(lines))
        meanwhile()  # an exception here aborts the COPY


def _nothing() -> None:
    pass


def _insert_sqlite(session: Session, lines: list[bytes]) -> list[bytes]:
    rows = [parse_line(line) for line in lines]
    stored: set[str] = set()
    for start in range(0, len(rows), _CHUNK):
        chunk = [row[0] for row in rows[start : start + _CHUNK]]
        stored.update(
            session.scalars(select(OutcomeRow.request_id).where(OutcomeRow.request_id.in_(chunk)))
        )
    new = [i for i, row in enumerate(rows) if row[0] not in stored]
    if new:
        values = [dict(zip(COLUMNS, rows[i], strict=True)) for i in new]
        session.execute(insert(_OUTCOMES), values)
    return [lines[i] for i in new]
