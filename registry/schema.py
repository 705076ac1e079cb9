"""Schema migration: upgrade to head, read the current revision, refuse a stale schema.

Importing Alembic costs more than a read command's whole budget, so checking the schema
does without it: the head comes from the scripts' `revision` lines (a test holds it equal
to Alembic's) and the current revision from the `alembic_version` table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from registry.errors import SchemaOutOfDateError, translate_database_errors

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
_REVISION_LINE = re.compile(
    r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE
)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The one revision no other migration revises."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        lines = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        if "revision" in lines:
            revisions.add(lines["revision"])
            revised.add(lines.get("down_revision", ""))
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads or 'none'}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with translate_database_errors("reading the schema revision"), engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Migrate to `target`; returns (revision before, revision after)."""
    from alembic import command

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
