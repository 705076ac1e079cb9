"""Migrations build the schema from empty on both backends, with no drift from the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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


def test_a_stale_schema_is_refused_with_the_command_to_run(empty_url: str) -> None:
    engine = make_engine(empty_url)
    with pytest.raises(SchemaOutOfDateError, match="run `modelops db upgrade`"):
        ensure_current(engine)
    upgrade(engine)
    ensure_current(engine)
    engine.dispose()
