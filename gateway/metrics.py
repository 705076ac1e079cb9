"""The gateway's Prometheus metrics, one registry per app (never the global one).

Per request: a count and a latency observation kept in plain dictionaries (the event loop
is the only writer; prometheus_client's children, with their locks and checks, were 4% of a
request's CPU in py-spy) and turned into counter and histogram families when /metrics is
scraped, as are queue depth, spool size and key-pool state.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class _Timings:
    """One (endpoint, version)'s latency histogram: a count per bucket (the last is +Inf)."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class GatewayMetrics:
    def __init__(self, gauges: Gauges) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
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
        self._counted: dict[tuple[str, str, str, int], int] = {}
        self._timed: dict[tuple[str, str], _Timings] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self.registry.register(_RequestCollector(self))
        self.registry.register(_ScrapeCollector(gauges))

    def observe(
        self, route: str, endpoint: str, version: str, status: int, seconds: float | None
    ) -> None:
        key = (route, endpoint, version, status)
        self._counted[key] = self._counted.get(key, 0) + 1
        if seconds is not None:
            self.time(endpoint, version, seconds)

    def time(self, endpoint: str, version: str, seconds: float) -> None:
        timings = self._timed.get((endpoint, version))
        if timings is None:
            timings = self._timed[(endpoint, version)] = _Timings()
        timings.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: value <= bound
        timings.total += seconds

    def error(self, route: str, error_class: str) -> None:
        key = (route, error_class)
        self._errors[key] = self._errors.get(key, 0) + 1

    def snapshot(
        self,
    ) -> tuple[
        dict[tuple[str, str, str, int], int],
        dict[tuple[str, str], int],
        dict[tuple[str, str], _Timings],
    ]:
        """Copies of the request counts, error counts and latency histograms (for a scrape)."""
        return dict(self._counted), dict(self._errors), dict(self._timed)

    def render(self) -> bytes:
        """The text exposition, from memory only: call it on the event loop, where the
        caches and the key pool view change (never from a worker thread)."""
        return generate_latest(self.registry)


class _RequestCollector(Collector):
    """The per-request counts and histograms, as Prometheus families at scrape time."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        counted, errored, timed = self._metrics.snapshot()
        requests = CounterMetricFamily(
            "modelops_gateway_requests",
            "Requests answered, by route, endpoint, version and HTTP status.",
            labels=["route", "endpoint", "version", "status"],
        )
        for (route, endpoint, version, status), count in counted.items():
            requests.add_metric([route, endpoint, version, str(status)], count)
        yield requests
        errors = CounterMetricFamily(
            "modelops_gateway_errors",
            "Requests answered with an error, by route and error class.",
            labels=["route", "error_class"],
        )
        for (route, error_class), count in errored.items():
            errors.add_metric([route, error_class], count)
        yield errors
        latency = HistogramMetricFamily(
            "modelops_gateway_request_seconds",
            "Time from request to the last byte of the answer, per endpoint and version.",
            labels=["endpoint", "version"],
        )
        bounds = [floatToGoString(b) for b in LATENCY_BUCKETS] + ["+Inf"]  # type: ignore[no-untyped-call]
        for (endpoint, version), timings in timed.items():
            cumulative, buckets = 0, []
            for bound, count in zip(bounds, timings.counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            latency.add_metric([endpoint, version], buckets, timings.total)
        yield latency


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
