"""The dashboard's pure pieces: where a sign-in may send a person, which posts count as
its own, where the Prefect UI is, and how numbers read."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from gateway.dashboard.auth import safe_next, same_origin
from gateway.dashboard.links import prefect_ui_url
from gateway.dashboard.panels import PrefectLinks
from gateway.dashboard.panels.abtests import _y_range
from gateway.dashboard.render import count, milliseconds, percent, usd


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/ui/endpoints/a?window=1h", "/ui/endpoints/a?window=1h"),
        ("/ui/", "/ui/"),
        (None, "/ui/"),
        ("", "/ui/"),
        ("https://evil.example/ui/", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("/ui\\\\evil.example", "/ui/"),
        ("/v1/models", "/ui/"),
        ("/ui/\x1b[31m", "/ui/"),
    ],
)
def test_a_sign_in_only_ever_sends_a_person_to_a_dashboard_page(
    asked: str | None, goes: str
) -> None:
    assert safe_next(asked) == goes


def _post(headers: dict[str, str]) -> Request:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/ui/sign-in", "headers": raw})


@pytest.mark.parametrize(
    ("origin", "ours"),
    [
        ("http://127.0.0.1:8080", True),
        (None, True),  # not a browser's cross-site post: browsers always send Origin there
        ("http://evil.example", False),
        ("http://127.0.0.1:8081", False),
        ("null", False),
    ],
)
def test_only_posts_from_the_dashboards_own_origin_count(origin: str | None, ours: bool) -> None:
    headers = {"host": "127.0.0.1:8080"}
    if origin is not None:
        headers["origin"] = origin
    assert same_origin(_post(headers)) is ours


@pytest.mark.parametrize(
    ("environ", "ui"),
    [
        ({"PREFECT_UI_URL": "http://prefect:4200/"}, "http://prefect:4200"),
        ({"PREFECT_API_URL": "http://127.0.0.1:4200/api"}, "http://127.0.0.1:4200"),
        ({"PREFECT_UI_URL": "javascript:alert(1)"}, ""),
        ({"PREFECT_API_URL": "ephemeral"}, ""),
        ({}, ""),
    ],
)
def test_flow_runs_link_to_the_prefect_ui_the_environment_names(
    environ: dict[str, str], ui: str
) -> None:
    assert prefect_ui_url(environ) == ui
    links = PrefectLinks(ui)
    assert links.flow_run("abc") == (f"{ui}/runs/flow-run/abc" if ui else None)
    assert links.flow_run(None) is None


def test_numbers_read_short_and_exact_where_it_matters() -> None:
    assert [count(7), count(7_215), count(2_500_000)] == ["7", "7.2k", "2.5M"]
    assert (
        percent(0.01823) == "1.8%" and percent(0.01823, 2) == "1.82%" and percent(None) == "\u2013"
    )
    assert [milliseconds(4.25), milliseconds(673.6), milliseconds(6290)] == [
        "4.2 ms",
        "674 ms",
        "6.29 s",
    ]
    assert usd(10_561_234) == "$10.56" and usd(38_000) == "$0.0380" and usd(0) == "$0.00"


def test_an_ab_chart_shows_the_mde_without_letting_early_looks_flatten_it() -> None:
    assert _y_range(0.03, [(None, 0.2), (-0.01, 0.02)]) == (-0.09, 0.09)  # capped at 3 MDEs
    assert _y_range(0.03, [(-0.001, 0.002)]) == pytest.approx((-0.045, 0.045))  # 1.5 MDEs at least
    assert _y_range(0.03, [(-0.05, 0.06)]) == (-0.06, 0.06)
