"""Posting a message to its target: every POST of it must succeed (PagerDuty's channel
test is two), and the first that does not decides the result."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import httpx

from adapters.notify.formats import FORMATS
from adapters.notify.messages import Message, SendResult, Target, Verdict, classify
from adapters.ratelimit import parse_retry_after

MAX_DETAIL = 200


class _SecretUrls(logging.Filter):
    """httpx logs every request's URL at INFO; a Slack URL is a credential, so while one is
    being posted to, its log records show the channel's shown URL instead."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._shown: dict[str, str] = {}
        self._users: Counter[str] = Counter()

    def hide(self, url: str, shown: str) -> None:
        key = str(httpx.URL(url))
        with self._lock:
            self._shown[key] = shown
            self._users[key] += 1

    def release(self, url: str) -> None:
        key = str(httpx.URL(url))
        with self._lock:
            self._users[key] -= 1
            if self._users[key] <= 0:
                self._shown.pop(key, None)
                del self._users[key]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and self._shown:
            record.args = tuple(self._shown.get(str(arg), arg) for arg in record.args)
        return True


_SECRET_URLS = _SecretUrls()


def send(
    client: httpx.Client, target: Target, message: Message, *, now: float | None = None
) -> SendResult:
    """Post `message`; never raises for what the network or the receiver does."""
    secret_url = target.kind == "slack"
    if secret_url:
        logging.getLogger("httpx").addFilter(_SECRET_URLS)  # once: a filter is added once
        _SECRET_URLS.hide(target.url, target.shown_url)
    try:
        return _send(client, target, message, time.time() if now is None else now)
    finally:
        if secret_url:
            _SECRET_URLS.release(target.url)


def _send(client: httpx.Client, target: Target, message: Message, now: float) -> SendResult:
    posts = FORMATS[target.kind](target, message, now)
    status = None
    for post in posts:
        try:
            response = client.post(post.url, content=post.body, headers=post.headers)
        except httpx.HTTPError as exc:
            return SendResult(Verdict.RETRY, None, None, _scrub(_no_answer(exc), target))
        status = response.status_code
        verdict = classify(status)
        if verdict is not Verdict.DELIVERED:
            detail = f"HTTP {status} from {target.shown_url}: {_excerpt(response.text)}"
            retry_after = parse_retry_after(response.headers) if verdict is Verdict.RETRY else None
            return SendResult(verdict, status, retry_after, _scrub(detail, target))
    return SendResult(Verdict.DELIVERED, status, None, f"HTTP {status} from {target.shown_url}")


def _no_answer(exc: httpx.HTTPError) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "no answer"
    return f"{kind} ({type(exc).__name__}: {exc})"


def _excerpt(text: str) -> str:
    flat = "".join(char if char.isprintable() else " " for char in text).strip()
    return (flat[: MAX_DETAIL - 3] + "...") if len(flat) > MAX_DETAIL else (flat or "(no body)")


def _scrub(text: str, target: Target) -> str:
    """A Slack URL is the credential; a secret never goes into a stored error."""
    for secret in (target.secret.get_secret_value(), target.url if target.kind == "slack" else ""):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
