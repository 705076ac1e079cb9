"""Scoring an evaluation: aggregates, the paired comparison with the champion, the gate verdicts.

Pure; the statistics come from `analysis`. `min_accuracy` is judged on the point estimate (a
gate on the interval's low end would punish small eval sets); the Wilson interval is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

from analysis import mcnemar, quantile_ci
from analysis.proportions import wilson_interval
from registry.catalog_spec import CostSpec, GatesSpec
from registry.domain import Frozen, JsonObject
from registry.evaluations import EvaluationAggregates, EvaluationSummary, ExampleResult
from registry.stages import Stage
from tasks.evaluation_dataset import EvalDataset
from tasks.evaluation_plan import EvaluationPlan, RunResults

ALPHA = 0.05  # one-sided McNemar level for "worse than the champion"
CONFIDENCE = 0.95  # of the accuracy interval


class PairedComparison(Frozen):
    """Exact McNemar on the examples both versions answered: b = only the champion right,
    c = only the candidate right; worse = one-sided (c < b) significant at ALPHA."""

    champion_version: int
    pairs: int
    candidate_accuracy: float
    champion_accuracy: float
    b: int
    c: int
    p_value: float
    p_value_worse: float
    worse_than_champion: bool
    summary: str


@dataclass(frozen=True)
class GateVerdict:
    gate: str
    passed: bool
    threshold: float | bool
    observed: float | bool | None
    reason: str

    def as_json(self) -> JsonObject:
        return {
            "passed": self.passed,
            "threshold": self.threshold,
            "observed": self.observed,
            "reason": self.reason,
        }


class Scorecard(Frozen):
    summary: EvaluationSummary
    champion_summary: EvaluationSummary | None
    comparison: PairedComparison | None
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


def compare_with_champion(candidate: RunResults, champion: RunResults) -> PairedComparison:
    """Pair the two runs by example hash and test the discordant pairs."""
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
    two_sided = mcnemar(b, c, exact=True, alternative="two-sided")
    worse = mcnemar(b, c, exact=True, alternative="less", alpha=ALPHA)
    candidate_accuracy = sum(cand for _, cand in pairs) / len(pairs)
    champion_accuracy = sum(champ for champ, _ in pairs) / len(pairs)
    summary = (
        f"candidate {candidate_accuracy:.3f} vs champion {champion_accuracy:.3f}: "
        f"{candidate_accuracy - champion_accuracy:+.3f}, McNemar p={two_sided.p_value:.2g} "
        f"(b={b}, c={c})"
    )
    return PairedComparison(
        champion_version=champion.version,
        pairs=len(pairs),
        candidate_accuracy=candidate_accuracy,
        champion_accuracy=champion_accuracy,
        b=b,
        c=c,
        p_value=two_sided.p_value,
        p_value_worse=worse.p_value,
        worse_than_champion=worse.significant,
        summary=summary,
    )


def judge_gates(
    gates: GatesSpec, scores: EvaluationAggregates, comparison: PairedComparison | None
) -> list[GateVerdict]:
    """One verdict per gate the policy sets; a gate left out of the policy is not judged."""
    verdicts = []
    if gates.min_accuracy is not None:
        verdicts.append(_accuracy_verdict(gates.min_accuracy, scores))
    if gates.not_worse_than_champion:
        verdicts.append(_champion_verdict(comparison))
    if gates.max_p95_latency_ms is not None:
        limit = gates.max_p95_latency_ms
        ok = scores.latency_p95_ms <= limit
        reason = (
            f"p95 latency {scores.latency_p95_ms:.1f} ms is "
            f"{'within' if ok else 'above'} max_p95_latency_ms {limit:g}"
        )
        verdicts.append(GateVerdict("max_p95_latency_ms", ok, limit, scores.latency_p95_ms, reason))
    if gates.max_error_rate is not None:
        limit = gates.max_error_rate
        rate = scores.errors / scores.examples if scores.examples else 0.0
        ok = rate <= limit
        reason = (
            f"error rate {rate:.3f} ({scores.errors} of {scores.examples}) is "
            f"{'within' if ok else 'above'} max_error_rate {limit:g}"
        )
        verdicts.append(GateVerdict("max_error_rate", ok, limit, rate, reason))
    return verdicts


def _accuracy_verdict(minimum: float, scores: EvaluationAggregates) -> GateVerdict:
    ok = scores.accuracy >= minimum
    interval = f"{CONFIDENCE:.0%} CI {scores.accuracy_low:.3f}-{scores.accuracy_high:.3f}"
    reason = (
        f"accuracy {scores.accuracy:.3f} ({interval}) is "
        f"{'at least' if ok else 'below'} min_accuracy {minimum:g}"
    )
    return GateVerdict("min_accuracy", ok, minimum, scores.accuracy, reason)


def _champion_verdict(comparison: PairedComparison | None) -> GateVerdict:
    gate = "not_worse_than_champion"
    if comparison is None:
        return GateVerdict(gate, True, True, None, "no champion in production to compare with")
    worse = comparison.worse_than_champion
    verdict = "significantly worse than" if worse else "not significantly worse than"
    reason = (
        f"{verdict} champion v{comparison.champion_version} (one-sided McNemar "
        f"p={comparison.p_value_worse:.2g}, alpha {ALPHA:g}): {comparison.summary}"
    )
    return GateVerdict(gate, not worse, True, not worse, reason)


def score(
    plan: EvaluationPlan, dataset: EvalDataset, candidate: RunResults, champion: RunResults | None
) -> Scorecard:
    """Everything the evaluation concludes, ready to store and report."""
    scores = aggregate(candidate.results, plan.cost)
    comparison = None if champion is None else compare_with_champion(candidate, champion)
    verdicts = judge_gates(plan.gates, scores, comparison)
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


def _comparison_json(plan: EvaluationPlan, comparison: PairedComparison | None) -> JsonObject:
    if comparison is not None:
        document: JsonObject = {**comparison.model_dump(), "test": "exact McNemar", "alpha": ALPHA}
        return document
    candidate = plan.candidate
    if candidate.stage is Stage.PRODUCTION:
        note = f"v{candidate.version} is the production version itself: no champion to compare"
    else:
        note = f"no champion: no version of {candidate.model} is in production"
    return {"summary": note, "worse_than_champion": False}
