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


Notice = EndpointNotice | TokenNotice
_CHANNEL_OF: dict[type[_Notice], Channel] = {
    EndpointNotice: Channel.ENDPOINTS,
    TokenNotice: Channel.TOKENS,
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
    kinds: dict[str, type[EndpointNotice] | type[TokenNotice]] = {
        Channel.ENDPOINTS.value: EndpointNotice,
        Channel.TOKENS.value: TokenNotice,
    }
    kind = kinds.get(channel)
    if kind is None:
        return None
    try:
        return kind.model_validate(json.loads(payload))
    except (ValueError, ValidationError):
        return None
