"""Signed webhooks: verifying Standard Webhooks and the Kie-style task signature, and signing
Standard Webhooks of our own.

Verification compares in constant time and refuses timestamps more than `tolerance` seconds
away (`StaleWebhookError`), so a captured delivery cannot be replayed later; dedupe on the
returned id is the receiver's job. Several secrets may be given while one rotates: any one
that verifies is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence

from adapters.errors import InvalidSignatureError, StaleWebhookError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "new_webhook_secret",
    "sign_standard_webhook",
    "verify_kie_signature",
    "verify_standard_webhook",
]

DEFAULT_TOLERANCE_SECONDS = 300
SECRET_BYTES = 32  # the specification allows 24 to 64


def verify_standard_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check `webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}`; return the id.

    A secret is `whsec_` + base64 (the prefix is optional). The sender may put several
    space-separated `v1,` signatures in the header while its secret rotates, and the receiver
    may hold several secrets while it does: any one pair matching is enough.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise InvalidSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    _check_timestamp(stamp, tolerance, now)
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    offered = [
        value.encode()
        for version, _, value in (entry.partition(",") for entry in signatures.split())
        if version == "v1"
    ]
    for key in _secrets(secret):
        expected = base64.b64encode(hmac.new(_standard_key(key), signed, hashlib.sha256).digest())
        if any(hmac.compare_digest(value, expected) for value in offered):
            return msg_id
    raise InvalidSignatureError("no webhook-signature entry matches")


def sign_standard_webhook(
    msg_id: str, body: bytes, secrets: Sequence[str], *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, signed once with each secret (newest
    first), so a receiver holding any one of them verifies it during a rotation."""
    if not secrets:
        raise ValueError("signing a webhook needs at least one secret")
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    macs = [hmac.new(_standard_key(s), signed, hashlib.sha256).digest() for s in secrets]
    signature = " ".join(f"v1,{base64.b64encode(mac).decode()}" for mac in macs)
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def verify_kie_signature(
    headers: Mapping[str, str],
    task_id: str,
    secret: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check `X-Webhook-Signature` = base64(HMAC-SHA256(`{taskId}.{X-Webhook-Timestamp}`)).

    This scheme signs the task id and time, not the body: the receiver must still fetch or
    trust the body's result only for the task the signature names (docs.kie.ai).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    stamp, signature = lower.get("x-webhook-timestamp", ""), lower.get("x-webhook-signature", "")
    if not (stamp and signature):
        raise InvalidSignatureError("missing X-Webhook-Timestamp or X-Webhook-Signature")
    _check_timestamp(stamp, tolerance, now)
    message = f"{task_id}.{stamp}".encode()
    offered = signature.strip().encode()
    for key in _secrets(secret):
        expected = base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest())
        if hmac.compare_digest(offered, expected):
            return
    raise InvalidSignatureError("X-Webhook-Signature does not match")


def _secrets(secret: str | Sequence[str]) -> Sequence[str]:
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise InvalidSignatureError("no webhook secret is configured to verify with")
    return keys


def _standard_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignatureError("webhook secret is not whsec_ + base64") from exc


def _check_timestamp(stamp: str, tolerance: int, now: float | None) -> None:
    try:
        sent = int(stamp)
    except ValueError as exc:
        raise InvalidSignatureError("webhook timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        raise StaleWebhookError(
            f"webhook timestamp is {abs(current - sent):.0f}s from now, outside the "
            f"{tolerance}s tolerance window"
        )
