"""What a notification is, where it goes, and what its receiver's answer means."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import JsonValue, SecretStr

# Standard Webhooks asks senders to wait 15-30 s; an alert that takes longer is late anyway.
DELIVERY_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Message:
    """One notification: `id` is its `webhook-id` (the same on every retry), `type` what it
    is about (`alert.firing`, `model.promoted`, `channel.test`), `data` the facts."""

    id: str
    type: str
    data: Mapping[str, JsonValue]


@dataclass(frozen=True)
class Target:
    """Where to post. For Slack the URL is the secret, so only `shown_url` is ever printed."""

    kind: str  # webhook | slack | pagerduty
    url: str = field(repr=False)
    secret: SecretStr
    shown_url: str


class Verdict(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # 429, 5xx, 408, or no answer: try again later
    REFUSED = "refused"  # any other status: sending it again would not help
    GONE = "gone"  # 410: the receiver asks to stop (Standard Webhooks: disable the endpoint)


@dataclass(frozen=True)
class SendResult:
    verdict: Verdict
    status_code: int | None
    retry_after: float | None
    detail: str


def classify(status: int) -> Verdict:
    """The one rule for what a receiver's status means."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status == 410:
        return Verdict.GONE
    if status in (408, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.REFUSED
