"""JSON columns: JSONB on PostgreSQL, JSON on SQLite; None is JSON null unless nullable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from registry.database import make_engine
from registry.orm import JsonDocument, NullableJson


class ScratchBase(DeclarativeBase):  # apart from the registry's tables
    pass


class ScratchRow(ScratchBase):
    __tablename__ = "scratch_json"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A default, as most document columns have: None set on purpose is still JSON null.
    document: Mapped[Any] = mapped_column(JsonDocument, default=dict, nullable=True)
    nullable: Mapped[Any] = mapped_column(NullableJson, nullable=True)


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("empty_pg_url"))


def test_json_columns_round_trip_and_keep_json_null_apart_from_sql_null(empty_url: str) -> None:
    engine = make_engine(empty_url)
    ScratchBase.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(ScratchRow(id=1, document={"a": [1, "x"]}, nullable={}))
        session.add(ScratchRow(id=2, document=None, nullable=None))
    with engine.connect() as conn:
        rows = conn.execute(select(ScratchRow.__table__).order_by(ScratchRow.id)).all()
        sql_nulls = conn.execute(
            text("SELECT document IS NULL, nullable IS NULL FROM scratch_json WHERE id = 2")
        ).one()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, {"a": [1, "x"]}, {}), (2, None, None)]
    assert tuple(sql_nulls) == (False, True)  # JSON null in `document`, SQL NULL in `nullable`


def test_json_columns_are_jsonb_on_postgresql(empty_pg_url: str) -> None:
    engine = make_engine(empty_pg_url)
    ScratchBase.metadata.create_all(engine)
    with engine.connect() as conn:
        types = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'scratch_json' AND column_name <> 'id'"
            )
        ).scalars()
        assert list(types) == ["jsonb", "jsonb"]
    engine.dispose()
