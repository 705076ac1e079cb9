"""Endpoints: how traffic splits across versions, and each version's requests, error rate,
p95 latency and cost over the window, from the per-minute rollups only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.dashboard.panels import Panel, View
from gateway.dashboard.panels.charts import Chart, Line, epoch_seconds
from gateway.dashboard.render import version_colour
from registry.endpoints import Endpoint, EndpointRepository, Route, RouteLedgerEntry
from registry.model_repository import ModelRepository
from registry.outcomes import LogHistogram, WindowStats, window_stats
from registry.outcomes.series import EndpointSeries, VersionSeries, endpoint_series
from registry.routing import RouteRole

ROUTE_CHANGES_SHOWN = 8


@dataclass(frozen=True)
class VersionRow:
    version: int
    route: Route | None  # None: no longer routed, but served in the window
    requests: int
    share: float | None  # of the endpoint's requests in the window
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    cost_micro_usd: int


@dataclass(frozen=True)
class EndpointView:
    endpoint: Endpoint
    since: datetime
    requests: int
    error_rate: float | None
    p95_ms: float | None
    cost_micro_usd: int
    versions: list[VersionRow]
    charts: list[Chart]
    changes: list[RouteLedgerEntry]

    @property
    def served_routes(self) -> list[Route]:
        return [r for r in self.endpoint.routes if r.role is not RouteRole.SHADOW]


def read_overview(session: Session, view: View) -> list[EndpointView]:
    endpoints = EndpointRepository(session, view.team)
    return [_read(session, view, e, detail=False) for e in endpoints.list()]


def read_endpoint(session: Session, view: View) -> EndpointView:
    """One endpoint in full; another team's (or none) raises NotFoundError."""
    endpoint = EndpointRepository(session, view.team).get(view.subject)
    return _read(session, view, endpoint, detail=True)


def _read(session: Session, view: View, endpoint: Endpoint, *, detail: bool) -> EndpointView:
    window = view.window
    series = endpoint_series(
        session,
        view.team,
        endpoint.id,
        view.now,
        points=window.points,
        step_minutes=window.step_minutes,
    )
    since, until = series.starts[0], series.starts[-1] + series.step
    stats = window_stats(session, view.team, endpoint.id, since, until)
    numbers = {
        v.id: v.version for v in ModelRepository(session, view.team).versions(endpoint.model)
    }
    rows = _version_rows(endpoint, stats, numbers)
    total = sum(s.requests for s in stats.values())
    failed = sum(s.errors.successes for s in stats.values())
    latency = sum((s.latency_histogram for s in stats.values()), LogHistogram())
    changes = EndpointRepository(session, view.team).history(endpoint.name) if detail else []
    return EndpointView(
        endpoint=endpoint,
        since=since,
        requests=total,
        error_rate=failed / total if total else None,
        p95_ms=_quantile(latency, 0.95),
        cost_micro_usd=sum(s.cost_micro_usd for s in stats.values()),
        versions=rows,
        charts=_charts(endpoint.name, series, numbers, detail=detail),
        changes=changes[-ROUTE_CHANGES_SHOWN:][::-1],
    )


def _version_rows(
    endpoint: Endpoint, stats: dict[int, WindowStats], numbers: dict[int, int]
) -> list[VersionRow]:
    routes = {r.version: r for r in endpoint.routes}
    by_number = {numbers[vid]: s for vid, s in stats.items() if vid in numbers}
    total = sum(s.requests for s in stats.values())
    rows = []
    for version in sorted(set(routes) | set(by_number)):
        s = by_number.get(version)
        n = s.requests if s else 0
        rows.append(
            VersionRow(
                version=version,
                route=routes.get(version),
                requests=n,
                share=n / total if total else None,
                error_rate=s.errors.successes / n if s and n else None,
                p50_ms=_quantile(s.latency_histogram, 0.5) if s else None,
                p95_ms=_quantile(s.latency_histogram, 0.95) if s else None,
                cost_micro_usd=s.cost_micro_usd if s else 0,
            )
        )
    return rows


def _charts(
    name: str, series: EndpointSeries, numbers: dict[int, int], *, detail: bool
) -> list[Chart]:
    x = epoch_seconds(series.starts)
    versions = sorted((numbers.get(vid, 0), s) for vid, s in series.versions.items())

    def lines(pick: str) -> list[Line]:
        return [
            Line(f"v{number}", version_colour(number), _values(s, pick)) for number, s in versions
        ]

    step = f"per {_step_label(series)}"
    requests = Chart(f"{name}-requests", f"Requests {step}", "requests", x, lines("requests"))
    if not detail:
        return [Chart(requests.id, requests.title, "requests", x, requests.lines, height=110)]
    charts = [
        Chart(f"{name}-requests", f"Requests {step}, by version", "requests", x, lines("requests")),
        Chart(f"{name}-errors", "Error rate", "percent", x, lines("error_rate")),
        Chart(f"{name}-p95", "p95 latency", "ms", x, lines("p95")),
    ]
    if any(any(s.cost_micro_usd) for _, s in versions):
        charts.append(Chart(f"{name}-cost", f"Cost {step}", "usd", x, lines("cost")))
    return charts


def _values(series: VersionSeries, pick: str) -> list[float | None]:
    if pick == "requests":
        return [float(n) for n in series.requests]
    if pick == "error_rate":
        return list(series.error_rate)
    if pick == "p95":
        return list(series.p95_ms)
    return [c / 1e6 for c in series.cost_micro_usd]


def _step_label(series: EndpointSeries) -> str:
    minutes = int(series.step.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"


def _quantile(histogram: LogHistogram, q: float) -> float | None:
    estimate = histogram.quantile(q)
    return None if estimate is None else estimate.estimate_ms


OVERVIEW = Panel("endpoints", "panels/endpoints.html", read_overview)
DETAIL = Panel("endpoint", "panels/endpoint.html", read_endpoint)
