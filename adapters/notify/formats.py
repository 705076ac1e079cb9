"""The wire form of a message per channel kind: a Standard Webhooks POST (`{type,
timestamp, data}` signed over `{id}.{timestamp}.{body}`), a Slack `{"text"}` POST, and
PagerDuty Events API v2 events that trigger, acknowledge and resolve one `dedup_key`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import JsonValue

from adapters.notify.messages import Message, Target
from adapters.webhooks import sign_standard_webhook

JSON_HEADERS = {"content-type": "application/json"}
PAGERDUTY_ACTIONS = {
    "alert.firing": "trigger",
    "alert.acknowledged": "acknowledge",
    "alert.resolved": "resolve",
}
MAX_SUMMARY = 1024  # PagerDuty's limit on payload.summary


@dataclass(frozen=True)
class Post:
    url: str
    headers: dict[str, str]
    body: bytes


def _json(document: Mapping[str, JsonValue]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def webhook(target: Target, message: Message, now: float) -> list[Post]:
    stamp = int(now)
    sent_at = datetime.fromtimestamp(stamp, UTC).isoformat()
    body = _json({"type": message.type, "timestamp": sent_at, "data": dict(message.data)})
    signed = sign_standard_webhook(
        message.id, body, [target.secret.get_secret_value()], timestamp=stamp
    )
    return [Post(target.url, JSON_HEADERS | signed, body)]


def slack(target: Target, message: Message, now: float) -> list[Post]:
    text = text_of(message).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [Post(target.url, JSON_HEADERS, _json({"text": text}))]


def pagerduty(target: Target, message: Message, now: float) -> list[Post]:
    key = target.secret.get_secret_value()
    if message.type == "channel.test":
        dedup = f"modelops-test/{message.id}"
        trigger = _pagerduty_event(key, "trigger", dedup, _test_payload(message, now))
        return [
            Post(target.url, JSON_HEADERS, trigger),
            _pagerduty_post(target, key, "resolve", dedup),
        ]
    alert = _mapping(message.data.get("alert"))
    action, dedup = PAGERDUTY_ACTIONS[message.type], str(alert.get("dedup_key"))
    if action != "trigger":
        return [_pagerduty_post(target, key, action, dedup)]
    return [
        Post(
            target.url,
            JSON_HEADERS,
            _pagerduty_event(key, action, dedup, _trigger_payload(message)),
        )
    ]


def _pagerduty_post(target: Target, key: str, action: str, dedup: str) -> Post:
    return Post(target.url, JSON_HEADERS, _pagerduty_event(key, action, dedup, None))


def _pagerduty_event(
    key: str, action: str, dedup: str, payload: Mapping[str, JsonValue] | None
) -> bytes:
    event: dict[str, JsonValue] = {"routing_key": key, "event_action": action, "dedup_key": dedup}
    if payload is not None:
        event["payload"] = dict(payload)
        event["client"] = "modelops"
    return _json(event)


def _trigger_payload(message: Message) -> dict[str, JsonValue]:
    alert = _mapping(message.data.get("alert"))
    labels = _mapping(alert.get("labels"))
    payload: dict[str, JsonValue] = {
        "summary": text_of(message)[:MAX_SUMMARY],
        "source": str(labels.get("endpoint") or labels.get("model") or "modelops"),
        "severity": str(alert.get("severity")),
        "timestamp": alert.get("starts_at"),
        "component": str(labels.get("model", "")),
        "class": str(alert.get("rule", "")),
        "custom_details": {
            "labels": dict(labels),
            "annotations": alert.get("annotations"),
            "value": alert.get("value"),
            "level": alert.get("level"),
            "reason": message.data.get("reason"),
        },
    }
    if labels.get("endpoint"):
        payload["group"] = str(labels["endpoint"])
    return payload


def _test_payload(message: Message, now: float) -> dict[str, JsonValue]:
    return {
        "summary": text_of(message),
        "source": "modelops",
        "severity": "info",
        "timestamp": datetime.fromtimestamp(int(now), UTC).isoformat(),
    }


def text_of(message: Message) -> str:
    """One or two lines for people (Slack's text, PagerDuty's summary)."""
    data = message.data
    if message.type == "channel.test":
        return f"modelops test notification for channel {data.get('channel', '')}"
    if "alert" in data:
        alert = _mapping(data["alert"])
        labels, notes = _mapping(alert.get("labels")), _mapping(alert.get("annotations"))
        where = " ".join(
            part
            for part in (
                str(labels.get("endpoint", labels.get("model", ""))),
                f"v{labels['version']}" if labels.get("version") else "",
                f"({labels['window']})" if labels.get("window") else "",
            )
            if part
        )
        state = str(alert.get("state", "")).upper()
        head = f"[{state}] {alert.get('severity')} {alert.get('rule')} on {where}"
        return f"{head}: {notes.get('summary', '')} ({data.get('reason', '')})"
    event = _mapping(data.get("event"))
    notes = _mapping(event.get("annotations"))
    summary = notes.get("summary") or event.get("kind")
    return f"[{event.get('kind')}] {event.get('severity')}: {summary}"


def _mapping(value: JsonValue | None) -> Mapping[str, JsonValue]:
    return value if isinstance(value, dict) else {}


FORMATS: dict[str, Callable[[Target, Message, float], list[Post]]] = {
    "webhook": webhook,
    "slack": slack,
    "pagerduty": pagerduty,
}
