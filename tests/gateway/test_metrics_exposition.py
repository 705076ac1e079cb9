"""The per-request counts and latency histograms kept in plain dictionaries come out of the
exposition as Prometheus counters and cumulative histograms, equal to counts made here."""

from __future__ import annotations

import random

from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import LATENCY_BUCKETS, GatewayMetrics, Gauges
from gateway.outcome_writer import WriterState, WriterStatus


def _status() -> WriterStatus:
    return WriterStatus(
        state=WriterState.RUNNING,
        ready=True,
        database_available=True,
        backlog=0,
        spool_bytes=0,
        spool_limit_bytes=1,
        submitted=0,
        stored=0,
        duplicates=0,
        refused=0,
        rejected=0,
        last_error=None,
    )


def test_counts_and_histograms_equal_an_independent_count() -> None:
    metrics = GatewayMetrics(Gauges(_status, lambda: 0, lambda: {}, lambda: {}))
    rng = random.Random(7)
    seconds = [
        rng.choice([0.0005, 0.01, 2.5]) if i % 5 == 0 else rng.expovariate(20) for i in range(2000)
    ]
    seconds += [120.0]  # beyond the last bound: only +Inf
    for i, value in enumerate(seconds):
        metrics.observe("chat", "assistant", str(1 + i % 2), 200, value)
    metrics.observe("chat", "assistant", "1", 502, None)  # counted, not timed
    metrics.error("chat", "upstream_error")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    for version in ("1", "2"):
        mine = [value for i, value in enumerate(seconds) if str(1 + i % 2) == version]
        labels = (("endpoint", "assistant"), ("version", version))
        assert samples[("modelops_gateway_request_seconds_count", labels)] == len(mine)
        assert abs(samples[("modelops_gateway_request_seconds_sum", labels)] - sum(mine)) < 1e-9
        for bound in LATENCY_BUCKETS:
            le = (("endpoint", "assistant"), ("le", str(float(bound))), ("version", version))
            assert samples[("modelops_gateway_request_seconds_bucket", le)] == sum(
                1 for value in mine if value <= bound
            ), bound
        inf = (("endpoint", "assistant"), ("le", "+Inf"), ("version", version))
        assert samples[("modelops_gateway_request_seconds_bucket", inf)] == len(mine)
    ok = (("endpoint", "assistant"), ("route", "chat"), ("status", "200"), ("version", "1"))
    assert samples[("modelops_gateway_requests_total", ok)] == 1001
    bad = (("endpoint", "assistant"), ("route", "chat"), ("status", "502"), ("version", "1"))
    assert samples[("modelops_gateway_requests_total", bad)] == 1
    errors = (("error_class", "upstream_error"), ("route", "chat"))
    assert samples[("modelops_gateway_errors_total", errors)] == 1
