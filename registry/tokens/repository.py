"""Team API tokens: create (shown once), list, revoke; and, for the gateway, authenticate a
presented token and record when tokens were last used, in batches.

Only the SHA-256 of a token is stored. A token carries 32 random bytes, so its hash is a
safe lookup key: finding it is an index probe on the digest, and no comparison of secret
bytes happens in Python whose timing could leak how much of a guess matched.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import SecretStr
from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from registry import notifications
from registry.domain import Team
from registry.errors import InvalidInputError, NotFoundError, translate_database_errors
from registry.orm import utcnow
from registry.tables import TeamRow
from registry.tokens.domain import ApiToken, CreatedToken, Scope, TokenPrincipal
from registry.tokens.tables import ApiTokenRow

TOKEN_PREFIX = "mo_"
TOKEN_BYTES = 32
TOKEN_CHARS = len(TOKEN_PREFIX) + 43  # urlsafe base64 of 32 bytes, unpadded
MAX_LABEL_CHARS = 64
DEFAULT_SCOPES = (Scope.INVOKE,)


def token_digest(token: str) -> str:
    """SHA-256 hex of a token: what is stored, and what a cache should key on."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Scopes in a stable order, duplicates dropped; an unknown one is an error naming all."""
    chosen = set()
    for value in values:
        try:
            chosen.add(Scope(value.strip().lower()))
        except ValueError:
            allowed = ", ".join(scope.value for scope in Scope)
            raise InvalidInputError(
                f"{value!r} is not a token scope; allowed: {allowed}", field="scope"
            ) from None
    return [scope for scope in Scope if scope in chosen]


class TokenRepository:
    """Tokens of one team; another team's are invisible. Never commits."""

    def __init__(self, session: Session, team: Team) -> None:
        self._session = session
        self._team = team

    def create(self, label: str, scopes: Iterable[Scope] = DEFAULT_SCOPES) -> CreatedToken:
        label = _check_label(label)
        chosen = parse_scopes(scopes) or list(DEFAULT_SCOPES)
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        if self._live_label(label):
            raise InvalidInputError(
                f"team {self._team.name!r} already has a live token labelled {label!r}; pick "
                "another label or revoke that token first",
                field="label",
            )
        row = ApiTokenRow(
            team_id=self._team.id,
            label=label,
            scopes=[scope.value for scope in chosen],
            token_sha256=token_digest(token),
            created_at=utcnow(),
        )
        with translate_database_errors(f"creating token {label!r}"):
            self._session.add(row)
            self._session.flush()
        self._notify(row, "create")
        return CreatedToken(token=SecretStr(token), details=_view(row))

    def list(self) -> builtins.list[ApiToken]:
        rows = self._session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.team_id == self._team.id).order_by(ApiTokenRow.id)
        )
        return [_view(row) for row in rows]

    def revoke(self, token_id: int) -> ApiToken:
        """Revoke for good; revoking a revoked token changes nothing."""
        row = self._session.scalar(
            select(ApiTokenRow)
            .where(ApiTokenRow.team_id == self._team.id, ApiTokenRow.id == token_id)
            .with_for_update()
        )
        if row is None:
            raise NotFoundError(
                f"no token {token_id} in team {self._team.name!r}; see `modelops tokens list`"
            )
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            self._session.flush()
            self._notify(row, "revoke")
        return _view(row)

    def _live_label(self, label: str) -> bool:
        found = self._session.scalar(
            select(ApiTokenRow.id).where(
                ApiTokenRow.team_id == self._team.id,
                ApiTokenRow.label == label,
                ApiTokenRow.revoked_at.is_(None),
            )
        )
        return found is not None

    def _notify(self, row: ApiTokenRow, action: Literal["create", "revoke"]) -> None:
        notice = notifications.TokenNotice(team_id=row.team_id, token_id=row.id, action=action)
        notifications.send(self._session, notice)


def authenticate(session: Session, token: str) -> TokenPrincipal | None:
    """Who `token` speaks for, or None if it is malformed, unknown or revoked.

    Not scoped by team: the token is how the team is found (the gateway's only way in).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) != TOKEN_CHARS:
        return None
    found = session.execute(
        select(ApiTokenRow, TeamRow.name)
        .join(TeamRow, TeamRow.id == ApiTokenRow.team_id)
        .where(ApiTokenRow.token_sha256 == token_digest(token), ApiTokenRow.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    row, team = found
    return TokenPrincipal(
        team=Team(id=row.team_id, name=team),
        token_id=row.id,
        scopes=frozenset(Scope(scope) for scope in row.scopes),
    )


def touch_last_used(session: Session, last_used: Mapping[int, datetime]) -> None:
    """Record when tokens were last used, in one batched UPDATE; a time only ever moves
    later. The gateway collects these in memory and calls this every few seconds, never
    per request. Ids come from `authenticate`, so no team is needed."""
    if not last_used:
        return
    # Core, not ORM, UPDATE: the ORM would treat a parameter list as a bulk update by key.
    table = ApiTokenRow.__table__
    assert isinstance(table, Table)
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("token_id"),
            or_(table.c.last_used_at.is_(None), table.c.last_used_at < bindparam("used_at")),
        )
        .values(last_used_at=bindparam("used_at"))
    )
    params = [{"token_id": token_id, "used_at": at} for token_id, at in sorted(last_used.items())]
    with translate_database_errors("recording token use"):
        session.execute(statement, params)


def _check_label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise InvalidInputError(
            f"label must be 1 to {MAX_LABEL_CHARS} printable characters", field="label"
        )
    if label.startswith(TOKEN_PREFIX):
        raise InvalidInputError(
            f"label must not start with {TOKEN_PREFIX!r}: labels are shown, tokens never",
            field="label",
        )
    return label


def _view(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        label=row.label,
        scopes=[Scope(scope) for scope in row.scopes],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
