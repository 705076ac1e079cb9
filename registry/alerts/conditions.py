"""The numbers rules compare: a threshold metric from a window's statistics, and the
error budget's burn rate (the SRE workbook's: error rate / (1 - objective))."""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry.catalog_alerts import format_duration
from registry.outcomes import WindowStats

if TYPE_CHECKING:
    from registry.alerts.rules import AlertRule

MICRO_USD = 1e-6


def metric_value(metric: str, stats: WindowStats) -> tuple[float | None, int]:
    """The metric's value in the window (None without data) and the sample behind it."""
    if metric == "error_rate":
        return (stats.errors.mean if stats.requests else None), stats.requests
    if metric == "cost_per_request_usd":
        value = stats.cost_micro_usd * MICRO_USD / stats.requests if stats.requests else None
        return value, stats.requests
    if metric == "quality_mean":
        return (stats.quality.mean if stats.quality.n else None), stats.quality.n
    histogram, q = {
        "latency_p95_ms": (stats.latency_histogram, 0.95),
        "latency_p99_ms": (stats.latency_histogram, 0.99),
        "ttft_p95_ms": (stats.ttft_histogram, 0.95),
    }[metric]
    estimate = histogram.quantile(q)
    return (estimate.estimate_ms if estimate else None), histogram.n


def burn_rate(stats: WindowStats | None, objective: float) -> float:
    """How many times faster than allowed the window spends the error budget; 0 without
    traffic (an idle window spends nothing)."""
    if stats is None or not stats.requests:
        return 0.0
    return stats.errors.mean / (1.0 - objective)


def describe_value(rule: AlertRule, value: float | None, sample: int) -> str:
    """`error_rate 12.5% over 5m (n=400); fires above 5%`."""
    spec = rule.spec
    metric, window = str(spec.metric), format_duration(int(spec.window or 0))
    side, limit = ("above", spec.above) if spec.above is not None else ("below", spec.below)
    shown = "no data" if value is None else _format(metric, value)
    enough = "" if sample >= spec.min_samples else f", fewer than min_samples {spec.min_samples}"
    return (
        f"{metric} {shown} over {window} (n={sample}{enough}); "
        f"fires {side} {_format(metric, float(limit or 0))}"
    )


def _format(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.2%}"
    if metric == "cost_per_request_usd":
        return f"${value:.6g}"
    if metric.endswith("_ms"):
        return f"{value:.1f} ms"
    return f"{value:.4g}"
