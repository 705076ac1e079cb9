"""The dashboard in headless Chromium (Debian's, driven by Playwright) against a real
gateway on 127.0.0.1 over a PostgreSQL world with six hours of seeded history and real
traffic through the gateway: every page loads without console errors, charts draw the
numbers the rollups hold, those numbers match the outcomes, another team sees none of it,
and a missing, bad or revoked token gets the sign-in page. Screenshots land in a tmp dir."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from sqlalchemy import create_engine, event, func, select, text

from gateway.dashboard.pages import ENDPOINT, MODEL, OVERVIEW, read_panels
from gateway.dashboard.panels import WINDOWS, PrefectLinks, View
from registry.database import Database, make_engine, make_session_factory
from registry.outcomes import Outcome
from registry.outcomes.tables import OutcomeRow
from registry.tokens import Scope, TokenRepository
from tests.conftest import _admin_engine, _database_url
from tests.fakes.openai_server import FakeOpenAIServer
from tests.gateway.dashboard_support import AB_TEST_NAME, ALERT_RULE, Seeded, seed_history
from tests.gateway.support import (
    Recorded,
    World,
    build_world,
    running_gateway,
    settings_for,
    wait_for,
)

CHROMIUM = os.environ.get("MODELOPS_CHROMIUM", "/usr/bin/chromium")  # scripts/ensure-chromium
PREFECT_UI = "http://127.0.0.1:4200"
CHATS = 24
INVOKES = 12
PAGES = [
    "/ui/",
    "/ui/?window=1h",
    "/ui/?window=7d",
    "/ui/endpoints/assistant",
    "/ui/endpoints/intent?window=24h",
    "/ui/endpoints/paint",
    "/ui/models/chatbot",
    "/ui/models/support-intent",
]
TEAM_A_NAMES = ["assistant", "chatbot", "support-intent", "painter", AB_TEST_NAME, ALERT_RULE]


@dataclass
class Site:
    url: str
    world: World
    seeded: Seeded
    tap: Recorded
    screenshots: Path

    def outcomes(self, endpoint: str) -> list[Outcome]:
        """What the endpoint served: the seeded history and the gateway's real traffic."""
        served = [o for o in self.tap.outcomes if o.endpoint_id == self._endpoint_id(endpoint)]
        return self.seeded.outcomes.get(endpoint, []) + served

    def _endpoint_id(self, endpoint: str) -> int:
        outcomes = self.seeded.outcomes[endpoint]
        return outcomes[0].endpoint_id


@pytest.fixture(scope="module")
def dashboard_db(pg_template: str) -> Iterator[str]:
    """One database for the module: seeding six hours of history once is enough."""
    name = f"modelops_test_dashboard_{datetime.now(UTC):%H%M%S%f}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield _database_url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def site(
    dashboard_db: str,
    _openai_server: FakeOpenAIServer,
    trained_local: tuple[Path, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    source, model_id = trained_local
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    shutil.copytree(source, data_dir)  # the trained classifier the intent endpoint serves
    world = build_world(dashboard_db, _openai_server.base_url, data_dir, model_id)
    seeded = seed_history(world)
    tap = Recorded()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_UI_URL", PREFECT_UI)
        with running_gateway(settings_for(world), tap) as url:
            _real_traffic(url, world)
            expected = sum(len(o) for o in seeded.outcomes.values()) + CHATS + INVOKES
            wait_for(lambda: _stored(dashboard_db) == expected, 30, "every outcome stored")
            shots = tmp_path_factory.mktemp("dashboard-screenshots")
            print(f"\ndashboard screenshots: {shots}")
            yield Site(url, world, seeded, tap, shots)


def _real_traffic(url: str, world: World) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=world.token, max_retries=0)
    for i in range(CHATS):
        client.chat.completions.create(
            model="assistant", messages=[{"role": "user", "content": f"hi {i}"}], user=f"u{i}"
        )
    headers = {"authorization": f"Bearer {world.token}"}
    for i in range(INVOKES):
        response = httpx.post(
            f"{url}/v1/endpoints/intent/invoke", json={"text": f"refund {i}"}, headers=headers
        )
        assert response.status_code == 200, response.text


def _stored(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(OutcomeRow)) or 0)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@dataclass
class Tab:
    page: Page
    problems: list[str] = field(default_factory=list)


def open_tab(browser: Browser) -> Tab:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = Tab(context.new_page())

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            tab.problems.append(f"console {message.type}: {message.text}")

    tab.page.on("console", console)
    tab.page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
    tab.page.on("requestfailed", lambda r: tab.problems.append(f"request failed: {r.url}"))
    return tab


def sign_in(tab: Tab, site: Site, token: str, path: str = "/ui/") -> None:
    tab.page.goto(site.url + path)
    tab.page.fill("#token", token)
    with tab.page.expect_navigation():
        tab.page.click("button[type=submit]")


