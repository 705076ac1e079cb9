"""Engines and the database handle for entry points: sessions, one transaction per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from registry.domain import Team
from registry.errors import NotFoundError
from registry.schema import ensure_current
from registry.teams import TeamRepository


def make_engine(url: str, *, pool: bool = True) -> Engine:
    """Create an engine; SQLite gets a busy timeout and IMMEDIATE transactions.

    SQLite upgrades a read lock to a write lock lazily and fails at once when two
    writers race; BEGIN IMMEDIATE makes the second writer wait instead.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, poolclass=NullPool)
        _make_sqlite_transactions_immediate(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pool:
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


def _make_sqlite_transactions_immediate(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


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
