"""The one judge of a stage policy's gates, used by the evaluate flow and the promote flow.

Pure: verdicts from an evaluation's aggregates and its paired comparison with the champion.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError

from analysis import McNemarResult, mcnemar
from registry.catalog_spec import GatesSpec
from registry.domain import Frozen, JsonObject
from registry.evaluations import EvaluationAggregates

ALPHA = 0.05  # one-sided McNemar level for "worse than the champion"
CONFIDENCE = 0.95  # of the Wilson accuracy interval every evaluation stores


class ChampionTest(StrEnum):
    """How `not_worse_than_champion` tests the discordant pairs: the policy's `champion_test`."""

    EXACT = "exact"
    MID_P = "mid-p"

    @classmethod
    def of(cls, gates: GatesSpec) -> ChampionTest:
        return cls(gates.champion_test or cls.EXACT)

    @property
    def label(self) -> str:
        return f"{self.value} McNemar"


class ChampionComparison(Frozen):
    """McNemar on the examples both versions answered: b = only the champion right, c = only
    the candidate right; worse = one-sided (c < b) significant at ALPHA under `test`. Stored
    as the evaluation's `comparison` document."""

    champion_version: int
    pairs: int
    candidate_accuracy: float
    champion_accuracy: float
    b: int
    c: int
    test: ChampionTest
    p_value: float
    p_value_worse: float
    worse_than_champion: bool
    summary: str

    @classmethod
    def from_stored(cls, document: JsonObject) -> ChampionComparison | None:
        """The comparison an evaluation stored; None when it made none or it cannot be read."""
        fields = {name: document[name] for name in cls.model_fields if name in document}
        try:
            return cls.model_validate(fields)
        except ValidationError:
            return None


def worse_than_champion(b: int, c: int, test: ChampionTest) -> McNemarResult:
    """The one-sided test of "the candidate is worse" (c < b) at ALPHA."""
    mid_p = test is ChampionTest.MID_P
    return mcnemar(b, c, exact=True, mid_p=mid_p, alternative="less", alpha=ALPHA)


class GateVerdict(Frozen):
    """One gate judged: the policy's threshold, what the evaluation observed, and why."""

    gate: str
    passed: bool
    threshold: float | bool
    observed: float | bool | None
    reason: str

    def as_json(self) -> JsonObject:
        """The verdict as evaluations and the ledger keep it, under the gate's name."""
        return self.model_dump(exclude={"gate"})


def judge_gates(
    gates: GatesSpec,
    scores: EvaluationAggregates | None,
    comparison: ChampionComparison | None,
    *,
    champion: int | None,
) -> list[GateVerdict]:
    """One verdict per gate the policy sets; a gate left out of the policy is not judged.

    `scores` are the evaluation's aggregates (None: there is no evaluation, and every gate
    fails); `champion` is the production version now, the one `comparison` must be with.
    """
    if scores is None:
        return [_unjudged(gate, threshold) for gate, threshold in _gates_set(gates)]
    verdicts = []
    if gates.min_accuracy is not None:
        verdicts.append(_accuracy_verdict(gates.min_accuracy, scores))
    if gates.not_worse_than_champion:
        verdicts.append(_champion_verdict(ChampionTest.of(gates), comparison, champion))
    if gates.max_p95_latency_ms is not None:
        verdicts.append(_latency_verdict(gates.max_p95_latency_ms, scores))
    if gates.max_error_rate is not None:
        verdicts.append(_error_rate_verdict(gates.max_error_rate, scores))
    return verdicts


def _gates_set(gates: GatesSpec) -> list[tuple[str, float | bool]]:
    """(gate, threshold) of every gate the policy sets, in the order they are judged."""
    thresholds: list[tuple[str, float | bool | None]] = [
        ("min_accuracy", gates.min_accuracy),
        ("not_worse_than_champion", gates.not_worse_than_champion or None),
        ("max_p95_latency_ms", gates.max_p95_latency_ms),
        ("max_error_rate", gates.max_error_rate),
    ]
    return [(gate, threshold) for gate, threshold in thresholds if threshold is not None]


def _unjudged(gate: str, threshold: float | bool) -> GateVerdict:
    reason = f"no evaluation of this version to judge {gate} on: run the evaluate flow first"
    return GateVerdict(gate=gate, passed=False, threshold=threshold, observed=None, reason=reason)


def _accuracy_verdict(minimum: float, scores: EvaluationAggregates) -> GateVerdict:
    ok = scores.accuracy >= minimum
    interval = f"{CONFIDENCE:.0%} CI {scores.accuracy_low:.3f}-{scores.accuracy_high:.3f}"
    reason = (
        f"accuracy {scores.accuracy:.3f} ({interval}) is "
        f"{'at least' if ok else 'below'} min_accuracy {minimum:g}"
    )
    return GateVerdict(
        gate="min_accuracy", passed=ok, threshold=minimum, observed=scores.accuracy, reason=reason
    )


def _latency_verdict(limit: float, scores: EvaluationAggregates) -> GateVerdict:
    p95 = scores.latency_p95_ms
    ok = p95 <= limit
    reason = (
        f"p95 latency {p95:.1f} ms is {'within' if ok else 'above'} max_p95_latency_ms {limit:g}"
    )
    return GateVerdict(
        gate="max_p95_latency_ms", passed=ok, threshold=limit, observed=p95, reason=reason
    )


def _error_rate_verdict(limit: float, scores: EvaluationAggregates) -> GateVerdict:
    rate = scores.errors / scores.examples if scores.examples else 0.0
    ok = rate <= limit
    reason = (
        f"error rate {rate:.3f} ({scores.errors} of {scores.examples}) is "
        f"{'within' if ok else 'above'} max_error_rate {limit:g}"
    )
    return GateVerdict(
        gate="max_error_rate", passed=ok, threshold=limit, observed=rate, reason=reason
    )


def _champion_verdict(
    test: ChampionTest, comparison: ChampionComparison | None, champion: int | None
) -> GateVerdict:
    gate = "not_worse_than_champion"
    if champion is None:
        reason = "no champion in production to compare with"
        return GateVerdict(gate=gate, passed=True, threshold=True, observed=None, reason=reason)
    if comparison is None or comparison.champion_version != champion:
        compared = "no champion" if comparison is None else f"v{comparison.champion_version}"
        reason = (
            f"the evaluation was compared with {compared} but production is v{champion} now: "
            f"evaluate again to compare with v{champion}"
        )
        return GateVerdict(gate=gate, passed=False, threshold=True, observed=None, reason=reason)
    result = worse_than_champion(comparison.b, comparison.c, test)
    verdict = "significantly worse than" if result.significant else "not significantly worse than"
    reason = (
        f"{verdict} champion v{champion} (one-sided {test.label} p={result.p_value:.2g}, "
        f"alpha {ALPHA:g}): {comparison.summary}"
    )
    ok = not result.significant
    return GateVerdict(gate=gate, passed=ok, threshold=True, observed=ok, reason=reason)
