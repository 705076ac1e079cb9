"""Provider handles for the gateway: one per (team, provider), built on first use around the
one HTTP client the lifespan opened, and kept until the app closes."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.base import ChatAdapter, ChatStreamAdapter, ClassificationAdapter
from adapters.registry import (
    chat_adapter,
    chat_stream_adapter,
    classification_adapter,
    create_adapter,
)
from dispatch.key_pool_view import KeyPoolView
from dispatch.providers import CallPolicy, ProviderHandle
from gateway.routes import ServedModel
from registry.domain import Provider, Team
from registry.keys import MasterKeyring


class Upstreams:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        keyring: MasterKeyring | None,
        client: httpx.AsyncClient,
        data_dir: Path,
        policy: CallPolicy,
        pool_view: KeyPoolView | None = None,
    ) -> None:
        self._sessions = sessions
        self.keyring = keyring
        self._client = client
        self._data_dir = data_dir
        self._policy = policy
        self._pool_view = pool_view  # keys picked in memory: no database on a successful call
        self._handles: dict[tuple[int, str], ProviderHandle] = {}  # (team, provider signature)
        # isinstance against a runtime-checkable Protocol costs ~40 µs: once per handle.
        self._chat: dict[tuple[int, str], ChatAdapter] = {}
        self._classify: dict[tuple[int, str], ClassificationAdapter] = {}
        self._stream: dict[tuple[int, str], ChatStreamAdapter] = {}

    def key_states(self) -> dict[tuple[str, str], dict[str, int]]:
        """Keys per (team, provider) by state, as the key pool view holds them (/metrics)."""
        return {} if self._pool_view is None else self._pool_view.key_states()

    def chat(self, team: Team, model: ServedModel) -> tuple[ProviderHandle, ChatAdapter]:
        """The handle and its adapter as a chat adapter (UnsupportedCategoryError if not)."""
        handle = self.handle(team, model)
        key = (team.id, model.provider_signature)
        adapter = self._chat.get(key)
        if adapter is None:
            adapter = self._chat[key] = chat_adapter(handle.adapter)
        return handle, adapter

    def chat_stream(
        self, team: Team, model: ServedModel
    ) -> tuple[ProviderHandle, ChatStreamAdapter]:
        handle = self.handle(team, model)
        key = (team.id, model.provider_signature)
        adapter = self._stream.get(key)
        if adapter is None:
            adapter = self._stream[key] = chat_stream_adapter(handle.adapter)
        return handle, adapter

    def classifier(
        self, team: Team, model: ServedModel
    ) -> tuple[ProviderHandle, ClassificationAdapter]:
        handle = self.handle(team, model)
        key = (team.id, model.provider_signature)
        adapter = self._classify.get(key)
        if adapter is None:
            adapter = self._classify[key] = classification_adapter(handle.adapter)
        return handle, adapter

    def handle(self, team: Team, model: ServedModel) -> ProviderHandle:
        """The team's handle on the model's provider; an adapter that cannot be built raises
        adapters ConfigurationError."""
        key = (team.id, model.provider_signature)
        handle = self._handles.get(key)
        if handle is None:
            provider = Provider(
                id=model.provider_id,
                name=model.provider,
                kind=model.provider_kind,
                base_url=model.base_url,
                options=dict(model.provider_options),
                retired=False,
            )
            adapter = create_adapter(
                provider.kind,
                base_url=provider.base_url,
                options=provider.options,
                http_client=self._client,
                data_dir=self._data_dir,
            )
            handle = ProviderHandle(
                provider, adapter, self._sessions, team, self.keyring, self._policy, self._pool_view
            )
            self._handles[key] = handle
        return handle
