"""The metrics an A/B test can judge: each name's type (proportion, mean, quantile), the
direction that is better by default, and its unit. Custom metrics are `metric.<name>`
(a mean of a named feedback metric) and `rate.<name>` (a 0/1 feedback metric as a rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CUSTOM_MEAN = "metric."
CUSTOM_RATE = "rate."


class MetricKind(StrEnum):
    PROPORTION = "proportion"
    MEAN = "mean"
    QUANTILE = "quantile"


class Better(StrEnum):
    """Which direction of the metric is an improvement."""

    HIGHER = "higher"
    LOWER = "lower"


class Source(StrEnum):
    """Where in a window's statistics the metric is read."""

    SUCCESSES = "successes"
    ERRORS = "errors"
    QUALITY = "quality"
    COST = "cost"
    LATENCY = "latency"
    TTFT = "ttft"
    CUSTOM = "custom"


@dataclass(frozen=True)
class MetricInfo:
    name: str
    kind: MetricKind
    better: Better
    unit: str
    source: Source
    what: str
    q: float | None = None  # quantiles only
    custom: str | None = None  # the feedback metric's name, custom metrics only


def _quantile(name: str, q: float, source: Source, what: str) -> MetricInfo:
    return MetricInfo(name, MetricKind.QUANTILE, Better.LOWER, "ms", source, what, q=q)


BUILTIN: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo(
            "success_rate", MetricKind.PROPORTION, Better.HIGHER, "share", Source.SUCCESSES,
            "share of requests that succeeded",
        ),
        MetricInfo(
            "error_rate", MetricKind.PROPORTION, Better.LOWER, "share", Source.ERRORS,
            "share of requests that failed",
        ),
        MetricInfo(
            "quality", MetricKind.MEAN, Better.HIGHER, "score", Source.QUALITY,
            "mean quality score of the requests that got one (feedback)",
        ),
        MetricInfo(
            "cost_per_request", MetricKind.MEAN, Better.LOWER, "micro-USD", Source.COST,
            "mean cost of a request",
        ),
        MetricInfo(
            "latency_mean", MetricKind.MEAN, Better.LOWER, "ms", Source.LATENCY, "mean latency"
        ),
        _quantile("latency_p50", 0.5, Source.LATENCY, "median latency"),
        _quantile("latency_p95", 0.95, Source.LATENCY, "95th percentile of latency"),
        _quantile("latency_p99", 0.99, Source.LATENCY, "99th percentile of latency"),
        _quantile("ttft_p50", 0.5, Source.TTFT, "median time to first token"),
        _quantile("ttft_p95", 0.95, Source.TTFT, "95th percentile of time to first token"),
    )
}  # fmt: skip

ALLOWED = f"{', '.join(BUILTIN)}, {CUSTOM_MEAN}<name> or {CUSTOM_RATE}<name>"


def metric_info(name: str) -> MetricInfo:
    """The metric a name stands for; ValueError naming the allowed ones otherwise."""
    found = BUILTIN.get(name)
    if found is not None:
        return found
    # Here, not at the top: the outcomes package loads scipy, which read commands avoid.
    from registry.outcomes.domain import METRIC_NAME

    for prefix, kind in ((CUSTOM_MEAN, MetricKind.MEAN), (CUSTOM_RATE, MetricKind.PROPORTION)):
        custom = name.removeprefix(prefix)
        if custom != name and METRIC_NAME.fullmatch(custom):
            what = "mean of feedback metric" if kind is MetricKind.MEAN else "rate of 0/1 metric"
            unit = "value" if kind is MetricKind.MEAN else "share"
            return MetricInfo(
                name, kind, Better.HIGHER, unit, Source.CUSTOM, f"{what} {custom!r}", custom=custom
            )
    raise ValueError(f"unknown metric {name!r:.80}; metrics: {ALLOWED}")
