"""Sizing a test before it starts: the sample its alpha, power and MDE imply at the
control's recent level, and how long the endpoint's current traffic takes to bring it."""

from __future__ import annotations

from collections.abc import Mapping

from analysis import SampleSize, sample_size_means, sample_size_proportions, sequential_sample_size
from analysis.sequential import DEFAULT_N_STAR
from registry.abtests.definition import ABTestDefinition, Stopping
from registry.abtests.domain import MeanData, MetricData, Plan, ProportionData
from registry.abtests.metrics import MetricKind
from registry.abtests.samples import arm_data, mean_stats, proportion_stats
from registry.outcomes import WindowStats

BASELINE_MINUTES = 60  # the recent traffic the plan reads


def make_plan(
    definition: ABTestDefinition,
    windows: Mapping[int, WindowStats],
    a_version_id: int,
    minutes: int = BASELINE_MINUTES,
) -> Plan:
    """The plan from the endpoint's last `minutes` of rollups (`windows`: per version id)."""
    info = definition.primary.info
    units = sum(arm_data(0, w, [info]).metrics[info.name].n for w in windows.values())
    per_minute = units / minutes
    baseline = arm_data(0, windows.get(a_version_id), [info]).metrics[info.name]
    level, sd, note = _baseline(definition, baseline)
    fixed = None if level is None else _fixed_size(definition, level, sd)
    if fixed is None:
        return _unsized(definition, minutes, baseline.n, level, sd, per_minute, note)
    planned = sequential_sample_size(fixed) if definition.mode is Stopping.SEQUENTIAL else fixed
    expected = planned.total / per_minute if per_minute > 0 else None
    note = f"{planned.total} units at {per_minute:.4g} per minute" + (
        "" if expected is not None else " (no current traffic: duration unknown)"
    )
    return Plan(
        baseline_minutes=minutes,
        baseline_requests=baseline.n,
        baseline=level,
        baseline_sd=sd,
        requests_per_minute=per_minute,
        fixed_n_a=fixed.n_a,
        fixed_n_b=fixed.n_b,
        n_a=planned.n_a,
        n_b=planned.n_b,
        n_star=float(planned.total),
        expected_minutes=expected,
        note=note,
    )


def _baseline(
    definition: ABTestDefinition, data: MetricData
) -> tuple[float | None, float | None, str]:
    version = definition.a.version
    if isinstance(data, ProportionData) and data.n > 0:
        rate = proportion_stats(data).mean
        if 0.0 < rate < 1.0:
            return rate, None, ""
        return None, None, f"v{version}'s recent rate is {rate:g}: nothing to size from"
    if isinstance(data, MeanData) and data.n > 1:
        stats = mean_stats(data)
        if stats.sd > 0:
            return stats.mean, stats.sd, ""
        return None, None, f"v{version}'s recent values do not vary: nothing to size from"
    return None, None, f"v{version} has no recent {definition.primary.metric} to size from"


def _fixed_size(definition: ABTestDefinition, level: float, sd: float | None) -> SampleSize | None:
    primary = definition.primary
    ratio = definition.b.weight / definition.a.weight
    alpha, power = definition.alpha, definition.power
    if primary.info.kind is MetricKind.MEAN:
        assert sd is not None
        return sample_size_means(sd, primary.mde, alpha=alpha, power=power, ratio=ratio)
    # The rate can move either way; size for the side that stays inside (0, 1).
    for mde in (primary.mde, -primary.mde):
        if 0.0 < level + mde < 1.0:
            return sample_size_proportions(level, mde, alpha=alpha, power=power, ratio=ratio)
    return None


def _unsized(
    definition: ABTestDefinition,
    minutes: int,
    units: int,
    level: float | None,
    sd: float | None,
    per_minute: float,
    note: str,
) -> Plan:
    note = note or f"an MDE of {definition.primary.mde:g} cannot be sized at a rate of {level}"
    return Plan(
        baseline_minutes=minutes,
        baseline_requests=units,
        baseline=level,
        baseline_sd=sd,
        requests_per_minute=per_minute,
        fixed_n_a=None,
        fixed_n_b=None,
        n_a=None,
        n_b=None,
        n_star=float(DEFAULT_N_STAR),
        expected_minutes=None,
        note=f"{note}; the always-valid intervals use n_star = {DEFAULT_N_STAR}",
    )
