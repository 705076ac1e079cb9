"""What the key pool hands out: statuses, outcomes, key views, leases, cooldowns, events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import SecretStr

from registry.domain import Frozen, JsonObject


class KeyStatus(StrEnum):
    ACTIVE = "active"
    COOLING = "cooling"  # rate-limited or timing out until cooldown_until; eligible after it
    DISABLED = "disabled"  # only an operator (`modelops keys enable`) brings it back


class KeyOutcome(StrEnum):
    """What one provider call said about the key, the model or the request.

    The registry does not import adapters; the caller maps its error taxonomy onto this.
    """

    RATE_LIMITED = "rate_limited"  # cool the key until Retry-After or a backoff
    KEY_SCOPED = "key_scoped"  # revoked, forbidden, out of quota: disable the key
    MODEL_SCOPED = "model_scoped"  # 5xx, overloaded: cool the model on the provider
    REQUEST_SCOPED = "request_scoped"  # the request was wrong: cool nothing
    TRANSIENT = "transient"  # a blip: count it, cool nothing
    TIMED_OUT = "timed_out"  # no answer in time: count it; N in a row cool the key
    UNREACHABLE = "unreachable"  # the provider is not reachable: cool the model, never the key


class KeyEventKind(StrEnum):
    ADDED = "added"
    COOLED = "cooled"
    DISABLED = "disabled"
    ENABLED = "enabled"
    REWRAPPED = "rewrapped"


class ProviderKey(Frozen):
    """A key as operators see it: never the secret, only its last four characters."""

    id: int
    provider: str
    label: str
    last4: str
    priority: int
    status: KeyStatus  # effective: a cooling key whose deadline passed reads as active
    cooldown_until: datetime | None
    disabled_reason: str | None
    error_count: int  # failures charged to the key since its last success
    # Rate limits, or timeouts in a row, since its last success (the cooldown's exponent).
    consecutive_failures: int
    request_count: int
    success_count: int
    last_used_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error_class: str | None
    kek_version: str
    created_at: datetime


class LeasedKey(Frozen):
    """A key picked for one call. `credential` is the secret; its repr is masked."""

    key_id: int
    provider: str
    label: str
    last4: str
    priority: int
    cooldown_until: datetime | None  # set when a pinned key is fetched while cooling
    credential: SecretStr


class ModelCooldown(Frozen):
    provider: str
    model: str
    cooldown_until: datetime
    reason: str
    consecutive_failures: int


class RecordedFailure(Frozen):
    """What `record_failure` changed, so the caller knows what to avoid and until when."""

    key_id: int
    outcome: KeyOutcome
    key_status: KeyStatus
    key_cooldown_until: datetime | None = None
    model_cooldown_until: datetime | None = None


class KeyEvent(Frozen):
    id: int
    key_id: int
    kind: KeyEventKind
    detail: JsonObject
    at: datetime
