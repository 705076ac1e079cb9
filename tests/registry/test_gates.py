"""The one gate judge: every gate's verdict, the champion comparison and the policy's test."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from registry.catalog import CatalogError, load_catalog
from registry.catalog_spec import CHAMPION_TESTS, GatesSpec
from registry.evaluations import EvaluationAggregates
from registry.gates import ChampionComparison, ChampionTest, GateVerdict, judge_gates
from tests.registry.test_catalog_support import make_catalog, model_doc

ALL_GATES = GatesSpec(
    min_accuracy=0.85, not_worse_than_champion=True, max_p95_latency_ms=100, max_error_rate=0.02
)


def scores(
    *, correct: int = 90, examples: int = 100, p95: float = 40.0, errors: int = 1
) -> EvaluationAggregates:
    return EvaluationAggregates(
        examples=examples, correct=correct, accuracy=correct / examples,
        accuracy_low=0.8256, accuracy_high=0.9448, latency_p50_ms=20.0, latency_p95_ms=p95,
        input_tokens=0, output_tokens=0, cost=0.0, errors=errors,
    )  # fmt: skip


def comparison(b: int, c: int, *, champion: int = 1) -> ChampionComparison:
    return ChampionComparison(
        champion_version=champion, pairs=100, candidate_accuracy=0.9, champion_accuracy=0.96,
        b=b, c=c, test=ChampionTest.EXACT, p_value=0.11, p_value_worse=0.055,
        worse_than_champion=False, summary=f"candidate 0.900 vs champion 0.960 (b={b}, c={c})",
    )  # fmt: skip


def by_gate(verdicts: list[GateVerdict]) -> dict[str, GateVerdict]:
    return {verdict.gate: verdict for verdict in verdicts}


def test_every_gate_passes_with_its_threshold_observation_and_reason() -> None:
    verdicts = judge_gates(ALL_GATES, scores(), comparison(2, 3), champion=1)

    assert [v.gate for v in verdicts] == [
        "min_accuracy",
        "not_worse_than_champion",
        "max_p95_latency_ms",
        "max_error_rate",
    ]
    assert [(v.passed, v.threshold, v.observed) for v in verdicts] == [
        (True, 0.85, 0.9),
        (True, True, True),
        (True, 100, 40.0),
        (True, 0.02, 0.01),
    ]
    assert [v.reason for v in verdicts] == [
        "accuracy 0.900 (95% CI 0.826-0.945) is at least min_accuracy 0.85",
        # b = 2, c = 3: P(X <= 3), X ~ Binomial(5, 1/2) = 26/32 = 0.8125.
        "not significantly worse than champion v1 (one-sided exact McNemar p=0.81, alpha 0.05): "
        "candidate 0.900 vs champion 0.960 (b=2, c=3)",
        "p95 latency 40.0 ms is within max_p95_latency_ms 100",
        "error rate 0.010 (1 of 100) is within max_error_rate 0.02",
    ]


def test_every_gate_fails_on_its_own_number() -> None:
    failing = scores(correct=80, p95=5000.0, errors=3)
    # b = 15, c = 3: P(X <= 3), X ~ Binomial(18, 1/2) = (1 + 18 + 153 + 816) / 2**18 = 0.00377.
    verdicts = by_gate(judge_gates(ALL_GATES, failing, comparison(15, 3), champion=1))

    assert not any(v.passed for v in verdicts.values())
    assert verdicts["min_accuracy"].reason.startswith("accuracy 0.800 (95% CI")
    assert verdicts["min_accuracy"].reason.endswith("is below min_accuracy 0.85")
    assert verdicts["not_worse_than_champion"].reason.startswith(
        "significantly worse than champion v1 (one-sided exact McNemar p=0.0038, alpha 0.05)"
    )
    assert verdicts["max_p95_latency_ms"].reason == (
        "p95 latency 5000.0 ms is above max_p95_latency_ms 100"
    )
    assert verdicts["max_error_rate"].reason == (
        "error rate 0.030 (3 of 100) is above max_error_rate 0.02"
    )
    assert (verdicts["max_error_rate"].observed, verdicts["max_p95_latency_ms"].observed) == (
        0.03,
        5000.0,
    )


def test_a_gate_the_policy_leaves_out_is_not_judged() -> None:
    only_latency = GatesSpec(max_p95_latency_ms=100)
    assert [v.gate for v in judge_gates(only_latency, scores(), None, champion=None)] == [
        "max_p95_latency_ms"
    ]
    assert judge_gates(GatesSpec(), None, None, champion=3) == []
    off = GatesSpec(not_worse_than_champion=False)
    assert judge_gates(off, scores(), comparison(15, 3), champion=1) == []


def test_boundaries_pass_at_the_threshold_itself() -> None:
    at_limits = scores(correct=85, p95=100.0, errors=2)
    assert all(v.passed for v in judge_gates(ALL_GATES, at_limits, None, champion=None))


def test_without_an_evaluation_every_gate_set_fails() -> None:
    verdicts = judge_gates(ALL_GATES, None, None, champion=None)

    assert [(v.gate, v.passed, v.observed) for v in verdicts] == [
        ("min_accuracy", False, None),
        ("not_worse_than_champion", False, None),
        ("max_p95_latency_ms", False, None),
        ("max_error_rate", False, None),
    ]
    assert verdicts[0].reason == (
        "no evaluation of this version to judge min_accuracy on: run the evaluate flow first"
    )


def test_no_champion_in_production_passes_the_champion_gate() -> None:
    gates = GatesSpec(not_worse_than_champion=True)
    [verdict] = judge_gates(gates, scores(), None, champion=None)
    assert verdict.passed and verdict.reason == "no champion in production to compare with"


@pytest.mark.parametrize(
    ("stored", "compared"), [(comparison(2, 3, champion=1), "v1"), (None, "no champion")]
)
def test_a_comparison_with_another_champion_than_production_fails(
    stored: ChampionComparison | None, compared: str
) -> None:
    gates = GatesSpec(not_worse_than_champion=True)
    [verdict] = judge_gates(gates, scores(), stored, champion=4)
    assert not verdict.passed and verdict.observed is None
    assert verdict.reason == (
        f"the evaluation was compared with {compared} but production is v4 now: "
        "evaluate again to compare with v4"
    )


def test_b8_c2_passes_under_the_exact_test_and_fails_under_mid_p() -> None:
    # X ~ Binomial(10, 1/2): exact P(X <= 2) = 56/1024 = 0.0547 is not below 0.05;
    # mid-p P(X < 2) + P(X = 2) / 2 = 33.5/1024 = 0.0327 is.
    assert (56 / 1024, 33.5 / 1024) == (0.0546875, 0.03271484375)
    exact = GatesSpec(not_worse_than_champion=True)
    mid_p = GatesSpec(not_worse_than_champion=True, champion_test="mid-p")

    [lenient] = judge_gates(exact, scores(), comparison(8, 2), champion=1)
    [strict] = judge_gates(mid_p, scores(), comparison(8, 2), champion=1)

    assert lenient.passed and "(one-sided exact McNemar p=0.055, alpha 0.05)" in lenient.reason
    assert not strict.passed and "(one-sided mid-p McNemar p=0.033, alpha 0.05)" in strict.reason
    assert strict.reason.startswith("significantly worse than champion v1")


def test_a_stored_comparison_reads_back_and_other_documents_are_none() -> None:
    stored = comparison(8, 2).model_dump(mode="json")
    assert stored["test"] == "exact"
    extra = {**stored, "alpha": 0.05, "champion_evaluation_id": 7}
    assert ChampionComparison.from_stored(extra) == comparison(8, 2)
    baseline = {"summary": "no champion: nothing in production", "worse_than_champion": False}
    assert ChampionComparison.from_stored(baseline) is None
    assert ChampionComparison.from_stored({**stored, "test": "exact McNemar"}) is None


def test_the_verdict_is_kept_under_its_gate_name() -> None:
    [verdict] = judge_gates(GatesSpec(max_error_rate=0.5), scores(), None, champion=None)
    assert verdict.as_json() == {
        "passed": True,
        "threshold": 0.5,
        "observed": 0.01,
        "reason": "error rate 0.010 (1 of 100) is within max_error_rate 0.5",
    }


def test_the_catalog_names_the_tests_the_judge_knows() -> None:
    assert tuple(test.value for test in ChampionTest) == CHAMPION_TESTS
    assert ChampionTest.of(GatesSpec(not_worse_than_champion=True)) is ChampionTest.EXACT


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        (
            {"not_worse_than_champion": True, "champion_test": "midp"},
            "'midp' is not a known champion test (did you mean 'mid-p'?); allowed: exact, mid-p",
        ),
        (
            {"min_accuracy": 0.8, "champion_test": "mid-p"},
            "champion_test chooses the test of not_worse_than_champion: "
            "set not_worse_than_champion: true, or leave champion_test out",
        ),
    ],
)
def test_a_bad_champion_test_is_reported_with_its_field_and_the_allowed_values(
    tmp_path: Path, gates: dict[str, object], message: str
) -> None:
    make_catalog(tmp_path, model_doc(policy={"production": {"gates": gates}}))
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"models/support-intent.yaml: policy.production.gates.champion_test: {message}"
    ]
    with pytest.raises(ValidationError):
        GatesSpec.model_validate(gates)


def test_no_nan_reaches_a_verdict_for_an_empty_evaluation() -> None:
    empty = scores(correct=0, examples=1, errors=0).model_copy(update={"examples": 0})
    [verdict] = judge_gates(GatesSpec(max_error_rate=0.1), empty, None, champion=None)
    assert verdict.observed == 0.0 and not math.isnan(verdict.observed)
