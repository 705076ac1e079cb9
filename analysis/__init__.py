"""modelops statistics engine: A/B verdicts, canary judgments and evaluation tests.

Pure functions over sufficient statistics (counts, sums, sums of squares), built on
scipy; no I/O. Conventions shared by every function:

* Arms are (a, b) = (baseline, treatment); effects are b - a, or b / a - 1 ("relative
  lift", delta method, ``None`` with a warning when a's estimate is <= 0).
* ``alternative`` is "two-sided" | "greater" | "less" about b - a; ``margin`` shifts
  the null (non-inferiority / superiority); intervals follow the alternative, so
  one-sided tests report half-open intervals.
* Data conditions (empty arm, too few samples, zero variance, no successes, baseline
  <= 0, a single live arm) come back as a coded ``status`` with a ``reason``, p-value 1
  and unbounded intervals; never NaN, never an exception. Misuse (negative counts,
  successes > n, alpha outside (0, 1), unknown method) raises ``ValueError``.

Public API (stable; later issues and outside checks import these names):

* Inputs: ``ProportionStats(n, successes)``, ``MeanStats(n, sum, sum_sq)``, each with
  ``from_values``.
* ``compare_proportions(a, b, *, alpha, alternative, margin, method="z"|"wald"|"chi2"|
  "welch", yates, relative) -> Comparison``; ``compare_means(a, b, *, alpha,
  alternative, margin, relative) -> Comparison`` (Welch t, Satterthwaite dof).
* ``srm_check(observed_counts, expected_weights, *, threshold, min_deviation)``.
* ``mann_whitney(x, y, *, alternative, method)``.
* ``quantile_ci(values, q, *, confidence)`` (exact order-statistic interval) and
  ``compare_quantiles(x, y, q, *, alpha, alternative, margin, relative, bootstrap)``
  (order statistics by default, seeded ``Bootstrap`` on request).
* ``mcnemar(b, c, *, exact, mid_p, correction, alternative, alpha)``; ``paired_t(x, y, ...)``
  and ``paired_t_from_stats(x, y, diff, ...)``.
* ``adjust_pvalues(pvalues, *, method="holm"|"bh")``.
* ``sample_size_proportions(p_baseline, mde, ...)``, ``sample_size_means(sd, mde,
  ...)`` -> ``SampleSize``; ``mde(n_per_arm, *, p_baseline | sd, ...)``.
* ``sequential_proportions`` / ``sequential_means(a, b, *, alpha, alternative, margin,
  relative, n_star)`` -> ``SequentialResult``: always-valid interval, p-value and
  ``SequentialDecision``; safe to call after every batch. ``sequential_comparison(fixed,
  ...)`` does the same from any asymptotically normal `Comparison` (quantiles);
  ``sequential_sample_size(fixed_plan)`` -> the ``SampleSize`` the always-valid test needs.
* ``bayesian_effect(a, b, *, prior, alpha, relative)`` -> ``BayesianResult``.
* ``judge_canary(baseline: ArmStats, canary: ArmStats, policy: CanaryPolicy)`` ->
  ``Verdict`` (pass / fail / inconclusive, with reasons and per-metric checks).
"""

from __future__ import annotations

from analysis.bayesian import BayesianResult, GaussianPrior, bayesian_effect
from analysis.canary import (
    ArmStats,
    CanaryPolicy,
    CheckName,
    CheckReason,
    CheckResult,
    Verdict,
    VerdictStatus,
    judge_canary,
)
from analysis.means import compare_means
from analysis.multiple import Adjustment, adjust_pvalues
from analysis.nonparametric import MannWhitneyResult, mann_whitney
from analysis.paired import McNemarResult, mcnemar, paired_t, paired_t_from_stats
from analysis.power import SampleSize, mde, sample_size_means, sample_size_proportions
from analysis.proportions import compare_proportions
from analysis.quantiles import Bootstrap, QuantileInterval, compare_quantiles, quantile_ci
from analysis.results import Alternative, AnalysisWarning, Comparison, Method, Status
from analysis.sequential import (
    SequentialDecision,
    SequentialResult,
    sequential_comparison,
    sequential_means,
    sequential_proportions,
    sequential_sample_size,
)
from analysis.srm import SrmResult, srm_check
from analysis.stats import MeanStats, ProportionStats

__all__ = [
    "Adjustment",
    "Alternative",
    "AnalysisWarning",
    "ArmStats",
    "BayesianResult",
    "Bootstrap",
    "CanaryPolicy",
    "CheckName",
    "CheckReason",
    "CheckResult",
    "Comparison",
    "GaussianPrior",
    "MannWhitneyResult",
    "McNemarResult",
    "MeanStats",
    "Method",
    "ProportionStats",
    "QuantileInterval",
    "SampleSize",
    "SequentialDecision",
    "SequentialResult",
    "SrmResult",
    "Status",
    "Verdict",
    "VerdictStatus",
    "adjust_pvalues",
    "bayesian_effect",
    "compare_means",
    "compare_proportions",
    "compare_quantiles",
    "judge_canary",
    "mann_whitney",
    "mcnemar",
    "mde",
    "paired_t",
    "paired_t_from_stats",
    "quantile_ci",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_comparison",
    "sequential_means",
    "sequential_proportions",
    "sequential_sample_size",
    "srm_check",
]
