"""Scoring: aggregates, the paired McNemar comparison, the policy's test, the stage move rule."""

from __future__ import annotations

import pytest
from scipy import stats

from adapters.categories import Category
from registry.catalog_spec import CostSpec, GatesSpec
from registry.evaluations import ExampleResult
from registry.gates import ChampionComparison, judge_gates
from registry.stages import Stage
from tasks.evaluation_dataset import EvalDataset, parse_eval_jsonl
from tasks.evaluation_plan import EvaluationPlan, RunResults, VersionUnderTest, decide_move
from tasks.evaluation_scoring import aggregate, compare_with_champion, score


def _result(
    i: int, correct: bool, *, latency: float = 1.0, error: str | None = None
) -> ExampleResult:
    return ExampleResult(
        position=i,
        example_sha256=f"sha-{i}",
        expected="billing",
        predicted=None if error else ("billing" if correct else "login"),
        correct=correct,
        latency_ms=latency,
        input_tokens=0 if error else 10,
        output_tokens=0 if error else 2,
        error=error,
    )


def _run(version: int, outcomes: list[bool]) -> RunResults:
    return RunResults(version=version, results=[_result(i, ok) for i, ok in enumerate(outcomes)])


def _paired(
    both: int, champion_only: int, candidate_only: int, neither: int
) -> tuple[RunResults, RunResults]:
    champion = [True] * both + [True] * champion_only + [False] * candidate_only + [False] * neither
    candidate = (
        [True] * both + [False] * champion_only + [True] * candidate_only + [False] * neither
    )
    return _run(2, candidate), _run(1, champion)


DATASET = EvalDataset(
    name="eval.jsonl",
    uri="file:///eval.jsonl",
    sha256="0" * 64,
    examples=parse_eval_jsonl(
        b'{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}',
        source="x",
    ),
)


def _version(version: int, stage: Stage) -> VersionUnderTest:
    return VersionUnderTest(
        model="support-intent",
        model_id=1,
        version=version,
        version_id=10 + version,
        provider="local",
        provider_model_id=f"m{version}",
        category=Category.CLASSIFICATION,
        stage=stage,
    )


def _plan(
    gates: GatesSpec, *, champion: bool = True, approvers: list[str] | None = None
) -> EvaluationPlan:
    return EvaluationPlan(
        candidate=_version(2, Stage.TESTING),
        champion=_version(1, Stage.PRODUCTION) if champion else None,
        gates=gates,
        staging_approvers=approvers or [],
        cost=CostSpec(),
    )


def test_accuracy_interval_is_wilson_and_latency_quantiles_skip_examples_that_errored() -> None:
    results = [_result(i, i < 90, latency=float(i)) for i in range(99)]
    results.append(_result(99, False, latency=10_000.0, error="BadRequestError: p: bad"))
    scores = aggregate(results, CostSpec(input_per_1k=0.5, output_per_1k=1.5))

    wilson = stats.binomtest(90, 100).proportion_ci(0.95, method="wilson")
    assert (scores.correct, scores.examples, scores.errors, scores.accuracy) == (90, 100, 1, 0.9)
    assert (scores.accuracy_low, scores.accuracy_high) == pytest.approx((wilson.low, wilson.high))
    assert scores.latency_p50_ms == pytest.approx(49.0) and scores.latency_p95_ms == pytest.approx(
        93.1
    )
    assert (scores.input_tokens, scores.output_tokens) == (990, 198)
    assert scores.cost == pytest.approx(990 / 1000 * 0.5 + 198 / 1000 * 1.5)


def test_mcnemar_counts_discordant_pairs_and_matches_the_exact_binomial_test() -> None:
    candidate, champion = _paired(both=50, champion_only=3, candidate_only=20, neither=7)
    comparison = compare_with_champion(candidate, champion)

    assert (comparison.b, comparison.c, comparison.pairs) == (3, 20, 80)
    assert comparison.p_value == pytest.approx(stats.binomtest(20, 23, 0.5).pvalue)
    assert comparison.p_value_worse == pytest.approx(
        stats.binomtest(20, 23, 0.5, alternative="less").pvalue
    )
    assert comparison.worse_than_champion is False
    assert comparison.summary == (
        "candidate 0.875 vs champion 0.662: +0.213, McNemar p=0.00049 (b=3, c=20)"
    )


def test_a_significantly_worse_candidate_is_flagged_and_a_tie_is_not() -> None:
    worse = compare_with_champion(*_paired(both=40, champion_only=15, candidate_only=3, neither=2))
    tie = compare_with_champion(*_paired(both=40, champion_only=0, candidate_only=0, neither=2))

    assert worse.worse_than_champion is True and worse.p_value_worse < 0.05
    assert (tie.worse_than_champion, tie.p_value, tie.b, tie.c) == (False, 1.0, 0, 0)


