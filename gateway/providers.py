"""A provider, ready to call: its adapter, an HTTP client, and the team's key pool.

`ProviderHandle.call` runs one operation through the pool (failover, cooldowns,
one time budget); `call_pinned` uses the key that created a job, which keeps
polling and cancel on the account that owns the job. The `local` provider needs
no key: its calls go straight to the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter, Credential
from adapters.registry import create_adapter
from gateway.keyed_call import Attempt, CallPolicy, KeyedCaller, KeyedResult
from registry.domain import Provider, Team
from registry.keys.crypto import MasterKeyring
from registry.keys.domain import LeasedKey
from registry.keys.pool import KeyPool
from registry.providers import ProviderRepository

T = TypeVar("T")

# Provider kinds whose calls need no API key.
KEYLESS_KINDS = frozenset({"local"})


@dataclass
class ProviderHandle:
    provider: Provider
    adapter: Adapter
    sessions: sessionmaker[Session]
    team: Team
    keyring: MasterKeyring
    policy: CallPolicy = field(default_factory=CallPolicy)

    @property
    def needs_key(self) -> bool:
        return self.provider.kind not in KEYLESS_KINDS

    async def call(
        self, operation: Callable[[Credential], Awaitable[T]], *, model: str | None = None
    ) -> KeyedResult[T]:
        """One call through the key pool (or directly, for a keyless provider)."""
        if not self.needs_key:
            value = await operation(Credential())
            return KeyedResult(value=value, key=None, attempts=[])
        caller = KeyedCaller(
            self.sessions, self.team, self.keyring, self.provider.name, model, self.policy
        )
        return await caller.call(operation)

    async def call_pinned(
        self, key_id: int | None, operation: Callable[[Credential], Awaitable[T]]
    ) -> T:
        """Call with one particular key (the one that created a job), whatever its cooldown."""
        if key_id is None or not self.needs_key:
            return await operation(Credential())
        with self.sessions.begin() as session:
            lease: LeasedKey = KeyPool(session, self.team, self.keyring).get_key_by_id(key_id)
        return await operation(Credential(api_key=lease.credential, key_id=str(lease.key_id)))


@asynccontextmanager
async def open_provider(
    sessions: sessionmaker[Session],
    team: Team,
    provider_name: str,
    *,
    keyring: MasterKeyring,
    data_dir: Path,
    policy: CallPolicy | None = None,
) -> AsyncIterator[ProviderHandle]:
    """Build the adapter for a catalog provider, with an HTTP client closed on exit."""
    with sessions.begin() as session:
        provider = ProviderRepository(session).get(provider_name)
    async with httpx.AsyncClient() as client:
        adapter = create_adapter(
            provider.kind,
            base_url=provider.base_url,
            options=provider.options,
            http_client=client,
            data_dir=data_dir,
        )
        yield ProviderHandle(provider, adapter, sessions, team, keyring, policy or CallPolicy())


__all__ = ["Attempt", "KeyedResult", "ProviderHandle", "open_provider"]
