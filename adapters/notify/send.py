"""Posting a message to its target: every POST of it must succeed (PagerDuty's channel
test is two), and the first that does not decides the result."""

from __future__ import annotations

import time

import httpx

from adapters.notify.formats import FORMATS
from adapters.notify.messages import Message, SendResult, Target, Verdict, classify
from adapters.ratelimit import parse_retry_after

MAX_DETAIL = 200


def send(
    client: httpx.Client, target: Target, message: Message, *, now: float | None = None
) -> SendResult:
    """Post `message`; never raises for what the network or the receiver does."""
    posts = FORMATS[target.kind](target, message, time.time() if now is None else now)
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
