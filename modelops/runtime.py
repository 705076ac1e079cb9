"""Wiring for entry points: settings → engine → sessions, with the schema checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelops.settings import Settings
from registry.db import make_engine, make_session_factory
from registry.domain import Team
from registry.errors import NotFoundError
from registry.schema import ensure_current
from registry.teams import TeamRepository


@dataclass
class Runtime:
    """What a command needs: settings, an engine and a session factory."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = make_session_factory(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def team(self, session: Session, *, create: bool = False) -> Team | None:
        teams = TeamRepository(session)
        return teams.ensure(self.settings.team) if create else teams.find(self.settings.team)

    def require_team(self, session: Session) -> Team:
        team = self.team(session)
        if team is None:
            raise NotFoundError(
                f"team {self.settings.team!r} has no models yet; "
                "check MODELOPS_TEAM or run `modelops catalog sync`"
            )
        return team

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings, *, check_schema: bool = True) -> Runtime:
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    if check_schema:
        ensure_current(engine)
    return Runtime(settings=settings, engine=engine)
