"""The gateway's Prometheus metrics, one registry per app (never the global one).

Per request: one counter and one histogram observation on children looked up once per
(endpoint, version, status) and kept, so a request pays a dict lookup, not label parsing.
Queue depth, spool size and key-pool state are read when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.outcome_writer import WriterState, WriterStatus

# Seconds; gateway overhead is sub-millisecond, model calls take seconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)


@dataclass(frozen=True)
class Gauges:
    """What the scrape reads from the rest of the gateway."""

    sink: Callable[[], WriterStatus]
    shadow_depth: Callable[[], int]
    cache_sizes: Callable[[], dict[str, int]]
    # Keys per (team, provider) by state, from the process's key pool view (no database).
    key_states: Callable[[], dict[tuple[str, str], dict[str, int]]]


class GatewayMetrics:
    def __init__(self, gauges: Gauges) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "modelops_gateway_requests",
            "Requests answered, by route, endpoint, version and HTTP status.",
            ["route", "endpoint", "version", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelops_gateway_errors",
            "Requests answered with an error, by route and error class.",
            ["route", "error_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelops_gateway_request_seconds",
            "Time from request to the last byte of the answer, per endpoint and version.",
            ["endpoint", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "modelops_gateway_shadow_dropped",
            "Shadow requests dropped because the shadow queue was full.",
            registry=self.registry,
        )
        self.outcomes_refused = Counter(
            "modelops_gateway_outcomes_refused",
            "Outcomes the writer refused (spool full or closed).",
            registry=self.registry,
        )
        self.registry.register(_ScrapeCollector(gauges))
        self._counted: dict[tuple[str, str, str, int], Callable[[], None]] = {}
        self._timed: dict[tuple[str, str], Callable[[float], None]] = {}
        self._errors: dict[tuple[str, str], Callable[[], None]] = {}

    def observe(
        self, route: str, endpoint: str, version: str, status: int, seconds: float | None
    ) -> None:
        key = (route, endpoint, version, status)
        count = self._counted.get(key)
        if count is None:
            count = self._counted[key] = self.requests.labels(
                route, endpoint, version, str(status)
            ).inc
        count()
        if seconds is not None:
            self.time(endpoint, version, seconds)

    def time(self, endpoint: str, version: str, seconds: float) -> None:
        timed = self._timed.get((endpoint, version))
        if timed is None:
            timed = self._timed[(endpoint, version)] = self.latency.labels(
                endpoint, version
            ).observe
        timed(seconds)

    def error(self, route: str, error_class: str) -> None:
        count = self._errors.get((route, error_class))
        if count is None:
            count = self._errors[(route, error_class)] = self.errors.labels(route, error_class).inc
        count()

    def render(self) -> bytes:
        """The text exposition, from memory only: call it on the event loop, where the
        caches and the key pool view change (never from a worker thread)."""
        return generate_latest(self.registry)


class _ScrapeCollector(Collector):
    def __init__(self, gauges: Gauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self._gauges.sink()
        yield _gauge(
            "modelops_gateway_outcome_queue_depth",
            "Outcomes acknowledged, not yet stored.",
            status.backlog,
        )
        yield _gauge(
            "modelops_gateway_outcome_spool_bytes",
            "Bytes in the local outcome spool.",
            status.spool_bytes,
        )
        yield _gauge(
            "modelops_gateway_outcome_spool_limit_bytes",
            "Largest the spool may grow.",
            status.spool_limit_bytes,
        )
        yield _gauge(
            "modelops_gateway_outcome_spool_full",
            "1 while the spool is full and outcomes are refused.",
            int(status.state is WriterState.SPOOL_FULL),
        )
        yield CounterMetricFamily(
            "modelops_gateway_outcomes_stored",
            "Outcomes stored in the database by this process's writer.",
            value=status.stored,
        )
        yield _gauge(
            "modelops_gateway_shadow_queue_depth",
            "Shadow requests waiting.",
            self._gauges.shadow_depth(),
        )
        caches = GaugeMetricFamily(
            "modelops_gateway_cache_entries", "Entries in the caches.", labels=["cache"]
        )
        for name, size in self._gauges.cache_sizes().items():
            caches.add_metric([name], size)
        yield caches
        yield self._key_pool()

    def _key_pool(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "modelops_gateway_provider_keys",
            "Provider keys of the pools this process uses, by team, provider and state "
            "(available, leased: held by a call in flight, cooling, disabled).",
            labels=["team", "provider", "state"],
        )
        for (team, provider), counts in sorted(self._gauges.key_states().items()):
            for state, count in counts.items():
                family.add_metric([team, provider, state], count)
        return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
