"""Schema migration: upgrade to head, read the current revision, refuse a stale schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from registry.errors import SchemaOutOfDateError, translate_database_errors

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    with translate_database_errors("reading the schema revision"), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Migrate to `target`; returns (revision before, revision after)."""
    before = current_revision(engine)
    config = _alembic_config()
    with translate_database_errors("migrating the schema"), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, target)
    return before, current_revision(engine) or target


def ensure_current(engine: Engine) -> None:
    """Raise unless the database is at the migration head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = "empty (never migrated)" if current is None else f"at revision {current}"
        raise SchemaOutOfDateError(
            f"the database schema is {where} but this modelops expects {head}; "
            "run `modelops db upgrade`"
        )
