"""The dashboard's pages: which panels each one shows, signing in and out, and the routes
mounted at /ui. Read-only: every page is one read transaction in a worker thread.

A page is a list of panels (`gateway.dashboard.panels`); adding a panel to a page is one
line in `OVERVIEW`, `ENDPOINT` or `MODEL` below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.dashboard import auth
from gateway.dashboard.links import prefect_ui_url
from gateway.dashboard.panels import (
    DEFAULT_WINDOW,
    WINDOWS,
    Panel,
    PrefectLinks,
    View,
    abtests,
    alerts,
    lifecycle,
    rollouts,
    traffic,
    usage,
)
from gateway.dashboard.render import SECURITY_HEADERS, page, templates
from gateway.errors import ApiError
from gateway.state import Gateway
from registry.errors import NotFoundError
from registry.tokens import TokenPrincipal

log = logging.getLogger("gateway.dashboard")
STATIC = Path(__file__).parent / "static"

# What each page shows, top to bottom.
OVERVIEW: Sequence[Panel] = (
    traffic.OVERVIEW,
    rollouts.PANEL,
    alerts.PANEL,
    abtests.PANEL,
    usage.PANEL,
    usage.RECOMMENDATIONS,
    lifecycle.OVERVIEW,
)
ENDPOINT: Sequence[Panel] = (traffic.DETAIL,)
MODEL: Sequence[Panel] = (lifecycle.DETAIL,)


class Dashboard:
    """The pages, with the templates and the Prefect UI's address they share."""

    def __init__(self, prefect: PrefectLinks) -> None:
        self._env: jinja2.Environment = templates()
        self._prefect = prefect

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.overview, methods=["GET"]),
            Route("/endpoints/{name}", self.endpoint, methods=["GET"]),
            Route("/models/{name}", self.model, methods=["GET"]),
            Route("/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/{rest:path}", self.unknown, methods=["GET", "POST"]),
        ]

    # -- pages -------------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        return await self._page(request, "overview.html", OVERVIEW, "")

    async def endpoint(self, request: Request) -> Response:
        return await self._page(request, "endpoint.html", ENDPOINT, request.path_params["name"])

    async def model(self, request: Request) -> Response:
        return await self._page(request, "model.html", MODEL, request.path_params["name"])

    async def unknown(self, request: Request) -> Response:
        return self._render("not_found.html", 404, principal=None, view=None)

    # -- signing in --------------------------------------------------------------------------

    async def sign_in_form(self, request: Request) -> Response:
        return self._sign_in_page(request.query_params.get("next"), "", 200)

    async def sign_in(self, request: Request) -> Response:
        target = auth.safe_next(request.query_params.get("next"))
        if not auth.same_origin(request):
            return self._sign_in_page(target, "sign in from this dashboard's own page", 403)
        token = await auth.submitted_token(request)
        principal = await self._authenticate(request, token) if token else None
        if isinstance(principal, Response):
            return principal
        if principal is None:
            message = "that token is not valid (revoked, mistyped, or from another gateway)"
            return self._sign_in_page(target, message, 401)
        response = RedirectResponse(target, 303, headers=SECURITY_HEADERS)
        auth.remember(response, request, token)
        return response

    async def sign_out(self, request: Request) -> Response:
        response = RedirectResponse("/ui/sign-in", 303, headers=SECURITY_HEADERS)
        if auth.same_origin(request):
            auth.forget(response, request)
        return response

    # -- the machinery -----------------------------------------------------------------------

    async def _page(
        self, request: Request, template: str, panels: Sequence[Panel], subject: str
    ) -> Response:
        principal = await self._signed_in(request)
        if isinstance(principal, Response):
            return principal
        if principal is None:
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
            return RedirectResponse(f"/ui/sign-in?next={target}", 303, headers=SECURITY_HEADERS)
        window = WINDOWS.get(request.query_params.get("window", ""), DEFAULT_WINDOW)
        view = View(principal.team, datetime.now(UTC), window, self._prefect, subject)
        gw: Gateway = request.app.state.gateway
        try:
            read = await asyncio.to_thread(read_panels, gw.sessions, panels, view)
        except NotFoundError:
            # Another team's endpoint or model is as absent as one that never existed.
            return self._render("not_found.html", 404, principal=principal, view=view)
        except Exception as exc:
            log.error("dashboard page %s failed: %s", template, type(exc).__name__)
            return self._render("error.html", 503, principal=principal, view=view)
        shown = list(zip(panels, read, strict=True))
        return self._render(template, 200, principal=principal, view=view, panels=shown)

    async def _signed_in(self, request: Request) -> TokenPrincipal | Response | None:
        try:
            return await auth.signed_in(request)
        except ApiError:  # the database is away: say so, do not sign the person out
            return self._render("error.html", 503, principal=None, view=None)

    async def _authenticate(self, request: Request, token: str) -> TokenPrincipal | Response | None:
        gw: Gateway = request.app.state.gateway
        try:
            return await gw.authenticate(token)
        except ApiError:
            return self._render("error.html", 503, principal=None, view=None)

    def _sign_in_page(self, target: str | None, message: str, status: int) -> Response:
        return self._render(
            "sign_in.html",
            status,
            principal=None,
            view=None,
            next=auth.safe_next(target),
            message=message,
        )

    def _render(self, template: str, status: int, **context: Any) -> Response:
        return page(self._env, template, status, windows=WINDOWS, prefect=self._prefect, **context)


def read_panels(sessions: sessionmaker[Session], panels: Sequence[Panel], view: View) -> list[Any]:
    """Every panel of a page in one read-only transaction: one consistent snapshot."""
    with sessions.begin() as session:
        return [panel.read(session, view) for panel in panels]


def dashboard_mount(environ: Mapping[str, str]) -> Mount:
    """The dashboard at /ui, linking runs to the Prefect UI the environment names."""
    return Mount("/ui", routes=Dashboard(PrefectLinks(prefect_ui_url(environ))).routes())
