"""Every number a look keeps is `analysis` called on the look's sufficient statistics, and
those statistics are the ones recomputed here from the raw outcome rows."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis import (
    MeanStats,
    ProportionStats,
    adjust_pvalues,
    compare_quantiles,
    sequential_comparison,
    sequential_means,
    sequential_proportions,
    srm_check,
)
from registry.abtests import ABTestRepository
from registry.abtests.domain import ArmData, HistogramData, MeanData, MetricResult, ProportionData
from registry.abtests.lifecycle import create_test, start_test, take_look
from registry.abtests.samples import histogram_values
from registry.domain import Team
from registry.outcomes.tables import OutcomeRow
from tests.registry.abtest_support import ENDPOINT, Clock, definition, sessions, team, traffic
from tests.registry.test_outcomes_support import bucket_counts

__all__ = ["sessions", "team"]  # fixtures

GUARDED = definition(
    guardrails=[
        {"metric": "latency_p95", "margin": 0.1, "relative": True},
        {"metric": "cost_per_request", "margin": 50},
        {"metric": "quality", "margin": 0.05},
    ]
)


def _run(sessions: sessionmaker[Session], team: Team) -> tuple[int, list[ArmData], list]:  # type: ignore[type-arg]
    clock = Clock()
    with sessions.begin() as session:
        test = create_test(session, team, GUARDED, now=clock())
        start_test(session, team, test.id, now=clock())
    source = traffic(
        sessions, team, clock, seed=9, success={1: 0.9, 2: 0.92},
        median_latency_ms={1: 200.0, 2: 190.0}, quality={1: 0.7, 2: 0.72},
    )  # fmt: skip
    looks = []
    for _ in range(3):
        clock.advance(seconds=20)
        source.send(ENDPOINT, 700)
        with sessions.begin() as session:
            looks.append(take_look(session, team, test.id, now=clock())[1])
    with sessions.begin() as session:
        stored = ABTestRepository(session, team).looks(test.id)
    return test.id, [stored[-1].a, stored[-1].b], stored


def _raw(sessions: sessionmaker[Session], team: Team) -> dict[int, dict[str, object]]:
    """Per version id: the statistics of its raw outcome rows, computed here."""
    with sessions.begin() as session:
        rows = session.scalars(select(OutcomeRow).where(OutcomeRow.team_id == team.id)).all()
    found: dict[int, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        found[row.model_version_id]["success"].append(row.success)
        found[row.model_version_id]["cost"].append(row.cost_micro_usd)
        found[row.model_version_id]["latency_ms"].append(row.latency_us / 1000)
        if row.quality is not None:
            found[row.model_version_id]["quality"].append(row.quality)
    return {
        version: {
            "requests": len(values["success"]),
            "success_rate": ProportionData(
                n=len(values["success"]), successes=sum(values["success"])
            ),  # type: ignore[arg-type]
            "cost_per_request": _mean(values["cost"]),
            "quality": _mean(values["quality"]),
            "latency_p95": HistogramData(counts=bucket_counts(values["latency_ms"])),  # type: ignore[arg-type]
        }
        for version, values in found.items()
    }


def _mean(values: list[object]) -> MeanData:
    exact = [Decimal(repr(v)) for v in values]
    return MeanData(n=len(exact), sum=float(sum(exact)), sum_sq=float(sum(v * v for v in exact)))


def test_a_look_s_statistics_are_the_raw_rows_and_its_numbers_are_analysis_on_them(
    sessions: sessionmaker[Session], team: Team
) -> None:
    test_id, (a, b), looks = _run(sessions, team)
    raw = _raw(sessions, team)
    version_ids = sorted(raw)  # v1 then v2: seeded in that order
    for arm, version_id in zip((a, b), version_ids, strict=True):
        expected = raw[version_id]
        assert arm.requests == expected["requests"]
        for name in ("success_rate", "cost_per_request", "quality", "latency_p95"):
            assert arm.metrics[name] == expected[name], name
    result = looks[-1].result
    n_star = _plan_n_star(sessions, team, test_id)
    _check_srm(result.srm, a, b)
    _check_primary(result.primary, a, b, n_star)
    _check_guardrails(result.guardrails, a, b, n_star)


def _plan_n_star(sessions: sessionmaker[Session], team: Team, test_id: int) -> float:
    with sessions.begin() as session:
        return ABTestRepository(session, team).get(test_id).plan.n_star


def _check_srm(srm, a: ArmData, b: ArmData) -> None:  # type: ignore[no-untyped-def]
    found = srm_check([a.requests, b.requests], [50, 50], threshold=0.001, min_deviation=0.001)
    assert (srm.chi2, srm.p_value, srm.mismatch) == (found.chi2, found.p_value, found.mismatch)


def _proportions(arm: ArmData) -> ProportionStats:
    data = arm.metrics["success_rate"]
    assert isinstance(data, ProportionData)
    return ProportionStats(n=data.n, successes=data.successes)


def _means(arm: ArmData, name: str) -> MeanStats:
    data = arm.metrics[name]
    assert isinstance(data, MeanData)
    return MeanStats(n=data.n, sum=data.sum, sum_sq=data.sum_sq)


def _check_primary(got: MetricResult, a: ArmData, b: ArmData, n_star: float) -> None:
    pa, pb = _proportions(a), _proportions(b)
    absolute = sequential_proportions(pa, pb, alpha=0.05, n_star=n_star)
    lift = sequential_proportions(pa, pb, alpha=0.05, n_star=n_star, relative=True)
    assert (got.estimate_a, got.estimate_b) == (pa.mean, pb.mean)
    assert (got.diff, got.diff_ci, got.p_value) == (
        absolute.estimate,
        absolute.ci,
        absolute.p_value,
    )
    assert (got.rel_lift, got.rel_lift_ci) == (lift.estimate, lift.ci)


def _check_guardrails(got: list[MetricResult], a: ArmData, b: ArmData, n_star: float) -> None:
    latency = [histogram_values(arm.metrics["latency_p95"].counts) for arm in (a, b)]  # type: ignore[union-attr]
    fixed_lift = compare_quantiles(latency[0], latency[1], 0.95, relative=True)
    fixed_abs = compare_quantiles(latency[0], latency[1], 0.95)
    p95 = sequential_comparison(fixed_lift, n_star=n_star, margin=0.1, relative=True)
    p95_abs = sequential_comparison(fixed_abs, n_star=n_star)
    cost = sequential_means(_means(a, "cost_per_request"), _means(b, "cost_per_request"), n_star=n_star, margin=50)  # fmt: skip
    quality = sequential_means(_means(a, "quality"), _means(b, "quality"), n_star=n_star, margin=-0.05)  # fmt: skip
    holm = adjust_pvalues([p95.p_value, cost.p_value, quality.p_value], method="holm")
    latency_got, cost_got, quality_got = got
    assert (latency_got.estimate_a, latency_got.estimate_b) == (
        fixed_abs.estimate_a,
        fixed_abs.estimate_b,
    )
    assert (latency_got.diff, latency_got.diff_ci) == (p95_abs.estimate, p95_abs.ci)
    assert (latency_got.rel_lift, latency_got.rel_lift_ci) == (p95.estimate, p95.ci)
    assert (latency_got.p_value, latency_got.boundary) == (p95.p_value, 0.1)
    assert (cost_got.diff, cost_got.diff_ci, cost_got.p_value) == (
        cost.estimate,
        cost.ci,
        cost.p_value,
    )
    assert (quality_got.diff, quality_got.diff_ci) == (quality.estimate, quality.ci)
    assert quality_got.boundary == -0.05  # higher quality is better: worse is below -margin
    assert [g.p_adjusted for g in got] == list(holm)


def test_feedback_metrics_are_rates_when_0_or_1_and_unusable_otherwise(
    sessions: sessionmaker[Session], team: Team
) -> None:
    from datetime import UTC, datetime

    from registry.abtests.metrics import metric_info
    from registry.abtests.samples import arm_data
    from registry.endpoints import EndpointRepository
    from registry.outcomes import Outcome, store_outcomes, window_stats

    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with sessions.begin() as session:
        endpoint = EndpointRepository(session, team).row(ENDPOINT)
        outcomes = [
            Outcome(
                request_id=f"fb-{i}", team_id=team.id, endpoint_id=endpoint.id,
                model_version_id=1, at=at, latency_ms=10.0, success=True,
                metrics={"thumbs_up": float(i % 3 == 0), "stars": float(1 + i % 5)},
            )
            for i in range(30)
        ]  # fmt: skip
        store_outcomes(session, outcomes)
        window = window_stats(session, team, endpoint.id, at, at.replace(minute=1))[1]
    infos = [metric_info(n) for n in ("rate.thumbs_up", "rate.stars", "metric.stars")]
    data = arm_data(1, window, infos).metrics
    assert data["rate.thumbs_up"] == ProportionData(n=30, successes=10)
    assert data["rate.stars"].kind == "unusable"
    assert "rate.stars needs values 0 or 1" in data["rate.stars"].reason  # type: ignore[union-attr]
    assert data["metric.stars"] == MeanData(n=30, sum=90.0, sum_sq=330.0)
