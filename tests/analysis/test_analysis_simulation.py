"""Seeded simulations: A/A false-positive rates, peeking vs. sequential looks, canary
detection. Data are generated with numpy in bulk; every test runs through the public API.

Each simulated rate is asserted to lie in the 99.9% binomial band of the rate it estimates:
a rate computed independently (exact enumeration over the binomial outcomes with the test's
formula written out here, or a published figure), so a correct engine fails one of these
assertions with probability 0.001 per test for a fresh seed; the seeds are fixed, so the
run is deterministic. Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest
from scipy import stats

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
from tests.analysis.farrington_manning import fm_z

ALPHA = 0.05
EXPERIMENTS = 4000  # per fixed-horizon test; SE of a 5% rate is 0.34 points
PEEKING_EXPERIMENTS = 2000
LOOKS = 10
BAND = 0.999
# Jennison & Turnbull (2000), Group Sequential Methods, Table 1.1 (after Armitage, McPherson
# & Rowe 1969): ten looks, each a two-sided 5% test of normal data, reject a true null with
# overall probability 0.193.
TEN_LOOKS_NAIVE_RATE = 0.193


def binomial_band(runs: int, rate: float) -> tuple[float, float]:
    """Where the share of `runs` independent trials, each a success with probability
    `rate`, falls with probability BAND: exact binomial quantiles (4000 runs at 5%:
    [0.039, 0.06175]; 2000 runs at 5%: [0.0345, 0.0665])."""
    tail = (1.0 - BAND) / 2.0
    low, high = stats.binom.ppf(tail, runs, rate), stats.binom.isf(tail, runs, rate)
    return float(low) / runs, float(high) / runs


def binomial_support(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Counts with probability above 1e-15 under Binomial(n, p), and their probabilities."""
    counts = np.arange(int(stats.binom.ppf(1e-15, n, p)), int(stats.binom.isf(1e-15, n, p)) + 1)
    return counts, stats.binom.pmf(counts, n, p)


def exact_rate(
    n_a: int, n_b: int, p_a: float, p_b: float, rejects: Callable[..., np.ndarray]
) -> float:
    """P(rejects(x_a, x_b)) summed over every likely pair of binomial counts."""
    (x_a, w_a), (x_b, w_b) = binomial_support(n_a, p_a), binomial_support(n_b, p_b)
    grid_a, grid_b = np.meshgrid(x_a, x_b, indexing="ij")
    return float(np.sum(np.outer(w_a, w_b) * rejects(grid_a, grid_b)))


def two_sided_rejects(method: str, n_a: int, n_b: int) -> Callable[..., np.ndarray]:
    """The textbook two-sided 5% test on counts, written out independently of `analysis`."""

    def rejects(x_a: np.ndarray, x_b: np.ndarray) -> np.ndarray:
        p_a, p_b = x_a / n_a, x_b / n_b
        var_a, var_b = p_a * (1 - p_a) / n_a, p_b * (1 - p_b) / n_b
        if method in ("z", "chi2"):  # pooled z; Pearson's chi2 on the 2x2 table is z^2
            pooled = (x_a + x_b) / (n_a + n_b)
            z = (p_b - p_a) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
            return np.abs(z) > stats.norm.ppf(0.975)
        t = (p_b - p_a) / np.sqrt(var_a + var_b)
        if method == "wald":
            return np.abs(t) > stats.norm.ppf(0.975)
        dof = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
        return np.abs(t) > stats.t.ppf(0.975, dof)  # Welch, Bernoulli variance p(1 - p)

    return rejects


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
    size = exact_rate(n_a, n_b, p, p, two_sided_rejects(method, n_a, n_b))
    band = binomial_band(EXPERIMENTS, size)
    print(
        f"\nA/A proportions ({method}, {EXPERIMENTS} experiments): false-positive rate "
        f"{fpr:.4f}; exact size {size:.5f}, band [{band[0]:.4f}, {band[1]:.4f}]"
    )
    assert abs(size - ALPHA) < 0.001  # at these n every one of the tests holds its level
    assert band[0] <= fpr <= band[1]


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
    band = binomial_band(EXPERIMENTS, ALPHA)
    print(
        f"\nA/A means (Welch, {alternative}, lognormal): false-positive rate {fpr:.4f}, "
        f"band of a {ALPHA} rate [{band[0]:.4f}, {band[1]:.4f}]"
    )
    # No exact size here: the claim is that skew at n = 400 leaves Welch's level at alpha.
    assert band[0] <= fpr <= band[1]


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
    assert_peeking_rates(naive, sequential)


