"""Migrations build the schema from empty on both backends, with no drift from the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Index, inspect, text

import registry.all_tables  # noqa: F401  (every table on Base.metadata)
from registry.database import make_engine
from registry.errors import SchemaOutOfDateError
from registry.orm import Base
from registry.schema import current_revision, ensure_current, head_revision, upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("empty_pg_url"))


def test_upgrade_from_empty_reaches_head_and_is_repeatable(empty_url: str) -> None:
    engine = make_engine(empty_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == (None, head_revision())
    assert upgrade(engine) == (head_revision(), head_revision())
    assert {"models", "model_versions", "stage_ledger", "approvals"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_migrated_schema_matches_the_orm_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        drift = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert drift == []


PARTIAL_INDEXES = {
    "uq_model_versions_one_production",
    "uq_alerts_one_open",
    "uq_approver_enrolments_one_live",
    "uq_api_tokens_live_label",
}


def test_partial_indexes_select_the_rows_their_models_declare(empty_url: str) -> None:
    """Alembic compares no index predicate: the models' `info["where"]` is held to the schema."""
    declared = [
        index
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if "where" in index.info
    ]
    assert {index.name for index in declared} == PARTIAL_INDEXES
    engine = make_engine(empty_url)
    upgrade(engine)
    with engine.connect() as conn:
        for index in declared:
            assert _migrated_predicate(conn, index.name) == _declared_predicate(conn, index), (
                index.name
            )
    engine.dispose()


def _migrated_predicate(conn: Connection, name: str | None) -> str:
    if conn.dialect.name == "sqlite":
        sql = conn.scalar(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
            {"name": name},
        )
        return str(sql).split(" WHERE ", 1)[1]
    return str(
        conn.scalar(
            text(
                "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name"
            ),
            {"name": name},
        )
    )


def _declared_predicate(conn: Connection, index: Index) -> str:
    """The predicate as the backend spells it: SQLite keeps the text; PostgreSQL rewrites
    it, so a scratch index is made with it (then rolled back) to read it back."""
    where = str(index.info["where"])
    if conn.dialect.name == "sqlite":
        return where
    assert index.table is not None
    columns = ", ".join(column.name for column in index.columns)
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f"CREATE INDEX scratch ON {index.table.name} ({columns}) WHERE {where}"))
        return _migrated_predicate(conn, "scratch")
    finally:
        savepoint.rollback()


def test_a_stale_schema_is_refused_with_the_command_to_run(empty_url: str) -> None:
    engine = make_engine(empty_url)
    with pytest.raises(SchemaOutOfDateError, match="run `modelops db upgrade`"):
        ensure_current(engine)
    upgrade(engine)
    ensure_current(engine)
    engine.dispose()


def test_0009_gives_minutes_folded_before_it_their_sum_of_squared_costs(empty_url: str) -> None:
    """Rollup rows written at 0008 get cost_sum_sq_micro_usd2 from their raw outcomes."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = make_engine(empty_url)
    upgrade(engine, "0008")
    minute = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    costs = {(1, 0): 30, (1, 20): 40, (2, 5): 7}  # (version, second): cost
    with engine.begin() as conn:
        for (version, second), cost in costs.items():
            conn.execute(
                text(
                    "INSERT INTO outcomes (request_id, team_id, endpoint_id, model_version_id, "
                    "at, latency_us, success, input_tokens, output_tokens, cached_input_tokens, "
                    "cost_micro_usd) VALUES (:id, 1, 1, :v, :at, 1000, true, 0, 0, 0, :cost)"
                ),
                {"id": f"r{version}-{second}", "v": version, "cost": cost,
                 "at": minute.replace(second=second)},
            )  # fmt: skip
        for version in (1, 2, 3):  # v3's minute has no raw rows left: its sum stays 0
            conn.execute(
                text(
                    "INSERT INTO outcome_rollups VALUES (1, 1, :minute, :v, 1, 1, 0, 0, 0, 0, "
                    "0, 0, 0, 0, 0, 0, 0, 0)"
                ),
                {"minute": minute, "v": version},
            )
    upgrade(engine)
    with engine.connect() as conn:
        found = dict(
            conn.execute(
                text("SELECT model_version_id, cost_sum_sq_micro_usd2 FROM outcome_rollups")
            ).all()
        )
    engine.dispose()
    assert {v: float(s) for v, s in found.items()} == {1: 30.0**2 + 40.0**2, 2: 49.0, 3: 0.0}
