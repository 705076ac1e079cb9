"""Change notices for gateway caches: PostgreSQL NOTIFY sent inside the changing transaction,
so replicas that LISTEN hear of a change only once it commits (and never of a rollback).

On SQLite (one process, the embedded default) sending is a no-op.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session


class Channel(StrEnum):
    ENDPOINTS = "modelops_endpoints"  # an endpoint, its routes or its owner changed
    TOKENS = "modelops_tokens"  # a token was created or revoked
    KEYS = "modelops_keys"  # a provider key, or a model's cooldown on a provider, changed


class _Notice(BaseModel):
    # Fields a newer sender adds are ignored, so replicas can be upgraded one at a time.
    model_config = ConfigDict(frozen=True, extra="ignore")


class EndpointNotice(_Notice):
    """Re-read endpoint `endpoint_id`; `revision` lets a cache skip a stale or repeated notice."""

    kind: Literal["endpoint"] = "endpoint"
    team_id: int
    endpoint_id: int
    name: str
    revision: int
    action: str


class TokenNotice(_Notice):
    """Drop (or re-read) token `token_id` from a cache."""

    kind: Literal["token"] = "token"
    team_id: int
    token_id: int
    action: Literal["create", "revoke"]


KeyAction = Literal["add", "cool", "disable", "enable", "rewrap", "cool_model"]


class KeyNotice(_Notice):
    """Re-read key `key_id` of the team on provider `provider_id`, or, for `cool_model`,
    that provider's cooldown of `model`. Ids and names only: never a secret, label or reason."""

    kind: Literal["key"] = "key"
    team_id: int
    provider_id: int
    key_id: int | None = None
    model: str | None = None
    action: KeyAction


Notice = EndpointNotice | TokenNotice | KeyNotice
_CHANNEL_OF: dict[type[_Notice], Channel] = {
    EndpointNotice: Channel.ENDPOINTS,
    TokenNotice: Channel.TOKENS,
    KeyNotice: Channel.KEYS,
}


def send(session: Session, notice: Notice) -> None:
    """Queue `notice` on its channel in the session's transaction; delivered at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return
    payload = notice.model_dump_json()
    session.execute(select(func.pg_notify(_CHANNEL_OF[type(notice)].value, payload)))


def parse(channel: str, payload: str) -> Notice | None:
    """The notice a LISTENing connection received, or None for one it cannot read (a newer
    sender's format, say); a cache should then re-read everything."""
    kinds: dict[str, type[EndpointNotice] | type[TokenNotice] | type[KeyNotice]] = {
        Channel.ENDPOINTS.value: EndpointNotice,
        Channel.TOKENS.value: TokenNotice,
        Channel.KEYS.value: KeyNotice,
    }
    kind = kinds.get(channel)
    if kind is None:
        return None
    try:
        return kind.model_validate(json.loads(payload))
    except (ValueError, ValidationError):
        return None
