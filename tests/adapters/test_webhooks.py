"""Webhook signatures: Standard Webhooks (published test vector) and the Kie task signature.

Expected signatures are literals from outside this code: the specification's own vector, and
for Kie one computed with OpenSSL, never with the formula under test.
"""

from __future__ import annotations

import pytest

from adapters.errors import InvalidSignatureError
from adapters.webhooks import verify_kie_signature, verify_standard_webhook

# The Standard Webhooks specification's published test vector: the reference Python
# library's `test_sign_function` (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, commit caacf51459e2b5ba9180be5ac8b4e1971b906d92).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(signature: str = SIGNATURE, stamp: int = STAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_standard_webhook_reference_vector_verifies() -> None:
    assert verify_standard_webhook(_headers(), BODY, SECRET, now=STAMP + 10) == MSG_ID


def test_the_whsec_prefix_of_the_secret_is_optional() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert verify_standard_webhook(_headers(), BODY, bare, now=STAMP) == MSG_ID


def test_entries_of_other_versions_are_skipped() -> None:
    # From the reference library's test_multi_sig_payload_is_valid.
    other = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    headers = _headers(f"v1,{other} v2,{other} {SIGNATURE} v1,{other}")
    assert verify_standard_webhook(headers, BODY, SECRET, now=STAMP) == MSG_ID
    with pytest.raises(InvalidSignatureError):  # a right value under another version
        verify_standard_webhook(_headers(SIGNATURE.replace("v1,", "v2,")), BODY, SECRET, now=STAMP)


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    headers = _headers(f"v1,bm90LXRoZS1yaWdodC1vbmU= {SIGNATURE}")
    assert verify_standard_webhook(headers, BODY, SECRET, now=STAMP) == MSG_ID


@pytest.mark.parametrize(
    ("headers", "body", "now"),
    [
        (_headers(), b'{"test": 2432232315}', STAMP),  # body changed
        (_headers("v1,AAAA"), BODY, STAMP),  # wrong signature
        # The reference library's test_invalid_signature_raises_error: one character off.
        (_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="), BODY, STAMP),
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


# `printf %s task_1.1700000000 | openssl dgst -sha256 -hmac hmac-key -binary | base64`
KIE_SIGNATURE = "RgmldjUbYIcLcFQXNzAjwYVO/ofztDAy7T9ySHnSb7Y="


def _kie(signature: str = KIE_SIGNATURE) -> dict[str, str]:
    return {"X-Webhook-Timestamp": "1700000000", "X-Webhook-Signature": signature}


def test_kie_signature_over_task_id_and_timestamp_verifies() -> None:
    assert verify_kie_signature(_kie(), "task_1", "hmac-key", now=1700000005) is None
    lower = {name.lower(): value for name, value in _kie().items()}  # header names: any case
    assert verify_kie_signature(lower, "task_1", "hmac-key", now=1700000005) is None


@pytest.mark.parametrize(
    ("headers", "task_id", "key", "now"),
    [
        (_kie(), "task_2", "hmac-key", 1700000000),  # another task
        (_kie(), "task_1", "other-key", 1700000000),  # another key
        (_kie(), "task_1", "hmac-key", 1700000000 + 301),  # too old: replay
        (_kie(KIE_SIGNATURE.replace("R", "S", 1)), "task_1", "hmac-key", 1700000000),
        ({"X-Webhook-Timestamp": "1700000000"}, "task_1", "hmac-key", 1700000000),
    ],
)
def test_kie_signature_for_another_task_key_time_or_value_is_refused(
    headers: dict[str, str], task_id: str, key: str, now: int
) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_kie_signature(headers, task_id, key, now=now)
