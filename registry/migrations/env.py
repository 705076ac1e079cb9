"""Alembic environment: runs migrations on the connection `registry.schema` hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

import registry.all_tables  # noqa: F401  (registers every table on Base.metadata)
from registry.orm import Base, JsonDocumentType, UTCDateTime

config = context.config


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application types: render them as plain SQL types.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, JsonDocumentType):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        null = "none_as_null=True, " if obj.none_as_null else ""
        return (
            f"sa.JSON({null.rstrip(', ')}).with_variant("
            f'postgresql.JSONB({null}astext_type=sa.Text()), "postgresql")'
        )
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `modelops db upgrade`, not the alembic CLI")
_run(connection)
