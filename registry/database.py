"""A database handle for entry points: engine, sessions, one transaction per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.db import make_engine, make_session_factory
from registry.domain import Team
from registry.errors import NotFoundError
from registry.schema import ensure_current
from registry.teams import TeamRepository


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = make_session_factory(self.engine)

    @classmethod
    def open(cls, url: str, *, check_schema: bool = True) -> Database:
        """Connect; unless told otherwise, refuse a schema that is not at the migration head."""
        engine = make_engine(url)
        if check_schema:
            ensure_current(engine)
        return cls(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()


def require_team(session: Session, name: str) -> Team:
    team = TeamRepository(session).find(name)
    if team is None:
        raise NotFoundError(
            f"team {name!r} has no models yet; check MODELOPS_TEAM or run `modelops catalog sync`"
        )
    return team
