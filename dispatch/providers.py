"""A provider, ready to call: its adapter, an HTTP client, and the team's key pool.

`ProviderHandle.call` runs one operation through the pool (failover, cooldowns, one time
budget); `call_pinned` uses the key that created a job, which keeps polling and cancel on the
account that owns the job. The `local` provider needs no key: its calls go straight to the
adapter, under the same budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import Adapter, Credential
from adapters.chat import ChatMessage, ChatRequest, Role
from adapters.errors import ProviderError
from adapters.registry import chat_adapter, create_adapter
from dispatch.key_pool_view import KeyPoolView
from dispatch.keyed_call import (
    Attempt,
    BudgetExhaustedError,
    CallFailedError,
    CallPolicy,
    KeyedCaller,
    KeyedResult,
    KeyRef,
    NoUsableKeyError,
    Operation,
)
from registry.domain import Provider, Team
from registry.keys import MasterKeyring
from registry.providers import ProviderRepository

T = TypeVar("T")

# Provider kinds whose calls need no API key.
KEYLESS_KINDS = frozenset({"local", "localmedia"})


@dataclass
class ProviderHandle:
    """One catalog provider for one team; `keyring` may be None only for keyless providers."""

    provider: Provider
    adapter: Adapter
    sessions: sessionmaker[Session]
    team: Team
    keyring: MasterKeyring | None
    policy: CallPolicy = field(default_factory=CallPolicy)
    # A process-wide view of the key pool (the gateway's): no database round trip on a
    # successful call. None: each call reads and writes the pool in the database.
    pool_view: KeyPoolView | None = None

    @property
    def needs_key(self) -> bool:
        return self.provider.kind not in KEYLESS_KINDS

    async def call(
        self,
        operation: Operation[T],
        *,
        model: str | None = None,
        attempts: list[Attempt] | None = None,
    ) -> KeyedResult[T]:
        """One call through the key pool (or directly, for a keyless provider).

        `model` is the provider model id: a model-scoped fault (5xx) cools it on every key.
        """
        if not self.needs_key:
            return KeyedResult(await self._keyless(operation), None, [])
        return await self._caller(model).call(operation, attempts=attempts)

    async def call_pinned(
        self, key_id: int | None, operation: Operation[T], *, model: str | None = None
    ) -> T:
        """Call with the key that created a job, whatever its cooldown; no failover.

        With no recorded key (`key_id` None) a keyed provider's call goes through the pool.
        """
        if not self.needs_key:
            return await self._keyless(operation)
        if key_id is None:
            return (await self.call(operation, model=model)).value
        return await self._caller(model).call_pinned(key_id, operation)

    def _caller(self, model: str | None) -> KeyedCaller:
        return KeyedCaller(
            self.sessions,
            self.team,
            self.keyring,
            self.provider.name,
            model,
            self.policy,
            self.pool_view,
        )

    async def _keyless(self, operation: Operation[T]) -> T:
        try:
            async with asyncio.timeout(self.policy.budget_seconds) as scope:
                return await operation(Credential())
        except TimeoutError:
            if not scope.expired():
                raise
            raise BudgetExhaustedError(
                f"{self.provider.name} did not answer within the call's "
                f"{self.policy.budget_seconds:g}s budget",
                [],
            ) from None


@dataclass(frozen=True)
class ProbeReport:
    """What one minimal real call found: which key answered, what the others met."""

    provider: str
    model: str
    needs_key: bool
    ok: bool
    answered_by: KeyRef | None
    attempts: list[Attempt]
    error: str | None = None


async def probe(handle: ProviderHandle, model: str) -> ProbeReport:
    """The smallest real call: a one-token chat with `model`, through the pool.

    Provider faults and exhausted keys become a report with `ok` False; an adapter without
    chat (generation only) raises UnsupportedCategoryError, as its smallest call is paid media.
    """
    chat = chat_adapter(handle.adapter)
    request = ChatRequest(
        model=model, messages=[ChatMessage(role=Role.USER, content="ping")], max_tokens=1
    )
    attempts: list[Attempt] = []
    report = ProbeReport(handle.provider.name, model, handle.needs_key, False, None, attempts)
    try:
        result = await handle.call(
            lambda credential: chat.chat(credential, request), model=model, attempts=attempts
        )
    except CallFailedError as exc:
        return replace(report, error=exc.summary)
    except ProviderError as exc:  # request-scoped, or any fault of a keyless provider
        return replace(report, error=str(exc))
    return replace(report, ok=True, answered_by=result.key)


@asynccontextmanager
async def open_provider(
    sessions: sessionmaker[Session],
    team: Team,
    provider_name: str,
    *,
    keyring: MasterKeyring | None,
    data_dir: Path,
    policy: CallPolicy | None = None,
    pool_view: KeyPoolView | None = None,
) -> AsyncIterator[ProviderHandle]:
    """Build the adapter for a catalog provider, with an HTTP client closed on exit.

    With `pool_view`, keys are picked from that shared view (see dispatch.key_pool_view);
    the caller owns it and closes it. An unknown provider raises registry NotFoundError
    listing the known ones.
    """
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
        yield ProviderHandle(
            provider, adapter, sessions, team, keyring, policy or CallPolicy(), pool_view
        )


__all__ = [
    "Attempt",
    "BudgetExhaustedError",
    "CallFailedError",
    "CallPolicy",
    "KeyPoolView",
    "KeyRef",
    "KeyedResult",
    "NoUsableKeyError",
    "ProbeReport",
    "ProviderHandle",
    "open_provider",
    "probe",
]
