"""Enrolled approvers for tests, and their authenticator apps (codes computed from the secret)."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.orm import Session

from modelops.settings import parse_master_keys
from registry.approvers.repository import ApproverRepository
from registry.approvers.totp import code_at
from registry.domain import Team
from registry.keys.crypto import MasterKeyring, new_master_key

MASTER_KEY = new_master_key()


def ring() -> MasterKeyring:
    return MasterKeyring(parse_master_keys(MASTER_KEY))


def enrol(session: Session, team: Team, *names: str) -> dict[str, str]:
    """Enrol `names`; returns each one's secret (what their authenticator app holds)."""
    approvers = ApproverRepository(session, team, ring())
    return {name: approvers.enroll(name).secret.get_secret_value() for name in names}


def code(secret: str, at: datetime | None = None) -> str:
    """The code the app shows at `at` (now by default)."""
    return code_at(secret, at.timestamp() if at else time.time())