def assert_peeking_rates(naive: float, sequential: float) -> None:
    # Naive looks: the published ten-look rate (for normal data; these are close to it).
    low, high = binomial_band(PEEKING_EXPERIMENTS, TEN_LOOKS_NAIVE_RATE)
    assert low <= naive <= high
    # Always valid: the chance of ever rejecting is at most alpha, so the simulated share
    # stays below the upper end of alpha's band.
    assert sequential <= binomial_band(PEEKING_EXPERIMENTS, ALPHA)[1]


def test_peeking_inflates_fixed_tests_but_not_the_means_confidence_sequence() -> None:
    runs = cumulative_means(np.random.default_rng(404), batch=250, mean=10.0, sd=3.0)
    naive, sequential = peeking_rates(runs, compare_means, sequential_means)
    print(
        f"\nA/A means, {LOOKS} looks x {PEEKING_EXPERIMENTS} experiments: "
        f"naive Welch {naive:.4f}, sequential {sequential:.4f} (alpha {ALPHA})"
    )
    assert_peeking_rates(naive, sequential)


CANARY_MARGIN = 0.01


def canary_verdicts(
    rng: np.random.Generator, n: int, error_base: float, error_canary: float, runs: int
) -> list[VerdictStatus]:
    policy = CanaryPolicy(min_samples=500, max_error_rate_increase=CANARY_MARGIN)
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


def error_check_rates(n: int, error_base: float, error_canary: float) -> tuple[float, float]:
    """Exact P(error check passes) and P(it fails): one-sided 5% Farrington-Manning tests
    at the margin (tests/analysis/farrington_manning.py), over every likely pair of counts.

    The verdict also needs the latency check (equal means, 10% relative margin): at
    n >= 500 per arm its z against the margin is >= 6.6, so it passes with probability
    above 1 - 1e-6 and fails with less; the verdict's rates are the error check's."""
    critical = float(stats.norm.ppf(1.0 - ALPHA))

    def z(x_b: np.ndarray, x_c: np.ndarray) -> np.ndarray:
        return fm_z(x_b, n, x_c, n, CANARY_MARGIN)

    passes = exact_rate(n, n, error_base, error_canary, lambda b, c: z(b, c) < -critical)
    fails = exact_rate(n, n, error_base, error_canary, lambda b, c: z(b, c) > critical)
    return passes, fails


def test_canary_two_points_worse_in_error_rate_is_judged_fail() -> None:
    verdicts = canary_verdicts(np.random.default_rng(505), 5000, 0.02, 0.04, 2000)
    detected = rate([v is VerdictStatus.FAIL for v in verdicts])
    passed = rate([v is VerdictStatus.PASS for v in verdicts])
    exact_pass, exact_fail = error_check_rates(5000, 0.02, 0.04)
    print(
        f"\ncanary 2% -> 4% errors, 5000 requests/arm, 2000 runs: judged fail {detected:.4f} "
        f"(exact {exact_fail:.4f}), pass {passed:.4f} (exact {exact_pass:.2g})"
    )
    low, high = binomial_band(2000, exact_fail)
    assert low <= detected <= high
    assert passed <= binomial_band(2000, exact_pass)[1]  # exact_pass ~ 2e-6: the band is {0}


@pytest.mark.parametrize("n", [500, 5000])
def test_equal_canary_passes_as_often_as_its_power_and_almost_never_fails(n: int) -> None:
    verdicts = canary_verdicts(np.random.default_rng(606 + n), n, 0.02, 0.02, 2000)
    failed = rate([v is VerdictStatus.FAIL for v in verdicts])
    passed = rate([v is VerdictStatus.PASS for v in verdicts])
    exact_pass, exact_fail = error_check_rates(n, 0.02, 0.02)
    print(
        f"\nequal canary 2% errors, {n} requests/arm, 2000 runs: judged fail {failed:.4f} "
        f"(exact {exact_fail:.2g}), pass {passed:.4f} (exact {exact_pass:.4f})"
    )
    # n = 500: power 0.289, too little traffic to show a 1-point margin; n = 5000: 0.971.
    low, high = binomial_band(2000, exact_pass)
    assert low <= passed <= high
    assert failed <= binomial_band(2000, exact_fail)[1]
