"""Teams: the tenancy boundary every other repository is scoped by."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Team
from registry.tables import TeamRow


class TeamRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, name: str) -> Team | None:
        row = self._session.scalar(select(TeamRow).where(TeamRow.name == name))
        return None if row is None else Team(id=row.id, name=row.name)

    def ensure(self, name: str) -> Team:
        """Return the team, creating it on first sight (the catalog names teams)."""
        existing = self.find(name)
        if existing is not None:
            return existing
        row = TeamRow(name=name)
        self._session.add(row)
        self._session.flush()
        return Team(id=row.id, name=row.name)

    def list_names(self) -> list[str]:
        return list(self._session.scalars(select(TeamRow.name).order_by(TeamRow.name)))
