"""Templates (jinja2, autoescaped), the filters that format numbers for people, and the
headers every dashboard answer carries (a strict CSP: scripts and styles from /ui/static
only, no inline code, nothing framed, forms posted only here)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

NONE = "\u2013"  # an en dash: no value
PALETTE = ("#3b5bdb", "#f08c00", "#0ca678", "#ae3ec9", "#e8590c", "#1098ad", "#d6336c")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def version_colour(version: int) -> str:
    """The colour a version has on every chart and badge (by its number, so it is stable)."""
    return PALETTE[(version - 1) % len(PALETTE)]


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gateway.dashboard", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        count=count,
        percent=percent,
        ms=milliseconds,
        usd=usd,
        ago=ago,
        utc=utc,
        colour=version_colour,
    )
    return env


def page(env: jinja2.Environment, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = env.get_template(template).render(now=datetime.now(UTC), **context)
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def count(value: int | None) -> str:
    """12,345 → "12.3k": counts on cards stay short."""
    if value is None:
        return NONE
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return str(value)


def percent(value: float | None, digits: int = 1) -> str:
    return NONE if value is None or math.isnan(value) else f"{value * 100:.{digits}f}%"


def milliseconds(value: float | None) -> str:
    if value is None:
        return NONE
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def usd(micro: int | None) -> str:
    """Integer micro-USD as dollars, with cents below a dollar shown to the micro."""
    if micro is None:
        return NONE
    dollars = micro / 1e6
    return f"${dollars:,.2f}" if dollars >= 1 or micro == 0 else f"${dollars:.4f}"


def ago(at: datetime | None) -> str:
    if at is None:
        return NONE
    seconds = (datetime.now(UTC) - at).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def utc(at: datetime | None) -> str:
    return NONE if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
