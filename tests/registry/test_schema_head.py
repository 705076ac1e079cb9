"""The schema check reads the head without Alembic; it must agree with Alembic's own."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from registry.database import make_engine
from registry.schema import MIGRATIONS_DIR, current_revision, head_revision


def test_the_head_read_from_the_scripts_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_the_current_revision_is_what_alembic_reads(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        expected = MigrationContext.configure(conn).get_current_revision()
    assert current_revision(engine) == expected == head_revision()
    engine.dispose()
