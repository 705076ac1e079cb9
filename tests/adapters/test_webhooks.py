"""Webhook signatures: Standard Webhooks (published test vector) and the Kie task signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from adapters.errors import InvalidSignatureError
from adapters.webhooks import verify_kie_signature, verify_standard_webhook

# The Standard Webhooks specification's published test vector (standard-webhooks repository,
# reference libraries' tests): secret, id, timestamp, body and the expected signature.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(signature: str = SIGNATURE, stamp: int = STAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_standard_webhook_reference_vector_verifies() -> None:
    assert verify_standard_webhook(_headers(), BODY, SECRET, now=STAMP + 10) == MSG_ID


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    headers = _headers(f"v1,bm90LXRoZS1yaWdodC1vbmU= {SIGNATURE}")
    assert verify_standard_webhook(headers, BODY, SECRET, now=STAMP) == MSG_ID


@pytest.mark.parametrize(
    ("headers", "body", "now"),
    [
        (_headers(), b'{"test": 2432232315}', STAMP),  # body changed
        (_headers("v1,AAAA"), BODY, STAMP),  # wrong signature
        (_headers(), BODY, STAMP + 301),  # too old: replay
        (_headers(), BODY, STAMP - 301),  # from the future
        ({"webhook-id": MSG_ID}, BODY, STAMP),  # headers missing
    ],
)
def test_standard_webhook_refuses_tampering_and_replay(
    headers: dict[str, str], body: bytes, now: int
) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_standard_webhook(headers, body, SECRET, now=now)


def _kie_signature(task_id: str, stamp: str, key: str) -> str:
    digest = hmac.new(key.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_kie_signature_over_task_id_and_timestamp_verifies() -> None:
    headers = {
        "X-Webhook-Timestamp": "1700000000",
        "X-Webhook-Signature": _kie_signature("task_1", "1700000000", "hmac-key"),
    }
    verify_kie_signature(headers, "task_1", "hmac-key", now=1700000005)


def test_kie_signature_for_another_task_or_key_is_refused() -> None:
    headers = {
        "x-webhook-timestamp": "1700000000",
        "x-webhook-signature": _kie_signature("task_1", "1700000000", "hmac-key"),
    }
    with pytest.raises(InvalidSignatureError):
        verify_kie_signature(headers, "task_2", "hmac-key", now=1700000000)
    with pytest.raises(InvalidSignatureError):
        verify_kie_signature(headers, "task_1", "other-key", now=1700000000)
    with pytest.raises(InvalidSignatureError):
        verify_kie_signature(headers, "task_1", "hmac-key", now=1700000000 + 3600)
