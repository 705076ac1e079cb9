"""Wiring for entry points: settings → database, with the schema checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelops.settings import Settings
from registry.database import Database, require_team
from registry.domain import Team
from registry.teams import TeamRepository


@dataclass
class Runtime:
    """What a command needs: settings and the database they name."""

    settings: Settings
    database: Database

    @property
    def engine(self) -> Engine:
        return self.database.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.database.sessions

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.database.transaction() as session:
            yield session

    def team(self, session: Session, *, create: bool = False) -> Team | None:
        teams = TeamRepository(session)
        return teams.ensure(self.settings.team) if create else teams.find(self.settings.team)

    def require_team(self, session: Session) -> Team:
        return require_team(session, self.settings.team)

    def close(self) -> None:
        self.database.close()


def open_runtime(settings: Settings, *, check_schema: bool = True) -> Runtime:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database.open(settings.resolved_database_url, check_schema=check_schema)
    return Runtime(settings=settings, database=database)
