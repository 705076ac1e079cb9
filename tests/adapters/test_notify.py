"""adapters.notify: what goes on the wire for each channel kind, checked against the
reference `standardwebhooks` package and PagerDuty's Events API v2 fields, and the status
rule checked for every status code."""

from __future__ import annotations

import base64
import json
import logging
import time

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError

from adapters.errors import InvalidSignatureError
from adapters.notify import Message, Target, Verdict, classify, send
from adapters.notify.formats import pagerduty, slack, webhook
from adapters.webhooks import sign_standard_webhook, verify_standard_webhook
from tests.fakes.server import Fault
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
ALERT = {
    "team": "default",
    "reason": "first firing",
    "alert": {
        "id": 7,
        "rule": "error-rate",
        "state": "firing",
        "severity": "critical",
        "labels": {"alertname": "error-rate", "model": "m", "endpoint": "m-prod", "version": "3"},
        "annotations": {"summary": "error_rate 12% > 5% <b>&</b>"},
        "starts_at": "2026-12-01T12:00:00+00:00",
        "dedup_key": "modelops/default/abc/7",
        "level": 1,
        "value": 0.12,
    },
}


def _target(kind: str, secret: str = SECRET, url: str = "https://hooks.example.com/x") -> Target:
    return Target(kind, url, SecretStr(secret), url)


def test_standard_webhooks_test_vector_signs_as_the_spec_says() -> None:
    # The spec's published example (standard-webhooks/libraries test vector).
    headers = sign_standard_webhook(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        b'{"test": 2432232314}',
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        timestamp=1614265330,
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_notification_verifies_with_the_reference_library() -> None:
    message = Message("msg_0123", "alert.firing", ALERT)
    [post] = webhook(_target("webhook"), message, time.time())
    assert Webhook(SECRET).verify(post.body, post.headers) == {
        "type": "alert.firing",
        "timestamp": json.loads(post.body)["timestamp"],
        "data": ALERT,
    }
    assert post.headers["webhook-id"] == "msg_0123"
    assert verify_standard_webhook(post.headers, post.body, SECRET) == "msg_0123"


def test_a_tampered_body_or_a_stale_timestamp_is_refused_by_both_verifiers() -> None:
    message = Message("msg_0123", "alert.firing", ALERT)
    [post] = webhook(_target("webhook"), message, time.time())
    tampered = post.body.replace(b'"critical"', b'"info"')
    [stale] = webhook(_target("webhook"), message, time.time() - 600)
    for body, headers in ((tampered, post.headers), (stale.body, stale.headers)):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(body, headers)
        with pytest.raises(InvalidSignatureError):
            verify_standard_webhook(headers, body, SECRET)
    other = "whsec_" + base64.b64encode(b"another secret of 24+ bytes!").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(post.body, post.headers)


def test_slack_gets_one_escaped_line_of_text() -> None:
    [post] = slack(_target("slack"), Message("msg_1", "alert.firing", ALERT), 0)
    assert json.loads(post.body) == {
        "text": "[FIRING] critical error-rate on m-prod v3: error_rate 12% &gt; 5% "
        "&lt;b&gt;&amp;&lt;/b&gt; (first firing)"
    }


def test_pagerduty_triggers_acknowledges_and_resolves_one_dedup_key() -> None:
    key = "R0UT1NGKEY0123456789abcdefABCDEF"
    events = []
    for kind in ("alert.firing", "alert.acknowledged", "alert.resolved"):
        [post] = pagerduty(_target("pagerduty", key), Message("msg_2", kind, ALERT), 0)
        events.append(json.loads(post.body))
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {"modelops/default/abc/7"}
    assert {e["routing_key"] for e in events} == {key}
    payload = events[0]["payload"]
    # The Events API v2 required payload fields, and severity from its four.
    assert {"summary", "source", "severity"} <= set(payload)
    assert payload["severity"] == "critical" and payload["source"] == "m-prod"
    assert payload["group"] == "m-prod" and payload["class"] == "error-rate"
    assert "payload" not in events[1] and "payload" not in events[2]


def test_a_pagerduty_channel_test_opens_and_closes_its_own_incident() -> None:
    key = "R0UT1NGKEY0123456789abcdefABCDEF"
    message = Message("msg_3", "channel.test", {"team": "default", "channel": "pd"})
    posts = pagerduty(_target("pagerduty", key), message, 0)
    actions = [(json.loads(p.body)["event_action"], json.loads(p.body)["dedup_key"]) for p in posts]
    assert actions == [("trigger", "modelops-test/msg_3"), ("resolve", "modelops-test/msg_3")]


STATUSES = {
    Verdict.DELIVERED: (200, 202, 204),
    Verdict.GONE: (410,),
    Verdict.RETRY: (408, 429, 500, 502, 503, 504),
    Verdict.REFUSED: (301, 400, 401, 403, 404, 413, 422),
}


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(status, verdict) for verdict, statuses in STATUSES.items() for status in statuses],
)
def test_what_a_receiver_status_means(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_every_status_code_has_exactly_one_meaning() -> None:
    seen = {status: classify(status) for status in range(100, 600)}
    assert {s for s, v in seen.items() if v is Verdict.DELIVERED} == set(range(200, 300))
    assert {s for s, v in seen.items() if v is Verdict.RETRY} == {408, 429, *range(500, 600)}
    assert {s for s, v in seen.items() if v is Verdict.GONE} == {410}


def test_a_slack_url_never_appears_in_what_a_failure_says() -> None:
    with WebhookReceiver() as hooks:
        url = f"{hooks.url}/hooks/T0-B0-SECRETSECRETSECRET"
        shown = f"{hooks.url}/…"
        hooks.script(None, Fault(status=404, message=f"no hook at {url}"))
        target = Target("slack", url, SecretStr(url), shown)
        with httpx.Client() as client:
            result = send(client, target, Message("msg_4", "alert.firing", ALERT))
    assert result.verdict is Verdict.REFUSED
    assert "SECRETSECRET" not in result.detail
    assert result.detail == f"HTTP 404 from {shown}: no hook at [redacted]"


def test_a_slack_url_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    with WebhookReceiver() as hooks:
        url = f"{hooks.url}/hooks/T0-B0-SECRETSECRETSECRET"
        target = Target("slack", url, SecretStr(url), f"{hooks.url}/…")
        with caplog.at_level(logging.DEBUG), httpx.Client() as client:
            result = send(client, target, Message("msg_5", "alert.firing", ALERT))
    assert result.verdict is Verdict.DELIVERED
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert "SECRETSECRET" not in caplog.text  # ...without the credential in it