def chart_facts(page: Page) -> list[dict[str, Any]]:
    """Per drawn chart: its spec, the values uPlot was handed, and how many of the canvas's
    pixels are coloured (lines and bands are; axes, grid and background are grey)."""
    facts: list[dict[str, Any]] = page.evaluate(
        """() => Array.from(document.querySelectorAll('figure[data-chart]')).map(fig => {
            const source = fig.querySelector("script[type='application/json']");
            const canvas = fig.querySelector('canvas');
            let coloured = 0;
            if (canvas) {
                const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                for (let i = 0; i < d.length; i += 4) {
                    const hi = Math.max(d[i], d[i + 1], d[i + 2]);
                    const lo = Math.min(d[i], d[i + 1], d[i + 2]);
                    if (d[i + 3] > 0 && hi - lo > 60) coloured += 1;
                }
            }
            return {
                id: fig.dataset.chart,
                drawn: fig.dataset.drawn === undefined ? null : Number(fig.dataset.drawn),
                spec: source ? JSON.parse(source.textContent) : null,
                canvas: Boolean(canvas),
                coloured: coloured,
            };
        })"""
    )
    return facts


def _values(spec: dict[str, Any]) -> int:
    return sum(v is not None for line in spec["lines"] if not line["dash"] for v in line["values"])


def test_every_page_loads_without_console_errors_and_its_charts_draw_their_data(
    site: Site, browser: Browser
) -> None:
    tab = open_tab(browser)
    sign_in(tab, site, site.world.token)
    drawn_charts = 0
    for path in PAGES:
        response = tab.page.goto(site.url + path)
        assert response is not None and response.status == 200, path
        tab.page.wait_for_selector("html[data-charts=drawn]")
        name = re.sub(r"[^a-z0-9]+", "-", path.strip("/")) or "overview"
        tab.page.screenshot(path=site.screenshots / f"{name}.png", full_page=True)
        for chart in chart_facts(tab.page):
            if chart["spec"] is None:  # "no traffic in this window": nothing to draw
                continue
            assert chart["canvas"], f"{path}: chart {chart['id']} has no canvas"
            assert chart["drawn"] == _values(chart["spec"]) > 0, (path, chart["id"])
            assert chart["coloured"] > 40, f"{path}: chart {chart['id']} drew nothing visible"
            drawn_charts += 1
    assert tab.problems == []
    assert drawn_charts >= 12  # 3 sparklines x 3 windows, 4 + 3 + 4 endpoint charts, an A/B


def test_the_numbers_shown_match_the_outcomes_they_summarise(site: Site, browser: Browser) -> None:
    tab = open_tab(browser)
    sign_in(tab, site, site.world.token, "/ui/endpoints/assistant")
    page = tab.page
    page.wait_for_selector("html[data-charts=drawn]")
    charts = {c["id"]: c["spec"] for c in chart_facts(page)}
    requests = charts["assistant-requests"]
    since = datetime.fromtimestamp(requests["x"][0], UTC)
    served = [o for o in site.outcomes("assistant") if o.at >= since]
    assert len(served) > 5000 + CHATS  # six hours of seeded history and the real chats
    # Every request in the window is in exactly one step of one version's line.
    assert sum(sum(line["values"]) for line in requests["lines"]) == len(served)
    by_version = {int(row.get_attribute("data-version")): row for row in _rows(page)}
    ids = _version_ids(site)
    for version, row in by_version.items():
        mine = [o for o in served if o.model_version_id == ids[version]]
        cells = row.query_selector_all("td")
        assert int(cells[2].inner_text()) == len(mine)
        failed = sum(not o.success for o in mine)
        assert cells[4].inner_text() == f"{failed / len(mine) * 100:.2f}%"
    failed = sum(not o.success for o in served)
    assert _stat(page, "error-rate") == f"{failed / len(served) * 100:.2f}%"
    # p95 from the log-bucket histograms: within a bucket's width (10%) of the true one
    # (the ceil(0.95 n)-th smallest latency), plus the display's rounding to 1 ms.
    latencies = sorted(o.latency_ms for o in served)
    true_p95 = latencies[math.ceil(0.95 * len(latencies)) - 1]
    shown = float(_stat(page, "p95").removesuffix(" ms"))
    assert abs(shown - true_p95) <= 0.1 * true_p95 + 0.5, (shown, true_p95)
    cost = sum(o.cost_micro_usd for o in served)
    assert _stat(page, "cost") == f"${cost / 1e6:,.2f}"
    assert tab.problems == []


def _rows(page: Page) -> list[Any]:
    return page.query_selector_all("table.versions tbody tr")


