"""Declarative base, column types and the UTC clock shared by every table of the registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, MetaData, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names keep Alembic autogenerate output identical on every machine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# What an INTEGER column (ids, version numbers, priorities) holds on PostgreSQL.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class JsonDocumentType(TypeDecorator[Any]):
    """JSON on every backend, stored as JSONB on PostgreSQL.

    Not `JSON().with_variant(JSONB(), "postgresql")`: defining that imports SQLAlchemy's
    PostgreSQL dialect (about 20 ms, every CLI command on SQLite included); this type
    looks JSONB up only when it meets PostgreSQL.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, *, none_as_null: bool = False) -> None:
        super().__init__(none_as_null=none_as_null)
        self.none_as_null = none_as_null  # part of the cache key
        # JSON stores Python None as JSON null unless `none_as_null`; a TypeDecorator
        # does not pass that flag on by itself.
        self.should_evaluate_none = not none_as_null

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=self.none_as_null))
        return dialect.type_descriptor(JSON(none_as_null=self.none_as_null))


JsonDocument = JsonDocumentType()
# SQL NULL for None (what PostgreSQL's COPY writes), not JSON null.
NullableJson = JsonDocumentType(none_as_null=True)


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index of the rows `where` selects, as the migrations create it on both backends.

    The predicate goes to SQLite's option and to `info["where"]`, not to `postgresql_where`:
    SQLAlchemy would import its PostgreSQL dialect to validate that option (~16 ms of every
    CLI command on SQLite). Alembic compares no predicate; a migrations test holds the
    PostgreSQL indexes to `info["where"]`.
    """
    return Index(name, *columns, unique=unique, sqlite_where=text(where), info={"where": where})


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