def test_pairs_are_matched_by_example_hash_not_by_position() -> None:
    candidate, champion = _paired(both=5, champion_only=0, candidate_only=4, neither=1)
    shuffled = RunResults(version=1, results=list(reversed(champion.results)))

    assert compare_with_champion(candidate, shuffled) == compare_with_champion(candidate, champion)


def test_score_judges_the_gates_with_the_one_gate_judge() -> None:
    # The verdicts themselves are pinned in tests/registry/test_gates.py.
    results = [_result(i, i < 7, latency=5.0) for i in range(10)]
    gates = GatesSpec(min_accuracy=0.8, max_p95_latency_ms=4.0, max_error_rate=0.1)

    card = score(_plan(gates, champion=False), DATASET, _run(2, [r.correct for r in results]), None)

    assert card.verdicts == judge_gates(gates, card.summary, None, champion=None)
    assert [(v.gate, v.passed) for v in card.verdicts] == [
        ("min_accuracy", False),
        ("max_p95_latency_ms", True),
        ("max_error_rate", True),
    ]
    assert card.summary.gates["min_accuracy"] == card.verdicts[0].as_json()


@pytest.mark.parametrize(("test", "passes"), [(None, True), ("exact", True), ("mid-p", False)])
def test_the_policys_champion_test_decides_b8_c2_and_is_recorded(
    test: str | None, passes: bool
) -> None:
    # b = 8, c = 2: exact one-sided p = 56/1024 = 0.0547 (not worse at 0.05), mid-p =
    # 33.5/1024 = 0.0327 (worse); two-sided: exact 112/1024, mid-p 67/1024.
    candidate, champion = _paired(both=80, champion_only=8, candidate_only=2, neither=10)
    gates = GatesSpec(not_worse_than_champion=True, champion_test=test)

    card = score(_plan(gates), DATASET, candidate, champion)

    stored = card.summary.comparison
    name = test or "exact"
    assert (stored["b"], stored["c"], stored["test"], stored["alpha"]) == (8, 2, name, 0.05)
    one_sided, two_sided = (33.5, 67) if test == "mid-p" else (56, 112)
    assert stored["p_value_worse"] == pytest.approx(one_sided / 1024, rel=1e-12)
    assert stored["p_value"] == pytest.approx(two_sided / 1024, rel=1e-12)
    assert stored["worse_than_champion"] is (not passes)
    [verdict] = card.verdicts
    assert verdict.passed is passes and card.summary.passed is passes
    assert f"one-sided {name} McNemar p={one_sided / 1024:.2g}" in verdict.reason


def test_score_keeps_the_comparison_keys_the_promote_flow_reads() -> None:
    candidate, champion = _paired(both=40, champion_only=15, candidate_only=3, neither=2)
    gates = GatesSpec(min_accuracy=0.5, not_worse_than_champion=True)

    card = score(_plan(gates), DATASET, candidate, champion)

    assert card.summary.passed is False and card.summary.champion_version == 1
    assert card.summary.comparison["worse_than_champion"] is True
    assert ChampionComparison.from_stored(card.summary.comparison) == card.comparison
    assert str(card.summary.comparison["summary"]).startswith("candidate 0.717 vs champion 0.917")
    assert card.summary.gates["min_accuracy"]["passed"] is True  # type: ignore[index,call-overload]
    assert card.failures == [card.summary.gates["not_worse_than_champion"]["reason"]]  # type: ignore[index,call-overload]
    assert card.champion_summary is not None and card.champion_summary.correct == 55


@pytest.mark.parametrize(
    ("stage", "passed", "approvers", "target"),
    [
        (Stage.TESTING, True, [], Stage.STAGING),
        (Stage.TESTING, False, [], Stage.REJECTED),
        (Stage.TESTING, True, ["alice"], None),
        (Stage.STAGING, True, [], None),
        (Stage.DEVELOPMENT, False, [], None),
    ],
)
def test_only_a_version_in_testing_moves_and_staging_approvals_are_left_to_promote(
    stage: Stage, passed: bool, approvers: list[str], target: Stage | None
) -> None:
    plan = _plan(GatesSpec(), approvers=approvers).model_copy(
        update={"candidate": _version(2, stage)}
    )
    move = decide_move(plan, passed, [] if passed else ["accuracy too low"])

    assert move.target is target
    if approvers:
        assert "needs approval by alice: run the promote flow" in move.note
    if stage is not Stage.TESTING:
        assert f"is in {stage}, not testing" in move.note
