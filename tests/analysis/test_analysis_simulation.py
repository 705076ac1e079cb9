"""Seeded simulations: A/A false-positive rates, peeking vs. sequential looks, canary
detection. Data are generated with numpy in bulk; every test runs through the public API.

Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest

from analysis import (
    ArmStats,
    CanaryPolicy,
    Comparison,
    MeanStats,
    ProportionStats,
    SequentialResult,
    VerdictStatus,
    compare_means,
    compare_proportions,
    judge_canary,
    sequential_means,
    sequential_proportions,
)

ALPHA = 0.05
EXPERIMENTS = 4000  # per fixed-horizon test; SE of a 5% rate is 0.34 points
PEEKING_EXPERIMENTS = 2000
LOOKS = 10


def normal_mean_stats(
    rng: np.random.Generator, runs: int, n: int, mean: float, sd: float
) -> list[MeanStats]:
    """Exact sufficient statistics of `runs` normal samples of size n, without the rows:
    the sample mean and (n - 1) s^2 / sd^2 ~ chi2(n - 1) are independent."""
    sums = rng.normal(n * mean, sd * np.sqrt(n), runs)
    sum_sq = sd**2 * rng.chisquare(n - 1, runs) + sums**2 / n
    return [MeanStats(n, float(s), float(q)) for s, q in zip(sums, sum_sq, strict=True)]


def rate(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


@pytest.mark.parametrize("method", ["z", "wald", "chi2", "welch"])
def test_aa_false_positive_rate_of_proportion_tests_is_alpha(method: str) -> None:
    rng = np.random.default_rng(101)
    n_a, n_b, p = 1000, 1200, 0.08
    successes_a, successes_b = rng.binomial(n_a, p, EXPERIMENTS), rng.binomial(n_b, p, EXPERIMENTS)
    flags = [
        compare_proportions(
            ProportionStats(n_a, int(x)), ProportionStats(n_b, int(y)), method=method
        ).significant
        for x, y in zip(successes_a, successes_b, strict=True)
    ]
    fpr = rate(flags)
    print(f"\nA/A proportions ({method}, {EXPERIMENTS} experiments): false-positive rate {fpr:.4f}")
    assert abs(fpr - ALPHA) <= 0.015


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_aa_false_positive_rate_of_welch_on_skewed_latencies_is_alpha(alternative: str) -> None:
    rng = np.random.default_rng(202)
    n = 400
    rows = rng.lognormal(5.0, 0.6, size=(EXPERIMENTS, 2, n))  # skewed, like latencies
    sums, sum_sq = rows.sum(axis=2), (rows**2).sum(axis=2)
    flags = [
        compare_means(
            MeanStats(n, float(sums[i, 0]), float(sum_sq[i, 0])),
            MeanStats(n, float(sums[i, 1]), float(sum_sq[i, 1])),
            alternative=alternative,
        ).significant
        for i in range(EXPERIMENTS)
    ]
    fpr = rate(flags)
    print(f"\nA/A means (Welch, {alternative}, lognormal): false-positive rate {fpr:.4f}")
    assert abs(fpr - ALPHA) <= 0.015


Stats = TypeVar("Stats", ProportionStats, MeanStats)


def peeking_rates(
    runs: list[list[tuple[Stats, Stats]]],
    fixed: Callable[[Stats, Stats], Comparison],
    sequential: Callable[[Stats, Stats], SequentialResult],
) -> tuple[float, float]:
    """Share of A/A experiments that ever reject over their looks: naive vs sequential."""
    naive = [any(fixed(a, b).significant for a, b in looks) for looks in runs]
    always_valid = [any(sequential(a, b).significant for a, b in looks) for looks in runs]
    return rate(naive), rate(always_valid)


def cumulative_proportions(
    rng: np.random.Generator, batch: int, p: float
) -> list[list[tuple[ProportionStats, ProportionStats]]]:
    counts = rng.binomial(batch, p, size=(PEEKING_EXPERIMENTS, LOOKS, 2)).cumsum(axis=1)
    return [
        [
            (
                ProportionStats(batch * k, int(c[k - 1, 0])),
                ProportionStats(batch * k, int(c[k - 1, 1])),
            )
            for k in range(1, LOOKS + 1)
        ]
        for c in counts
    ]


def cumulative_means(
    rng: np.random.Generator, batch: int, mean: float, sd: float
) -> list[list[tuple[MeanStats, MeanStats]]]:
    shape = (PEEKING_EXPERIMENTS, LOOKS, 2)
    sums = rng.normal(batch * mean, sd * np.sqrt(batch), size=shape)
    # Batches pool exactly: sum_sq of a normal batch = sd^2 chi2(batch - 1) + sum^2 / batch.
    sum_sq = (sd**2 * rng.chisquare(batch - 1, size=shape) + sums**2 / batch).cumsum(axis=1)
    sums = sums.cumsum(axis=1)

    def arm(i: int, k: int, j: int) -> MeanStats:
        return MeanStats(batch * k, float(sums[i, k - 1, j]), float(sum_sq[i, k - 1, j]))

    return [
        [(arm(i, k, 0), arm(i, k, 1)) for k in range(1, LOOKS + 1)]
        for i in range(PEEKING_EXPERIMENTS)
    ]


def test_peeking_inflates_fixed_tests_but_not_the_proportion_confidence_sequence() -> None:
    runs = cumulative_proportions(np.random.default_rng(303), batch=250, p=0.1)
    naive, sequential = peeking_rates(runs, compare_proportions, sequential_proportions)
    print(
        f"\nA/A proportions, {LOOKS} looks x {PEEKING_EXPERIMENTS} experiments: "
        f"naive z {naive:.4f}, sequential {sequential:.4f} (alpha {ALPHA})"
    )
    assert naive > ALPHA + 0.05
    assert sequential <= ALPHA


def test_peeking_inflates_fixed_tests_but_not_the_means_confidence_sequence() -> None:
    runs = cumulative_means(np.random.default_rng(404), batch=250, mean=10.0, sd=3.0)
    naive, sequential = peeking_rates(runs, compare_means, sequential_means)
    print(
        f"\nA/A means, {LOOKS} looks x {PEEKING_EXPERIMENTS} experiments: "
        f"naive Welch {naive:.4f}, sequential {sequential:.4f} (alpha {ALPHA})"
    )
    assert naive > ALPHA + 0.05
    assert sequential <= ALPHA


def canary_verdicts(
    rng: np.random.Generator, n: int, error_base: float, error_canary: float, runs: int
) -> list[VerdictStatus]:
    policy = CanaryPolicy(min_samples=500, max_error_rate_increase=0.01)
    errors_b = rng.binomial(n, error_base, runs)
    errors_c = rng.binomial(n, error_canary, runs)
    latency_b = normal_mean_stats(rng, runs, n, 250.0, 60.0)
    latency_c = normal_mean_stats(rng, runs, n, 250.0, 60.0)
    return [
        judge_canary(
            ArmStats(ProportionStats(n, int(errors_b[i])), latency_ms=latency_b[i]),
            ArmStats(ProportionStats(n, int(errors_c[i])), latency_ms=latency_c[i]),
            policy,
        ).status
        for i in range(runs)
    ]


def test_canary_two_points_worse_in_error_rate_is_judged_fail() -> None:
    verdicts = canary_verdicts(np.random.default_rng(505), 5000, 0.02, 0.04, 2000)
    detected = rate([v is VerdictStatus.FAIL for v in verdicts])
    passed = rate([v is VerdictStatus.PASS for v in verdicts])
    print(
        f"\ncanary 2% -> 4% errors, 5000 requests/arm, 2000 runs: judged fail {detected:.4f}, "
        f"pass {passed:.4f}"
    )
    assert detected >= 0.85
    assert passed == 0.0


@pytest.mark.parametrize("n", [500, 5000])
def test_equal_canary_is_almost_never_judged_fail(n: int) -> None:
    verdicts = canary_verdicts(np.random.default_rng(606 + n), n, 0.02, 0.02, 2000)
    failed = rate([v is VerdictStatus.FAIL for v in verdicts])
    passed = rate([v is VerdictStatus.PASS for v in verdicts])
    print(
        f"\nequal canary 2% errors, {n} requests/arm, 2000 runs: judged fail {failed:.4f}, "
        f"pass {passed:.4f}"
    )
    assert failed < 0.01
