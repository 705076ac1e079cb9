"""Signed webhooks: Standard Webhooks (signing what we send, verifying what providers send),
and verifying the Kie-style task signature.

Verifiers compare in constant time and refuse timestamps more than `tolerance` seconds away, so a
captured delivery cannot be replayed later; dedupe on the returned id is the receiver's job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

from adapters.errors import InvalidSignatureError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "sign_standard_webhook",
    "verify_kie_signature",
    "verify_standard_webhook",
]

DEFAULT_TOLERANCE_SECONDS = 300


def sign_standard_webhook(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(_standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_standard_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check `webhook-signature` over `{webhook-id}.{webhook-timestamp}.{body}`; return the id.

    The secret is `whsec_` + base64 (the prefix is optional). Several space-separated `v1,`
    signatures may be sent while a secret rotates; any one matching is enough.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lower.get("webhook-id", ""), lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise InvalidSignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    _check_timestamp(stamp, tolerance, now)
    signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(_standard_key(secret), signed, hashlib.sha256).digest())
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return msg_id
    raise InvalidSignatureError("no webhook-signature entry matches")


def verify_kie_signature(
    headers: Mapping[str, str],
    task_id: str,
    secret: str,
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
    expected = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest())
    if not hmac.compare_digest(signature.strip().encode(), expected):
        raise InvalidSignatureError("X-Webhook-Signature does not match")


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
        raise InvalidSignatureError("webhook timestamp is outside the tolerance window")
