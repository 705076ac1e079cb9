"""Providers as the catalog defined them (global: every team calls the same providers)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.domain import Provider
from registry.errors import NotFoundError
from registry.tables import ProviderRow


class ProviderRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def all(self, *, include_retired: bool = False) -> list[Provider]:
        query = select(ProviderRow).order_by(ProviderRow.name)
        if not include_retired:
            query = query.where(ProviderRow.retired_at.is_(None))
        return [_to_provider(row) for row in self._session.scalars(query)]

    def get(self, name: str) -> Provider:
        row = self._session.scalar(select(ProviderRow).where(ProviderRow.name == name))
        if row is None or row.retired_at is not None:
            known = ", ".join(p.name for p in self.all()) or "none (run `modelops catalog sync`)"
            raise NotFoundError(f"unknown provider {name!r}; known providers: {known}")
        return _to_provider(row)


def _to_provider(row: ProviderRow) -> Provider:
    return Provider(
        id=row.id,
        name=row.name,
        kind=row.kind,
        base_url=row.base_url,
        options=row.options,
        retired=row.retired_at is not None,
    )