def _stat(page: Page, name: str) -> str:
    return page.inner_text(f"#endpoint [data-stat='{name}']").strip()


def _version_ids(site: Site) -> dict[int, int]:
    from registry.model_repository import ModelRepository

    database = Database.open(site.world.url)
    try:
        with database.transaction() as session:
            versions = ModelRepository(session, site.world.team).versions("chatbot")
            return {v.version: v.id for v in versions}
    finally:
        database.close()


def test_the_overview_shows_alerts_ab_looks_and_lifecycle_with_links_to_prefect(
    site: Site, browser: Browser
) -> None:
    tab = open_tab(browser)
    sign_in(tab, site, site.world.token)
    page = tab.page
    page.wait_for_selector("html[data-charts=drawn]")
    alert = page.inner_text("#alerts tbody tr")
    assert ALERT_RULE in alert and "firing" in alert and "assistant v2" in alert
    ab = {c["id"]: c for c in chart_facts(page)}[f"ab-{site.seeded.ab_test_id}"]
    assert len(ab["spec"]["x"]) == site.seeded.looks >= 3  # one interval per look
    low, high, diff = (line["values"] for line in ab["spec"]["lines"][:3])
    for lo, hi, d in zip(low, high, diff, strict=True):
        assert (lo is None or lo <= d) and (hi is None or d <= hi)
    assert page.inner_text(f"[data-abtest='{site.seeded.ab_test_id}'] h3") == AB_TEST_NAME
    assert "1 pending" in page.inner_text("#models tr[data-model='chatbot']")
    page.goto(site.url + "/ui/models/chatbot")
    runs = page.eval_on_selector_all("a.run", "links => links.map(a => a.href)")
    assert runs and all(href.startswith(f"{PREFECT_UI}/runs/flow-run/") for href in runs)
    assert page.inner_text("[data-approval] .pill") == "pending"
    stages = page.eval_on_selector_all(
        "table.versions tbody tr", "rows => rows.map(r => r.querySelectorAll('td')[1].innerText)"
    )
    assert stages == ["rejected", "staging", "production"]  # v3, v2, v1
    assert tab.problems == []


def test_another_teams_token_sees_none_of_it(site: Site, browser: Browser) -> None:
    tab = open_tab(browser)
    sign_in(tab, site, site.world.b_token)
    page = tab.page
    page.wait_for_selector("html[data-charts=drawn]")
    page.screenshot(path=site.screenshots / "team-b-overview.png", full_page=True)
    overview = page.content()
    assert "b-chat" in overview and "team-b" in overview
    for name in TEAM_A_NAMES:
        assert name not in overview, name
    for path in ("/ui/endpoints/assistant", "/ui/models/chatbot", "/ui/endpoints/intent"):
        response = page.goto(site.url + path)
        assert response is not None and response.status == 404, path
        assert "Not found" in page.inner_text("main")
        assert not any(name in page.content() for name in TEAM_A_NAMES), path
    # …and the other way round.
    a = httpx.Client(base_url=site.url, cookies={"modelops_ui": site.world.token})
    assert a.get("/ui/endpoints/b-chat").status_code == 404
    assert "b-chat" not in a.get("/ui/").text


