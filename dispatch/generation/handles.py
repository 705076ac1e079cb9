"""Provider handles for generation jobs: one per (team, provider), built on first use around
one HTTP client the caller owns (the gateway's lifespan, a flow run), kept until it closes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter
from adapters.registry import create_adapter
from dispatch.keyed_call import CallPolicy
from dispatch.providers import ProviderHandle
from registry.domain import Provider, Team
from registry.keys import MasterKeyring
from registry.providers import ProviderRepository


class HandleSource(Protocol):
    def handle(self, team: Team, provider: str) -> ProviderHandle:
        """The team's handle on a catalog provider (registry NotFoundError if unknown)."""
        ...

    def adapter(self, provider: str) -> Adapter:
        """The provider's adapter alone: what reading a webhook needs (no team, no key)."""
        ...


@dataclass
class ProviderHandles:
    sessions: sessionmaker[Session]
    keyring: MasterKeyring | None
    client: httpx.AsyncClient
    data_dir: Path
    policy: CallPolicy = field(default_factory=CallPolicy)
    _adapters: dict[str, tuple[Provider, Adapter]] = field(default_factory=dict, init=False)
    _handles: dict[tuple[int, str], ProviderHandle] = field(default_factory=dict, init=False)

    def handle(self, team: Team, provider: str) -> ProviderHandle:
        key = (team.id, provider)
        handle = self._handles.get(key)
        if handle is None:
            row, adapter = self._adapter(provider)
            handle = ProviderHandle(row, adapter, self.sessions, team, self.keyring, self.policy)
            self._handles[key] = handle
        return handle

    def adapter(self, provider: str) -> Adapter:
        return self._adapter(provider)[1]

    def _adapter(self, provider: str) -> tuple[Provider, Adapter]:
        found = self._adapters.get(provider)
        if found is None:
            with self.sessions.begin() as session:
                row = ProviderRepository(session).get(provider)
            adapter = create_adapter(
                row.kind,
                base_url=row.base_url,
                options=row.options,
                http_client=self.client,
                data_dir=self.data_dir,
            )
            found = self._adapters[provider] = (row, adapter)
        return found


__all__ = ["HandleSource", "ProviderHandles"]
