"""Signing in to the dashboard with a team API token, kept in a cookie the page's scripts
cannot read (HttpOnly) and other sites' requests do not carry (SameSite=Strict).

The cookie holds the token itself, so a revoked token signs its holder out at the next page
(the gateway's token cache drops it), and replicas need no shared session store. The token
never appears in a URL: it arrives in a POST body and leaves only in the Set-Cookie header.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from gateway.state import Gateway
from registry.tokens import TOKEN_PREFIX, TokenPrincipal
from registry.tokens.repository import TOKEN_CHARS

COOKIE = "modelops_ui"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 12 * 3600  # a working day; then sign in again
MAX_FORM_BYTES = 4096
HOME = "/ui/"


async def signed_in(request: Request) -> TokenPrincipal | None:
    """The principal of the request's cookie, if it holds a live token."""
    token = request.cookies.get(COOKIE, "")
    if not _plausible(token):
        return None
    gw: Gateway = request.app.state.gateway
    return await gw.authenticate(token)


async def submitted_token(request: Request) -> str:
    """The `token` field of a sign-in form (urlencoded), bounded; empty if absent."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return ""
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
    return (fields.get("token") or [""])[0].strip()


def remember(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def forget(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def same_origin(request: Request) -> bool:
    """A form post came from a page of this dashboard (or from a client that sends no
    Origin at all, which no browser does on a cross-site post): refuses login CSRF. (With
    `Referrer-Policy: no-referrer` browsers send `Origin: null` even from the page itself;
    the dashboard's pages say `same-origin`.)"""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the dashboard, never another site."""
    if not value or not value.startswith(COOKIE_PATH) or value.startswith("//"):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value or not value.isprintable():
        return HOME
    return value


def _plausible(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= TOKEN_CHARS + 8
