"""Scoring an evaluation: aggregates, the paired comparison with the champion, the gate verdicts.

Pure; the statistics come from `analysis` and the verdicts from `registry.gates`, the judge the
promote flow applies too. `min_accuracy` is judged on the point estimate (a gate on the
interval's low end would punish small eval sets); the Wilson interval is shown.
"""

from __future__ import annotations

from statistics import NormalDist

from analysis import mcnemar, quantile_ci
from analysis.proportions import wilson_interval
from registry.catalog_spec import CostSpec
from registry.domain import Frozen, JsonObject
from registry.evaluations import EvaluationAggregates, EvaluationSummary, ExampleResult
from registry.gates import (
    ALPHA,
    CONFIDENCE,
    ChampionComparison,
    ChampionTest,
    GateVerdict,
    judge_gates,
    worse_than_champion,
)
from registry.stages import Stage
from tasks.evaluation_dataset import EvalDataset
from tasks.evaluation_plan import EvaluationPlan, RunResults


class Scorecard(Frozen):
    summary: EvaluationSummary
    champion_summary: EvaluationSummary | None
    comparison: ChampionComparison | None
    verdicts: list[GateVerdict]

    @property
    def failures(self) -> list[str]:
        return [verdict.reason for verdict in self.verdicts if not verdict.passed]


def aggregate(results: list[ExampleResult], cost: CostSpec) -> EvaluationAggregates:
    """Accuracy with its Wilson interval; latency quantiles over the examples that answered."""
    n, correct = len(results), sum(result.correct for result in results)
    z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2.0)
    low, high = wilson_interval(correct, n, z) if n else (0.0, 1.0)
    latencies = [result.latency_ms for result in results if result.error is None]
    input_tokens = sum(result.input_tokens for result in results)
    output_tokens = sum(result.output_tokens for result in results)
    return EvaluationAggregates(
        examples=n,
        correct=correct,
        accuracy=correct / n if n else 0.0,
        accuracy_low=low,
        accuracy_high=high,
        latency_p50_ms=quantile_ci(latencies, 0.5).estimate,
        latency_p95_ms=quantile_ci(latencies, 0.95).estimate,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=(input_tokens * cost.input_per_1k + output_tokens * cost.output_per_1k) / 1000.0,
        errors=sum(result.error is not None for result in results),
    )


def compare_with_champion(
    candidate: RunResults, champion: RunResults, test: ChampionTest = ChampionTest.EXACT
) -> ChampionComparison:
    """Pair the two runs by example hash and test the discordant pairs with `test`."""
    champion_right = {result.example_sha256: result.correct for result in champion.results}
    pairs = [
        (champion_right[result.example_sha256], result.correct)
        for result in candidate.results
        if result.example_sha256 in champion_right
    ]
    if not pairs:
        raise ValueError("the champion's results share no example with the candidate's")
    b = sum(champ and not cand for champ, cand in pairs)
    c = sum(cand and not champ for champ, cand in pairs)
    mid_p = test is ChampionTest.MID_P
    two_sided = mcnemar(b, c, exact=True, mid_p=mid_p, alternative="two-sided")
    worse = worse_than_champion(b, c, test)
    candidate_accuracy = sum(cand for _, cand in pairs) / len(pairs)
    champion_accuracy = sum(champ for champ, _ in pairs) / len(pairs)
    summary = (
        f"candidate {candidate_accuracy:.3f} vs champion {champion_accuracy:.3f}: "
        f"{candidate_accuracy - champion_accuracy:+.3f}, McNemar{' mid-p' if mid_p else ''} "
        f"p={two_sided.p_value:.2g} (b={b}, c={c})"
    )
    return ChampionComparison(
        champion_version=champion.version,
        pairs=len(pairs),
        candidate_accuracy=candidate_accuracy,
        champion_accuracy=champion_accuracy,
        b=b,
        c=c,
        test=test,
        p_value=two_sided.p_value,
        p_value_worse=worse.p_value,
        worse_than_champion=worse.significant,
        summary=summary,
    )


def score(
    plan: EvaluationPlan, dataset: EvalDataset, candidate: RunResults, champion: RunResults | None
) -> Scorecard:
    """Everything the evaluation concludes, ready to store and report."""
    scores = aggregate(candidate.results, plan.cost)
    test = ChampionTest.of(plan.gates)
    comparison = None if champion is None else compare_with_champion(candidate, champion, test)
    current = plan.champion.version if plan.champion else None
    verdicts = judge_gates(plan.gates, scores, comparison, champion=current)
    summary = _summary(dataset, scores, champion.version if champion else None)
    summary = summary.model_copy(
        update={
            "comparison": _comparison_json(plan, comparison),
            "gates": {verdict.gate: verdict.as_json() for verdict in verdicts},
            "passed": all(verdict.passed for verdict in verdicts),
        }
    )
    champion_summary = None
    if champion is not None:
        baseline = f"baseline of v{champion.version} for v{candidate.version}; no gates judged"
        champion_summary = _summary(dataset, aggregate(champion.results, plan.cost), None)
        champion_summary = champion_summary.model_copy(
            update={"comparison": {"summary": baseline, "worse_than_champion": False}}
        )
    return Scorecard(
        summary=summary, champion_summary=champion_summary, comparison=comparison, verdicts=verdicts
    )


def ledger_evidence(scorecard: Scorecard, evaluation_id: int) -> JsonObject:
    """What the ledger keeps about why the version moved."""
    summary = scorecard.summary
    return {
        "evaluation_id": evaluation_id,
        "dataset": summary.dataset_name,
        "dataset_sha256": summary.dataset_sha256,
        "examples": summary.examples,
        "accuracy": summary.accuracy,
        "accuracy_ci95": [summary.accuracy_low, summary.accuracy_high],
        "latency_p95_ms": summary.latency_p95_ms,
        "errors": summary.errors,
        "champion_version": summary.champion_version,
        "versus_champion": summary.comparison.get("summary"),
        "gates": summary.gates,
        "failures": list(scorecard.failures),
    }


def _summary(
    dataset: EvalDataset, scores: EvaluationAggregates, champion: int | None
) -> EvaluationSummary:
    return EvaluationSummary(
        dataset_name=dataset.name,
        dataset_uri=dataset.uri,
        dataset_sha256=dataset.sha256,
        champion_version=champion,
        comparison={},
        gates={},
        passed=True,  # a record with no gates judged (a champion's baseline) passes vacuously
        **scores.model_dump(),
    )


def _comparison_json(plan: EvaluationPlan, comparison: ChampionComparison | None) -> JsonObject:
    if comparison is not None:
        document: JsonObject = {**comparison.model_dump(mode="json"), "alpha": ALPHA}
        return document
    candidate = plan.candidate
    if candidate.stage is Stage.PRODUCTION:
        note = f"v{candidate.version} is the production version itself: no champion to compare"
    else:
        note = f"no champion: no version of {candidate.model} is in production"
    return {"summary": note, "worse_than_champion": False}