def test_a_missing_or_bad_token_gets_the_sign_in_page_and_signing_out_forgets_it(
    site: Site, browser: Browser
) -> None:
    tab = open_tab(browser)
    page = tab.page
    page.goto(site.url + "/ui/endpoints/assistant?window=1h")
    assert page.url.startswith(site.url + "/ui/sign-in?next=")
    assert page.is_visible("#token") and "assistant" not in page.inner_text("main")
    page.fill("#token", "mo_" + "x" * 43)
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value is not None and navigation.value.status == 401
    assert "not valid" in page.inner_text("[role=alert]")
    assert page.context.cookies() == []
    # A cookie with a token that is not one: the sign-in page, never the data.
    page.context.add_cookies(
        [{"name": "modelops_ui", "value": "mo_forged", "url": site.url + "/ui/"}]
    )
    page.goto(site.url + "/ui/endpoints/assistant?window=1h")
    assert "/ui/sign-in" in page.url and page.is_visible("#token")
    page.context.clear_cookies()
    # A good one lands where the person was going; the token never enters a URL.
    page.fill("#token", site.world.token)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == site.url + "/ui/endpoints/assistant?window=1h"
    cookie = next(c for c in page.context.cookies() if c["name"] == "modelops_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert page.evaluate("document.cookie") == ""  # no script can read it
    assert "mo_" not in page.url and site.world.token not in page.content()
    # Signing out forgets the cookie: the next page asks again.
    with page.expect_navigation():
        page.click("header form button")
    assert page.url == site.url + "/ui/sign-in" and page.context.cookies() == []
    page.goto(site.url + "/ui/")
    assert "/ui/sign-in" in page.url


def test_a_sign_in_posted_from_another_site_is_refused(site: Site) -> None:
    response = httpx.post(
        f"{site.url}/ui/sign-in",
        data={"token": site.world.token},
        headers={"origin": "http://evil.example"},
    )
    assert response.status_code == 403 and "set-cookie" not in response.headers
    ok = httpx.post(
        f"{site.url}/ui/sign-in", data={"token": site.world.token}, headers={"origin": site.url}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"
    assert "HttpOnly" in ok.headers["set-cookie"] and "SameSite=strict" in ok.headers["set-cookie"]


def test_a_revoked_token_is_signed_out_at_the_next_page(site: Site) -> None:
    database = Database.open(site.world.url)
    try:
        with database.transaction() as session:
            created = TokenRepository(session, site.world.team).create("ui", [Scope.OUTCOMES])
        token = created.token.get_secret_value()
        client = httpx.Client(base_url=site.url, cookies={"modelops_ui": token})
        assert client.get("/ui/").status_code == 200
        with database.transaction() as session:
            TokenRepository(session, site.world.team).revoke(created.details.id)
        wait_for(lambda: client.get("/ui/").status_code == 303, 10, "the revocation seen")
        assert client.get("/ui/").headers["location"].startswith("/ui/sign-in")
    finally:
        database.close()


def test_every_page_reads_rollups_never_raw_outcomes(site: Site) -> None:
    """What keeps a page fast on millions of outcomes: no statement of any panel's read, on
    any page and window, touches the outcomes table (only its per-minute rollups)."""
    engine = make_engine(site.world.url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    links = PrefectLinks(PREFECT_UI)
    try:
        sessions = make_session_factory(engine)
        for window in WINDOWS.values():
            for panels, subject in ((OVERVIEW, ""), (ENDPOINT, "assistant"), (MODEL, "chatbot")):
                view = View(site.world.team, datetime.now(UTC), window, links, subject)
                assert len(read_panels(sessions, panels, view)) == len(panels)
    finally:
        engine.dispose()
    assert len(statements) > 20
    assert [s for s in statements if re.search(r"\boutcomes\b", s)] == []
    assert any("outcome_rollups" in s for s in statements)


def test_an_unknown_dashboard_path_is_an_html_404(site: Site) -> None:
    response = httpx.get(f"{site.url}/ui/nothing/here", cookies={"modelops_ui": site.world.token})
    assert response.status_code == 404 and "Not found" in response.text
    assert response.headers["content-type"].startswith("text/html")
    bare = httpx.get(f"{site.url}/ui")
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/ui/")


def test_the_static_files_are_the_vendored_ones_and_pages_forbid_inline_code(site: Site) -> None:
    uplot = httpx.get(f"{site.url}/ui/static/uPlot.iife.min.js")
    assert uplot.status_code == 200 and "uPlot" in uplot.text[:2000]
    licence = httpx.get(f"{site.url}/ui/static/uPlot.LICENSE")
    assert "MIT" in licence.text
    page = httpx.get(f"{site.url}/ui/sign-in")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text  # only src= scripts and JSON data blocks
    assert json.loads(httpx.get(f"{site.url}/healthz").text)["status"] == "ok"


def test_the_usage_panel_sums_what_each_model_served_and_cost(site: Site, browser: Browser) -> None:
    tab = open_tab(browser)
    sign_in(tab, site, site.world.token, "/ui/")
    page = tab.page
    page.wait_for_selector("html[data-charts=drawn]")
    rows = {
        row.get_attribute("data-usage"): [c.inner_text() for c in row.query_selector_all("td")]
        for row in page.query_selector_all("#usage table.usage tbody tr")
    }
    served = {
        model: site.outcomes(endpoint)
        for endpoint, model in (
            ("assistant", "chatbot"),
            ("intent", "support-intent"),
            ("paint", "painter"),
        )
    }
    assert set(rows) == set(served)
    for model, outcomes in served.items():
        _, requests, errors, tokens, cost = rows[model]
        assert int(requests.replace(",", "")) == len(outcomes)
        assert int(errors.replace(",", "")) == sum(not o.success for o in outcomes)
        expected_tokens = sum((o.input_tokens or 0) + (o.output_tokens or 0) for o in outcomes)
        assert int(tokens.replace(",", "")) == expected_tokens
        dollars = sum(o.cost_micro_usd or 0 for o in outcomes) / 1e6
        assert cost == (f"${dollars:,.2f}" if dollars >= 1 or dollars == 0 else f"${dollars:.4f}")
    [chart] = [c["spec"] for c in chart_facts(page) if c["id"] == "usage-cost"]
    assert {line["label"] for line in chart["lines"]} == set(served)
    assert tab.problems == []
