"""Wiring for entry points: settings → database, with the schema checked.

Only a caller that means to create the database (`db upgrade`, the demo) may; everything
else is told where it looked, so a mistyped MODELOPS_DATA_DIR never yields an empty one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from modelops.settings import ConfigurationError, Settings
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


def open_runtime(settings: Settings, *, check_schema: bool = True, create: bool = False) -> Runtime:
    """Connect to the configured database; with `create`, an SQLite file may be made."""
    path = sqlite_file(settings.resolved_database_url)
    if path is not None:
        variable = "MODELOPS_DATABASE_URL" if settings.database_url else "MODELOPS_DATA_DIR"
        if create:
            _make_directory(path.parent, variable)
        elif not _exists(path, variable):
            raise ConfigurationError(
                f"there is no database at {path}: run `modelops db upgrade` to create it, "
                f"or set {variable} to where it is"
            )
    database = Database.open(settings.resolved_database_url, check_schema=check_schema)
    return Runtime(settings=settings, database=database)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, or None (another backend, or in memory)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _make_directory(directory: Path, variable: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"{variable}: cannot create the directory {directory} ({exc.strerror or exc})"
        ) from None


def _exists(path: Path, variable: str) -> bool:
    try:
        return path.is_file()
    except OSError as exc:
        problem = exc.strerror or str(exc)
        raise ConfigurationError(f"{variable}: cannot read {path} ({problem})") from None
