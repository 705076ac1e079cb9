"""Sending notifications: a signed Standard Webhook, a Slack-compatible incoming webhook,
PagerDuty Events API v2. Pure: handed a target (URL and secret) and a message, `send` posts
it and reports what the receiver said; `classify` is the one rule for what a status means.
"""

from adapters.notify.messages import (
    DELIVERY_TIMEOUT_SECONDS,
    Message,
    SendResult,
    Target,
    Verdict,
    classify,
)
from adapters.notify.send import send

__all__ = [
    "DELIVERY_TIMEOUT_SECONDS",
    "Message",
    "SendResult",
    "Target",
    "Verdict",
    "classify",
    "send",
]
