"""What a new channel must be: a name, an http(s) URL with no credentials in it, an event
filter matching known events, and a secret of the channel kind's shape, never echoed.

The secret is a Standard Webhooks signing secret (`whsec_…`), a Slack-compatible incoming
webhook URL (whose path is the credential), or a PagerDuty routing key.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator

from registry.alerts.domain import ALERT_EVENT_TYPES, EVENT_TYPES, ChannelKind, Severity, matches
from registry.catalog_fields import did_you_mean
from registry.domain import Frozen
from registry.errors import InvalidInputError

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_REPEAT_SECONDS = 4 * 3600  # Alertmanager's repeat_interval
MAX_LEVEL = 5
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}")


def check_url(value: str, *, what: str = "url", secret: bool = False) -> str:
    """An http(s) URL with a host and no credentials; a secret URL is never echoed."""
    shown = "the URL given" if secret else repr(value)
    problem = f"{what}: {shown} is not an http(s) URL such as https://hooks.example.com/alerts"
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidInputError(problem, field=what) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
        raise InvalidInputError(problem, field=what)
    if parts.username or parts.password:
        raise InvalidInputError(f"{what}: a URL must not carry a user or password", field=what)
    if len(value) > 512:
        raise InvalidInputError(f"{what}: at most 512 characters", field=what)
    return value


def _events(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        if not any(matches([pattern], kind) for kind in EVENT_TYPES):
            hint = did_you_mean(pattern, EVENT_TYPES)
            raise ValueError(
                f"{pattern!r} matches no event{hint}; events: {', '.join(EVENT_TYPES)} "
                "(or a pattern such as alert.* or *)"
            )
    return sorted(set(patterns))


class NewChannel(Frozen):
    """A channel to add; `secret` comes from stdin, never from arguments."""

    name: Annotated[str, Field(max_length=64)]
    kind: ChannelKind
    url: str | None = None
    secret: SecretStr
    events: Annotated[list[str], AfterValidator(_events)] = Field(
        default_factory=lambda: ["alert.*"], min_length=1, max_length=32
    )
    severities: list[Severity] = Field(default_factory=lambda: list(Severity), min_length=1)
    level: int = Field(default=1, ge=1, le=MAX_LEVEL)
    send_resolved: bool | None = None  # None: Alertmanager's default for the kind
    repeat_interval_seconds: int = Field(default=DEFAULT_REPEAT_SECONDS, ge=0, le=7 * 86_400)

    @field_validator("name")
    @classmethod
    def _name_rule(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not allowed: use lowercase letters, digits and '-', starting "
                "with a letter or digit"
            )
        return name

    @field_validator("repeat_interval_seconds")
    @classmethod
    def _whole_minutes(cls, seconds: int) -> int:
        if seconds % 60:
            raise ValueError("repeat interval must be whole minutes, or 0 for never")
        return seconds


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url_option(kind: ChannelKind, url: str | None) -> None:
    """A Slack URL given as an option: refused before any secret is read."""
    if kind is ChannelKind.SLACK and url is not None:
        raise InvalidInputError(
            "url: a Slack-compatible webhook URL is itself the credential: give it on "
            "stdin, not as --url",
            field="url",
        )


def target_of(new: NewChannel) -> tuple[str, str, str]:
    """(URL posted to, URL shown, secret) after checking both for the channel's kind."""
    secret = new.secret.get_secret_value().strip()
    check_url_option(new.kind, new.url)
    if new.kind is ChannelKind.SLACK:
        url = check_url(secret, what="secret", secret=True)
        parts = urlsplit(url)
        return url, f"{parts.scheme}://{parts.netloc}/…", url
    if new.kind is ChannelKind.PAGERDUTY:
        url = check_url(new.url or PAGERDUTY_EVENTS_URL)
        if not _ROUTING_KEY.fullmatch(secret):
            raise InvalidInputError(
                "secret: a PagerDuty routing key is 32 letters and digits (the Events API v2 "
                "integration key); the value read from stdin is not one",
                field="secret",
            )
        if any(not event.startswith("alert.") and event != "*" for event in new.events):
            raise InvalidInputError(
                "events: PagerDuty channels take alert events only: "
                + ", ".join(ALERT_EVENT_TYPES),
                field="events",
            )
        return url, url, secret
    if new.url is None:
        raise InvalidInputError("url: a webhook channel needs --url", field="url")
    url = check_url(new.url)
    _check_webhook_secret(secret)
    return url, url, secret


def _check_webhook_secret(secret: str) -> None:
    problem = (
        "secret: a Standard Webhooks secret is whsec_ followed by base64 of 24 to 64 random "
        "bytes; the value read from stdin is not one (or use --generate-secret)"
    )
    if not secret.startswith("whsec_"):
        raise InvalidInputError(problem, field="secret")
    try:
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(problem, field="secret") from None
    if not 24 <= len(raw) <= 64:
        raise InvalidInputError(problem, field="secret")


def send_resolved(new: NewChannel) -> bool:
    if new.send_resolved is not None:
        return new.send_resolved
    return new.kind is not ChannelKind.SLACK  # Alertmanager's slack_configs default
