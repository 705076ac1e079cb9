"""A definition refuses what it cannot mean, naming the field and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from registry.abtests import Better, MetricKind, Stopping, metric_info
from tests.registry.abtest_support import definition


def _error(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        definition(**overrides)
    return str(caught.value)


def test_a_default_definition_is_sequential_at_alpha_5_and_power_80() -> None:
    made = definition()
    assert (made.mode, made.alpha, made.power) == (Stopping.SEQUENTIAL, 0.05, 0.8)
    assert (made.a.version, made.b.version) == (1, 2)
    assert made.primary.direction is Better.HIGHER


@pytest.mark.parametrize(
    ("name", "kind", "better"),
    [
        ("success_rate", MetricKind.PROPORTION, Better.HIGHER),
        ("error_rate", MetricKind.PROPORTION, Better.LOWER),
        ("rate.thumbs_up", MetricKind.PROPORTION, Better.HIGHER),
        ("quality", MetricKind.MEAN, Better.HIGHER),
        ("cost_per_request", MetricKind.MEAN, Better.LOWER),
        ("metric.csat", MetricKind.MEAN, Better.HIGHER),
        ("latency_p95", MetricKind.QUANTILE, Better.LOWER),
    ],
)
def test_each_metric_has_its_type_and_the_direction_that_is_better(
    name: str, kind: MetricKind, better: Better
) -> None:
    info = metric_info(name)
    assert (info.kind, info.better) == (kind, better)


def test_split_must_sum_to_100() -> None:
    message = _error(variants=[{"version": 1, "weight": 60}, {"version": 2, "weight": 30}])
    assert "weights must sum to 100, got 90 (v1=60, v2=30)" in message


def test_the_two_variants_must_differ() -> None:
    message = _error(variants=[{"version": 2, "weight": 50}, {"version": 2, "weight": 50}])
    assert "a and b are both v2" in message


def test_an_unknown_metric_names_the_field_and_the_metrics_there_are() -> None:
    message = _error(primary={"metric": "happiness", "mde": 0.1})
    assert "primary.metric" in message
    assert "unknown metric 'happiness'" in message
    assert "success_rate" in message and "metric.<name>" in message
    guardrail = _error(guardrails=[{"metric": "latency_p42", "margin": 1}])
    assert "guardrails.0.metric" in guardrail and "unknown metric 'latency_p42'" in guardrail


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5])
def test_alpha_outside_the_open_unit_interval_is_refused(alpha: float) -> None:
    message = _error(alpha=alpha)
    assert "alpha" in message and f"alpha must be in (0, 1), exclusive, got {alpha}" in message


def test_power_outside_the_open_unit_interval_is_refused() -> None:
    assert "power must be in (0, 1)" in _error(power=1.0)


def test_a_quantile_is_a_guardrail_not_a_primary_metric() -> None:
    message = _error(primary={"metric": "latency_p95", "mde": 10})
    assert "quantiles serve as guardrails only" in message


def test_the_mde_of_a_rate_is_a_share() -> None:
    assert "mde of a rate is a share below 1" in _error(
        primary={"metric": "success_rate", "mde": 3}
    )


def test_a_metric_is_listed_once() -> None:
    message = _error(guardrails=[{"metric": "success_rate", "margin": 0.01}])
    assert "metrics listed more than once: success_rate" in message


def test_promote_to_is_a_stage_a_promotion_can_aim_at() -> None:
    assert "promote_to must be one of testing, staging, production" in _error(promote_to="archived")
    assert definition(promote_to=None).promote_to is None


def test_unknown_fields_are_refused() -> None:
    assert "Extra inputs are not permitted" in _error(colour="blue")
